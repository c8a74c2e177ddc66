//! `pipec cost` on the stack pipec-sam builds for every example: each scheduled pipeline's
//! state machine is found and priced (states, Athena queries), and the figures add up.

use std::path::Path;

use pipec_check::NoFiles;
use pipec_cost::{estimate, Inputs, Prices, VolumeFile};
use pipec_diag::SourceMap;

#[test]
fn every_example_stack_is_priced() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        if !dir.path().is_dir() {
            continue;
        }
        let mut sources = SourceMap::new();
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pipe"))
            .collect();
        files.sort();
        let roots: Vec<_> = files
            .iter()
            .map(|f| sources.add(f.display().to_string(), std::fs::read_to_string(f).unwrap()))
            .collect();
        let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
        assert!(!checked.has_errors(), "{}", dir.path().display());
        let project = checked.project;
        let plan = pipec_plan::plan(&project).unwrap();
        let options = pipec_emit::Options {
            roots: project
                .pipelines
                .iter()
                .map(|p| (p.file.clone(), "s3://lake/specs".to_string()))
                .collect(),
        };
        // A stack pipec-sam refuses (E06xx) is that target's report, not a cost.
        let template = match pipec_sam::template(&project, &plan, &options, &Default::default()) {
            Ok(t) => t,
            Err(d) => {
                eprintln!("{}: no stack: {:?}", dir.path().display(), d);
                continue;
            }
        };
        let prices = Prices::seoul();
        let e = estimate(&Inputs {
            project: &project,
            template: &template,
            volumes: &VolumeFile::default(),
            measured: None,
            prices: &prices,
            compare: &[],
        })
        .unwrap();
        for p in &e.pipelines {
            let name = format!("{}: {}", dir.path().display(), p.name);
            assert!(p.runs_per_month > 0.0, "{name}");
            assert!(p.state_machine.is_some(), "{name}: no state machine found");
            assert!(p.states_per_run > 2, "{name}: {} states", p.states_per_run);
            assert!(p.queries_per_run > 0, "{name}: no Athena query");
            assert!(
                p.lines
                    .iter()
                    .any(|l| l.service == "Athena" && l.cost > 0.0),
                "{name}"
            );
            let sum: f64 = p.lines.iter().map(|l| l.cost).sum();
            assert!((sum - p.subtotal).abs() < 1e-12, "{name}");
            seen += 1;
        }
        assert!(e.total > 0.0);
        if std::env::var_os("PIPEC_COST_PRINT").is_some() {
            println!("{}", pipec_cost::render::text(&e));
        }
    }
    assert!(seen >= 4, "only {seen} pipelines priced");
}
