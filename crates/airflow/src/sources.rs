//! Source loading as the Airflow runtime's operations, in DuckDB's SQL: files are read with the
//! same reader options as `pipec run` (`crates/runner/src/load.rs`), `int`, `bigint` and `decimal`
//! columns of CSV and NDJSON as text, checked to be written exactly and only then cast (`3.7` in
//! an `int` column fails the run, it never becomes `4`); a non-null column holding a null fails
//! the run. Both profiles load files, HTTP and PostgreSQL sources with DuckDB inside the task.

use pipec_check::ir::{
    Column, Compression, FileFormat, FileOptions, Pipeline, PostgresRead, Relation, Source, Type,
    Value,
};
use pipec_sql::{Dialect, Piece, MARK};
use serde_json::{json, Value as J};

const D: Dialect = Dialect::DuckDb;

/// Names tables while emitting: staged relations and warehouse tables.
pub(crate) trait Names {
    /// The staged table of relation `rel` (with `suffix` for helper tables).
    fn staged(&self, rel: &str, suffix: &str) -> String;
    /// The warehouse table `schema.table`, as read by DuckDB in a task.
    fn warehouse(&self, schema: &str, table: &str) -> String;
}

/// A path or URL template split into text and run variables (`{ds}`, `{hh}`, ...).
pub(crate) fn pieces(template: &str) -> Vec<Piece> {
    pipec_sql::template_pieces(template, |name| {
        pipec_sql::Interval::NAMES
            .contains(&name)
            .then(|| Piece::Var(name.to_string()))
    })
}

/// The template as the runtime takes it: text with each variable as a [`MARK`]ed name.
pub(crate) fn marked(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.clone(),
            Piece::Var(v) => format!("{MARK}{v}{MARK}"),
        })
        .collect()
}

/// A secret or literal option value as the runtime reads it: `{"secret": NAME}` (an Airflow
/// Variable or Connection of that name) or `{"value": text}`.
pub(crate) fn secret_ref(v: &Value) -> J {
    match v {
        Value::Secret(name) => json!({ "secret": name }),
        Value::Str(s) => json!({ "value": s }),
        other => json!({ "value": format!("{other:?}") }),
    }
}

/// A path as DuckDB's readers take it, as a string literal: literal unless `glob` (as in the
/// runner), run variables left to the runtime.
fn reader_literal(pieces: &[Piece], glob: bool) -> String {
    let escaped: Vec<Piece> = pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => Piece::Text(reader_path(t, glob)),
            v => v.clone(),
        })
        .collect();
    D.quote(&escaped)
}

fn reader_path(path: &str, glob: bool) -> String {
    if glob || !path.contains(['*', '?', '[']) {
        return path.to_string();
    }
    let mut out = String::with_capacity(path.len() + 8);
    for ch in path.chars() {
        if matches!(ch, '[' | '*' | '?' | '\\') {
            out.push('[');
            out.push(ch);
            out.push(']');
        } else {
            out.push(ch);
        }
    }
    out
}

fn compression(c: Compression) -> &'static str {
    match c {
        Compression::None => "'none'",
        Compression::Gzip => "'gzip'",
        Compression::Zstd => "'zstd'",
    }
}

/// Fractional digits a text may have for types whose cast from text would round.
fn exact_scale(t: Type) -> Option<u8> {
    match t {
        Type::Int | Type::BigInt => Some(0),
        Type::Decimal(_, s) => Some(s),
        _ => None,
    }
}

/// RE2 pattern of a text written exactly with at most `scale` significant fractional digits:
/// `[spaces][+|-]digits[.digits][spaces]` (as the runner's `_pipec_exact`).
pub(crate) fn exact_pattern(scale: u8) -> String {
    let ws = "[ \\t\\n\\f\\r]*";
    let (frac, only_frac) = if scale == 0 {
        ("0*".to_string(), "0+".to_string())
    } else {
        (
            format!("[0-9]{{0,{scale}}}0*"),
            format!("([0-9]{{1,{scale}}}0*|0+)"),
        )
    };
    format!("{ws}[+-]?([0-9]+(\\.{frac})?|\\.{only_frac}){ws}")
}

