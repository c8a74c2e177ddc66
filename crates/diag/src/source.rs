use serde::Serialize;

/// Identifies a file inside a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// One loaded source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it (or `std/<module>.pipe` for the standard library).
    pub name: String,
    /// The full text.
    pub text: String,
    line_starts: Vec<usize>,
}

/// A 1-based line and column (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineCol {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl SourceFile {
    /// A file named `name` with contents `text`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The 0-based line holding byte `offset` (binary search over the line starts).
    pub fn line_index(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// The byte range of 0-based line `line` (clamped to the last line), without its `\n`.
    pub fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let line = line.min(self.line_starts.len() - 1);
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |&next| next - 1);
        start..end
    }

    /// The line and column of byte `offset` (clamped to the text and to a char boundary).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_index(offset);
        let column = self.text[self.line_starts[line]..offset].chars().count() + 1;
        LineCol {
            line: line + 1,
            column,
        }
    }
}

/// All files of one compilation. A [`FileId`] stays valid for the map's life: a removed file
/// keeps its slot (a tombstone: its last text still renders) and its id is never reused.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    removed: Vec<bool>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(name, text));
        self.removed.push(false);
        FileId(self.files.len() as u32 - 1)
    }

    /// Replaces the text of file `id`, keeping its id and name.
    pub fn replace(&mut self, id: FileId, text: impl Into<String>) {
        let file = &mut self.files[id.0 as usize];
        *file = SourceFile::new(std::mem::take(&mut file.name), text);
    }

    /// Removes file `id`: [`find`](Self::find) and [`iter`](Self::iter) skip it from now on;
    /// [`get`](Self::get) still returns its last text.
    pub fn remove(&mut self, id: FileId) {
        self.removed[id.0 as usize] = true;
    }

    /// True when file `id` was removed.
    pub fn is_removed(&self, id: FileId) -> bool {
        self.removed[id.0 as usize]
    }

    /// The file with id `id`.
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The id of the file named `name`, if loaded.
    pub fn find(&self, name: &str) -> Option<FileId> {
        self.files
            .iter()
            .zip(&self.removed)
            .position(|(f, removed)| f.name == name && !removed)
            .map(|i| FileId(i as u32))
    }

    /// All files (except removed ones) with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .zip(&self.removed)
            .enumerate()
            .filter(|(_, (_, removed))| !**removed)
            .map(|(i, (f, _))| (FileId(i as u32), f))
    }

    /// Number of files ever added (removed ones included: one past the largest id).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file is loaded.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
