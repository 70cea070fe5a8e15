//! Read-only views: the compliance report and the cross-institution invariants.

use std::collections::BTreeMap;

use ets_compliance::{CompanyResult, Totals};
use ets_registry::{AccountKind, InvariantReport, Op, TxKind};
use ets_types::{CompanyId, Date, Tonnes, UnitClass, Year};

use crate::{Market, MarketError, Stage};

/// The compliance report of one plan: national and per-province totals, and every company.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ComplianceReport {
    pub plan: String,
    /// The date of the regulator's assessment; `None` while the cycle is open (figures as of now).
    pub assessed_on: Option<Date>,
    pub national: Totals,
    pub provinces: Vec<Totals>,
    pub companies: Vec<CompanyResult>,
    /// Companies left out because their obligation is not known yet (no accepted report or no
    /// final allocation).
    pub pending: Vec<CompanyId>,
    /// Companies taken out of the cycle, with the reason.
    pub exempted: Vec<(CompanyId, String)>,
}

/// One company's position, for listings.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CompanyView {
    pub id: CompanyId,
    pub province: String,
    pub account: ets_types::AccountId,
    pub holdings: Vec<(UnitClass, Tonnes)>,
}

/// What [`Market::check_invariants`] checked.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InvariantSummary {
    pub registry: InvariantReport,
    pub companies: usize,
    pub units: usize,
    pub reports: usize,
    pub allocations: usize,
    pub surrenders: usize,
}

impl Market {
    /// The compliance report of a plan: the assessed results once the cycle is assessed,
    /// otherwise the position as of now.
    pub fn compliance_report(&self, plan: &str) -> Result<ComplianceReport, MarketError> {
        self.plan_entry(plan)?;
        let (assessed_on, companies) = match self.assessed.get(plan) {
            Some((on, results)) => (Some(*on), results.clone()),
            None => (None, self.company_results(plan, false)?),
        };
        let exempted: Vec<(CompanyId, String)> = self
            .exempted
            .iter()
            .filter(|((p, _), _)| p == plan)
            .map(|((_, c), why)| (c.clone(), why.clone()))
            .collect();
        let reported: std::collections::BTreeSet<&CompanyId> =
            companies.iter().map(|r| &r.company).collect();
        let pending = self
            .companies
            .keys()
            .filter(|id| !reported.contains(id) && !self.is_exempted(plan, id))
            .cloned()
            .collect();
        let (national, provinces) = ets_compliance::summarize(&companies);
        Ok(ComplianceReport {
            plan: plan.to_string(),
            assessed_on,
            national,
            provinces,
            companies,
            pending,
            exempted,
        })
    }

    pub fn company_view(&self, id: &CompanyId) -> Option<CompanyView> {
        let c = self.companies.get(id)?;
        Some(CompanyView {
            id: id.clone(),
            province: c.company.province.clone(),
            account: c.account,
            holdings: self.registry.holdings_of(c.account),
        })
    }

    /// Checks the registry's invariants and those that tie the institutions together: every
    /// company has its own holding account; what the registry allocated to each company equals
    /// the allocations recorded (final where trued up, else pre); what was surrendered per
    /// company and plan equals the registry's surrender transactions; reports name only the
    /// company's own units.
    /// Vintages for which allocations were recorded under more than one plan, with the plans
    /// (a market where two plans allocated one vintage issued it twice). `ets verify` refuses
    /// such a store; adoption refuses overlapping plans since issue 14, so only journals written
    /// before can have them, and they stay readable.
    pub fn vintages_allocated_twice(&self) -> Vec<(Year, Vec<String>)> {
        let mut by_year: BTreeMap<Year, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for (plan, _, year, _) in self.allocations.keys() {
            by_year.entry(*year).or_default().insert(plan.as_str());
        }
        by_year
            .into_iter()
            .filter(|(_, plans)| plans.len() > 1)
            .map(|(y, plans)| (y, plans.into_iter().map(String::from).collect()))
            .collect()
    }

