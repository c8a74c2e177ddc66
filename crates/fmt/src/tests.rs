use super::*;

fn fmt(src: &str) -> String {
    let out = format(FileId(0), src).unwrap_or_else(|d| panic!("{src}\n{d:?}"));
    let again = format(FileId(0), &out).expect("formatted text parses");
    assert_eq!(again, out, "not idempotent:\n{out}");
    let before: Vec<&str> = scan_comments(src)
        .iter()
        .map(|c| &src[c.start..c.end])
        .collect();
    let after: Vec<&str> = scan_comments(&out)
        .iter()
        .map(|c| &out[c.start..c.end])
        .collect();
    assert_eq!(before, after, "comments changed:\n{out}");
    out
}

#[track_caller]
fn same(src: &str) {
    assert_eq!(fmt(src), src);
}

#[test]
fn syntax_errors_are_not_formatted() {
    let err = format(FileId(0), "source s = csv(\"x\") { a int }\n").unwrap_err();
    assert_eq!(err[0].code, pipec_diag::codes::SYNTAX);
}

#[test]
fn imports() {
    assert_eq!(
        fmt("import   std.dedupe\nimport \"a.pipe\"   as  a"),
        "import std.dedupe\nimport \"a.pipe\" as a\n"
    );
}

#[test]
fn pipeline_settings_align_their_values() {
    same("pipeline p { schedule daily }\n");
    assert_eq!(fmt("pipeline p {}"), "pipeline p {}\n");
    assert_eq!(
        fmt("pipeline p {\n schedule daily at 03:00 \"Asia/Seoul\" start 2024-01-01 retries 3 backoff 5m description \"x\" }"),
        "pipeline p {\n  schedule    daily at 03:00 \"Asia/Seoul\"\n  start       2024-01-01\n  retries     3 backoff 5m\n  description \"x\"\n}\n"
    );
    same("pipeline p {\n  schedule hourly at :15\n  catchup  false\n}\n");
    same("pipeline p { schedule cron \"0 * * * *\" \"UTC\" }\n");
    same("pipeline p { schedule every 15m }\n");
    same("pipeline p { schedule after a, b }\n");
    same("pipeline p { schedule on file \"x/{ds}.csv\" }\n");
    same("pipeline p { schedule continuous }\n");
    same("pipeline p {\n  schedule daily\n  colour   \"blue\"\n}\n");
}

#[test]
fn sources_break_long_schemas_with_trailing_commas() {
    assert_eq!(
        fmt("source s = csv(\"x.csv\"){a:int,b:decimal(10,2)?}"),
        "source s = csv(\"x.csv\") { a: int, b: decimal(10, 2)? }\n"
    );
    same("source rentals = csv(\"data/rentals/{ds}.csv\", header = true, nulls = [\"\", \"NA\"]) {\n  rental_id: string,\n  station_id: int,\n  rented_at: timestamp,\n  returned_at: timestamp,\n  distance_m: float?,\n}\n");
    same("source v = csv(\"raw/visits/{ds}.csv\") { path: string }\n  archive after 1y to glacier\n  expire after 52w\n");
    same("source t = table(\"mart.x\")\n");
}

#[test]
fn long_calls_fill_lines_aligned_after_the_parenthesis() {
    same("source stations = http(\"http://127.0.0.1:8765/stations.json\", rows = \"stations.row\",\n                       fallback = \"data/stations.json\", timeout = 30s) {\n  station_id: int,\n  station_name: string,\n  district: string,\n  racks: int,\n}\n");
}

#[test]
fn pipelines_of_steps_break_one_step_per_line() {
    same("transform a = b | filter x > 1\n");
    same("transform station_daily = rentals\n  | filter returned_at > rented_at\n  | derive minutes = minutes_between(rented_at, returned_at), ds = @ds\n  | join left latest_stations using (station_id)\n  | group ds, station_id, station_name, district {\n      rides = count(),\n      avg_minutes = avg(minutes),\n      total_km = sum(distance_m ?? 0.0) / 1000.0,\n    }\n  | sort rides desc, station_id\n");
    assert_eq!(
        fmt("transform a = b|join inner c as x on x.id==id|sort k asc|take 5|distinct|union d|select except e"),
        "transform a = b\n  | join inner c as x on x.id == id\n  | sort k asc\n  | take 5\n  | distinct\n  | union d\n  | select except e\n"
    );
    assert_eq!(
        fmt("transform a = b\n | filter c"),
        "transform a = b\n  | filter c\n"
    );
}

#[test]
fn derives_align_and_cases_indent() {
    same("transform p = v\n  | derive page = case\n      when path == \"/\" then \"landing\"\n      when starts_with(path, \"/posts/\") then \"article\"\n      when starts_with(path, \"/subscribe\") then \"subscribe\"\n      else \"other\"\n    end\n");
    same("transform s = x\n  | derive ds = @ds,\n           duration_min = minutes_between(started_at, ended_at),\n           channel = case\n             when entry_referrer is null then \"direct\"\n             when regexp_matches(entry_referrer, \"google\") then \"search\"\n             else \"referral\"\n           end\n");
    same("transform s = x | derive c = case when a then 1 else 0 end\n");
}

#[test]
fn no_line_ends_in_blanks() {
    let out = fmt("transform t = e |\n# note\n  filter a > 0 |\n  take 5\n");
    assert_eq!(
        out,
        "transform t = e\n# note\n  | filter a > 0\n  | take 5\n"
    );
}

