//! Column lineage snapshots: the `pipec graph --columns --format json` document of every golden
//! case that checks clean and of every example project. Review changes with `cargo insta review`,
//! or accept them with `INSTA_UPDATE=always`.

use std::path::{Path, PathBuf};

use pipec_check::NoFiles;
use pipec_diag::SourceMap;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn folders(dir: &Path, cases: bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n != "snapshots" && n != "data")
                || cases && p.extension().is_some_and(|x| x == "pipe")
        })
        .collect();
    out.sort();
    out
}

/// The lineage JSON of a case, or `None` when it does not check and plan.
fn lineage_json(files: &[(String, String)]) -> Option<String> {
    let mut sources = SourceMap::new();
    let roots: Vec<_> = files
        .iter()
        .map(|(n, t)| sources.add(n.clone(), t.clone()))
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
    if checked.has_errors() || pipec_plan::plan(&checked.project).is_err() {
        return None;
    }
    let lineage = pipec_plan::lineage(&checked.project);
    Some(pipec_plan::columns_json(&lineage, None))
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

#[test]
fn lineage_of_golden_cases() {
    let root = root();
    let settings = settings();
    let mut clean = 0;
    for case in folders(&root.join("tests/cases"), true) {
        let files = pipec_golden::read_case(&root, &case);
        let Some(json) = lineage_json(&files) else {
            continue;
        };
        clean += 1;
        let name = format!("case_{}", case.file_stem().unwrap().to_string_lossy());
        settings.bind(|| insta::assert_snapshot!(name, json));
    }
    assert!(clean >= 20, "only {clean} golden cases check clean");
}

#[test]
fn lineage_of_examples() {
    let root = root();
    let settings = settings();
    let examples = folders(&root.join("examples"), false);
    assert!(examples.len() >= 4, "expected the four examples");
    for folder in examples {
        let files = pipec_golden::read_case(&root, &folder);
        let json = lineage_json(&files)
            .unwrap_or_else(|| panic!("{} does not check clean", folder.display()));
        let name = format!("example_{}", folder.file_name().unwrap().to_string_lossy());
        settings.bind(|| insta::assert_snapshot!(name, json));
    }
}

/// The reviewed facts the snapshots must keep, checked by query rather than by text.
#[test]
fn bike_share_lineage_facts() {
    let root = root();
    let files = pipec_golden::read_case(&root, &root.join("examples/bike_share"));
    let mut sources = SourceMap::new();
    let roots: Vec<_> = files
        .iter()
        .map(|(n, t)| sources.add(n.clone(), t.clone()))
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
    let l = pipec_plan::lineage(&checked.project);
    let up = |col: &str| {
        let c = l.find(col).unwrap();
        let mut v: Vec<String> = l.upstream(c).into_iter().map(|c| l.id(c)).collect();
        v.sort();
        v
    };
    assert_eq!(
        up("station_daily.avg_minutes"),
        [
            "bike_share.rentals.rented_at",
            "bike_share.rentals.returned_at"
        ]
    );
    assert_eq!(
        up("mart.station_daily.district"),
        [
            "bike_share.latest_stations.district",
            "bike_share.station_daily.district",
            "bike_share.stations.district"
        ]
    );
    assert_eq!(up("station_daily.rides"), Vec::<String>::new());
}
