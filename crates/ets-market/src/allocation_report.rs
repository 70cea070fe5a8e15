//! Per-unit allocation figures: what each generating unit was allocated, and why.
//!
//! [`Market::unit_allocations`] reads the tonnes from the recorded allocations (the
//! `AllocationRecorded` events: history, never recomputed) and explains each of them by running
//! the allocation functions of `ets-allocation` again on the adopted plan and the verified
//! figures of the accepted report, exactly as `PreAllocate` and `TrueUp` did. There is no second
//! formula here: benchmarks, factors and tonnes all come from [`ets_allocation::unit_allocation`]
//! and [`ets_allocation::unit_pre_allocation`].
//!
//! A report corrected and accepted again after an allocation keeps its earlier versions; the
//! figures are taken from the newest accepted version that reproduces the recorded tonnes, so
//! they explain what was allocated. When none does (the formulas changed since, or a later
//! correction), the newest accepted version is shown with [`StageFigures::reproduced`] false:
//! the recorded tonnes stand, and the difference is visible.

use ets_allocation::AllocationError;
use ets_policy::{CorrectionFactor, Plan};
use ets_types::{
    CompanyId, Cooling, Decimal, GeneratingUnit, Tonnes, UnitActivity, UnitCategory, UnitId, Year,
};
use serde::{Serialize, Serializer};

use crate::{AllocationEntry, Market, MarketError, Stage};

/// One company's allocation of one year under one plan, unit by unit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct CompanyYearAllocation {
    pub plan: String,
    pub company: CompanyId,
    /// The allocation year (the vintage of the allowances).
    pub year: Year,
    /// The recorded pre-allocation total; `None` when not pre-allocated.
    pub pre_t: Option<Tonnes>,
    /// The recorded final allocation, after [`Self::deduction_t`]; `None` until trued up.
    pub final_t: Option<Tonnes>,
    /// Penalty deduction (a shortfall of an earlier cycle) subtracted from the final allocation:
    /// `final_t = Σ units' final allocated_t − deduction_t`. It is the company's, not a unit's.
    pub deduction_t: Tonnes,
    /// Every unit that has a recorded pre-allocation or final allocation, in the company's order.
    pub units: Vec<UnitAllocationFigures>,
}

/// One generating unit's pre-allocation and final allocation of a year.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct UnitAllocationFigures {
    pub unit: UnitId,
    /// The plan file's key (`coal_above_300`, `gas`, ...).
    #[serde(serialize_with = "category_key")]
    pub category: UnitCategory,
    pub cooling: Cooling,
    pub capacity_mw: u32,
    /// `None`: the unit got no pre-allocation (no base-year data, e.g. commissioned later).
    #[serde(rename = "pre")]
    pub pre_allocation: Option<StageFigures>,
    /// `None`: not trued up yet (or no data of the year).
    #[serde(rename = "final")]
    pub final_allocation: Option<StageFigures>,
}

/// The recorded tonnes of a unit at one stage, with every input and factor that produced them.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct StageFigures {
    /// The tonnes recorded for the unit (the `AllocationRecorded` event): what the registry moved.
    pub allocated_t: Tonnes,
    /// The same computation run now on the figures below; equal to `allocated_t` when
    /// [`Self::reproduced`].
    pub computed_t: Tonnes,
    /// Whether these figures give the recorded tonnes.
    pub reproduced: bool,
    /// Year of the activity data: the plan's base year for a pre-allocation, else the year.
    pub activity_year: Year,
    /// Version of the accepted report whose verified figures are used.
    pub report_version: u32,
    /// Net power supplied, MWh.
    pub power_supplied_mwh: Decimal,
    /// Heat supplied, GJ.
    pub heat_supplied_gj: Decimal,
    /// Load (output) factor, fraction of rated output.
    pub load_factor: Decimal,
    /// `heat / (heat + k × power)`, the input of the heat-supply factor, unrounded.
    pub heat_supply_ratio: Decimal,
    /// The plan's supply benchmark of the unit's category for the allocation year, tCO2/MWh.
    pub supply_benchmark_t_per_mwh: Decimal,
    /// The plan's heat benchmark, tCO2/GJ.
    pub heat_benchmark_t_per_gj: Decimal,
    /// The pre-allocation share of the plan (0.70), or 1 for the final allocation.
    pub share: Decimal,
    /// The corrections applied at this stage to this unit; the others count as 1.
    pub factors_applied: Vec<CorrectionFactor>,
    /// Cooling factor, as used (rounded to the plan's factor decimals).
    pub cooling_factor: Decimal,
    /// Heat-supply (CHP) factor `1 − coefficient × ratio`, as used.
    pub heat_factor: Decimal,
    /// Load-factor correction, as used.
    pub load_factor_factor: Decimal,
    /// `power × supply benchmark × factors × share`, tCO2, unrounded.
    pub supply_t: Decimal,
    /// `heat × heat benchmark × share`, tCO2, unrounded.
    pub heat_t: Decimal,
}

