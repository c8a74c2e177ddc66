//! The docs page of every registered code (`docs/errors/<CODE>.md`), embedded in the binary.

macro_rules! pages {
    ($($id:literal),* $(,)?) => {
        /// `(code, page)` for every page under `docs/errors/`, in numeric order.
        const PAGES: &[(&str, &str)] = &[
            $(($id, include_str!(concat!("../../../docs/errors/", $id, ".md")))),*
        ];
    };
}

pages! {
    "E0001",
    "E0002",
    "E0003",
    "E0004",
    "E0005",
    "E0006",
    "E0007",
    "E0101",
    "E0102",
    "E0103",
    "E0104",
    "E0105",
    "E0106",
    "E0107",
    "E0108",
    "E0109",
    "E0110",
    "E0111",
    "E0112",
    "E0113",
    "E0114",
    "E0115",
    "E0116",
    "E0201",
    "E0202",
    "E0203",
    "E0204",
    "E0205",
    "E0206",
    "E0207",
    "E0208",
    "E0209",
    "E0210",
    "E0211",
    "E0212",
    "E0213",
    "E0214",
    "E0215",
    "E0216",
    "E0217",
    "E0220",
    "E0221",
    "E0222",
    "E0223",
    "E0301",
    "E0302",
    "E0303",
    "E0304",
    "E0305",
    "E0306",
    "E0307",
    "E0308",
    "E0309",
    "E0313",
    "E0314",
    "E0315",
    "E0316",
    "E0317",
    "E0318",
    "E0401",
    "E0402",
    "E0501",
    "E0502",
    "E0503",
    "E0504",
    "E0505",
    "E0506",
    "E0507",
    "E0508",
    "E0509",
    "E0510",
    "E0511",
    "E0512",
    "E0513",
    "E0515",
    "E0516",
    "E0520",
    "E0525",
    "E0526",
    "E0532",
    "E0534",
    "E0535",
    "E0540",
    "E0601",
    "E0602",
    "E0603",
    "E0604",
    "E0640",
    "E0650",
    "E0651",
    "E0652",
    "E0653",
    "E0660",
    "E0661",
    "E0662",
    "E0663",
    "E0664",
    "E0665",
    "E0666",
    "E0670",
    "E0671",
    "W0001",
    "W0002",
    "W0003",
    "W0004",
}

/// The Markdown docs page of `code` (e.g. `"E0102"`), if it has one.
pub fn docs_page(code: &str) -> Option<&'static str> {
    PAGES
        .binary_search_by(|(id, _)| id.cmp(&code))
        .ok()
        .map(|i| PAGES[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_code_has_an_embedded_page_and_every_page_a_code() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("docs/errors exists")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter_map(|n| n.strip_suffix(".md").map(str::to_string))
            .filter(|n| n != "README")
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = PAGES.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            embedded, on_disk,
            "the `pages!` list in crates/diag/src/docs.rs must name exactly the files in docs/errors"
        );
        let mut registry: Vec<&str> = crate::codes::ALL.iter().map(|c| c.id).collect();
        registry.sort();
        assert_eq!(
            embedded, registry,
            "docs/errors pages and codes.rs disagree"
        );
        assert!(docs_page("E0102").is_some_and(|p| p.contains("E0102")));
        assert_eq!(docs_page("E9999"), None);
    }
}
