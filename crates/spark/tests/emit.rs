//! The statements of emitted Spark SQL jobs, the manifest's run command and the diagnostics of
//! what the target cannot express.

use pipec_diag::SourceMap;

/// Emits `text` (one spec file `p.pipe`, relative paths rooted at `/data`).
fn emit(text: &str) -> Result<pipec_emit::Output, Vec<String>> {
    let mut sources = SourceMap::new();
    let root = sources.add("p.pipe".to_string(), text.to_string());
    let checked = pipec_check::check(&mut sources, &[root], &pipec_check::NoFiles);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let plan = pipec_plan::plan(&checked.project).expect("plans");
    let mut options = pipec_emit::Options::default();
    options.roots.insert("p.pipe".into(), "/data".into());
    pipec_spark::emit(&checked.project, &plan, &options).map_err(|diags| {
        diags
            .iter()
            .map(|d| format!("{} {}", d.code.id, d.message))
            .collect()
    })
}

fn job(text: &str) -> String {
    let out = emit(text).expect("emits");
    out.files[0].contents.clone()
}

const HEAD: &str = "pipeline p {\n  schedule daily\n  start 2024-01-01\n}\n";

#[test]
fn csv_sources_read_text_and_convert_exactly() {
    let j = job(&format!(
        "{HEAD}source s = csv(\"in/{{ds}}.csv\", delimiter = \";\", nulls = [\"NA\"]) {{ id: int, d: decimal(10, 2), name: string? }}\nsink s -> raw.s\n"
    ));
    assert!(j.contains(
        "USING csv OPTIONS (path '/data/in/${ds}.csv', header 'true', sep '\\u003B', quote '\"', escape '\"'"
    ));
    assert!(j.contains("multiLine 'true', mode 'FAILFAST'"));
    // An unquoted empty field is the empty string when "" is not a null text.
    assert!(j.contains("CASE WHEN coalesce(`id`, '') IN ('NA') THEN NULL"));
    // Integers and decimals only from plain numbers that fit without rounding.
    assert!(j.contains("try_cast(try_cast(`_pipec_t0` AS DECIMAL(38, 0)) AS INTEGER)"));
    assert!(j.contains("[0-9]{0,2}0*"));
    assert!(j.contains("pipec [E0501] source `s`"));
    assert!(j.contains("pipec [E0502] source `s`"));
}

#[test]
fn reject_leaves_rows_out_instead_of_failing() {
    let j = job(&format!(
        "{HEAD}source s = ndjson(\"in/{{ds}}.ndjson\", on_error = \"reject\", allow_empty = true) {{ id: int, v: string? }}\nsink s -> raw.s\n"
    ));
    assert!(j.contains("USING json OPTIONS (path '/data/in/${ds}.ndjson', mode 'DROPMALFORMED')"));
    assert!(j.contains("WHERE NOT (`_pipec_v0` IS NULL)"));
    assert!(!j.contains("raise_error(concat('pipec [E0501]"));
}