/// Text `v` as column `c`: exact types checked then cast, others cast; a value that does not
/// fit fails the statement with `error(where || ...)`.
fn typed_value(v: &str, c: &Column, place: &str) -> String {
    let ty = D.type_sql(c.ty);
    let fail = format!(
        "error('pipec: ' || {place} || {} || {v} || {})",
        D.string(&format!(": column `{}`: value ", c.name)),
        D.string(&format!(" is not a {}", c.ty))
    );
    match exact_scale(c.ty) {
        Some(scale) => format!(
            "CASE WHEN {v} IS NULL THEN NULL WHEN regexp_full_match({v}, {}) THEN CAST({v} AS {ty}) ELSE {fail} END",
            D.string(&exact_pattern(scale))
        ),
        None => format!(
            "CASE WHEN {v} IS NULL THEN NULL ELSE coalesce(TRY_CAST({v} AS {ty}), {fail}) END"
        ),
    }
}

/// An assertion: the query gives one row with column `n`; `fail` is the condition on `n`.
pub(crate) fn assert_op(sql: String, fail: &str, message: String, detail: Option<String>) -> J {
    object([
        ("op", J::from("assert")),
        ("sql", J::String(sql)),
        ("fail", J::from(fail)),
        ("message", J::String(message)),
        ("detail", detail.map_or(J::Null, J::String)),
    ])
}

/// The operation running one SQL statement.
pub(crate) fn sql_op(sql: String) -> J {
    object([("op", J::from("sql")), ("sql", J::String(sql))])
}

/// A JSON object of `fields`, which it takes as they are (`json!` copies each value).
fn object<const N: usize>(fields: [(&str, J); N]) -> J {
    J::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The assertion that no non-null column of `rel` holds a null in `table`.
fn not_null(rel: &Relation, table: &str, origin: &str) -> Option<J> {
    let required: Vec<&Column> = rel.schema.columns.iter().filter(|c| !c.nullable).collect();
    if required.is_empty() {
        return None;
    }
    let cond: Vec<String> = required
        .iter()
        .map(|c| format!("{} IS NULL", D.ident(&c.name)))
        .collect();
    let detail: Vec<String> = required
        .iter()
        .map(|c| {
            format!(
                "CASE WHEN count(*) FILTER (WHERE {} IS NULL) > 0 THEN {} END",
                D.ident(&c.name),
                D.string(&format!("`{}` ", c.name))
            )
        })
        .collect();
    Some(assert_op(
        format!(
            "SELECT count(*) AS n FROM {table} WHERE {}",
            cond.join(" OR ")
        ),
        "n > 0",
        format!(
            "{origin}: a column of `{}` declared non-null is null (declare it nullable with `?`, or fix the data)",
            rel.name
        ),
        Some(format!(
            "SELECT concat_ws('', {}) || 'is null' FROM {table}",
            detail.join(", ")
        )),
    ))
}

/// Typed rows of `rel` from JSON texts, one per line of `lines` (a table of `_file`, `json`).
fn json_ops(rel: &Relation, lines: &str, staged: &str, unit: &str, out: &mut Vec<J>) {
    let numbered = format!(
        "(SELECT _file, CAST(rowid - min(rowid) OVER (PARTITION BY _file) + 1 AS BIGINT) AS _row, rowid AS _at, json FROM {lines})"
    );
    let blank = "(json IS NULL OR regexp_full_match(json, '[ \\t\\r]*'))";
    let object = "coalesce(CASE WHEN json_valid(json) THEN json_type(json) = 'OBJECT' END, false)";
    out.push(assert_op(
        format!("SELECT count(*) AS n FROM {numbered} AS l WHERE NOT {blank} AND NOT {object}"),
        "n > 0",
        format!("`{}` reads one JSON object per {unit}", rel.name),
        Some(format!(
            "SELECT _file || ' {unit} ' || CAST(_row AS VARCHAR) || ': not a JSON object: ' || left(json, 60) FROM {numbered} AS l WHERE NOT {blank} AND NOT {object} ORDER BY _at LIMIT 1"
        )),
    ));
    let place = format!("_file || ' {unit} ' || CAST(_row AS VARCHAR)");
    let cols: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            let v = format!("(json ->> {})", D.string(&c.name));
            format!("{} AS {}", typed_value(&v, c, &place), D.ident(&c.name))
        })
        .collect();
    out.push(sql_op(format!(
        "CREATE OR REPLACE TABLE {staged} AS SELECT {} FROM (SELECT _file, _row, _at, CAST(json AS JSON) AS json FROM {numbered} AS l WHERE NOT {blank}) AS r ORDER BY _at",
        cols.join(", ")
    )));
    out.push(sql_op(format!("DROP TABLE IF EXISTS {lines}")));
}

