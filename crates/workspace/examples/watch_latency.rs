//! Save → diagnostics latency of a real `pipec watch` process on the generated 10,000-node
//! project: writes one file (alternately breaking and fixing a column), and times until the
//! status line appears. Usage: `cargo run --release -p pipec-workspace --example watch_latency
//! -- <path to pipec> [saves]`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let pipec = args
        .next()
        .expect("usage: watch_latency <pipec binary> [saves]");
    let saves: usize = args
        .next()
        .map_or(60, |n| n.parse().expect("saves: a number"));
    let tmp = tempfile::tempdir().unwrap();
    let files = pipec_golden::generate_project(10_000);
    for (name, text) in &files {
        let path = tmp.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut child = Command::new(&pipec)
        .arg("watch")
        .arg(tmp.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pipec watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().expect("pipec watch exited").unwrap();
    loop {
        let line = next();
        if line.starts_with("ok: ") {
            println!("initial: {line}");
        }
        if line.starts_with("watching ") {
            break;
        }
    }
    let (name, good) = &files[files.len() / 2];
    let path = tmp.path().join(name);
    let broken = good.replacen("user_id: int, kind", "uid: int, kind", 1);
    let mut times = Vec::new();
    for i in 0..saves {
        std::thread::sleep(Duration::from_millis(200));
        let text = if i.is_multiple_of(2) { &broken } else { good };
        let start = Instant::now();
        std::fs::write(&path, text).unwrap();
        let status = loop {
            let line = next();
            if line.starts_with("ok: ") || line.starts_with("failed: ") {
                break line;
            }
        };
        times.push(start.elapsed());
        assert_eq!(
            status.starts_with("failed: "),
            i.is_multiple_of(2),
            "{status}"
        );
        if i < 2 {
            println!("status: {status}");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    times.sort();
    let pick = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{saves} saves, save → status line: p50 {:.1} ms, p95 {:.1} ms, min {:.1} ms, max {:.1} ms (includes the debounce's {} ms quiet wait)",
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(times[0]),
        ms(*times.last().unwrap()),
        10
    );
}
