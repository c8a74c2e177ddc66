//! Writes a generated project for whole-process benchmarks: `gen_project <nodes> <dir>`.

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("usage: gen_project <nodes> <dir>");
    let dir = std::path::PathBuf::from(args.next().expect("usage: gen_project <nodes> <dir>"));
    for (name, text) in pipec_golden::generate_project(nodes) {
        let path = dir.join(name.trim_start_matches("gen/"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create dir");
        std::fs::write(path, text).expect("write file");
    }
}
