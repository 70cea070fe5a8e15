//! Applying events: the only place the market's state changes.
//!
//! Live execution and replay both come here, so replay equals live state by construction. Every
//! step re-checks what it can (account ids, sequence numbers, MRV transitions): a journal that
//! does not fit the state is reported, never papered over.

use ets_registry::{AccountKind, Op, Outcome};

use ets_types::AccountId;

use crate::{
    AdoptedPlan, AllocationEntry, CompanyEntry, Event, Market, MarketError, ProjectEntry,
    Registered, ReplayMismatch,
};

fn replay(m: ReplayMismatch) -> MarketError {
    MarketError::Replay(m)
}

fn account_mismatch(holder: &str, got: AccountId, journal: AccountId) -> MarketError {
    replay(ReplayMismatch::Account {
        holder: holder.to_string(),
        got,
        journal,
    })
}

impl Market {
    /// Applies an exchange input to the exchange and the registry; returns the trades.
    pub(crate) fn apply_exchange(
        &mut self,
        input: &crate::trading::exchange::ExchangeInput,
    ) -> Result<Vec<crate::trading::exchange::TradeRecord>, MarketError> {
        let exchange = self
            .exchange
            .as_mut()
            .ok_or(crate::trading::exchange::TradeRejection::NoExchange)?;
        Ok(exchange.apply(&mut self.registry, input)?)
    }

