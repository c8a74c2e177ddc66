//! Sources as cached views with the declared schema. CSV and NDJSON columns are read as text
//! and converted here, exactly as `pipec run` reads them: integers and decimals only from plain
//! numbers with no more fractional digits than the type keeps (Spark's casts would round),
//! the CSV null texts of the source, a failure naming the file for a value that does not fit
//! or a null in a non-null column (or, with `on_error = "reject"`, the row left out).

use pipec_check::ir::{
    Column, Compression, CsvOptions, FileFormat, OnError, Pipeline, Project, Relation, Source, Type,
};
use pipec_diag::Diagnostic;
use pipec_emit::Options;
use pipec_sql::{template_pieces, Interval, Piece};

use crate::names::{self, Names};
use crate::{Section, D, TARGET};

/// The value Spark's CSV reader is given as its null text: it never occurs in data, and an
/// unquoted empty field reads as it (so as null), while a quoted `""` reads as the empty
/// string. The source's own null texts are applied after reading.
const CSV_NULL: &str = "\u{1}pipec-null\u{1}";

/// The statements of source `rel` (the `i`th relation of `p`).
pub(crate) fn source(
    p: &Pipeline,
    i: usize,
    rel: &Relation,
    s: &Source,
    project: &Project,
    options: &Options,
    names: &Names,
) -> Result<Section, Vec<Diagnostic>> {
    let view = names.view(&rel.name);
    let read = format!("`_pipec_read_{i}`");
    let unsupported =
        |what: &str, help: &str| vec![pipec_emit::unsupported(rel.span, what, TARGET, help)];
    let title = |what: &str| format!("source {}: {what}", names::comment(&rel.name));
    match s {
        Source::File {
            format,
            path,
            options: fo,
        } => {
            let mut diags = Vec::new();
            let implied = implied_compression(path);
            if *format != FileFormat::Parquet && fo.compression != implied {
                diags.push(pipec_emit::unsupported(
                    rel.span,
                    &format!(
                        "`compression = \"{}\"` on a path whose extension says {}",
                        compression_name(fo.compression),
                        compression_name(implied)
                    ),
                    TARGET,
                    "Spark picks the codec from the file name: name gzip files `*.gz` and zstd files `*.zst` (plain files neither), and leave out `compression`",
                ));
            }
            if fo.glob && path.contains("**") {
                diags.push(pipec_emit::unsupported(
                    rel.span,
                    "a `**` glob (any folders)",
                    TARGET,
                    "Spark's (Hadoop's) globs match within one folder level: spell the levels out (`data/*/*/x.csv`)",
                ));
            }
            if let Some(csv) = &fo.csv {
                if csv.skip > 0 {
                    diags.push(pipec_emit::unsupported(
                        rel.span,
                        "`skip` in a csv source",
                        TARGET,
                        "Spark's CSV reader cannot skip lines at the top of a file: remove them upstream, or read the file with `header = false` and filter the lines out in a transform",
                    ));
                }
            }
            if *format != FileFormat::Parquet {
                if let Some(c) = rel.schema.columns.iter().find(|c| c.ty == Type::Interval) {
                    diags.push(pipec_emit::unsupported(
                        rel.span,
                        &format!("the `interval` column `{}` in a file source", c.name),
                        TARGET,
                        "read the length as a number (e.g. seconds: `bigint`) and convert it in a transform",
                    ));
                }
            }
            if !diags.is_empty() {
                return Err(diags);
            }
            let location = file_path(&options.resolve(&p.file, path), fo.glob);
            // `allow_empty` has no effect: Spark lists a 0-byte file but reads no rows and no
            // file name from it, so a job cannot tell it from a file with a header only.
            let mut statements = Vec::new();
            let reject = fo.on_error == OnError::Reject;
            match format {
                FileFormat::Csv => {
                    let csv = fo.csv.clone().unwrap_or_default();
                    statements.push(csv_view(&read, rel, &csv, &location, reject));
                    statements.push(format!(
                        "CACHE TABLE {view} AS {}",
                        text_select(rel, &read, reject, |c| csv_text(c, &csv.nulls))
                    ));
                }
                FileFormat::Ndjson => {
                    statements.push(format!(
                        "CREATE OR REPLACE TEMPORARY VIEW {read} ({}) USING json OPTIONS (path {location}, mode '{}')",
                        text_columns(rel),
                        if reject { "DROPMALFORMED" } else { "FAILFAST" }
                    ));
                    statements.push(format!(
                        "CACHE TABLE {view} AS {}",
                        text_select(rel, &read, reject, |c| c.to_string())
                    ));
                }
                FileFormat::Parquet => {
                    statements.push(format!(
                        "CREATE OR REPLACE TEMPORARY VIEW {read} USING parquet OPTIONS (path {location})"
                    ));
                    statements.push(format!(
                        "CACHE TABLE {view} AS {}",
                        typed_select(rel, &read)
                    ));
                }
            }
            let kind = match format {
                FileFormat::Csv => "csv",
                FileFormat::Ndjson => "ndjson",
                FileFormat::Parquet => "parquet",
            };
            Ok(Section {
                title: title(&format!("{kind} {}", names::comment(path))),
                statements,
            })
        }
        Source::Table { table } => {
            let (schema, name) = project.sink_table_name(table);
            // Read as a path, so glob characters in the names are escaped.
            let location = D.quote(&[
                Piece::Var("warehouse".into()),
                Piece::Text(escape_glob(&format!("/{schema}/{name}"), false)),
            ]);
            let typed: Vec<String> = rel
                .schema
                .columns
                .iter()
                .map(|c| format!("{} {}", D.ident(&c.name), D.type_sql(c.ty)))
                .collect();
            Ok(Section {
                title: title(&format!(
                    "the warehouse table {}",
                    names::comment(&format!("{schema}.{name}"))
                )),
                statements: vec![
                    format!(
                        "CREATE OR REPLACE TEMPORARY VIEW {read} ({}) USING parquet OPTIONS (path {location})",
                        typed.join(", ")
                    ),
                    format!("CACHE TABLE {view} AS {}", typed_select(rel, &read)),
                ],
            })
        }
        Source::Calendar { from, to } => {
            let day = rel
                .schema
                .columns
                .first()
                .map_or("day".to_string(), |c| c.name.clone());
            Ok(Section {
                title: title(&format!("calendar from {from} to {to}")),
                statements: vec![format!(
                    "CACHE TABLE {view} AS SELECT explode(sequence(DATE {}, DATE {}, INTERVAL 1 DAY)) AS {}",
                    D.string(from),
                    D.string(to),
                    D.ident(&day)
                )],
            })
        }
        Source::Http { .. } => Err(unsupported(
            "an `http` source",
            "a Spark SQL job cannot call an HTTP API: ingest it upstream (e.g. emit the pipeline for the Airflow target, or a pipeline of its own writing a table) and read it here with `table(\"schema.table\")`",
        )),
        Source::Postgres { .. } => Err(unsupported(
            "a `postgres` source",
            "a Spark SQL job has no PostgreSQL driver or credentials: copy the data upstream (e.g. emit the ingesting pipeline for the Airflow target) and read it here with `table(\"schema.table\")`",
        )),
        Source::Stream { system, .. } => Err(unsupported(
            &format!("a `{system}` stream source"),
            "a Spark SQL job is a batch job: read the stream with Spark Structured Streaming or land it as files upstream, and read the files here",
        )),
    }
}

