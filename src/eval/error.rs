//! The scorer's error type: what can go wrong reading a manifest or a predictions file. Every variant
//! names the file; line errors also name the 1-based line and the offending field. Any thread.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file could not be opened or read (or is not UTF-8).
    #[error("cannot read {what}: {source}: {path}")]
    Io {
        /// `"manifest"` or `"predictions"`.
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One line is malformed: bad JSON, a missing or mistyped field, an unknown value. `field` is
    /// empty when the line as a whole is wrong (not JSON, not an object).
    #[error("{path}:{line}: {}{message}", field_prefix(.field))]
    Line { path: PathBuf, line: usize, field: String, message: String },
    /// The same id appears twice in one file.
    #[error("{path}:{line}: duplicate id {id:?} (first seen on line {first_line})")]
    Duplicate { path: PathBuf, line: usize, id: String, first_line: usize },
    /// The file holds no records at all (only blank lines, or nothing).
    #[error("no records in {what}: {path}")]
    Empty {
        /// `"manifest"` or `"predictions"`.
        what: &'static str,
        path: PathBuf,
    },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() { String::new() } else { format!("field `{field}`: ") }
}

impl EvalError {
    pub(crate) fn line(path: &Path, line: usize, field: &str, message: impl Into<String>) -> Self {
        Self::Line { path: path.to_path_buf(), line, field: field.to_string(), message: message.into() }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::Line { path, .. }
            | Self::Duplicate { path, .. }
            | Self::Empty { path, .. } => path,
        }
    }

    /// The 1-based line the error is about, when it is about one line.
    pub fn line_number(&self) -> Option<usize> {
        match self {
            Self::Line { line, .. } | Self::Duplicate { line, .. } => Some(*line),
            Self::Io { .. } | Self::Empty { .. } => None,
        }
    }

    /// The field the error is about, when it is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Line { field, .. } if !field.is_empty() => Some(field),
            Self::Duplicate { .. } => Some("id"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_place() {
        let e = EvalError::line(Path::new("m.jsonl"), 3, "level", "unknown level \"L7\" (expected L1-L4)");
        assert_eq!(e.to_string(), "m.jsonl:3: field `level`: unknown level \"L7\" (expected L1-L4)");
        assert_eq!(e.line_number(), Some(3));
        assert_eq!(e.field(), Some("level"));
        let e = EvalError::line(Path::new("p.jsonl"), 1, "", "invalid JSON: oops");
        assert_eq!(e.to_string(), "p.jsonl:1: invalid JSON: oops");
        assert_eq!(e.field(), None);
        let e = EvalError::Io {
            what: "predictions",
            path: PathBuf::from("/x/p.jsonl"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
        };
        assert_eq!(e.to_string(), "cannot read predictions: not found: /x/p.jsonl");
        assert_eq!(e.path(), Path::new("/x/p.jsonl"));
    }
}