fn category_key<S: Serializer>(c: &UnitCategory, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.key())
}

impl Market {
    /// The per-unit figures of every recorded allocation, by plan, company and year; only `plan`
    /// and only `company` when given. A company without recorded allocations gives nothing.
    ///
    /// # Errors
    /// An unknown plan or company; [`MarketError::Allocation`] when the recorded plan and report
    /// no longer compute (only a change of the formulas can do that).
    pub fn unit_allocations(
        &self,
        plan: Option<&str>,
        company: Option<&CompanyId>,
    ) -> Result<Vec<CompanyYearAllocation>, MarketError> {
        if let Some(p) = plan {
            self.plan_entry(p)?;
        }
        if let Some(c) = company {
            self.company_entry(c)?;
        }
        let mut out: Vec<CompanyYearAllocation> = Vec::new();
        for ((p, c, year, stage), entry) in &self.allocations {
            if plan.is_some_and(|want| want != p) || company.is_some_and(|want| want != c) {
                continue;
            }
            let adopted = &self.plan_entry(p)?.plan;
            // Keys are ordered (plan, company, year, stage): Pre comes just before Final.
            let same = out
                .last()
                .is_some_and(|s| s.plan == *p && s.company == *c && s.year == *year);
            if !same {
                out.push(CompanyYearAllocation {
                    plan: p.clone(),
                    company: c.clone(),
                    year: *year,
                    pre_t: None,
                    final_t: None,
                    deduction_t: 0,
                    units: Vec::new(),
                });
            }
            let Some(sheet) = out.last_mut() else {
                continue;
            };
            let figures = self.stage_figures(adopted, c, *year, *stage, entry)?;
            match stage {
                Stage::Pre => sheet.pre_t = Some(entry.total_t),
                Stage::Final => {
                    sheet.final_t = Some(entry.total_t);
                    sheet.deduction_t = entry.deduction_t;
                }
            }
            for (unit, f) in figures {
                let i = match sheet.units.iter().position(|u| u.unit == unit.id) {
                    Some(i) => i,
                    None => {
                        sheet.units.push(UnitAllocationFigures {
                            unit: unit.id.clone(),
                            category: unit.category,
                            cooling: unit.cooling,
                            capacity_mw: unit.capacity_mw,
                            pre_allocation: None,
                            final_allocation: None,
                        });
                        sheet.units.len() - 1
                    }
                };
                match stage {
                    Stage::Pre => sheet.units[i].pre_allocation = Some(f),
                    Stage::Final => sheet.units[i].final_allocation = Some(f),
                }
            }
        }
        for sheet in &mut out {
            let order = self.companies.get(&sheet.company).map(|e| &e.units);
            sheet
                .units
                .sort_by_key(|u| order.and_then(|o| o.iter().position(|id| *id == u.unit)));
        }
        Ok(out)
    }

