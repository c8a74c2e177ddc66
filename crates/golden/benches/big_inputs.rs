//! check + text rendering of big single-file inputs (`pipec_golden::BigInput`): each shape at
//! two sizes ten times apart, so a quadratic regression shows as a 100× step.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pipec_golden::BigInput;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("big_inputs");
    group.sample_size(10);
    for shape in BigInput::ALL {
        let sizes = match shape {
            BigInput::RepeatedImports => [1_600, 16_000],
            BigInput::WideDerive => [10_000, 100_000],
            BigInput::LongTimeZone => [10_000, 100_000],
        };
        for n in sizes {
            let text = shape.text(n);
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_with_input(BenchmarkId::new(shape.name(), n), &text, |b, text| {
                b.iter(|| pipec_golden::check_and_render(text))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
