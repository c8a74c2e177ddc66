//! check + plan of generated projects of 1k, 10k and 100k nodes.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_plan");
    group.sample_size(10);
    for nodes in [1_000usize, 10_000, 100_000] {
        let files = pipec_golden::generate_project(nodes);
        let real = pipec_golden::check_and_plan(&files);
        group.throughput(Throughput::Elements(real as u64));
        group.bench_with_input(BenchmarkId::from_parameter(nodes), &files, |b, files| {
            b.iter(|| pipec_golden::check_and_plan(files))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