    /// Applies one recorded event. Used by replay; live execution applies the same way.
    pub fn apply(&mut self, event: &Event) -> Result<(), MarketError> {
        match event {
            Event::CompanyRegistered {
                company,
                account,
                on,
            } => {
                if self.companies.contains_key(&company.id) {
                    return Err(MarketError::Duplicate {
                        what: Registered::Company,
                        id: company.id.to_string(),
                    });
                }
                let id = self.registry.open_account(
                    AccountKind::CompanyHolding,
                    company.id.as_str(),
                    *on,
                );
                if id != *account {
                    return Err(account_mismatch(company.id.as_str(), id, *account));
                }
                self.companies.insert(
                    company.id.clone(),
                    CompanyEntry {
                        company: company.clone(),
                        account: id,
                        units: Vec::new(),
                    },
                );
                self.account_company.insert(id, company.id.clone());
            }
            Event::UnitRegistered { unit } => {
                let entry = self
                    .companies
                    .get_mut(&unit.company)
                    .ok_or_else(|| MarketError::UnknownCompany(unit.company.clone()))?;
                if self.units.contains_key(&unit.id) {
                    return Err(MarketError::Duplicate {
                        what: crate::Registered::Unit,
                        id: unit.id.to_string(),
                    });
                }
                entry.units.push(unit.id.clone());
                self.units.insert(unit.id.clone(), unit.clone());
            }
            Event::PlanAdopted { id, source, toml } => {
                let plan = ets_policy::Plan::from_toml_str(toml, source)
                    .map_err(crate::plan_file_error)?;
                if plan.id != *id {
                    return Err(replay(ReplayMismatch::PlanId {
                        file: source.clone(),
                        found: plan.id,
                        journal: id.clone(),
                    }));
                }
                self.plans.insert(
                    id.clone(),
                    AdoptedPlan {
                        plan,
                        source: source.clone(),
                        toml: toml.clone(),
                    },
                );
            }
            Event::PlanWithdrawn { id, .. } => {
                if self.plans.remove(id).is_none() {
                    return Err(MarketError::UnknownPlan(id.clone()));
                }
            }
            Event::ReportDrafted {
                company,
                year,
                units,
                correction,
            } => {
                let r = match correction {
                    None => self
                        .mrv
                        .entry((company.clone(), *year))
                        .or_default()
                        .save_draft(company, *year, units.clone()),
                    Some(reason) => self
                        .mrv
                        .entry((company.clone(), *year))
                        .or_default()
                        .correct(company, *year, units.clone(), reason.clone()),
                };
                r.map_err(|source| MarketError::Mrv {
                    company: company.clone(),
                    year: *year,
                    source,
                })?;
            }
            Event::ReportSubmitted { company, year, on } => {
                self.mrv
                    .entry((company.clone(), *year))
                    .or_default()
                    .submit(company, *year, *on)
                    .map_err(|source| MarketError::Mrv {
                        company: company.clone(),
                        year: *year,
                        source,
                    })?;
            }
            Event::ReportVerified {
                company,
                year,
                verification,
            } => {
                self.mrv
                    .entry((company.clone(), *year))
                    .or_default()
                    .record_verification(company, *year, verification.clone())
                    .map_err(|source| MarketError::Mrv {
                        company: company.clone(),
                        year: *year,
                        source,
                    })?;
            }
            Event::ReportAccepted { company, year, on } => {
                self.mrv
                    .entry((company.clone(), *year))
                    .or_default()
                    .accept(company, *year, *on)
                    .map_err(|source| MarketError::Mrv {
                        company: company.clone(),
                        year: *year,
                        source,
                    })?;
            }
            Event::AllocationRecorded {
                plan,
                company,
                year,
                stage,
                units,
                deduction_t,
                total_t,
            } => {
                let sum = units.iter().try_fold(0u64, |a, (_, t)| a.checked_add(*t));
                if sum.map(|s| s.saturating_sub(*deduction_t)) != Some(*total_t) {
                    return Err(replay(ReplayMismatch::AllocationSum {
                        company: company.clone(),
                        year: *year,
                        sum_t: sum.unwrap_or(u64::MAX),
                        deduction_t: *deduction_t,
                        total_t: *total_t,
                    }));
                }
                let key = (plan.clone(), company.clone(), *year, *stage);
                if self.allocations.contains_key(&key) {
                    return Err(MarketError::AlreadyAllocated {
                        plan: plan.clone(),
                        company: company.clone(),
                        year: *year,
                        stage: *stage,
                    });
                }
                self.allocations.insert(
                    key,
                    AllocationEntry {
                        units: units.clone(),
                        deduction_t: *deduction_t,
                        total_t: *total_t,
                    },
                );
                // The allocation of a year, for position limits: final once trued up, else pre.
                let annual = self
                    .annual_allocation
                    .entry((company.clone(), *year))
                    .or_insert(0);
                if *stage == crate::Stage::Final || *annual == 0 {
                    *annual = *total_t;
                }
            }
            Event::Registry { seq, request } => {
                let outcome = self.registry.execute(request.clone())?;
                if outcome != Outcome::Done(*seq) {
                    return Err(replay(ReplayMismatch::RegistrySeq {
                        seq: *seq,
                        got: outcome.seq(),
                    }));
                }
                if let Op::Surrender {
                    class,
                    quantity,
                    purpose,
                    ..
                } = &request.op
                {
                    let company = ets_types::CompanyId::parse(&purpose.company).map_err(|_| {
                        replay(ReplayMismatch::SurrenderCompany {
                            company: purpose.company.clone(),
                        })
                    })?;
                    self.surrendered
                        .entry((purpose.cycle.clone(), company))
                        .or_default()
                        .add(*class, *quantity);
                }
            }
            Event::AccountStatusChanged { account, status } => {
                self.registry.set_status(*account, *status)?
            }
            Event::ProjectRegistered {
                project,
                number,
                name,
                province,
                kind,
                account,
                on,
            } => {
                if self.projects.contains_key(project) || self.project_numbers.contains_key(number)
                {
                    return Err(MarketError::Duplicate {
                        what: crate::Registered::Project,
                        id: project.to_string(),
                    });
                }
                let id =
                    self.registry
                        .open_account(AccountKind::OffsetProject, project.as_str(), *on);
                if id != *account {
                    return Err(account_mismatch(project.as_str(), id, *account));
                }
                self.project_numbers.insert(*number, project.clone());
                self.projects.insert(
                    project.clone(),
                    ProjectEntry {
                        number: *number,
                        name: name.clone(),
                        province: province.clone(),
                        kind: kind.clone(),
                        account: id,
                    },
                );
            }
            Event::HolderRegistered {
                holder,
                account,
                on,
            } => {
                if self.holders.contains_key(holder) {
                    return Err(MarketError::Duplicate {
                        what: crate::Registered::Holder,
                        id: holder.clone(),
                    });
                }
                let id = self
                    .registry
                    .open_account(AccountKind::GeneralHolding, holder, *on);
                if id != *account {
                    return Err(account_mismatch(holder, id, *account));
                }
                self.holders.insert(holder.clone(), id);
            }
            Event::CompanyExempted {
                plan,
                company,
                reason,
            } => {
                self.company_entry(company)?;
                let key = (plan.clone(), company.clone());
                if self.exempted.contains_key(&key) {
                    return Err(MarketError::Exempted {
                        plan: plan.clone(),
                        company: company.clone(),
                    });
                }
                self.exempted.insert(key, reason.clone());
            }
            Event::ExchangeOpened { source, toml } => {
                if self.exchange.is_some() {
                    return Err(MarketError::ExchangeExists);
                }
                let rules = crate::trading::config::MarketRules::from_toml_str(toml, source)
                    .map_err(crate::market_file_error)?;
                self.exchange = Some(crate::trading::exchange::Exchange::new(rules)?);
            }
            Event::Exchange {
                input,
                trades,
                released,
            } => {
                let got = self.apply_exchange(input)?;
                if got != *trades {
                    return Err(replay(ReplayMismatch::Trades {
                        op: input.name(),
                        got: got.len(),
                        journal: trades.len(),
                    }));
                }
                if let Some(journal) = released {
                    let got = self.exchange.as_ref().map_or(&[][..], |e| e.last_close());
                    if got != journal.as_slice() {
                        return Err(replay(ReplayMismatch::Releases {
                            got: got.len(),
                            journal: journal.len(),
                        }));
                    }
                }
            }
            Event::CycleAssessed { plan, on, results } => {
                if self.assessed.contains_key(plan) {
                    return Err(MarketError::AlreadyAssessed(plan.clone()));
                }
                self.assessed.insert(plan.clone(), (*on, results.clone()));
            }
        }
        Ok(())
    }
}