#[test]
fn sink_modes_map_to_partition_overwrites_rewrites_and_appends() {
    let j = job(&format!(
        "{HEAD}source s = csv(\"in/{{ds}}.csv\") {{ id: int, at: timestamp }}
transform d = s | derive ds = @ds
transform m = s | derive ds = @ds
transform a = s
transform i = s
sink d -> t.replaced {{ partition by ds }}
sink m -> t.merged {{ mode merge on (id) partition by ds }}
sink a -> t.appended {{ mode append }}
sink i -> t.inc {{ mode incremental by at }}
"
    ));
    // Every table is declared over its folder, partitioned as the sink says.
    assert!(j.contains("CREATE TABLE IF NOT EXISTS `_pipec_sink_0` (`id` INTEGER, `at` TIMESTAMP_NTZ, `ds` DATE) USING parquet PARTITIONED BY (`ds`) LOCATION '${warehouse}/t/replaced'"));
    // replace with partition: a static partition overwrite straight from the relation.
    assert!(j.contains("INSERT OVERWRITE TABLE `_pipec_sink_0` PARTITION (`ds` = '${ds}') SELECT `id`, `at` FROM (SELECT"));
    // merge: kept rows of the partition and the run's rows, staged first.
    assert!(j.contains("INSERT OVERWRITE DIRECTORY '${warehouse}/_pipec_stage/p/1' USING parquet"));
    assert!(j.contains("INSERT OVERWRITE TABLE `_pipec_sink_1` PARTITION (`ds` = '${ds}') SELECT `id`, `at` FROM `_pipec_staged_1`"));
    // append: a hidden interval column, the table rewritten without the interval's old rows.
    assert!(j.contains(
        "`_pipec_interval` TIMESTAMP_NTZ) USING parquet LOCATION '${warehouse}/t/appended'"
    ));
    assert!(j.contains("TIMESTAMP_NTZ '${start}' AS `_pipec_interval`"));
    assert!(j.contains("INSERT OVERWRITE TABLE `_pipec_sink_2` SELECT `id`, `at`, `_pipec_interval` FROM `_pipec_staged_2`"));
    // incremental: rows above the table's watermark appended.
    assert!(j.contains("INSERT INTO TABLE `_pipec_sink_3` SELECT `id`, `at` FROM (SELECT"));
    assert!(j.contains("(SELECT max(`at`) FROM `_pipec_sink_3`)"));
    // Checks and guards come before the first write.
    let guard = j
        .find("every row of `d` is in the run")
        .expect("partition guard");
    let first_write = j.find("INSERT OVERWRITE").expect("a write");
    assert!(guard < first_write);
    assert!(j.contains("merge keys (id) of `m` are unique"));
}

#[test]
fn checks_fail_the_job_naming_every_failed_rule() {
    let j = job(&format!(
        "{HEAD}source s = csv(\"in/{{ds}}.csv\") {{ id: int }}\nsink s -> raw.s\ncheck s {{\n  unique(id)\n  row_count(min = 1)\n}}\n"
    ));
    assert!(j.contains("CACHE TABLE `_pipec_checks` AS"));
    assert!(j.contains("'unique(id)' AS rule"));
    assert!(j.contains("(n < 1) AS failed"));
    assert!(j.contains("THEN raise_error(concat('pipec: ', count(*), ' check(s) failed"));
}

#[test]
fn relations_read_once_are_views_others_are_cached() {
    let j = job(&format!(
        "{HEAD}source s = csv(\"in/{{ds}}.csv\") {{ id: int }}\ntransform a = s | filter id > 1\ntransform b = a | derive x = id * 2\nsink b -> raw.b\n"
    ));
    assert!(j.contains("CACHE TABLE `s` AS"));
    assert!(j.contains("CREATE OR REPLACE TEMPORARY VIEW `a` AS"));
    assert!(j.contains("CACHE TABLE `b` AS"));
}

#[test]
fn manifest_runs_spark_sql_with_the_interval_from_the_environment() {
    let out = emit(
        "pipeline p {\n  schedule hourly \"Asia/Seoul\"\n}\nsource s = csv(\"in/{yyyy}/{mm}/{dd}/{hh}.csv\") { id: int }\nsink s -> csv(\"out/{ds_nodash}.csv\")\n",
    )
    .expect("emits");
    let p = &out.manifest.pipelines[0];
    assert_eq!(p.files, vec!["p.sql"]);
    assert!(p.sinks.is_empty());
    assert_eq!(p.env["PIPEC_DS"], "{ds}");
    assert_eq!(p.env["PIPEC_WAREHOUSE"], "{warehouse}");
    assert!(p.run.contains(
        "spark-sql ${PIPEC_SPARK_OPTS:-} --conf spark.sql.catalogImplementation=in-memory"
    ));
    assert!(p.run.contains("--hivevar \"ds=$PIPEC_DS\""));
    assert!(p.run.contains("--hivevar \"yyyy=${PIPEC_DS%%-*}\""));
    assert!(p.run.contains("--hivevar \"dd=${PIPEC_DS##*-}\""));
    assert!(p
        .run
        .contains("--hivevar \"hh=$(TZ=Asia/Seoul date -d \"$PIPEC_START UTC\" +%H)\""));
    assert!(p.run.contains("ds_nodash="));
    assert!(p.run.ends_with("-f p.sql"));
    let j = &out.files[0].contents;
    assert!(j.contains("'/data/in/${yyyy}/${mm}/${dd}/${hh}.csv'"));
    assert!(j.contains(
        "INSERT OVERWRITE DIRECTORY '/data/out/${ds_nodash}.csv' USING csv OPTIONS (header 'true'"
    ));
}

