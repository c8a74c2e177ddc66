//! After every change, `Workspace::checked` equals a from-scratch `pipec_check::check` of the
//! files on disk (diagnostics as rendered text, per file; the IR as JSON), and a leaf edit
//! re-checks one file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use pipec_diag::{RenderOptions, SourceMap};
use pipec_workspace::{Change, Workspace};

/// Diagnostics rendered and grouped by file name, and the IR's JSON with file ids as names.
type Normal = (BTreeMap<String, Vec<String>>, String);

fn normal(checked: &pipec_check::Checked, sources: &SourceMap) -> Normal {
    let mut diags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &checked.diagnostics {
        diags
            .entry(sources.get(d.span().file).name.clone())
            .or_default()
            .push(pipec_diag::render(d, sources, RenderOptions::default()));
    }
    let mut json = serde_json::to_value(&checked.project).unwrap();
    name_files(&mut json, sources);
    (diags, serde_json::to_string_pretty(&json).unwrap())
}

/// Replaces the file ids of spans by file names (ids differ between the two checks).
fn name_files(v: &mut serde_json::Value, sources: &SourceMap) {
    match v {
        serde_json::Value::Object(map) => {
            if map.contains_key("start") && map.contains_key("end") {
                if let Some(serde_json::Value::Number(n)) = map.get("file") {
                    let id = pipec_diag::FileId(n.as_u64().unwrap() as u32);
                    map.insert("file".into(), sources.get(id).name.clone().into());
                }
            }
            for v in map.values_mut() {
                name_files(v, sources);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| name_files(v, sources)),
        _ => {}
    }
}

/// A from-scratch check of the `.pipe` files under `dir`, as `pipec check` does it.
fn from_scratch(dir: &Path) -> Normal {
    let files = pipec_workspace::collect(&[dir.to_path_buf()]).unwrap();
    let mut sources = SourceMap::new();
    let roots: Vec<_> = files
        .iter()
        .map(|f| {
            sources.add(
                pipec_workspace::source_name(f),
                fs::read_to_string(f).unwrap(),
            )
        })
        .collect();
    let (sources, checked) = std::thread::Builder::new()
        .stack_size(256 * 1024 * 1024)
        .spawn(move || {
            let checked = pipec_check::check(&mut sources, &roots, &pipec_workspace::FsLoader);
            (sources, checked)
        })
        .unwrap()
        .join()
        .unwrap();
    normal(&checked, &sources)
}

#[track_caller]
fn assert_same(ws: &Workspace, dir: &Path, step: &str) {
    let incremental = normal(ws.checked(), ws.sources());
    let scratch = from_scratch(dir);
    assert_eq!(incremental.0, scratch.0, "diagnostics differ after {step}");
    assert!(
        incremental.1 == scratch.1,
        "IR differs after {step}:\nincremental:\n{}\nfrom scratch:\n{}",
        incremental.1,
        scratch.1
    );
    let roots: Vec<PathBuf> = ws
        .roots()
        .iter()
        .map(|&f| ws.path(f).unwrap().to_path_buf())
        .collect();
    let disk = pipec_workspace::collect(&[dir.to_path_buf()]).unwrap();
    assert_eq!(roots, disk, "roots differ after {step}");
}

/// The text of chain file `i`: reads the table of file `i - 1` and derives `v{i}` from its
/// `v{i-1}`; every third file imports the shared module; even files run `after` their upstream.
fn chain_file(i: usize) -> String {
    if i == 0 {
        return r#"pipeline p0 { schedule daily at 03:00 "Asia/Seoul" }
source raw = csv("data/raw/{ds}.csv", header = true) { id: int, amount: float?, kind: string }
transform out = raw | derive v0 = amount
sink out -> mart.t0
"#
        .into();
    }
    let import = if i.is_multiple_of(3) {
        "import \"../lib/common.pipe\"\n"
    } else {
        ""
    };
    let schedule = if i.is_multiple_of(2) {
        format!("schedule after p{}", i - 1)
    } else {
        "schedule daily at 03:00 \"Asia/Seoul\"".into()
    };
    let clean = if i.is_multiple_of(3) {
        " | common.clean(amount)"
    } else {
        ""
    };
    format!(
        "{import}pipeline p{i} {{ {schedule} }}\nsource up = table(\"mart.t{}\")\ntransform out = up{clean} | derive v{i} = v{}\nsink out -> mart.t{i}\n",
        i - 1,
        i - 1
    )
}

const COMMON: &str = "define clean(rel: relation, amount: column) = rel | filter amount >= 0\n";

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A small random number generator (xorshift), so that runs are reproducible by seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn random_edits_of_a_generated_project_match_a_fresh_check() {
    const FILES: usize = 12;
    for seed in 1..=6u64 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let common = dir.join("lib/common.pipe");
        write(&common, COMMON);
        let chain = |i: usize| dir.join(format!("gen/f{i:03}.pipe"));
        for i in 0..FILES {
            write(&chain(i), &chain_file(i));
        }
        let mut ws = Workspace::load(&[dir.to_path_buf()]).unwrap();
        assert!(!ws.checked().has_errors(), "{:?}", ws.checked().diagnostics);
        assert_same(&ws, dir, "load");

        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut extra = 0;
        for step in 0..60 {
            // Every file under the project, including ones added by earlier steps.
            let files = pipec_workspace::collect(&[dir.to_path_buf()]).unwrap();
            let pick = files[rng.below(files.len())].clone();
            let what;
            let change: Change = match rng.below(9) {
                0 => {
                    what = format!("break {}", pick.display());
                    let text = fs::read_to_string(&pick).unwrap() + "transform = | derive\n";
                    write(&pick, &text);
                    ws.reload(&pick)
                }
                1 => {
                    what = "fix every file".to_string();
                    let mut last = Change::default();
                    for f in &files {
                        if let Some(i) = chain_index(f) {
                            write(f, &chain_file(i));
                            last = ws.reload(f);
                        }
                    }
                    last
                }
                2 => {
                    let i = rng.below(FILES);
                    what = format!("rename column v{i} in f{i:03}");
                    let text =
                        chain_file(i).replace(&format!("derive v{i}"), &format!("derive w{i}"));
                    write(&chain(i), &text);
                    ws.reload(&chain(i))
                }
                3 => {
                    what = format!("add extra{extra}");
                    let path = dir.join(format!("gen/extra{extra}.pipe"));
                    let up = rng.below(FILES);
                    write(
                        &path,
                        &format!(
                            "pipeline x{extra} {{ schedule after p{up} }}\nsource up = table(\"mart.t{up}\")\ntransform out = up | select v{up}\nsink out -> mart.x{extra}\n"
                        ),
                    );
                    extra += 1;
                    ws.reload(&path)
                }
                4 => {
                    what = format!("delete {}", pick.display());
                    fs::remove_file(&pick).unwrap();
                    ws.reload(&pick)
                }
                5 => {
                    let to = pick.with_file_name(format!(
                        "r{}_{}",
                        step,
                        pick.file_name().unwrap().to_string_lossy()
                    ));
                    what = format!("rename {} to {}", pick.display(), to.display());
                    fs::rename(&pick, &to).unwrap();
                    ws.remove(&pick);
                    ws.reload(&to)
                }
                6 => {
                    let text = match rng.below(3) {
                        0 => COMMON.to_string(),
                        1 => COMMON.replace(">= 0", ">= 1"),
                        _ => COMMON.replace("define clean", "define tidy"),
                    };
                    what = format!("edit the imported module: {text}");
                    write(&common, &text);
                    ws.reload(&common)
                }
                7 => {
                    what = "restore lost files".to_string();
                    let mut last = Change::default();
                    for i in 0..FILES {
                        if !chain(i).exists() {
                            write(&chain(i), &chain_file(i));
                            last = ws.reload(&chain(i));
                        }
                    }
                    if !common.exists() {
                        write(&common, COMMON);
                        last = ws.reload(&common);
                    }
                    last
                }
                _ => {
                    what = format!("no-op edit of {}", pick.display());
                    let text = fs::read_to_string(&pick).unwrap();
                    ws.set_text(&pick, text)
                }
            };
            assert_same(&ws, dir, &format!("seed {seed} step {step}: {what}"));
            assert!(change.rechecked <= ws.roots().len());
        }
    }
}

