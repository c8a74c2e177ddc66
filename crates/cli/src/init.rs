//! `pipec init`: a new project that checks, tests and runs, from the starter or an example.

use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// `pipec.json` of a new project.
const CONFIG: &str = "{\n  \"warehouse\": \"warehouse.duckdb\"\n}\n";

/// `.gitignore` of a new project: the warehouse, its lock and WAL, emitted artifacts.
const GITIGNORE: &str =
    "# pipec\n/warehouse.duckdb\n/warehouse.duckdb.wal\n/warehouse.duckdb.lock\n/build/\n";

/// README of the starter project.
const STARTER_README: &str = "# shop\n\nA pipec project made by `pipec init`: `shop.pipe` turns the day's order export\n(`data/orders/<date>.csv`) into daily revenue per product in the warehouse table\n`mart.daily_revenue` (DuckDB file `warehouse.duckdb`, set in `pipec.json`).\n\n```sh\npipec check .                   # type-check every .pipe file\npipec test .                    # run the unit tests (fixture rows in, expected rows out)\npipec run . --date 2024-01-01   # run one day's interval into warehouse.duckdb\npipec runs                      # what ran, with row counts and check results\npipec emit . --target airflow --out build/airflow   # or spark, sam\n```\n\nAdd a day of data as `data/orders/2024-01-03.csv` and run `pipec run . --date 2024-01-03`.\n";

/// The names of the examples `--example` accepts.
pub fn example_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = embedded::EXAMPLES
        .iter()
        .filter_map(|(p, _)| p.split('/').next())
        .collect();
    names.dedup();
    names
}

/// The files of a new project: the starter, or the example `name`.
fn project_files(example: Option<&str>) -> Result<Vec<(String, &'static [u8])>, String> {
    let mut files: Vec<(String, &'static [u8])> = match example {
        None => {
            let mut f: Vec<(String, &'static [u8])> = embedded::STARTER
                .iter()
                .map(|(p, b)| (p.to_string(), *b))
                .collect();
            f.push(("README.md".into(), STARTER_README.as_bytes()));
            f
        }
        Some(name) => {
            let prefix = format!("{name}/");
            let f: Vec<(String, &'static [u8])> = embedded::EXAMPLES
                .iter()
                .filter_map(|(p, b)| p.strip_prefix(&prefix).map(|r| (r.to_string(), *b)))
                .collect();
            if f.is_empty() {
                let names = example_names();
                let hint = pipec_diag::did_you_mean(name, names.iter().copied())
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                return Err(format!(
                    "no example `{name}` (examples: {}){hint}",
                    names.join(", ")
                ));
            }
            f
        }
    };
    files.push(("pipec.json".into(), CONFIG.as_bytes()));
    files.push((".gitignore".into(), GITIGNORE.as_bytes()));
    Ok(files)
}

/// Writes a new project into `dir` (created if missing). Refuses, writing nothing, when any of
/// its files already exists there.
pub fn init(dir: &Path, example: Option<&str>) -> Result<Vec<PathBuf>, String> {
    let files = project_files(example)?;
    let taken: Vec<String> = files
        .iter()
        .map(|(p, _)| dir.join(p))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        return Err(format!(
            "not overwriting existing files: {} (choose an empty folder: `pipec init DIR`)",
            taken.join(", ")
        ));
    }
    let mut written = Vec::new();
    for (rel, bytes) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_has_a_pipeline_data_config_and_readme() {
        let files = project_files(None).unwrap();
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "shop.pipe",
            "data/orders/2024-01-01.csv",
            "pipec.json",
            ".gitignore",
            "README.md",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
    }

    #[test]
    fn every_repository_example_is_embedded() {
        let names = example_names();
        for want in ["bike_share", "blog_visits", "nps", "artist_collector"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let err = project_files(Some("bike_shar")).unwrap_err();
        assert!(err.contains("did you mean `bike_share`"), "{err}");
    }
}
