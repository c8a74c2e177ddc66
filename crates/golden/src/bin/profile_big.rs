//! Times check + text rendering of one big input: `profile_big <shape> <n> [times]`, where shape
//! is `repeated_imports`, `wide_derive` or `long_time_zone` (see `pipec_golden::BigInput`).

use pipec_golden::BigInput;

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_default();
    let Some(shape) = BigInput::ALL.into_iter().find(|s| s.name() == shape) else {
        eprintln!("usage: profile_big repeated_imports|wide_derive|long_time_zone <n> [times]");
        std::process::exit(2);
    };
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let times: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let text = shape.text(n);
    let mut elapsed = Vec::with_capacity(times);
    let mut diags = 0;
    for _ in 0..times.max(1) {
        let t = std::time::Instant::now();
        diags = pipec_golden::check_and_render(&text).0;
        elapsed.push(t.elapsed());
    }
    elapsed.sort();
    eprintln!(
        "{} n={n} ({} bytes): {diags} diagnostics, min {:?}, median {:?}",
        shape.name(),
        text.len(),
        elapsed[0],
        elapsed[elapsed.len() / 2]
    );
}
