//! Errors of a file: each names the file, the line, the field and what is wrong.

use std::fmt;

/// At most this many errors are collected from one file: enough to fix a file in one go, few
/// enough that a file of the wrong kind does not flood the terminal.
pub const ERRORS_MAX: usize = 20;

/// One thing wrong with an input file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FileError {
    /// Display name of the file, as the caller gave it.
    pub file: String,
    /// 1-based line (the header is line 1); 0 for problems of the whole file.
    pub line: u64,
    /// The column (CSV) or key (JSON) at fault, if one is.
    pub field: Option<String>,
    /// What is wrong: a lowercase fragment without a trailing period.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FileError {}

/// Everything found wrong with a file (at least one, at most [`ERRORS_MAX`]), in line order.
/// When a parser returns this, no row of the file may be applied.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FileErrors(pub Vec<FileError>);

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        if self.0.len() >= ERRORS_MAX {
            write!(f, "\n(at most {ERRORS_MAX} errors are listed)")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}

/// The errors of one file as they are found.
pub(crate) struct Errors {
    file: String,
    list: Vec<FileError>,
}

impl Errors {
    pub(crate) fn new(file: &str) -> Errors {
        Errors {
            file: file.to_string(),
            list: Vec::new(),
        }
    }

    /// Records an error; beyond [`ERRORS_MAX`] errors are dropped (callers stop at `full()`).
    pub(crate) fn push(&mut self, line: u64, field: Option<&str>, message: impl Into<String>) {
        if self.list.len() < ERRORS_MAX {
            self.list.push(FileError {
                file: self.file.clone(),
                line,
                field: field.map(str::to_string),
                message: message.into(),
            });
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.list.len() >= ERRORS_MAX
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// All rows or all errors, never some of each.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, FileErrors> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            self.fail()
        }
    }

    pub(crate) fn fail<T>(mut self) -> Result<T, FileErrors> {
        assert!(!self.list.is_empty(), "fail() without an error");
        // Checks that run after the row loop (JSON cross-checks) may add earlier lines; the sort
        // is stable, so errors of one line keep the order they were found in.
        self.list.sort_by_key(|e| e.line);
        Err(FileErrors(self.list))
    }
}