    /// The figures of each unit of one recorded allocation.
    fn stage_figures(
        &self,
        plan: &Plan,
        company: &CompanyId,
        year: Year,
        stage: Stage,
        entry: &AllocationEntry,
    ) -> Result<Vec<(&GeneratingUnit, StageFigures)>, MarketError> {
        let activity_year = match stage {
            Stage::Pre => plan.allocation.pre_allocation.base_year,
            Stage::Final => year,
        };
        let history = self
            .mrv
            .get(&(company.clone(), activity_year))
            .map_or(&[][..], |m| m.history(company, activity_year));
        // Newest first: the version the allocation used is the newest accepted one at the time.
        let accepted: Vec<&ets_mrv::Report> = history
            .iter()
            .rev()
            .filter(|r| r.status == ets_mrv::ReportStatus::Accepted)
            .collect();
        // The newest version's figures stand when no version reproduces the recorded tonnes.
        let mut newest = None;
        for report in accepted {
            let figures = self.figures_from(plan, company, year, stage, entry, report);
            if matches!(&figures, Ok(f) if f.iter().all(|(_, f)| f.reproduced)) {
                return figures;
            }
            newest.get_or_insert(figures);
        }
        newest.unwrap_or_else(|| {
            Err(MarketError::NoAcceptedReport {
                company: company.clone(),
                year: activity_year,
            })
        })
    }

    /// Runs the allocation function of `stage` for every unit of `entry` on one report version.
    fn figures_from<'a>(
        &'a self,
        plan: &Plan,
        company: &CompanyId,
        year: Year,
        stage: Stage,
        entry: &AllocationEntry,
        report: &ets_mrv::Report,
    ) -> Result<Vec<(&'a GeneratingUnit, StageFigures)>, MarketError> {
        let policy = &plan.allocation;
        let err = |source: AllocationError| MarketError::Allocation {
            company: company.clone(),
            source,
        };
        // The verified figures where the verifier gave some, else the reported ones: the
        // activity `PreAllocate` and `TrueUp` allocate from (`Market::accepted_activity`).
        let activity: &[UnitActivity] = report
            .verification
            .as_ref()
            .map_or(&report.units[..], |v| &v.units[..]);
        let mut out = Vec::with_capacity(entry.units.len());
        for (id, allocated_t) in &entry.units {
            let unit = self
                .units
                .get(id)
                .ok_or_else(|| MarketError::UnknownUnit(id.clone()))?;
            let a = activity.iter().find(|a| a.unit == *id).ok_or_else(|| {
                err(AllocationError::MissingActivity {
                    company: company.clone(),
                    unit: id.clone(),
                })
            })?;
            let (computed, share, listed) = match stage {
                Stage::Pre => (
                    ets_allocation::unit_pre_allocation(unit, a, year, policy),
                    policy.pre_allocation.share,
                    &policy.pre_allocation.factors[..],
                ),
                Stage::Final => (
                    ets_allocation::unit_allocation(unit, a, year, policy),
                    Decimal::ONE,
                    &ALL_FACTORS[..],
                ),
            };
            let computed = computed.map_err(err)?;
            let benchmark =
                policy
                    .benchmark(unit.category, year)
                    .ok_or_else(|| AllocationError::NoBenchmark {
                        unit: id.clone(),
                        category: unit.category.key(),
                        year,
                    });
            let benchmark = benchmark.map_err(err)?;
            let heat_supply_ratio = ets_allocation::heat_supply_ratio(a, policy)
                .ok_or_else(|| err(AllocationError::Overflow { unit: id.clone() }))?;
            // The load-factor correction is listed only where the plan corrects the category,
            // as `ets_allocation` applies it.
            let factors_applied = listed
                .iter()
                .copied()
                .filter(|f| {
                    *f != CorrectionFactor::LoadFactor
                        || policy.load_factor.applies_to(unit.category)
                })
                .collect();
            out.push((
                unit,
                StageFigures {
                    allocated_t: *allocated_t,
                    computed_t: computed.total_t,
                    reproduced: computed.total_t == *allocated_t,
                    activity_year: a.year,
                    report_version: report.version,
                    power_supplied_mwh: a.power_supplied_mwh,
                    heat_supplied_gj: a.heat_supplied_gj,
                    load_factor: a.load_factor,
                    heat_supply_ratio,
                    supply_benchmark_t_per_mwh: benchmark.supply_t_per_mwh,
                    heat_benchmark_t_per_gj: benchmark.heat_t_per_gj,
                    share,
                    factors_applied,
                    cooling_factor: computed.cooling_factor,
                    heat_factor: computed.heat_factor,
                    load_factor_factor: computed.load_factor_factor,
                    supply_t: computed.supply_t,
                    heat_t: computed.heat_t,
                },
            ));
        }
        Ok(out)
    }
}

