//! Errors in `.idol` files: each names the file, the line and the fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// A broken interface file (or a set of files that clash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdlError {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line of the offending item; 0 when the error concerns the whole file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl IdlError {
    /// An error at `line` of `file`.
    pub fn new(file: &Path, line: usize, message: String, help: impl Into<String>) -> IdlError {
        IdlError {
            file: file.to_path_buf(),
            line,
            message,
            help: help.into(),
        }
    }
}

impl fmt::Display for IdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)?;
        }
        write!(f, "\n  help: {}", self.help)
    }
}

impl std::error::Error for IdlError {}
