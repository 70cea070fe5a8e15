//! Tests of every file format: a good file read and written back, and bad files whose errors
//! must name the exact file, line and field.
//!
//! Errors are compared in their displayed form (`file:line: field `x`: message`), which holds
//! all four parts, so each case reads as what a user would see.

mod json;
mod movements;
mod registry;
mod reports;
mod samples;
mod verifications;

use std::fmt::Debug;

use ets_files::{FileError, FileErrors};

/// The displayed errors of a parse that must fail.
#[track_caller]
pub fn errors<T: Debug>(result: Result<T, FileErrors>) -> Vec<String> {
    match result {
        Ok(v) => panic!("expected errors, parsed {v:?}"),
        Err(e) => e.0.iter().map(FileError::to_string).collect(),
    }
}

/// Asserts the errors of a parse exactly.
#[track_caller]
pub fn check<T: Debug>(result: Result<T, FileErrors>, expected: &[&str]) {
    let got = errors(result);
    assert_eq!(got, expected, "\ngot:\n{}\n", got.join("\n"));
}

/// Asserts the one error of a parse by its parts.
#[track_caller]
pub fn check_one<T: Debug>(
    result: Result<T, FileErrors>,
    file: &str,
    line: u64,
    field: Option<&str>,
    message_part: &str,
) {
    let e = match result {
        Ok(v) => panic!("expected an error, parsed {v:?}"),
        Err(e) => e,
    };
    assert_eq!(e.0.len(), 1, "expected one error, got:\n{e}");
    let e = &e.0[0];
    assert_eq!(
        (e.file.as_str(), e.line, e.field.as_deref()),
        (file, line, field),
        "{e}"
    );
    assert!(
        e.message.contains(message_part),
        "message {:?} lacks {message_part:?}",
        e.message
    );
}
