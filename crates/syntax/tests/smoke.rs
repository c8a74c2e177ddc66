//! Parses the bike-share example end to end.
use pipec_diag::{FileId, RenderOptions, SourceMap};

#[test]
fn parses_the_bike_share_example() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/bike_share/bike_share.pipe"
    ))
    .unwrap();
    let parsed = pipec_syntax::parse(FileId(0), &text);
    let mut map = SourceMap::new();
    map.add("bike_share.pipe", text.clone());
    let rendered = pipec_diag::render_all(&parsed.diagnostics, &map, RenderOptions::default());
    assert!(parsed.diagnostics.is_empty(), "{rendered}");
    assert_eq!(parsed.module.items.len(), 8);
}