/// The corrections of a final allocation: [`ets_allocation::unit_allocation`] applies all three.
const ALL_FACTORS: [CorrectionFactor; 3] = [
    CorrectionFactor::Cooling,
    CorrectionFactor::HeatSupply,
    CorrectionFactor::LoadFactor,
];

#[cfg(test)]
mod tests {
    use ets_types::{Company, Date, FuelUse, ReportInput, VerificationInput};

    use super::*;
    use crate::{Command, Envelope};

    const PLAN: &str = "cn-power-2019-2020";

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }
    fn cid() -> CompanyId {
        CompanyId::parse("SX0002").unwrap()
    }
    fn uid(s: &str) -> UnitId {
        UnitId::parse(s).unwrap()
    }

    fn run(m: &mut Market, date: &str, command: Command) {
        let env = Envelope {
            date: Date::parse(date).unwrap(),
            initiator: "test".into(),
            key: None,
            reason: "test".into(),
            command,
        };
        m.execute(&env).unwrap();
    }

    /// A unit's activity: what allocation reads (power, heat, load factor) and one fuel.
    fn activity(unit: &str, year: Year, mwh: &str, gj: &str, lf: &str) -> UnitActivity {
        UnitActivity {
            unit: uid(unit),
            year,
            fuels: vec![FuelUse {
                fuel: "bituminous_coal".into(),
                consumption: dec("500000"),
                ncv_gj: None,
                carbon_content_tc_per_gj: None,
                elemental_carbon: None,
                oxidation_rate: None,
            }],
            purchased_electricity_mwh: Decimal::ZERO,
            power_supplied_mwh: dec(mwh),
            heat_supplied_gj: dec(gj),
            load_factor: dec(lf),
        }
    }

    /// Submits, verifies (with `verified` figures when given) and accepts a report.
    fn report(
        m: &mut Market,
        year: Year,
        units: Vec<UnitActivity>,
        verified: Option<Vec<UnitActivity>>,
    ) {
        let company = cid();
        run(
            m,
            "2021-01-10",
            Command::SubmitReport {
                report: ReportInput {
                    company: company.clone(),
                    year,
                    units,
                },
            },
        );
        let verification = VerificationInput {
            company: company.clone(),
            year,
            verifier: "V".into(),
            units: verified,
            findings: vec![],
        };
        run(m, "2021-01-11", Command::VerifyReport { verification });
        run(m, "2021-01-12", Command::AcceptReport { company, year });
    }

    /// SX0002 of `examples/`: G1 a CHP unit (coal ≤ 300 MW, air-cooled), G2 unconventional coal
    /// (water-cooled, no load-factor correction); pre-allocated from 2018 and trued up.
    fn market() -> Market {
        let mut m = Market::new(Date::parse("2021-01-01").unwrap());
        let toml = Plan::builtin_text(PLAN).unwrap().to_string();
        run(
            &mut m,
            "2021-01-04",
            Command::AdoptPlan {
                source: "plan".into(),
                toml,
            },
        );
        let unit = |id: &str, category, capacity_mw, cooling| GeneratingUnit {
            id: uid(id),
            company: cid(),
            category,
            capacity_mw,
            cooling,
        };
        let company = Company {
            id: cid(),
            name: "Datong Thermal".into(),
            province: "Shanxi".into(),
        };
        let units = vec![
            unit("SX0002-G1", UnitCategory::CoalUpTo300, 300, Cooling::Air),
            unit(
                "SX0002-G2",
                UnitCategory::CoalUnconventional,
                135,
                Cooling::Water,
            ),
        ];
        run(
            &mut m,
            "2021-01-05",
            Command::RegisterCompany { company, units },
        );
        let both = |year, g1: [&str; 3], g2: [&str; 3]| {
            vec![
                activity("SX0002-G1", year, g1[0], g1[1], g1[2]),
                activity("SX0002-G2", year, g2[0], g2[1], g2[2]),
            ]
        };
        report(
            &mut m,
            2018,
            both(
                2018,
                ["1420000", "4150000", "0.73"],
                ["715000", "0", "0.70"],
            ),
            None,
        );
        run(
            &mut m,
            "2021-01-29",
            Command::PreAllocate {
                plan: PLAN.into(),
                company: cid(),
            },
        );
        // 2019: the verifier corrects G1's power from 1,470,000 to 1,465,000 MWh; the
        // allocation uses the verified figure.
        report(
            &mut m,
            2019,
            both(
                2019,
                ["1470000", "4320000", "0.75"],
                ["738000", "0", "0.72"],
            ),
            Some(both(
                2019,
                ["1465000", "4320000", "0.75"],
                ["738000", "0", "0.72"],
            )),
        );
        report(
            &mut m,
            2020,
            both(
                2020,
                ["1398000", "4480000", "0.72"],
                ["702000", "0", "0.69"],
            ),
            None,
        );
        run(
            &mut m,
            "2021-09-30",
            Command::TrueUp {
                plan: PLAN.into(),
                company: cid(),
            },
        );
        m
    }

    /// SX0002-G1 in 2019, by hand from `policies/cn-power-2019-2020.toml` (coal ≤ 300 MW: supply
    /// 0.979 t/MWh, heat 0.126 t/GJ; air cooling 1.05; heat coefficient 0.22 with 3.6 GJ/MWh;
    /// factors rounded half up to 4 decimals; pre-allocation 0.70 × base-year output with cooling
    /// and heat supply only):
    ///
    /// Pre-allocation, from 2018 (1,420,000 MWh, 4,150,000 GJ, F = 0.73 unused):
    ///   ratio = 4,150,000 / (4,150,000 + 3.6 × 1,420,000) = 4,150,000 / 9,262,000 = 0.448067…
    ///   heat factor = 1 − 0.22 × 0.448067… = 0.901425… → 0.9014
    ///   supply = 1,420,000 × 0.979 × 1.05 × 0.9014 × 0.70 = 921,034.56522
    ///   heat   = 4,150,000 × 0.126 × 0.70 = 366,030
    ///   total  = 1,287,064.56522 → 1,287,065 t
    /// Final, from the verified 2019 figures (1,465,000 MWh, 4,320,000 GJ, F = 0.75):
    ///   ratio = 4,320,000 / (4,320,000 + 5,274,000) = 0.450281… → factor 1 − 0.099061… → 0.9009
    ///   load factor 0.75 (band 75–80 %): 1.007 + 0.0016 × (80 − 75) = 1.015
    ///   supply = 1,465,000 × 0.979 × 1.05 × 0.9009 × 1.015 = 1,377,058.038481125
    ///   heat   = 4,320,000 × 0.126 = 544,320
    ///   total  = 1,921,378.038481125 → 1,921,378 t
    /// SX0002-G2 (unconventional coal, water, no heat, no load-factor correction):
    ///   pre 715,000 × 1.146 × 0.70 = 573,573 t; final 738,000 × 1.146 = 845,748 t.
    #[test]
    fn one_unit_by_hand() {
        let m = market();
        let sheets = m.unit_allocations(Some(PLAN), Some(&cid())).unwrap();
        assert_eq!(
            sheets.iter().map(|s| s.year).collect::<Vec<_>>(),
            [2019, 2020]
        );
        let s = &sheets[0];
        let g1 = &s.units[0];
        assert_eq!(
            (g1.unit.as_str(), g1.category, g1.cooling),
            ("SX0002-G1", UnitCategory::CoalUpTo300, Cooling::Air)
        );

        let pre = g1.pre_allocation.as_ref().unwrap();
        assert_eq!(pre.activity_year, 2018);
        assert_eq!(pre.report_version, 1);
        assert_eq!(
            (
                pre.power_supplied_mwh,
                pre.heat_supplied_gj,
                pre.load_factor
            ),
            (dec("1420000"), dec("4150000"), dec("0.73"))
        );
        assert_eq!(
            (pre.supply_benchmark_t_per_mwh, pre.heat_benchmark_t_per_gj),
            (dec("0.979"), dec("0.126"))
        );
        assert_eq!(pre.share, dec("0.70"));
        assert_eq!(
            pre.factors_applied,
            [CorrectionFactor::Cooling, CorrectionFactor::HeatSupply]
        );
        assert_eq!(pre.heat_supply_ratio.round_dp(6), dec("0.448067"));
        assert_eq!(
            (pre.cooling_factor, pre.heat_factor, pre.load_factor_factor),
            (dec("1.05"), dec("0.9014"), dec("1"))
        );
        assert_eq!(
            (pre.supply_t, pre.heat_t),
            (dec("921034.56522"), dec("366030"))
        );
        assert_eq!(
            (pre.allocated_t, pre.computed_t, pre.reproduced),
            (1_287_065, 1_287_065, true)
        );

        let fin = g1.final_allocation.as_ref().unwrap();
        assert_eq!((fin.activity_year, fin.report_version), (2019, 1));
        assert_eq!(
            fin.power_supplied_mwh,
            dec("1465000"),
            "the verified figure, not the reported one"
        );
        assert_eq!(
            (fin.heat_supplied_gj, fin.load_factor),
            (dec("4320000"), dec("0.75"))
        );
        assert_eq!(fin.share, Decimal::ONE);
        assert_eq!(fin.factors_applied, ALL_FACTORS);
        assert_eq!(
            (fin.cooling_factor, fin.heat_factor, fin.load_factor_factor),
            (dec("1.05"), dec("0.9009"), dec("1.015"))
        );
        assert_eq!(
            (fin.supply_t, fin.heat_t),
            (dec("1377058.038481125"), dec("544320"))
        );
        assert_eq!(
            (fin.allocated_t, fin.computed_t, fin.reproduced),
            (1_921_378, 1_921_378, true)
        );

        let g2 = &s.units[1];
        let (pre2, fin2) = (
            g2.pre_allocation.as_ref().unwrap(),
            g2.final_allocation.as_ref().unwrap(),
        );
        assert_eq!((pre2.allocated_t, fin2.allocated_t), (573_573, 845_748));
        assert_eq!(
            fin2.factors_applied,
            [CorrectionFactor::Cooling, CorrectionFactor::HeatSupply],
            "no load-factor correction for unconventional coal"
        );
        assert_eq!(fin2.load_factor_factor, Decimal::ONE);

        // The company's totals are the registry's, and the sums of its units.
        assert_eq!(s.pre_t, Some(1_287_065 + 573_573));
        assert_eq!(s.final_t, Some(1_921_378 + 845_748));
        for s in &sheets {
            assert_eq!(s.pre_t, m.allocation(PLAN, &cid(), s.year, Stage::Pre));
            assert_eq!(s.final_t, m.allocation(PLAN, &cid(), s.year, Stage::Final));
            let pre: Tonnes = s
                .units
                .iter()
                .filter_map(|u| u.pre_allocation.as_ref())
                .map(|f| f.allocated_t)
                .sum();
            let fin: Tonnes = s
                .units
                .iter()
                .filter_map(|u| u.final_allocation.as_ref())
                .map(|f| f.allocated_t)
                .sum();
            assert_eq!((Some(pre), Some(fin - s.deduction_t)), (s.pre_t, s.final_t));
        }
    }

    /// A report corrected and accepted again after the true-up: the figures still explain the
    /// recorded tonnes (from version 1); recorded tonnes that no version gives are flagged.
    #[test]
    fn later_corrections_and_differences_are_shown() {
        let mut m = market();
        let before = m.unit_allocations(Some(PLAN), Some(&cid())).unwrap();
        // Version 2 of 2019 raises G1's power after the true-up; the allocation stays as recorded.
        let units = vec![
            activity("SX0002-G1", 2019, "1500000", "4320000", "0.75"),
            activity("SX0002-G2", 2019, "738000", "0", "0.72"),
        ];
        let report = ReportInput {
            company: cid(),
            year: 2019,
            units,
        };
        run(
            &mut m,
            "2021-10-01",
            Command::CorrectReport {
                report,
                reason: "meter".into(),
            },
        );
        let verification = VerificationInput {
            company: cid(),
            year: 2019,
            verifier: "V".into(),
            units: None,
            findings: vec![],
        };
        run(&mut m, "2021-10-02", Command::VerifyReport { verification });
        run(
            &mut m,
            "2021-10-03",
            Command::AcceptReport {
                company: cid(),
                year: 2019,
            },
        );
        assert_eq!(m.accepted_report(&cid(), 2019).unwrap().version, 2);
        let after = m.unit_allocations(Some(PLAN), Some(&cid())).unwrap();
        assert_eq!(
            after, before,
            "version 1 still explains the recorded tonnes"
        );
        assert_eq!(
            after[0].units[0]
                .final_allocation
                .as_ref()
                .unwrap()
                .report_version,
            1
        );

        // Recorded tonnes that no accepted version gives: the newest version's figures, flagged.
        let key = (PLAN.to_string(), cid(), 2019, Stage::Final);
        m.allocations.get_mut(&key).unwrap().units[0].1 += 1;
        let odd = m.unit_allocations(Some(PLAN), Some(&cid())).unwrap();
        let fin = odd[0].units[0].final_allocation.as_ref().unwrap();
        assert_eq!(
            (fin.allocated_t, fin.reproduced, fin.report_version),
            (1_921_379, false, 2)
        );
        assert_eq!(fin.power_supplied_mwh, dec("1500000"));
        assert_ne!(fin.computed_t, fin.allocated_t);
    }

    /// A shortfall of 2019–20 is deducted from the 2021–22 final allocations: the units keep
    /// their gross tonnes, the company's total is their sum minus the deduction.
    #[test]
    fn a_deduction_is_the_companys_not_a_units() {
        let mut m = market();
        // Nothing surrendered: the whole obligation is short, deducted from the next allocation.
        run(
            &mut m,
            "2022-01-04",
            Command::AssessCycle { plan: PLAN.into() },
        );
        let decided: Tonnes = m.assessed[PLAN]
            .1
            .iter()
            .filter_map(|r| r.penalty)
            .map(|p| p.deduction_t)
            .sum();
        assert!(decided > 0);
        let next = "cn-power-2021-2022";
        let toml = Plan::builtin_text(next).unwrap().to_string();
        run(
            &mut m,
            "2022-01-05",
            Command::AdoptPlan {
                source: "plan".into(),
                toml,
            },
        );
        for year in [2021, 2022] {
            let units = vec![
                activity("SX0002-G1", year, "1400000", "4300000", "0.74"),
                activity("SX0002-G2", year, "720000", "0", "0.71"),
            ];
            report(&mut m, year, units, None);
            if year == 2021 {
                run(
                    &mut m,
                    "2022-02-01",
                    Command::PreAllocate {
                        plan: next.into(),
                        company: cid(),
                    },
                );
            }
        }
        run(
            &mut m,
            "2023-09-30",
            Command::TrueUp {
                plan: next.into(),
                company: cid(),
            },
        );

        let sheets = m.unit_allocations(Some(next), None).unwrap();
        let mut deducted = 0;
        for s in &sheets {
            let gross: Tonnes = s
                .units
                .iter()
                .filter_map(|u| u.final_allocation.as_ref())
                .map(|f| f.allocated_t)
                .sum();
            assert!(
                s.units
                    .iter()
                    .flat_map(|u| &u.final_allocation)
                    .all(|f| f.reproduced)
            );
            assert_eq!(s.final_t, Some(gross - s.deduction_t));
            assert_eq!(s.final_t, m.allocation(next, &cid(), s.year, Stage::Final));
            deducted += s.deduction_t;
        }
        assert!(sheets[0].deduction_t > 0, "{sheets:?}");
        assert_eq!(deducted + m.pending_deduction(&cid()), decided);
    }

    #[test]
    fn unknown_plan_or_company_is_an_error_and_filters_apply() {
        let m = market();
        assert_eq!(
            m.unit_allocations(Some("no-such-plan"), None),
            Err(MarketError::UnknownPlan("no-such-plan".into()))
        );
        let other = CompanyId::parse("GD0001").unwrap();
        assert_eq!(
            m.unit_allocations(None, Some(&other)),
            Err(MarketError::UnknownCompany(other))
        );
        assert_eq!(
            m.unit_allocations(None, None).unwrap(),
            m.unit_allocations(Some(PLAN), Some(&cid())).unwrap()
        );
    }
}
