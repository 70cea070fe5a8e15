//! Transfers and surrenders: movements of allowances (CEA) and offset credits between accounts.

use std::collections::HashMap;

use ets_types::{CompanyId, Tonnes, Year};

use crate::error::{Errors, FileErrors};
use crate::table::{self, Cells};
use crate::value;

pub(crate) const TRANSFER_COLUMNS: [&str; 5] = ["from", "to", "unit", "vintage", "quantity"];
pub(crate) const SURRENDER_COLUMNS: [&str; 4] = ["company_id", "unit", "vintage", "quantity"];
const KEY: [&str; 1] = ["key"];

/// One row of a transfer file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransferRow {
    /// Line of the row in its file, for messages about the row when it is applied.
    pub line: u64,
    /// Party giving: a company id, a project id, a holder's name or an account number (the
    /// registry resolves it).
    pub from: String,
    /// Party receiving, as `from`; never equal to it.
    pub to: String,
    /// `"CEA"` for allowances, or the id of an offset project for its credits.
    pub unit: String,
    pub vintage: Year,
    pub quantity: Tonnes,
    /// Idempotency key: a movement with a key already applied is not applied again, so a file
    /// can be re-run after a failure.
    pub key: Option<String>,
}

/// One row of a surrender file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SurrenderRow {
    /// Line of the row in its file.
    pub line: u64,
    pub company: CompanyId,
    /// `"CEA"` or an offset project id, as in [`TransferRow::unit`].
    pub unit: String,
    pub vintage: Year,
    pub quantity: Tonnes,
    /// Idempotency key, as in [`TransferRow::key`].
    pub key: Option<String>,
}

/// Parses a transfer file: `from,to,unit,vintage,quantity[,key]`.
///
/// # Errors
/// Every bad cell, a missing or unknown column, `from` equal to `to`, a key given twice (naming
/// both lines).
pub fn parse_transfers_csv(file: &str, text: &str) -> Result<Vec<TransferRow>, FileErrors> {
    let mut errs = Errors::new(file);
    let Some((header, rows)) = table::read(&mut errs, text, &TRANSFER_COLUMNS.join(",")) else {
        return errs.fail();
    };
    let Some(cols) = table::bind(&mut errs, &header, &TRANSFER_COLUMNS, &KEY) else {
        return errs.fail();
    };
    let mut keys = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        if errs.full() {
            break;
        }
        let mut c = Cells::new(&mut errs, &cols, row);
        let from = c.required("from", value::party);
        let to = c.required("to", value::party);
        let unit = c.required("unit", value::unit_class);
        let vintage = c.required("vintage", value::year);
        let quantity = c.required("quantity", value::tonnes);
        let key = c.optional("key", value::key);
        if let (Some(from), Some(to)) = (&from, &to)
            && from == to
        {
            c.error(
                "to",
                format!("{to:?} is also the sender: a transfer moves units between two parties"),
            );
        }
        check_key(&mut c, &mut keys, key.as_deref());
        if let (false, Some(from), Some(to), Some(unit), Some(vintage), Some(quantity)) =
            (c.failed, from, to, unit, vintage, quantity)
        {
            out.push(TransferRow {
                line: row.line,
                from,
                to,
                unit,
                vintage,
                quantity,
                key,
            });
        }
    }
    errs.finish(out)
}

/// Parses a surrender file: `company_id,unit,vintage,quantity[,key]`.
///
/// # Errors
/// Every bad cell, a missing or unknown column, a key given twice (naming both lines).
pub fn parse_surrenders_csv(file: &str, text: &str) -> Result<Vec<SurrenderRow>, FileErrors> {
    let mut errs = Errors::new(file);
    let Some((header, rows)) = table::read(&mut errs, text, &SURRENDER_COLUMNS.join(",")) else {
        return errs.fail();
    };
    let Some(cols) = table::bind(&mut errs, &header, &SURRENDER_COLUMNS, &KEY) else {
        return errs.fail();
    };
    let mut keys = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        if errs.full() {
            break;
        }
        let mut c = Cells::new(&mut errs, &cols, row);
        let company = c.required("company_id", value::company_id);
        let unit = c.required("unit", value::unit_class);
        let vintage = c.required("vintage", value::year);
        let quantity = c.required("quantity", value::tonnes);
        let key = c.optional("key", value::key);
        check_key(&mut c, &mut keys, key.as_deref());
        if let (false, Some(company), Some(unit), Some(vintage), Some(quantity)) =
            (c.failed, company, unit, vintage, quantity)
        {
            out.push(SurrenderRow {
                line: row.line,
                company,
                unit,
                vintage,
                quantity,
                key,
            });
        }
    }
    errs.finish(out)
}

/// Two rows with one key would make the second a silent no-op when applied: refuse the file.
fn check_key(c: &mut Cells<'_>, keys: &mut HashMap<String, u64>, key: Option<&str>) {
    let Some(key) = key else { return };
    if let Some(first) = keys.get(key) {
        c.error(
            "key",
            format!("key {key:?} is already used on line {first}"),
        );
    } else {
        keys.insert(key.to_string(), c.row.line);
    }
}