fn chain_index(path: &Path) -> Option<usize> {
    let name = path.file_name()?.to_str()?;
    let n = name.strip_prefix('f')?.strip_suffix(".pipe")?;
    n.parse().ok()
}

#[test]
fn a_leaf_edit_rechecks_one_file_and_an_upstream_edit_its_readers() {
    const FILES: usize = 30;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(&dir.join("lib/common.pipe"), COMMON);
    let chain = |i: usize| dir.join(format!("gen/f{i:03}.pipe"));
    for i in 0..FILES {
        write(&chain(i), &chain_file(i));
    }
    let mut ws = Workspace::load(&[dir.to_path_buf()]).unwrap();
    let ids: Vec<_> = (0..FILES).map(|i| ws.file_id(&chain(i)).unwrap()).collect();
    let leaf = chain(FILES - 1);

    let change = ws.set_text(&leaf, chain_file(FILES - 1));
    assert_eq!(change.rechecked, 1, "no-op edit of a leaf");
    assert_eq!(change.affected, vec![ws.file_id(&leaf).unwrap()]);

    let broken = chain_file(FILES - 1).replace("derive v", "derive w");
    write(&leaf, &broken);
    let change = ws.reload(&leaf);
    assert_eq!(change.rechecked, 1, "column rename in a leaf");
    assert_same(&ws, dir, "leaf rename");

    // Renaming `v10` breaks file 11 (unknown column), whose failed sink breaks nothing further
    // than its readers: the files re-checked are 10, 11 and those seeing a changed table.
    let text = chain_file(10).replace("derive v10", "derive w10");
    write(&chain(10), &text);
    let change = ws.reload(&chain(10));
    assert_same(&ws, dir, "upstream rename");
    assert!(ws
        .diagnostics(ws.file_id(&chain(11)).unwrap())
        .iter()
        .any(|d| d.code == pipec_diag::codes::UNKNOWN_COLUMN));
    assert!(change.affected.contains(&ws.file_id(&chain(11)).unwrap()));
    assert!(
        change.rechecked >= 3 && change.rechecked < FILES,
        "{change:?}"
    );

    write(&chain(10), &chain_file(10));
    ws.reload(&chain(10));
    assert!(!ws.checked().has_errors());
    assert_same(&ws, dir, "fix");

    // An edit of the imported module re-checks its importers (every third file) only.
    write(
        &dir.join("lib/common.pipe"),
        &COMMON.replace(">= 0", ">= 2"),
    );
    let change = ws.reload(&dir.join("lib/common.pipe"));
    assert_eq!(change.rechecked, 1 + FILES.div_ceil(3) - 1, "{change:?}");
    assert_same(&ws, dir, "module edit");

    let after: Vec<_> = (0..FILES).map(|i| ws.file_id(&chain(i)).unwrap()).collect();
    assert_eq!(ids, after, "file ids are stable across changes");
}

