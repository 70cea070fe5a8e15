//! The annual emission report workflow as a pure state machine.
//!
//! ```text
//! save_draft ──► Draft ──submit──► Submitted ──record_verification──► Verified ──accept──► Accepted
//!                  ▲                    │                                 │                   │
//!                  └──────── correct (new version, earlier ones kept) ◄───┴───────────────────┘
//! ```
//! A report is identified by (company, emission year); each correction adds a version. The
//! latest version is [`Mrv::current`]; the latest *accepted* version ([`Mrv::accepted`]) stays
//! the one compliance uses while a correction is in progress.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ets_policy::MrvRules;
use ets_types::{CompanyId, Date, Decimal, UnitActivity, UnitId, Year};
use serde::{Deserialize, Serialize};

use crate::{MrvError, UnitEmissions, unit_emissions};

/// Where a report version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Being edited by the company.
    Draft,
    /// Filed with the provincial authority; frozen.
    Submitted,
    /// A verification body has recorded its (possibly different) figures.
    Verified,
    /// The authority accepted the verified figures; compliance uses them.
    Accepted,
}

impl fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReportStatus::Draft => "draft",
            ReportStatus::Submitted => "submitted",
            ReportStatus::Verified => "verified",
            ReportStatus::Accepted => "accepted",
        })
    }
}

/// The verification body's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub verifier: String,
    /// Verified activity data; may differ from the reported figures but covers the same units.
    pub units: Vec<UnitActivity>,
    pub findings: Vec<String>,
    pub verified_on: Date,
}

/// One version of a company's emission report for one year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub company: CompanyId,
    pub year: Year,
    /// 1 for the first report, +1 for each correction.
    pub version: u32,
    pub status: ReportStatus,
    pub units: Vec<UnitActivity>,
    pub submitted_on: Option<Date>,
    pub verification: Option<Verification>,
    pub accepted_on: Option<Date>,
    /// Why this version corrects the previous one (`None` for version 1).
    pub correction_reason: Option<String>,
}

/// All reports of all companies, with their version history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mrv {
    /// company → year → versions, oldest first (never empty once created). Nested maps rather
    /// than a tuple key so that the state serialises to JSON.
    reports: BTreeMap<CompanyId, BTreeMap<Year, Vec<Report>>>,
}

impl Mrv {
    /// Creates version 1 as a draft, or replaces the units of the current draft.
    ///
    /// # Errors
    /// Invalid units (empty, duplicate, wrong year, negative values), or a current version that
    /// is no longer a draft (use [`Mrv::correct`]).
    pub fn save_draft(
        &mut self,
        company: &CompanyId,
        year: Year,
        units: Vec<UnitActivity>,
    ) -> Result<u32, MrvError> {
        check_units(company, year, &units)?;
        let versions = self
            .reports
            .entry(company.clone())
            .or_default()
            .entry(year)
            .or_default();
        match versions.last_mut() {
            None => {
                versions.push(Report {
                    company: company.clone(),
                    year,
                    version: 1,
                    status: ReportStatus::Draft,
                    units,
                    submitted_on: None,
                    verification: None,
                    accepted_on: None,
                    correction_reason: None,
                });
                Ok(1)
            }
            Some(r) if r.status == ReportStatus::Draft => {
                r.units = units;
                Ok(r.version)
            }
            Some(r) => Err(transition(r, "save a draft of")),
        }
    }

    /// Draft → Submitted on `on`; returns the submitted version.
    pub fn submit(&mut self, company: &CompanyId, year: Year, on: Date) -> Result<u32, MrvError> {
        let r = self.current_mut(company, year)?;
        if r.status != ReportStatus::Draft {
            return Err(transition(r, "submit"));
        }
        r.status = ReportStatus::Submitted;
        r.submitted_on = Some(on);
        Ok(r.version)
    }

