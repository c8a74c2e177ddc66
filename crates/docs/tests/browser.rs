//! The site of `examples/` in headless Chromium (scripts/docs_browser_test.sh): every page loads
//! without console errors, search finds a column, lineage links navigate both ways. Installs
//! Chromium (apt) and playwright-core (npm) on first use, or fails saying how to.

use std::process::Command;

use pipec_emit::snapshot::Repo;

#[test]
fn site_works_in_a_browser() {
    let repo = Repo::of_crate(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<String> = repo
        .examples()
        .into_iter()
        .flat_map(|(_, files)| files)
        .collect();
    let loaded = repo.load(&files);
    let site = pipec_docs::site(&pipec_docs::Input {
        project: &loaded.project,
        plan: &loaded.plan,
        sources: &loaded.sources,
        history: None,
    });
    let dir = std::env::temp_dir().join(format!("pipec-docs-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pipec_docs::write(&dir, &site).expect("site written");
    let out = Command::new("bash")
        .arg(repo.path("scripts/docs_browser_test.sh"))
        .arg("--site")
        .arg(&dir)
        .output()
        .expect("bash runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/docs_browser_test.sh failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
