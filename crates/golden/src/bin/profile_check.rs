//! Checks and plans a generated project repeatedly, for profilers: `profile_check <nodes> <times>`.

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let times: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let files = pipec_golden::generate_project(nodes);
    let mut elapsed = Vec::with_capacity(times);
    let mut n = 0;
    for _ in 0..times {
        let t = std::time::Instant::now();
        n = pipec_golden::check_and_plan(&files);
        elapsed.push(t.elapsed());
    }
    elapsed.sort();
    if std::env::var_os("PHASES").is_some() {
        let t = std::time::Instant::now();
        for (i, (_, text)) in files.iter().enumerate() {
            std::hint::black_box(pipec_syntax::parse(pipec_diag::FileId(i as u32), text));
        }
        eprintln!("parse alone, one thread: {:?}", t.elapsed());
        let mut sources = pipec_diag::SourceMap::new();
        let roots: Vec<_> = files
            .iter()
            .map(|(n, t)| sources.add(n.clone(), t.clone()))
            .collect();
        let t = std::time::Instant::now();
        let checked = pipec_check::check(&mut sources, &roots, &pipec_check::NoFiles);
        eprintln!("parse + check: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let plan = pipec_plan::plan(&checked.project);
        eprintln!("plan: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        drop((plan, checked));
        eprintln!("drop: {:?}", t.elapsed());
    }
    if let (Some(min), Some(median)) = (elapsed.first(), elapsed.get(times / 2)) {
        eprintln!("{n} nodes × {times}: min {min:?}, median {median:?}");
    }
}
