//! Runs `pipec_fuzz::parse_check` on every file given (or every file in a folder given) and
//! prints the time per input by input size: where a fuzz execution's time goes, without
//! libFuzzer's instrumentation.

use std::time::{Duration, Instant};

fn main() {
    let mut inputs = Vec::new();
    for arg in std::env::args().skip(1) {
        let path = std::path::Path::new(&arg);
        if path.is_dir() {
            for e in std::fs::read_dir(path)
                .expect("a readable folder")
                .flatten()
            {
                inputs.push(std::fs::read(e.path()).expect("a readable file"));
            }
        } else {
            inputs.push(std::fs::read(path).expect("a readable file"));
        }
    }
    // Size buckets: up to 256 B, 1 KB, 4 KB, 16 KB, 64 KB and larger.
    let limits = [256usize, 1024, 4096, 16384, 65536, usize::MAX];
    let mut buckets = vec![(0usize, Duration::ZERO); limits.len()];
    let started = Instant::now();
    for data in &inputs {
        let t = Instant::now();
        if let Ok(text) = std::str::from_utf8(data) {
            pipec_fuzz::parse_check(text);
        }
        let b = limits
            .iter()
            .position(|&l| data.len() <= l)
            .expect("a bucket");
        buckets[b].0 += 1;
        buckets[b].1 += t.elapsed();
    }
    let total = started.elapsed();
    println!("size <=     inputs   µs/input");
    for (limit, (n, time)) in limits.iter().zip(&buckets) {
        if *n > 0 {
            let limit = if *limit == usize::MAX {
                "more".to_string()
            } else {
                limit.to_string()
            };
            println!(
                "{limit:>7} {n:>10} {:>10.1}",
                time.as_secs_f64() * 1e6 / *n as f64
            );
        }
    }
    println!(
        "all     {:>10} {:>10.1}  ({:.0} inputs/s)",
        inputs.len(),
        total.as_secs_f64() * 1e6 / inputs.len().max(1) as f64,
        inputs.len() as f64 / total.as_secs_f64()
    );
}