#[test]
fn end_of_line_comments_do_not_count_towards_the_width() {
    same("transform backwards = rows\n  | window partition k order day rows between current row and 2 preceding { s = sum(v) }  # expect: E0223\n");
}

#[test]
fn windows() {
    same("transform w = x\n  | window partition k order t desc rows between 2 preceding and current row { s = sum(v) }\n");
    same("transform w = x | window order t rows between unbounded preceding and 1 following { n = count() }\n");
}

#[test]
fn expressions_keep_literals_and_parentheses_as_written() {
    same("check t {\n  (a + b) * c > 1.50\n  not (x or y) and z,\n  -a::int < 90m\n  v in [1, 2, 3]\n  w is not null\n  s ?? \"a\\\"b\" ++ `odd name`,\n  ((q))\n}\n");
    // Without the commas these rules would read as one.
    assert_eq!(
        fmt("check t {\n a, -b, c, (d) }"),
        "check t {\n  a,\n  -b\n  c,\n  (d)\n}\n"
    );
    same("check t { a, -b, c, (d) }\n");
    assert_eq!(fmt("check t { a==b }"), "check t { a == b }\n");
}

#[test]
fn long_conditions_break_before_and_or() {
    same("transform t = r\n  | join maintenance as m on this.station_id == m.station and rented_at >= m.closed_from\n      and rented_at < that.closed_to\n");
    same("transform t = r | filter a and (b or c) and not d\n");
}

#[test]
fn comments_at_column_zero_and_aligned_comments_stay() {
    same("pipeline p {\n  schedule daily   # aligned\n# at column 0\n  start    2024-01-01\n}\n");
}

#[test]
fn sinks_and_checks() {
    same("sink a -> mart.a { mode merge on (ds, id) }\n");
    same("sink a -> mart.a {\n  mode merge on (ds)\n  partition by ds\n  expire after 90d\n  archive after 180d to deep_archive\n}\n");
    assert_eq!(fmt("sink a -> mart.a {}"), "sink a -> mart.a\n");
    same("sink a -> parquet(\"lake/{ds}.parquet\") { mode incremental by ts }\n");
    same("check a { unique(id), b > 0 }\n");
    assert_eq!(
        fmt("check a {\n unique(id), b > 0 }"),
        "check a {\n  unique(id)\n  b > 0\n}\n"
    );
    same("pipeline p { schedule daily start 2024-01-01 }\n");
}

#[test]
fn tests_and_fixtures_keep_one_row_per_line() {
    same("test t for a {\n  ds 2024-01-01\n  given b (x, y) {\n    (1, \"a\"),\n    (2, null),\n  } defaults { z = 0 }\n  expect (x) {\n    (1),\n  }\n}\n");
    assert_eq!(
        fmt("test t for a { expect (x) {\n(1) (2) } given b (x) {} }"),
        "test t for a {\n  expect (x) {\n    (1),\n    (2),\n  }\n  given b (x) {}\n}\n"
    );
}

#[test]
fn defines_and_sql() {
    same("define positive(rel: relation, col: column) = rel | filter col > 0\n");
    same("define check sane(col: column) { col >= 0 }\n");
    same("transform t = sql \"\"\"\n  select 1 as n\n\"\"\" { n: int }\n");
}

#[test]
fn comments_stay_where_they_are() {
    same("# header\n\nimport std.dedupe # why\n\n# about p\npipeline p {\n  # the schedule\n  schedule daily # daily\n  start    2024-01-01\n  # dangling\n}\n# end\n");
    same("source s = csv(\"x\") {\n  a: int, # first\n  # before b\n  b: int,\n}\n");
    same("transform t = a\n  # keep positives\n  | filter x > 0 # only\n  | derive y = 1\n");
    assert_eq!(
        fmt("source s = csv(\"x\") { a: int # no comma\n}"),
        "source s = csv(\"x\") {\n  a: int,                    # no comma\n}\n"
    );
    assert_eq!(
        fmt("check t { f(a, # one\n b) }"),
        "check t {\n  f(a,         # one\n    b)\n}\n"
    );
    assert_eq!(
        fmt("check t { a > # odd\n 1 }"),
        "check t {\n  a >         # odd\n  1\n}\n"
    );
}

#[test]
fn blank_lines_between_items_are_kept_at_most_one() {
    assert_eq!(
        fmt("import a\n\n\n\nimport b\nimport c\n"),
        "import a\n\nimport b\nimport c\n"
    );
}

#[test]
fn an_off_marker_before_the_first_item_keeps_the_file() {
    let text = "# SYNTAX TEST\n# pipec-fmt: off\npipeline p {schedule daily}\n";
    assert_eq!(format(FileId(0), text).unwrap(), text);
    let later = "pipeline p {schedule daily}\n# pipec-fmt: off\n";
    assert_eq!(
        fmt(later),
        "pipeline p { schedule daily }\n# pipec-fmt: off\n"
    );
}

#[test]
fn a_comment_inside_a_call_keeps_its_column() {
    fmt("source r = csv(\"data/rentals/{ds}.csv\", header # end of line\n= true, nulls = [\"\", \"NA\"]) {\n  a: int,\n}\n");
}

#[test]
fn tuples_keep_their_own_parentheses() {
    same("transform a = d | only_one(key = (origin, hour))\n");
    same("check t { f(((a), b)) }\n");
}

#[test]
fn strings_and_sql_hide_comment_marks() {
    same("source s = http(\"http://x/#a\") { `a#b`: int }\ntransform t = sql \"\"\"\n  select 1 # not a comment\n  // nor this\n\"\"\" { n: int }\n");
}
