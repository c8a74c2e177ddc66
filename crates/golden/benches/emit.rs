//! check + plan + emit of both targets (Spark SQL and Airflow on DuckDB) for the generated
//! 10,000-node project: the whole `pipec emit` pipeline in process, without writing files.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Checks, plans and emits both targets; the number of bytes emitted.
fn check_plan_emit(files: &[(String, String)]) -> usize {
    let (project, plan) = pipec_golden::check_and_plan_project(files);
    let mut options = pipec_emit::Options::default();
    for p in &project.pipelines {
        options.roots.insert(p.file.clone(), "/data".into());
    }
    let spark = pipec_spark::emit(&project, &plan, &options).expect("spark emits");
    let airflow = pipec_airflow::emit(&project, &plan, &options, pipec_airflow::Profile::DuckDb)
        .expect("airflow emits");
    [spark, airflow]
        .iter()
        .flat_map(|o| o.all_files())
        .map(|f| f.contents.len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_plan_emit");
    group.sample_size(10);
    for nodes in [1_000usize, 10_000] {
        let files = pipec_golden::generate_project(nodes);
        let real = pipec_golden::check_and_plan(&files);
        let bytes = check_plan_emit(&files);
        eprintln!("{nodes} nodes requested: {real} planned, {bytes} bytes emitted");
        group.throughput(Throughput::Elements(real as u64));
        group.bench_with_input(BenchmarkId::from_parameter(nodes), &files, |b, files| {
            b.iter(|| check_plan_emit(files))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
