//! The error of a plan file that does not parse or does not validate.

use std::fmt;

/// A plan file that cannot be used, with the file and the key path of the offending value, e.g.
/// `cn-power-2019-2020.toml: allocation.load_factor.bands[2].min: must be between 0 and 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Name of the plan file (or whatever the caller passed as `source`).
    pub file: String,
    /// Dotted key path inside the file, with `[i]` for array items; empty for syntax errors.
    pub path: String,
    pub problem: Problem,
}

/// What is wrong with the value at [`PolicyError::path`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The text is not TOML at all.
    #[error("invalid toml at line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("missing")]
    Missing,
    /// A key the format does not know; rejected so that a typo never silently falls back to a
    /// default.
    #[error("unknown key")]
    UnknownKey,
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    /// A number that does not fit the type or is written in a form we do not read exactly.
    #[error("invalid number {text:?}: {why}")]
    BadNumber { text: String, why: &'static str },
    #[error("{value:?} is not one of {allowed}")]
    NotAllowed {
        value: String,
        allowed: &'static str,
    },
    #[error("{value}: must be {rule}")]
    OutOfRange { value: String, rule: &'static str },
    #[error("must not be empty")]
    Empty,
    #[error("must be strictly ascending ({value} follows {previous})")]
    NotAscending { value: String, previous: String },
    #[error("duplicate {0:?}")]
    Duplicate(String),
    #[error("no entry for {0:?}")]
    MissingEntry(String),
    /// Load-factor bands leave a gap or overlap.
    #[error("{value}: must equal {expected} so that the bands are contiguous")]
    NotContiguous { value: String, expected: String },
    /// Two values that must agree do not, e.g. `fine_cny_min` above `fine_cny_max`.
    #[error("{0}")]
    Inconsistent(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.problem)
        }
    }
}

impl std::error::Error for PolicyError {}