/// Reads `path` (an SQL expression) line by line into `lines`, as the runner reads NDJSON.
fn lines_sql(lines: &str, path: &str, c: Compression) -> String {
    format!(
        "CREATE OR REPLACE TABLE {lines} AS SELECT filename AS _file, line AS json FROM read_csv({path}, columns = {{'line': 'VARCHAR'}}, header = false, auto_detect = false, delim = '\u{2}\u{3}\u{4}\u{5}', quote = '', escape = '', nullstr = '', strict_mode = false, max_line_size = 16777216, compression = {}, filename = true)",
        compression(c)
    )
}

/// The CSV reader options of `rel` (as the runner's `csv_options`).
fn csv_options(rel: &Relation, options: &FileOptions) -> String {
    let csv = options.csv.clone().unwrap_or_default();
    let mut opts = vec![
        format!("header = {}", csv.header),
        "auto_detect = false".to_string(),
        format!("compression = {}", compression(options.compression)),
    ];
    let columns: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            let ty = match exact_scale(c.ty) {
                Some(_) => "VARCHAR".to_string(),
                None => D.type_sql(c.ty),
            };
            format!("{}: {}", D.string(&c.name), D.string(&ty))
        })
        .collect();
    opts.push(format!("columns = {{{}}}", columns.join(", ")));
    opts.push(format!("delim = {}", D.string(&csv.delimiter.to_string())));
    opts.push(format!("quote = {}", D.string(&csv.quote.to_string())));
    opts.push("allow_quoted_nulls = false".to_string());
    if csv.nulls.is_empty() {
        let all: Vec<String> = rel
            .schema
            .columns
            .iter()
            .map(|c| D.string(&c.name))
            .collect();
        opts.push(format!(
            "nullstr = '', force_not_null = [{}]",
            all.join(", ")
        ));
    } else {
        let nulls: Vec<String> = csv.nulls.iter().map(|n| D.string(n)).collect();
        opts.push(format!("nullstr = [{}]", nulls.join(", ")));
    }
    if csv.skip > 0 {
        opts.push(format!("skip = {}", csv.skip));
    }
    opts.join(", ")
}

/// What loading one source takes.
pub(crate) struct Load {
    /// The runtime's operations.
    pub ops: Vec<J>,
    /// Whether the task reads the warehouse.
    pub warehouse: bool,
}

