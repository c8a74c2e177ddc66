//! A Wadler-style pretty-printer ("A prettier printer", P. Wadler, 2003), in the imperative
//! form prettier uses: a stack of (indentation, mode, document) commands; a group is printed
//! flat when it and the rest of its line fit in the width, else broken. Additions: `Align`
//! (indent to the current column), `Fill` (break each separator only where the next item does
//! not fit), and the comment markers `ForceBreak` (the next text starts a new line) and
//! `LineStart`. Indentation is written lazily, so no line ends in blanks.

/// A document.
#[derive(Debug, Clone)]
pub(crate) enum Doc {
    /// Text as written (a multi-line string token may hold newlines, printed verbatim).
    Text(String),
    /// A space when flat, a newline when broken.
    Line,
    /// Blanks before an end-of-line comment: up to this column if the line is shorter, else one.
    CommentColumn(usize),
    /// Text that starts at column 0 when it starts a line (a comment written there).
    Unindented(String),
    /// A newline, always.
    HardLine,
    /// An empty line: ends the current line if needed, then one more newline.
    BlankLine,
    /// Ends the current line unless nothing was written on it yet.
    LineStart,
    /// The next text starts on a new line (after a `#` comment); breaks enclosing groups.
    ForceBreak,
    /// Documents in sequence.
    Concat(Vec<Doc>),
    /// Flat if it fits; the flag says it holds a forced break (then it is always broken).
    Group(Box<Doc>, bool),
    /// Indented by this much more after each newline.
    Nest(usize, Box<Doc>),
    /// Indented to the column where it starts.
    Align(Box<Doc>),
    /// Contents and separators alternating; each separator breaks only if the next content
    /// does not fit on the line.
    Fill(Vec<Doc>),
    /// The first when the enclosing group is broken, the second when flat.
    IfBreak(Box<Doc>, Box<Doc>),
    /// Printed flat whatever its width (groups with forced breaks inside still break).
    Flat(Box<Doc>),
}

pub(crate) fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

pub(crate) fn concat(parts: Vec<Doc>) -> Doc {
    Doc::Concat(parts)
}

/// A group that is broken whatever its width when `broken` is set (it was broken in the source).
pub(crate) fn group_broken_if(d: Doc, broken: bool) -> Doc {
    let hard = broken || d.hard();
    Doc::Group(Box::new(d), hard)
}

pub(crate) fn nest(n: usize, d: Doc) -> Doc {
    Doc::Nest(n, Box::new(d))
}

pub(crate) fn align(d: Doc) -> Doc {
    Doc::Align(Box::new(d))
}

pub(crate) fn if_break(broken: Doc, flat: Doc) -> Doc {
    Doc::IfBreak(Box::new(broken), Box::new(flat))
}

pub(crate) fn empty() -> Doc {
    Doc::Concat(Vec::new())
}