#[test]
fn edits_of_multi_file_golden_cases_match_a_fresh_check() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&cases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap() != "snapshots")
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "multi-file cases: {dirs:?}");
    for case in dirs {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut files = Vec::new();
        for e in fs::read_dir(&case).unwrap() {
            let from = e.unwrap().path();
            let to = dir.join(from.file_name().unwrap());
            fs::copy(&from, &to).unwrap();
            files.push(to);
        }
        files.sort();
        let mut ws = Workspace::load(&[dir.to_path_buf()]).unwrap();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        assert_same(&ws, dir, &format!("{name}: load"));
        for f in &files {
            let text = fs::read_to_string(f).unwrap();
            let step = |s: &str| format!("{name}: {s} {}", f.display());

            write(
                f,
                &format!("{text}\nsource broken = csv(\"x.csv\") {{ a: int,"),
            );
            ws.reload(f);
            assert_same(&ws, dir, &step("break"));

            write(f, &text.replace("pipeline ", "pipeline renamed_"));
            ws.reload(f);
            assert_same(&ws, dir, &step("rename pipeline in"));

            write(f, &text);
            ws.reload(f);
            assert_same(&ws, dir, &step("restore"));

            fs::remove_file(f).unwrap();
            ws.reload(f);
            assert_same(&ws, dir, &step("delete"));

            write(f, &text);
            ws.reload(f);
            assert_same(&ws, dir, &step("re-add"));

            let to = f.with_file_name(format!("zz_{}", f.file_name().unwrap().to_string_lossy()));
            fs::rename(f, &to).unwrap();
            ws.remove(f);
            ws.reload(&to);
            assert_same(&ws, dir, &step("rename"));
            fs::rename(&to, f).unwrap();
            ws.remove(&to);
            ws.reload(f);
            assert_same(&ws, dir, &step("rename back"));
        }
    }
}

#[test]
fn a_file_that_is_not_utf8_is_reported_until_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.pipe");
    fs::write(&path, b"pipeline p { schedule daily }\n# caf\xe9\n").unwrap();
    let mut ws = Workspace::load(&[tmp.path().to_path_buf()]).unwrap();
    let id = ws.file_id(&path).unwrap();
    let codes: Vec<_> = ws.diagnostics(id).iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![pipec_diag::codes::NOT_TEXT]);
    fs::write(&path, "pipeline p { schedule daily }\n# café\n").unwrap();
    let change = ws.reload(&path);
    assert_eq!(change.affected, vec![id]);
    assert_eq!(ws.file_id(&path), Some(id), "the id stays");
    assert!(ws.diagnostics(id).is_empty());
    assert_same(&ws, tmp.path(), "fixed encoding");
}