/// The operations loading source `rel` of `p` into its staged table; `resolve` maps a spec path
/// to its deployed location. `Err` names what cannot be emitted.
pub(crate) fn load(
    p: &Pipeline,
    rel: &Relation,
    src: &Source,
    names: &dyn Names,
    resolve: &dyn Fn(&str) -> String,
) -> Result<Load, String> {
    let staged = names.staged(&rel.name, "");
    let lines = names.staged(&rel.name, "__lines");
    let mut ops = Vec::new();
    let mut warehouse = false;
    match src {
        Source::File {
            format,
            path,
            options,
        } => {
            if options.on_error == pipec_check::ir::OnError::Reject {
                return Err(
                    "`on_error = \"reject\"` (rejected rows are recorded only by `pipec run`)"
                        .into(),
                );
            }
            let path = pieces(&resolve(path));
            ops.push(json!({
                "op": "require_file", "path": marked(&path), "glob": options.glob,
                "allow_empty": options.allow_empty || *format == FileFormat::Parquet,
                "relation": rel.name,
            }));
            let reader = reader_literal(&path, options.glob);
            match format {
                FileFormat::Csv => {
                    let cols: Vec<String> = rel
                        .schema
                        .columns
                        .iter()
                        .map(|c| {
                            let n = D.ident(&c.name);
                            match exact_scale(c.ty) {
                                Some(_) => format!(
                                    "{} AS {n}",
                                    typed_value(&n, c, &D.string(&format!("`{}`", rel.name)))
                                ),
                                None => n,
                            }
                        })
                        .collect();
                    ops.push(sql_op(format!(
                        "CREATE OR REPLACE TABLE {staged} AS SELECT {} FROM read_csv({reader}, {})",
                        cols.join(", "),
                        csv_options(rel, options)
                    )));
                }
                FileFormat::Ndjson => {
                    ops.push(sql_op(lines_sql(&lines, &reader, options.compression)));
                    json_ops(rel, &lines, &staged, "line", &mut ops);
                }
                FileFormat::Parquet => {
                    ops.push(sql_op(format!(
                        "CREATE OR REPLACE TABLE {staged} AS SELECT {} FROM read_parquet({reader})",
                        D.cast_columns(&rel.schema)
                    )));
                }
            }
            ops.extend(not_null(rel, &staged, &format!("`{}`", rel.name)));
        }
        Source::Http { url, options } => {
            let fallback = options.fallback.as_ref().map(|f| resolve(f));
            ops.push(json!({
                "op": "http",
                "relation": rel.name,
                "url": marked(&pieces(url)),
                "rows": options.rows,
                "paginate": options.paginate.map(|p| match p {
                    pipec_check::ir::Paginate::Page => "page",
                    pipec_check::ir::Paginate::Offset => "offset",
                }),
                "page_param": options.page_param,
                "size_param": options.size_param,
                "page_size": options.page_size,
                "max_pages": options.max_pages,
                "timeout": options.timeout_seconds,
                "retries": options.retries,
                "max_bytes": options.max_bytes,
                "bearer": options.bearer.as_ref().map(secret_ref),
                "api_key": options.api_key.as_ref().map(secret_ref),
                "api_key_param": options.api_key_param,
                "fallback": fallback,
            }));
            let fetched = D.quote(&[Piece::Var("_fetched".into())]);
            ops.push(sql_op(lines_sql(&lines, &fetched, Compression::None)));
            json_ops(rel, &lines, &staged, "row", &mut ops);
            ops.extend(not_null(rel, &staged, &format!("`{}`", rel.name)));
        }
        Source::Postgres {
            dsn,
            read,
            incremental,
        } => {
            let pg = Dialect::Postgres;
            let cols: Vec<String> = rel
                .schema
                .columns
                .iter()
                .map(|c| pg.ident(&c.name))
                .collect();
            let from = match read {
                PostgresRead::Table(t) => t
                    .split('.')
                    .map(|n| pg.ident(n))
                    .collect::<Vec<_>>()
                    .join("."),
                PostgresRead::Query(q) => format!("({q}) AS q"),
            };
            let base = format!("SELECT {} FROM {from}", cols.join(", "));
            let (sql, sql_after) = match incremental {
                Some(col) => (
                    format!("SELECT row_to_json(t)::text FROM ({base} ORDER BY {}) AS t", pg.ident(col)),
                    Some(format!(
                        "SELECT row_to_json(t)::text FROM ({base} WHERE {0} > {1} ORDER BY {0}) AS t",
                        pg.ident(col),
                        D.var("_watermark")
                    )),
                ),
                None => (format!("SELECT row_to_json(t)::text FROM ({base}) AS t"), None),
            };
            if incremental.is_some() {
                warehouse = true;
            }
            ops.push(json!({
                "op": "postgres",
                "relation": rel.name,
                "dsn": secret_ref(dsn),
                "sql": sql,
                "sql_after": sql_after,
                "state_key": format!("source:{}", rel.name),
            }));
            let fetched = D.quote(&[Piece::Var("_fetched".into())]);
            ops.push(sql_op(lines_sql(&lines, &fetched, Compression::None)));
            json_ops(rel, &lines, &staged, "row", &mut ops);
            ops.extend(not_null(rel, &staged, &format!("`{}`", rel.name)));
        }
        Source::Calendar { from, to } => {
            ops.push(sql_op(format!(
                "CREATE OR REPLACE TABLE {staged} AS SELECT CAST(range AS DATE) AS day FROM range(DATE {}, DATE {} + INTERVAL 1 DAY, INTERVAL 1 DAY)",
                D.string(from), D.string(to)
            )));
        }
        Source::Table { table } => {
            warehouse = true;
            let (schema, name) = table.split_once('.').unwrap_or(("main", table));
            ops.push(sql_op(format!(
                "CREATE OR REPLACE TABLE {staged} AS SELECT {} FROM {}",
                D.cast_columns(&rel.schema),
                names.warehouse(schema, name)
            )));
            ops.extend(not_null(rel, &staged, &format!("table {table}")));
        }
        Source::Stream { system, .. } => {
            return Err(format!(
                "a `{system}` stream source (Airflow runs batch intervals)"
            ));
        }
    }
    let _ = p;
    Ok(Load { ops, warehouse })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_variables_and_quote_text() {
        let p = pieces("a'b/{ds}[1]*.csv");
        assert_eq!(marked(&p), "a'b/\u{1}ds\u{1}[1]*.csv");
        assert_eq!(reader_literal(&p, false), "'a''b/\u{1}ds\u{1}[[]1][*].csv'");
        assert_eq!(reader_literal(&p, true), "'a''b/\u{1}ds\u{1}[1]*.csv'");
    }

    #[test]
    fn exact_patterns_allow_zeros_only_past_the_scale() {
        assert_eq!(
            exact_pattern(0),
            "[ \\t\\n\\f\\r]*[+-]?([0-9]+(\\.0*)?|\\.0+)[ \\t\\n\\f\\r]*"
        );
        assert!(exact_pattern(2).contains("[0-9]{0,2}0*"));
    }
}
