//! The emit benchmark's work stage by stage, for profilers: `profile_emit <nodes> <times>` checks
//! and plans a generated project, emits Spark SQL and Airflow (DuckDB profile) and collects the
//! files, `times` times, and prints the min and median of each stage.
//!
//!     cargo run --release -p pipec-golden --example profile_emit -- 10000 7

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let times: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5).max(1);
    let files = pipec_golden::generate_project(nodes);
    let stages = ["check + plan", "spark", "airflow", "files", "drop", "total"];
    let mut runs: Vec<Vec<Duration>> = vec![Vec::new(); stages.len()];
    let mut bytes = 0;
    for _ in 0..times {
        let start = Instant::now();
        let mut lap = Instant::now();
        let mut next = |i: usize, runs: &mut Vec<Vec<Duration>>| {
            runs[i].push(lap.elapsed());
            lap = Instant::now();
        };
        let (project, plan) = pipec_golden::check_and_plan_project(&files);
        next(0, &mut runs);
        let mut options = pipec_emit::Options::default();
        for p in &project.pipelines {
            options.roots.insert(p.file.clone(), "/data".into());
        }
        let spark = pipec_spark::emit(&project, &plan, &options).expect("spark emits");
        next(1, &mut runs);
        let airflow =
            pipec_airflow::emit(&project, &plan, &options, pipec_airflow::Profile::DuckDb)
                .expect("airflow emits");
        next(2, &mut runs);
        bytes = [&spark, &airflow]
            .iter()
            .flat_map(|o| o.all_files())
            .map(|f| f.contents.len())
            .sum::<usize>();
        next(3, &mut runs);
        drop((spark, airflow, project, plan));
        next(4, &mut runs);
        runs[5].push(start.elapsed());
    }
    eprintln!("{nodes} nodes, {bytes} bytes emitted, {times} runs (min / median):");
    for (name, mut r) in stages.iter().zip(runs) {
        r.sort();
        eprintln!("  {name:>12}: {:>9.1?} / {:>9.1?}", r[0], r[times / 2]);
    }
}