    pub fn check_invariants(&self) -> Result<InvariantSummary, String> {
        let registry = self
            .registry
            .check_invariants()
            .map_err(|e| e.to_string())?;
        for (id, c) in &self.companies {
            let a = self.registry.account(c.account).ok_or(format!(
                "company {id}: account {} does not exist",
                c.account
            ))?;
            if a.kind != AccountKind::CompanyHolding || a.holder != id.as_str() {
                return Err(format!(
                    "company {id}: account {} is a {} account of {}",
                    c.account,
                    a.kind.name(),
                    a.holder
                ));
            }
            for u in &c.units {
                let unit = self
                    .units
                    .get(u)
                    .ok_or(format!("company {id}: unit {u} is not registered"))?;
                if unit.company != *id {
                    return Err(format!(
                        "unit {u} is listed under {id} but belongs to {}",
                        unit.company
                    ));
                }
            }
        }
        // Net allocation per (account, class) in the registry.
        let mut net: BTreeMap<(ets_types::AccountId, UnitClass), i128> = BTreeMap::new();
        let mut surrendered: BTreeMap<(String, String), ets_compliance::Surrendered> =
            BTreeMap::new();
        for t in self.registry.transactions() {
            match (&t.kind, &t.request.op) {
                (TxKind::Allocate, _) => {
                    *net.entry((t.to, t.class)).or_default() += i128::from(t.quantity)
                }
                (TxKind::Correct, _) => {
                    let from = t
                        .from
                        .ok_or(format!("correction {} has no source account", t.seq))?;
                    *net.entry((from, t.class)).or_default() -= i128::from(t.quantity)
                }
                (TxKind::Surrender, Op::Surrender { purpose, .. }) => {
                    let account = self.resolve_account(&purpose.company);
                    if account != t.from {
                        return Err(format!(
                            "surrender {} for {} came from account {}",
                            t.seq,
                            purpose.company,
                            t.from.map_or("none".to_string(), |a| a.to_string())
                        ));
                    }
                    surrendered
                        .entry((purpose.cycle.clone(), purpose.company.clone()))
                        .or_default()
                        .add(t.class, t.quantity);
                }
                _ => {}
            }
        }
        let mut allocations = 0;
        let mut expected: BTreeMap<(ets_types::AccountId, UnitClass), i128> = BTreeMap::new();
        for ((plan, company, year, stage), a) in &self.allocations {
            allocations += 1;
            let final_exists = self.allocations.contains_key(&(
                plan.clone(),
                company.clone(),
                *year,
                Stage::Final,
            ));
            if *stage == Stage::Final || !final_exists {
                let account = self
                    .companies
                    .get(company)
                    .ok_or(format!("allocation to unknown company {company}"))?
                    .account;
                *expected
                    .entry((account, UnitClass::Cea { vintage: *year }))
                    .or_default() += i128::from(a.total_t);
            }
        }
        net.retain(|_, q| *q != 0);
        expected.retain(|_, q| *q != 0);
        if net != expected {
            let diff = net
                .iter()
                .find(|(k, v)| expected.get(k) != Some(v))
                .map(|(k, v)| {
                    format!(
                        "account {} {}: registry allocated {v} t, allocations record {} t",
                        k.0,
                        k.1,
                        expected.get(k).copied().unwrap_or(0)
                    )
                })
                .or_else(|| {
                    expected
                        .iter()
                        .find(|(k, _)| !net.contains_key(k))
                        .map(|(k, v)| {
                            format!("account {} {}: recorded {v} t never moved", k.0, k.1)
                        })
                })
                .unwrap_or_default();
            return Err(format!(
                "registry allocations disagree with recorded allocations: {diff}"
            ));
        }
        let recorded: BTreeMap<(String, String), ets_compliance::Surrendered> = self
            .surrendered
            .iter()
            .filter(|(_, s)| s.total_t() > 0)
            .map(|((p, c), s)| ((p.clone(), c.to_string()), *s))
            .collect();
        if recorded != surrendered {
            return Err("surrendered totals per company disagree with the registry's surrender transactions".into());
        }
        for r in self.reports() {
            let company = self
                .companies
                .get(&r.company)
                .ok_or(format!("report of unknown company {}", r.company))?;
            if let Some(u) = r.units.iter().find(|u| !company.units.contains(&u.unit)) {
                return Err(format!(
                    "report of {} {} names unit {} of another company",
                    r.company, r.year, u.unit
                ));
            }
        }
        if let Some(ex) = &self.exchange {
            ex.check_invariants(&self.registry)
                .map_err(|e| format!("exchange: {e}"))?;
        }
        Ok(InvariantSummary {
            registry,
            companies: self.companies.len(),
            units: self.units.len(),
            reports: self.reports().count(),
            allocations,
            surrenders: surrendered.len(),
        })
    }
}