#[test]
fn user_text_never_becomes_a_variable_or_ends_a_statement() {
    let j = job(&format!(
        "{HEAD}source s = csv(\"in/{{ds}}.csv\") {{ id: int }}\ntransform t = s | derive x = \"${{ds}} '; drop table x; --\"\nsink t -> `odd schema`.`it's \"q\"`\n"
    ));
    assert!(j.contains("'\\u0024{ds} \\'\\u003B drop table x\\u003B --'"));
    assert!(j.contains("LOCATION '${warehouse}/odd schema/it\\'s \"q\"'"));
    // Outside comments, every `;` ends a statement of the job.
    for line in j.lines().filter(|l| !l.starts_with("--")) {
        if let Some(i) = line.find(';') {
            assert_eq!(i, line.len() - 1, "{line}");
        }
    }
}

#[test]
fn what_spark_cannot_express_is_an_error_naming_each_node() {
    let errs = emit(&format!(
        "{HEAD}source a = http(\"http://x/api\") {{ id: int }}
source b = csv(\"in/{{ds}}.csv\", skip = 1) {{ id: int }}
source c = csv(\"in/{{ds}}.dat\", compression = \"gzip\") {{ id: int }}
source d = csv(\"in/{{ds}}.csv\") {{ `cost ${{usd}}`: int }}
transform u = a | union b | union c
sink u -> raw.u
sink d -> `a/b`.c
"
    ))
    .expect_err("refused");
    let all = errs.join("\n");
    assert!(all.contains("E0601 an `http` source"), "{all}");
    assert!(all.contains("E0601 `skip` in a csv source"), "{all}");
    assert!(all.contains("E0601 `compression = \"gzip\"`"), "{all}");
    assert!(all.contains("E0603 the column `cost ${usd}`"), "{all}");
    assert!(all.contains("E0603 the table `a/b.c`"), "{all}");
}

#[test]
fn window_aggregates_keep_over_next_to_the_call() {
    let j = job(&format!(
        "{HEAD}source s = csv(\"in/{{ds}}.csv\") {{ k: string, n: int, d: decimal(10, 2) }}\ntransform w = s | window partition k order n {{ running = sum(n), mean = avg(d) }}\nsink w -> raw.w\n"
    ));
    assert!(j.contains("CAST(sum(`n`) OVER (PARTITION BY `k` ORDER BY `n` ASC NULLS LAST) AS BIGINT) AS `running`"), "{j}");
    // Spark's avg of a decimal would round to 4 more digits: doubles are averaged.
    assert!(
        j.contains("avg(CAST(`d` AS DOUBLE)) OVER (PARTITION BY `k` ORDER BY `n` ASC NULLS LAST)"),
        "{j}"
    );
}

#[test]
fn retention_is_refused_naming_each_sink_and_source() {
    let errs = emit(&format!(
        "{HEAD}source s = csv(\"in/{{ds}}.csv\") {{ id: int }}
  expire after 1y
transform t = s | derive ds = @ds
sink t -> mart.t {{ partition by ds  archive after 30d  expire after 400d }}
"
    ))
    .expect_err("refused");
    let all = errs.join("\n");
    assert!(
        all.contains("E0601 retention on sink `mart.t` is not supported on the Spark SQL target"),
        "{all}"
    );
    assert!(all.contains("E0601 retention on source `s`"), "{all}");
    assert_eq!(errs.len(), 2, "{all}");
}
