//! The comments of a file: the grammar skips them, so they are found here by a scanner that
//! steps over what can contain `#` or `//` without starting a comment (strings, triple-quoted
//! strings and backtick names).

/// One `#` or `//` comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Byte offset of the `#` or `//`.
    pub start: usize,
    /// Byte offset of its end (the newline, or the end of the text), trailing blanks excluded.
    pub end: usize,
}

/// The comments of `text` in source order. `text` is expected to parse.
pub fn scan(text: &str) -> Vec<Comment> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i = match text[i + 3..].find("\"\"\"") {
                    Some(at) => i + 3 + at + 3,
                    None => b.len(),
                };
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'`' => {
                i = match text[i + 1..].find('`') {
                    Some(at) => i + 1 + at + 1,
                    None => b.len(),
                };
            }
            b'#' => i = comment(text, i, &mut out),
            b'/' if b.get(i + 1) == Some(&b'/') => i = comment(text, i, &mut out),
            _ => i += 1,
        }
    }
    out
}

fn comment(text: &str, start: usize, out: &mut Vec<Comment>) -> usize {
    let line_end = text[start..].find('\n').map_or(text.len(), |n| start + n);
    let end = start + text[start..line_end].trim_end().len();
    out.push(Comment { start, end });
    line_end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_strings_and_names() {
        let text = "a \"# no\" b # yes\n`#x` \"\"\"\n# no\n\"\"\" // yes too  \n\"\\\"#\" c";
        let found: Vec<&str> = scan(text).iter().map(|c| &text[c.start..c.end]).collect();
        assert_eq!(found, ["# yes", "// yes too"]);
    }
}
