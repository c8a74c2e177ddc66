//! `Workspace::set_text` of one file of the generated 10,000-node project (1,000 files): a no-op
//! edit, a column rename that breaks the file, and its fix.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pipec_workspace::Workspace;

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let files = pipec_golden::generate_project(10_000);
    for (name, text) in &files {
        let path = tmp.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut ws = Workspace::load(&[tmp.path().to_path_buf()]).unwrap();
    assert!(!ws.checked().has_errors());
    let (name, good) = &files[files.len() / 2];
    let path: PathBuf = tmp.path().join(name);
    // `user_id` is joined on and grouped by downstream: renaming it breaks the file.
    let broken = good.replacen("user_id: int, kind", "uid: int, kind", 1);
    assert_ne!(&broken, good);

    let mut group = c.benchmark_group("workspace_change_10k");
    group.sample_size(50);
    group.bench_function("no-op edit", |b| {
        b.iter(|| ws.set_text(&path, good.clone()))
    });
    group.bench_function("column rename (breaks the file)", |b| {
        b.iter_custom(|iters| timed(iters, &mut ws, &path, &broken, good))
    });
    group.bench_function("fix", |b| {
        b.iter_custom(|iters| timed(iters, &mut ws, &path, good, &broken))
    });
    group.finish();
    let change = ws.set_text(&path, broken.clone());
    assert!(ws.checked().has_errors() && change.rechecked == 1);
}

/// Time of `iters` changes of `path` to `to`, each from `from` (set untimed).
fn timed(iters: u64, ws: &mut Workspace, path: &std::path::Path, to: &str, from: &str) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        ws.set_text(path, from.to_string());
        let t = Instant::now();
        ws.set_text(path, to.to_string());
        total += t.elapsed();
    }
    total
}

criterion_group!(benches, bench);
criterion_main!(benches);