/// The compression a path's extension implies (what Spark decompresses it with).
fn implied_compression(path: &str) -> Compression {
    if path.ends_with(".gz") {
        Compression::Gzip
    } else if path.ends_with(".zst") {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The option value naming a compression.
fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}

/// A source path as a Spark string literal. Spark (Hadoop) reads every path as a glob, so the
/// pattern characters of a literal path are escaped with `\`; with `glob = true` only `{`, `}`
/// and `\` are (Hadoop's `{a,b}` is not a pipec pattern).
pub(crate) fn file_path(resolved: &str, glob: bool) -> String {
    let pieces: Vec<Piece> = template_pieces(resolved, |name| {
        Interval::NAMES
            .contains(&name)
            .then(|| Piece::Var(name.to_string()))
    })
    .into_iter()
    .map(|p| match p {
        Piece::Text(t) => Piece::Text(escape_glob(&t, glob)),
        v => v,
    })
    .collect();
    D.quote(&pieces)
}

/// `text` with Hadoop's glob characters escaped (with `glob`, only `{`, `}` and `\`).
fn escape_glob(text: &str, glob: bool) -> String {
    let special: &[char] = if glob {
        &['\\', '{', '}']
    } else {
        &['\\', '{', '}', '*', '?', '[', ']']
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `a STRING, b STRING, ...`: the schema a text-read source is read with.
fn text_columns(rel: &Relation) -> String {
    rel.schema
        .columns
        .iter()
        .map(|c| format!("{} STRING", D.ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The CSV reader view: every column as text, quoted fields spanning lines, `"` escaping the
/// quote character inside a quoted field (as DuckDB's reader does, so a quote inside a `"`
/// field is doubled); malformed rows (a wrong number of fields) fail the job, or are left out
/// with `on_error = "reject"`.
fn csv_view(read: &str, rel: &Relation, csv: &CsvOptions, location: &str, reject: bool) -> String {
    let q = D.string(&csv.quote.to_string());
    format!(
        "CREATE OR REPLACE TEMPORARY VIEW {read} ({}) USING csv OPTIONS (path {location}, header '{}', sep {}, quote {q}, escape '\"', nullValue {}, multiLine 'true', mode '{}', encoding 'UTF-8')",
        text_columns(rel),
        csv.header,
        D.string(&csv.delimiter.to_string()),
        D.string(CSV_NULL),
        if reject { "DROPMALFORMED" } else { "FAILFAST" }
    )
}

/// The text of CSV column `c` (read with [`CSV_NULL`]): null for an unquoted empty field when
/// `""` is among the null texts (else the empty string), null for the other null texts.
fn csv_text(c: &str, nulls: &[String]) -> String {
    let base = if nulls.iter().any(|n| n.is_empty()) {
        c.to_string()
    } else {
        format!("coalesce({c}, '')")
    };
    let others: Vec<String> = nulls
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| D.string(n))
        .collect();
    if others.is_empty() {
        base
    } else {
        format!(
            "CASE WHEN {base} IN ({}) THEN NULL ELSE {base} END",
            others.join(", ")
        )
    }
}

/// A regular expression (Java) matching the texts `pipec run` reads as a number of `scale`
/// fractional digits: `[spaces][+|-]digits[.digits][spaces]`, at least one digit, at most
/// `scale` fractional digits before trailing zeros.
fn exact_pattern(scale: u8) -> String {
    let ws = "[ \\t\\n\\f\\r]*";
    format!("^{ws}[+-]?([0-9]+(\\.[0-9]{{0,{scale}}}0*)?|\\.(?=[0-9])[0-9]{{0,{scale}}}0*){ws}$")
}

/// The value of text `t` as type `ty`: null when it does not convert (exactly).
fn convert(t: &str, ty: Type) -> String {
    let exact = |scale: u8| format!("{t} RLIKE {}", D.string(&exact_pattern(scale)));
    match ty {
        Type::Int | Type::BigInt => format!(
            "CASE WHEN {} THEN try_cast(try_cast({t} AS DECIMAL(38, 0)) AS {}) END",
            exact(0),
            D.type_sql(ty)
        ),
        Type::Decimal(_, s) => format!(
            "CASE WHEN {} THEN try_cast({t} AS {}) END",
            exact(s),
            D.type_sql(ty)
        ),
        Type::Float | Type::Bool | Type::Date | Type::Timestamp => {
            format!("try_cast({t} AS {})", D.type_sql(ty))
        }
        Type::String | Type::Json | Type::Null | Type::Interval => t.to_string(),
    }
}

/// Whether a column read as text can hold a text that does not convert.
fn converts(ty: Type) -> bool {
    !matches!(ty, Type::String | Type::Json | Type::Null | Type::Interval)
}

/// The typed rows of a source read as text (`text` gives a column's text from its quoted
/// name): three layers, the texts (and the file), the converted values, then the checked
/// columns, each failing the job with the file named, or, with `reject`, the rows that hold
/// a value that does not convert or a null in a non-null column left out.
fn text_select(rel: &Relation, read: &str, reject: bool, text: impl Fn(&str) -> String) -> String {
    let cols = &rel.schema.columns;
    let t = |i: usize| format!("`_pipec_t{i}`");
    let v = |i: usize| format!("`_pipec_v{i}`");
    let mut texts: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS {}", text(&D.ident(&c.name)), t(i)))
        .collect();
    texts.push("input_file_name() AS `_pipec_file`".into());
    let mut values: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}, {} AS {}", t(i), convert(&t(i), c.ty), v(i)))
        .collect();
    values.push("`_pipec_file`".into());
    let inner = format!(
        "SELECT {} FROM (SELECT {} FROM {read}) AS t",
        values.join(", "),
        texts.join(", ")
    );
    if reject {
        let bad: Vec<String> = cols
            .iter()
            .enumerate()
            .filter_map(|(i, c)| bad_value(c, &t(i), &v(i)))
            .collect();
        let out: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS {}", v(i), D.ident(&c.name)))
            .collect();
        let filter = if bad.is_empty() {
            String::new()
        } else {
            format!(" WHERE NOT ({})", bad.join(" OR "))
        };
        return format!("SELECT {} FROM ({inner}) AS v{filter}", out.join(", "));
    }
    let out: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (t, v) = (t(i), v(i));
            let what = format!("{} ({})", D.ident(&c.name), c.ty);
            let null = raise(
                &format!(
                    "pipec [E0502] source `{}`: null in the non-null column {what}, file ",
                    rel.name
                ),
                "`_pipec_file`",
            );
            let unfit = format!(
                "raise_error(concat({}, {t}, {}, `_pipec_file`))",
                D.string(&format!("pipec [E0501] source `{}`: the value '", rel.name)),
                D.string(&format!("' does not fit the column {what}, file "))
            );
            let mut arms = Vec::new();
            if !c.nullable {
                arms.push(format!("WHEN {t} IS NULL THEN {null}"));
            }
            if converts(c.ty) {
                arms.push(format!("WHEN {t} IS NOT NULL AND {v} IS NULL THEN {unfit}"));
            }
            if arms.is_empty() {
                format!("{v} AS {}", D.ident(&c.name))
            } else {
                format!(
                    "CASE {} ELSE {v} END AS {}",
                    arms.join(" "),
                    D.ident(&c.name)
                )
            }
        })
        .collect();
    format!("SELECT {} FROM ({inner}) AS v", out.join(", "))
}

/// The condition that column `c` (text `t`, value `v`) makes its row unfit, if it can.
fn bad_value(c: &Column, t: &str, v: &str) -> Option<String> {
    match (c.nullable, converts(c.ty)) {
        (false, _) => Some(format!("{v} IS NULL")),
        (true, true) => Some(format!("({t} IS NOT NULL AND {v} IS NULL)")),
        (true, false) => None,
    }
}

/// `raise_error(concat(message, expr))`.
fn raise(message: &str, expr: &str) -> String {
    format!("raise_error(concat({}, {expr}))", D.string(message))
}

/// The typed rows of a Parquet file or warehouse table: each declared column converted to its
/// type (ANSI casts fail on a value that does not convert), a null in a non-null column failing
/// the job.
fn typed_select(rel: &Relation, read: &str) -> String {
    let cols: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            let n = D.ident(&c.name);
            let cast = format!("CAST({n} AS {})", D.type_sql(c.ty));
            if c.nullable {
                format!("{cast} AS {n}")
            } else {
                format!(
                    "CASE WHEN {n} IS NULL THEN raise_error({}) ELSE {cast} END AS {n}",
                    D.string(&format!(
                        "pipec [E0502] source `{}`: null in the non-null column {n} ({})",
                        rel.name, c.ty
                    ))
                )
            }
        })
        .collect();
    format!("SELECT {} FROM {read}", cols.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_paths_escape_glob_characters_and_keep_variables() {
        assert_eq!(
            file_path("/d/br[ack]et/{ds}*.csv", false),
            "'/d/br\\\\[ack\\\\]et/${ds}\\\\*.csv'"
        );
        assert_eq!(file_path("/d/{ds}/*.csv", true), "'/d/${ds}/*.csv'");
        assert_eq!(file_path("/d/{{x}}.csv", true), "'/d/\\\\{x\\\\}.csv'");
    }

    #[test]
    fn csv_null_texts() {
        assert_eq!(csv_text("`a`", &["".into()]), "`a`");
        assert_eq!(csv_text("`a`", &[]), "coalesce(`a`, '')");
        assert_eq!(
            csv_text("`a`", &["".into(), "NA".into()]),
            "CASE WHEN `a` IN ('NA') THEN NULL ELSE `a` END"
        );
    }

    #[test]
    fn exact_numbers() {
        assert_eq!(
            exact_pattern(2),
            "^[ \\t\\n\\f\\r]*[+-]?([0-9]+(\\.[0-9]{0,2}0*)?|\\.(?=[0-9])[0-9]{0,2}0*)[ \\t\\n\\f\\r]*$"
        );
    }
}