impl Doc {
    /// Holds a forced line break, so that no group around it can be flat.
    fn hard(&self) -> bool {
        match self {
            Doc::Text(_) | Doc::Unindented(_) | Doc::Line | Doc::CommentColumn(_) => false,
            Doc::HardLine | Doc::BlankLine | Doc::LineStart | Doc::ForceBreak => true,
            Doc::Concat(v) | Doc::Fill(v) => v.iter().any(Doc::hard),
            Doc::Group(_, h) => *h,
            Doc::Nest(_, d) | Doc::Align(d) | Doc::Flat(d) => d.hard(),
            Doc::IfBreak(a, b) => a.hard() || b.hard(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

#[derive(Clone, Copy)]
enum Cmd<'a> {
    Doc(&'a Doc),
    /// The rest of a fill, from its next content.
    Fill(&'a [Doc]),
}

type Frame<'a> = (usize, Mode, Cmd<'a>);

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Whether `next` fits in `room` columns, followed by `rest` (the printer's stack, top last) up
/// to the first line break.
fn fits(next: Frame<'_>, rest: &[Frame<'_>], room: usize) -> bool {
    let mut room = room as isize;
    let mut stack = vec![(next.1, next.2)];
    let mut rest_at = rest.len();
    loop {
        if room < 0 {
            return false;
        }
        let (mode, cmd) = match stack.pop() {
            Some(x) => x,
            None => {
                if rest_at == 0 {
                    return true;
                }
                rest_at -= 1;
                (rest[rest_at].1, rest[rest_at].2)
            }
        };
        let doc = match cmd {
            Cmd::Doc(d) => d,
            Cmd::Fill(items) => {
                for d in items.iter().rev() {
                    stack.push((mode, Cmd::Doc(d)));
                }
                continue;
            }
        };
        match doc {
            Doc::Text(s) | Doc::Unindented(s) => match s.split_once('\n') {
                Some((first, _)) => return room >= width(first) as isize,
                None => room -= width(s) as isize,
            },
            Doc::Line => match mode {
                Mode::Flat => room -= 1,
                Mode::Break => return true,
            },
            // An end-of-line comment does not count towards the width.
            Doc::CommentColumn(_) => return true,
            Doc::HardLine | Doc::BlankLine | Doc::LineStart | Doc::ForceBreak => return true,
            Doc::Concat(v) | Doc::Fill(v) => {
                for d in v.iter().rev() {
                    stack.push((mode, Cmd::Doc(d)));
                }
            }
            Doc::Group(d, hard) => {
                let m = if *hard { Mode::Break } else { mode };
                stack.push((m, Cmd::Doc(d)));
            }
            Doc::Nest(_, d) | Doc::Align(d) => stack.push((mode, Cmd::Doc(d))),
            Doc::Flat(d) => stack.push((Mode::Flat, Cmd::Doc(d))),
            Doc::IfBreak(b, f) => {
                let d = if mode == Mode::Break { b } else { f };
                stack.push((mode, Cmd::Doc(d)));
            }
        }
    }
}

struct Out {
    text: String,
    /// Columns written on the current line.
    col: usize,
    /// Nothing written on the current line yet (its indentation is still pending).
    line_start: bool,
    /// A comment ended the line: the next text goes on a new line.
    newline_due: bool,
    /// The indentation of the current line, written with its first text.
    indent_due: usize,
    /// Blanks written only if more text follows on the line (so no line ends in blanks).
    spaces_due: usize,
}

impl Out {
    /// Ends the line; the next one is indented by `indent`.
    fn newline(&mut self, indent: usize) {
        self.text.push('\n');
        self.col = 0;
        self.line_start = true;
        self.newline_due = false;
        self.indent_due = indent;
        self.spaces_due = 0;
    }

    fn write(&mut self, indent: usize, s: &str) {
        if (self.newline_due || self.line_start) && s.trim_start_matches(' ').is_empty() {
            // A separating blank at the start of a line is indentation's job.
            return;
        }
        if self.newline_due {
            self.newline(indent);
        }
        if s.trim_start_matches(' ').is_empty() {
            self.spaces_due += s.len();
            return;
        }
        if self.line_start {
            self.text.extend(std::iter::repeat_n(' ', self.indent_due));
            self.col = self.indent_due;
            self.line_start = false;
        }
        self.text.extend(std::iter::repeat_n(' ', self.spaces_due));
        self.col += self.spaces_due;
        self.spaces_due = 0;
        self.text.push_str(s);
        match s.rsplit_once('\n') {
            Some((_, last)) => self.col = width(last),
            None => self.col += width(s),
        }
    }

    /// The column the next text starts at.
    fn column(&self, indent: usize) -> usize {
        if self.newline_due {
            indent
        } else if self.line_start {
            self.indent_due
        } else {
            self.col + self.spaces_due
        }
    }
}

/// Lays `doc` out in `width` columns.
pub(crate) fn print(doc: &Doc, width: usize) -> String {
    let mut out = Out {
        text: String::new(),
        col: 0,
        line_start: true,
        newline_due: false,
        indent_due: 0,
        spaces_due: 0,
    };
    let mut stack: Vec<Frame<'_>> = vec![(0, Mode::Break, Cmd::Doc(doc))];
    while let Some((indent, mode, cmd)) = stack.pop() {
        let doc = match cmd {
            Cmd::Doc(d) => d,
            Cmd::Fill(items) => {
                fill(&mut stack, &out, indent, mode, items, width);
                continue;
            }
        };
        match doc {
            Doc::Text(s) => out.write(indent, s),
            Doc::Line => match mode {
                Mode::Flat if !out.newline_due => {
                    if !out.line_start {
                        out.write(indent, " ");
                    }
                }
                _ => out.newline(indent),
            },
            Doc::CommentColumn(col) => {
                let at = out.column(indent) - out.spaces_due;
                let want = if *col > at { col - at } else { 1 };
                let have = out.spaces_due;
                if want > have {
                    out.write(indent, &" ".repeat(want - have));
                }
            }
            Doc::Unindented(s) => {
                if out.newline_due {
                    out.newline(0);
                }
                if out.line_start {
                    out.indent_due = 0;
                }
                out.write(indent, s)
            }
            Doc::HardLine => out.newline(indent),
            Doc::BlankLine => {
                if !out.line_start {
                    out.newline(indent);
                }
                out.newline(indent);
            }
            Doc::LineStart => {
                if !out.line_start {
                    out.newline(indent);
                }
            }
            Doc::ForceBreak => out.newline_due = true,
            Doc::Concat(v) => {
                for d in v.iter().rev() {
                    stack.push((indent, mode, Cmd::Doc(d)));
                }
            }
            Doc::Group(d, hard) => {
                let m = if *hard {
                    Mode::Break
                } else if mode == Mode::Flat {
                    Mode::Flat
                } else {
                    let room = width.saturating_sub(out.column(indent));
                    if fits((indent, Mode::Flat, Cmd::Doc(d)), &stack, room) {
                        Mode::Flat
                    } else {
                        Mode::Break
                    }
                };
                stack.push((indent, m, Cmd::Doc(d)));
            }
            Doc::Nest(n, d) => stack.push((indent + n, mode, Cmd::Doc(d))),
            Doc::Align(d) => stack.push((out.column(indent), mode, Cmd::Doc(d))),
            Doc::Fill(items) => stack.push((indent, mode, Cmd::Fill(items))),
            Doc::IfBreak(b, f) => {
                let d = if mode == Mode::Break { b } else { f };
                stack.push((indent, mode, Cmd::Doc(d)));
            }
            Doc::Flat(d) => stack.push((indent, Mode::Flat, Cmd::Doc(d))),
        }
    }
    out.text
}

/// One step of a fill (as prettier does it): the next content flat if it fits, and the
/// separator after it flat if the content after that fits too.
fn fill<'a>(
    stack: &mut Vec<Frame<'a>>,
    out: &Out,
    indent: usize,
    mode: Mode,
    items: &'a [Doc],
    width: usize,
) {
    let Some(content) = items.first() else {
        return;
    };
    let room = width.saturating_sub(out.column(indent));
    let flat = |d: &'a Doc| (indent, Mode::Flat, Cmd::Doc(d));
    let broken = |d: &'a Doc| (indent, Mode::Break, Cmd::Doc(d));
    let content_fits = !content.hard() && fits(flat(content), &[], room);
    let content_cmd = if content_fits {
        flat(content)
    } else {
        broken(content)
    };
    let Some(sep) = items.get(1) else {
        stack.push(content_cmd);
        return;
    };
    let Some(next) = items.get(2) else {
        stack.push(if content_fits { flat(sep) } else { broken(sep) });
        stack.push(content_cmd);
        return;
    };
    stack.push((indent, mode, Cmd::Fill(&items[2..])));
    let pair = [content.clone(), sep.clone(), next.clone()];
    let pair = Doc::Concat(pair.to_vec());
    let both_fit = !pair.hard() && fits((indent, Mode::Flat, Cmd::Doc(&pair)), &[], room);
    stack.push(if both_fit { flat(sep) } else { broken(sep) });
    stack.push(content_cmd);
}