    /// Submitted → Verified. The verification must cover exactly the report's units.
    pub fn record_verification(
        &mut self,
        company: &CompanyId,
        year: Year,
        v: Verification,
    ) -> Result<(), MrvError> {
        let r = self.current_mut(company, year)?;
        if r.status != ReportStatus::Submitted {
            return Err(transition(r, "record a verification of"));
        }
        if v.verifier.trim().is_empty() {
            return Err(MrvError::Blank {
                company: company.clone(),
                year,
                what: "verifier",
            });
        }
        check_units(company, year, &v.units)?;
        let reported: BTreeSet<&UnitId> = r.units.iter().map(|u| &u.unit).collect();
        let verified: BTreeSet<&UnitId> = v.units.iter().map(|u| &u.unit).collect();
        if reported != verified {
            let not_verified: Vec<UnitId> = reported
                .difference(&verified)
                .map(|u| (*u).clone())
                .collect();
            let not_reported: Vec<UnitId> = verified
                .difference(&reported)
                .map(|u| (*u).clone())
                .collect();
            // A unit the verifier finds missing is a finding; the company then corrects the
            // report, so the report and its verification always describe the same units.
            return Err(MrvError::VerificationUnits {
                company: company.clone(),
                year,
                not_verified,
                not_reported,
            });
        }
        if let Some(submitted) = r.submitted_on
            && v.verified_on < submitted
        {
            return Err(date_order(r, "verification", v.verified_on, submitted));
        }
        r.status = ReportStatus::Verified;
        r.verification = Some(v);
        Ok(())
    }

    /// Verified → Accepted by the authority on `on`.
    pub fn accept(&mut self, company: &CompanyId, year: Year, on: Date) -> Result<(), MrvError> {
        let r = self.current_mut(company, year)?;
        if r.status != ReportStatus::Verified {
            return Err(transition(r, "accept"));
        }
        if let Some(v) = &r.verification
            && on < v.verified_on
        {
            return Err(date_order(r, "acceptance", on, v.verified_on));
        }
        r.status = ReportStatus::Accepted;
        r.accepted_on = Some(on);
        Ok(())
    }

    /// Opens a new version as a draft with corrected units, from a submitted, verified or
    /// accepted report; the earlier versions stay in the history unchanged. Returns the new
    /// version number.
    pub fn correct(
        &mut self,
        company: &CompanyId,
        year: Year,
        units: Vec<UnitActivity>,
        reason: String,
    ) -> Result<u32, MrvError> {
        if reason.trim().is_empty() {
            return Err(MrvError::Blank {
                company: company.clone(),
                year,
                what: "correction reason",
            });
        }
        check_units(company, year, &units)?;
        let versions = self.versions_mut(company, year)?;
        let last = versions.last().ok_or_else(|| no_report(company, year))?;
        if last.status == ReportStatus::Draft {
            // A draft is edited in place with save_draft; it needs no new version.
            return Err(transition(last, "correct"));
        }
        let version = last.version + 1;
        versions.push(Report {
            company: company.clone(),
            year,
            version,
            status: ReportStatus::Draft,
            units,
            submitted_on: None,
            verification: None,
            accepted_on: None,
            correction_reason: Some(reason),
        });
        Ok(version)
    }

    /// The latest version, whatever its status.
    pub fn current(&self, company: &CompanyId, year: Year) -> Option<&Report> {
        self.history(company, year).last()
    }

    /// Every version, oldest first; empty if there is no report.
    pub fn history(&self, company: &CompanyId, year: Year) -> &[Report] {
        self.reports
            .get(company)
            .and_then(|y| y.get(&year))
            .map_or(&[], |v| v.as_slice())
    }

    /// The latest accepted version: the one compliance uses, even while a correction is open.
    pub fn accepted(&self, company: &CompanyId, year: Year) -> Option<&Report> {
        self.history(company, year)
            .iter()
            .rev()
            .find(|r| r.status == ReportStatus::Accepted)
    }

    /// The current version of every report, ordered by company, then year.
    pub fn reports(&self) -> impl Iterator<Item = &Report> {
        self.reports
            .values()
            .flat_map(|years| years.values())
            .filter_map(|versions| versions.last())
    }

    fn versions_mut(
        &mut self,
        company: &CompanyId,
        year: Year,
    ) -> Result<&mut Vec<Report>, MrvError> {
        self.reports
            .get_mut(company)
            .and_then(|y| y.get_mut(&year))
            .ok_or_else(|| no_report(company, year))
    }

