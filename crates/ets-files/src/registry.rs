//! Companies and generating units: the regulator's list of covered entities.

use std::collections::HashMap;

use ets_types::{Company, CompanyId, GeneratingUnit, UnitId};

use crate::error::{Errors, FileErrors};
use crate::table::{self, Cells};
use crate::value;

pub(crate) const COMPANY_COLUMNS: [&str; 3] = ["company_id", "name", "province"];
pub(crate) const UNIT_COLUMNS: [&str; 5] = [
    "unit_id",
    "company_id",
    "category",
    "capacity_mw",
    "cooling",
];

/// Parses a companies file: `company_id,name,province`, one company per row.
///
/// # Errors
/// Every bad cell, a missing or unknown column, a company id given twice (naming both lines).
pub fn parse_companies_csv(file: &str, text: &str) -> Result<Vec<Company>, FileErrors> {
    let mut errs = Errors::new(file);
    let Some((header, rows)) = table::read(&mut errs, text, &COMPANY_COLUMNS.join(",")) else {
        return errs.fail();
    };
    let Some(cols) = table::bind(&mut errs, &header, &COMPANY_COLUMNS, &[]) else {
        return errs.fail();
    };
    let mut seen: HashMap<CompanyId, u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        if errs.full() {
            break;
        }
        let mut c = Cells::new(&mut errs, &cols, row);
        let id = c.required("company_id", value::company_id);
        let name = c.required("name", value::text);
        let province = c.required("province", value::text);
        // The first line stays the one named, however often the id repeats.
        if let Some(id) = &id
            && let Some(first) = seen.insert(id.clone(), row.line)
        {
            c.error(
                "company_id",
                format!("company {id} is already listed on line {first}"),
            );
            seen.insert(id.clone(), first);
        }
        if let (false, Some(id), Some(name), Some(province)) = (c.failed, id, name, province) {
            out.push(Company { id, name, province });
        }
    }
    errs.finish(out)
}

/// Parses a generating-units file: `unit_id,company_id,category,capacity_mw,cooling`.
///
/// Whether each unit's company exists is the registry's check (companies may come from an
/// earlier file); here only the spelling of the id.
///
/// # Errors
/// Every bad cell, a missing or unknown column, a unit id given twice (naming both lines).
pub fn parse_units_csv(file: &str, text: &str) -> Result<Vec<GeneratingUnit>, FileErrors> {
    let mut errs = Errors::new(file);
    let Some((header, rows)) = table::read(&mut errs, text, &UNIT_COLUMNS.join(",")) else {
        return errs.fail();
    };
    let Some(cols) = table::bind(&mut errs, &header, &UNIT_COLUMNS, &[]) else {
        return errs.fail();
    };
    let mut seen: HashMap<UnitId, u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        if errs.full() {
            break;
        }
        let mut c = Cells::new(&mut errs, &cols, row);
        let id = c.required("unit_id", value::unit_id);
        let company = c.required("company_id", value::company_id);
        let category = c.required("category", value::category);
        let capacity_mw = c.required("capacity_mw", value::capacity_mw);
        let cooling = c.required("cooling", value::cooling);
        // The first line stays the one named, however often the id repeats.
        if let Some(id) = &id
            && let Some(first) = seen.insert(id.clone(), row.line)
        {
            c.error(
                "unit_id",
                format!("unit {id} is already listed on line {first}"),
            );
            seen.insert(id.clone(), first);
        }
        if let (false, Some(id), Some(company), Some(category), Some(capacity_mw), Some(cooling)) =
            (c.failed, id, company, category, capacity_mw, cooling)
        {
            out.push(GeneratingUnit {
                id,
                company,
                category,
                capacity_mw,
                cooling,
            });
        }
    }
    errs.finish(out)
}
