//! Checks and plans a generated project repeatedly, for profilers: `profile_check <nodes> <times>`.

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let times: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let files = pipec_golden::generate_project(nodes);
    for _ in 0..times {
        let t = std::time::Instant::now();
        let n = pipec_golden::check_and_plan(&files);
        eprintln!("{n} nodes in {:?}", t.elapsed());
    }
}