    fn current_mut(&mut self, company: &CompanyId, year: Year) -> Result<&mut Report, MrvError> {
        self.versions_mut(company, year)?
            .last_mut()
            .ok_or_else(|| no_report(company, year))
    }
}

/// Emissions per unit from the report's *verification* (not the reported figures), in the
/// verification's unit order.
///
/// # Errors
/// [`MrvError::NotVerified`] for a report without a verification; any error of
/// [`unit_emissions`].
pub fn verified_emissions(
    report: &Report,
    rules: &MrvRules,
) -> Result<Vec<(UnitId, UnitEmissions)>, MrvError> {
    let v = report
        .verification
        .as_ref()
        .ok_or_else(|| MrvError::NotVerified {
            company: report.company.clone(),
            year: report.year,
            version: report.version,
        })?;
    v.units
        .iter()
        .map(|u| Ok((u.unit.clone(), unit_emissions(u, rules)?)))
        .collect()
}

/// The company's verified emissions for the report's year: the sum of the units' whole-tonne
/// totals (each unit is rounded once, then summed, like the allocation side).
pub fn verified_total_t(report: &Report, rules: &MrvRules) -> Result<u64, MrvError> {
    let mut total: u64 = 0;
    for (unit, e) in verified_emissions(report, rules)? {
        total = total
            .checked_add(e.total_t)
            .ok_or(MrvError::Overflow { unit })?;
    }
    Ok(total)
}

fn no_report(company: &CompanyId, year: Year) -> MrvError {
    MrvError::NoReport {
        company: company.clone(),
        year,
    }
}

fn transition(r: &Report, action: &'static str) -> MrvError {
    MrvError::InvalidTransition {
        company: r.company.clone(),
        year: r.year,
        from: r.status,
        action,
    }
}

fn date_order(r: &Report, action: &'static str, date: Date, previous: Date) -> MrvError {
    MrvError::DateOrder {
        company: r.company.clone(),
        year: r.year,
        action,
        date,
        previous,
    }
}

/// A report's units: at least one, each once, all of the report's year, no negative figure.
fn check_units(company: &CompanyId, year: Year, units: &[UnitActivity]) -> Result<(), MrvError> {
    if units.is_empty() {
        return Err(MrvError::NoUnits {
            company: company.clone(),
            year,
        });
    }
    let mut seen = BTreeSet::new();
    for u in units {
        if !seen.insert(&u.unit) {
            return Err(MrvError::DuplicateUnit {
                company: company.clone(),
                year,
                unit: u.unit.clone(),
            });
        }
        if u.year != year {
            return Err(MrvError::WrongYear {
                company: company.clone(),
                year,
                unit: u.unit.clone(),
                unit_year: u.year,
            });
        }
        // The first negative field in this order; its name is formatted only then.
        let negative = |v: &Decimal| v.is_sign_negative() && !v.is_zero();
        let scalar = [
            ("purchased_electricity_mwh", u.purchased_electricity_mwh),
            ("power_supplied_mwh", u.power_supplied_mwh),
            ("heat_supplied_gj", u.heat_supplied_gj),
            ("load_factor", u.load_factor),
        ]
        .into_iter()
        .find(|(_, v)| negative(v))
        .map(|(n, v)| (n.to_string(), v));
        let fuel = || {
            u.fuels.iter().find_map(|f| {
                [
                    ("consumption", Some(f.consumption)),
                    ("ncv_gj", f.ncv_gj),
                    ("carbon_content_tc_per_gj", f.carbon_content_tc_per_gj),
                    ("elemental_carbon", f.elemental_carbon),
                    ("oxidation_rate", f.oxidation_rate),
                ]
                .into_iter()
                .find_map(|(n, v)| v.filter(negative).map(|v| (n, v)))
                .map(|(n, v)| (format!("fuel {} {n}", f.fuel), v))
            })
        };
        if let Some((field, value)) = scalar.or_else(fuel) {
            return Err(MrvError::Negative {
                unit: u.unit.clone(),
                field,
                value,
            });
        }
    }
    Ok(())
}
