//! The regulator's file formats, parsed strictly: companies, generating units, emission reports,
//! verifications, transfers and surrenders (`docs/file-formats.md` describes each).
//!
//! Every parser is a pure function from a file's display name and text to either all its rows or
//! the errors found ([`FileErrors`], up to [`ERRORS_MAX`]), each naming file, line and field:
//!
//! ```text
//! companies.csv:3: field `province`: must not be empty
//! ```
//!
//! so the caller applies a whole file or nothing of it, and a user fixes every error in one go.
//! The caller reads the file; this crate never touches the file system.
//!
//! Layout: `table` (CSV header and rows, the rules all CSV formats share), `value` (cell
//! parsers), `registry` (companies, units), `activity` (reports and verifications as CSV),
//! `json` (the same as JSON), `movements` (transfers, surrenders), `write` (CSV writers that
//! round-trip with the parsers).
//!
//! **Architecture Invariant:** no floating point. Decimals are read digit by digit into
//! `Decimal` (exponents, signs other than a refused `-`, and `NaN` are errors), tonnes are `u64`
//! read from digits only, and JSON decimals are strings, never JSON numbers.
//!
//! **Architecture Invariant:** a parser returns all rows or none. Checks that need the registry
//! (does the company of a unit exist, does a transfer's sender hold enough) are the caller's.

mod activity;
mod error;
mod json;
mod movements;
mod registry;
mod table;
mod value;
mod write;

pub use activity::{parse_reports_csv, parse_verifications_csv};
pub use error::{ERRORS_MAX, FileError, FileErrors};
pub use json::{parse_reports_json, parse_verifications_json};
pub use movements::{SurrenderRow, TransferRow, parse_surrenders_csv, parse_transfers_csv};
pub use registry::{parse_companies_csv, parse_units_csv};
pub use value::CEA;
pub use write::{write_companies_csv, write_reports_csv, write_units_csv};
