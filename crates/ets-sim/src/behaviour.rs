//! The behaviour model: what a company does with its position.
//!
//! Each company has fixed traits for the cycle (banks its surplus or sells part of it; how
//! large a part; whether its cash runs short when its gap is large and how much of the gap it
//! then covers; whether it buys offsets first; whether it ignores the deadline; whether it
//! leaves the market before the deadline). Traits are drawn from a ChaCha8 stream seeded by the
//! model seed and the company id, so they do not depend on the order in which the caller asks,
//! and `trading_intent` and `surrender_t` agree about the same company.
//!
//! Nothing here targets a completion rate: partial and missing surrenders come from cash
//! constraints, deadline-ignorers and a thin market, and the rate is whatever a run yields.

use std::collections::BTreeMap;

use ets_types::CompanyId;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::BehaviourConfig;
use crate::draw::{seed_for, uniform};

/// A company's position as the caller's market sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanyPosition {
    pub company: CompanyId,
    pub province: String,
    /// Allowances it must hand in for the cycle (after any caps and reliefs), tonnes.
    pub obligation_t: u64,
    /// Allowances it was allocated for the cycle, tonnes.
    pub allocation_t: u64,
    /// Allowances eligible for this cycle it holds now, tonnes.
    pub holdings_t: u64,
    /// Offset credits eligible for this cycle it holds now, tonnes.
    pub offsets_held_t: u64,
}

/// What a company wants to do in the market now. At most one of `sell_t` and
/// `buy_t + buy_offsets_t` is non-zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TradingIntent {
    pub sell_t: u64,
    pub buy_t: u64,
    pub buy_offsets_t: u64,
}

/// The fixed traits of one company for the cycle. Uniform draws are kept raw where the
/// threshold depends on the position (gap share, size).
#[derive(Clone, Copy, Debug)]
struct Traits {
    exempt: bool,
    bank_all: bool,
    sell_fraction: f64,
    constrained_draw: f64,
    cover: f64,
    offset_user: bool,
    ignore_draw: f64,
}

/// A seeded model of company behaviour.
#[derive(Clone, Debug)]
pub struct BehaviourModel {
    seed: u64,
    cfg: BehaviourConfig,
    traits: BTreeMap<CompanyId, Traits>,
}

impl BehaviourModel {
    pub fn new(seed: u64, cfg: &BehaviourConfig) -> Self {
        BehaviourModel {
            seed,
            cfg: cfg.clone(),
            traits: BTreeMap::new(),
        }
    }

    fn traits(&mut self, company: &CompanyId) -> Traits {
        let (seed, cfg) = (self.seed, &self.cfg);
        *self.traits.entry(company.clone()).or_insert_with(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed_for(seed, company.as_str()));
            // Fixed draw order: adding a trait at the end keeps the earlier ones.
            Traits {
                exempt: uniform(&mut rng, 0.0, 1.0) < cfg.exempt_share,
                bank_all: uniform(&mut rng, 0.0, 1.0) < cfg.bank_all_share,
                sell_fraction: uniform(&mut rng, cfg.sell_fraction_min, cfg.sell_fraction_max),
                constrained_draw: uniform(&mut rng, 0.0, 1.0),
                cover: uniform(&mut rng, cfg.cover_min, cfg.cover_max),
                offset_user: uniform(&mut rng, 0.0, 1.0) < cfg.offset_user_share,
                ignore_draw: uniform(&mut rng, 0.0, 1.0),
            }
        })
    }

    /// Whether the company leaves the cycle before the deadline (closed, merged, deregistered):
    /// the caller waives its obligation and counts it neither complied nor failed. Drawn here
    /// so that one seed yields a whole cycle.
    pub fn exempt(&mut self, p: &CompanyPosition) -> bool {
        self.traits(&p.company).exempt
    }

    /// Whether the company runs short of cash for its gap. Larger gaps (as a share of the
    /// obligation) are more often beyond a company's means.
    pub fn constrained(&mut self, p: &CompanyPosition) -> bool {
        let t = self.traits(&p.company);
        let gap = p.obligation_t.saturating_sub(p.allocation_t);
        if gap == 0 {
            return false;
        }
        let gap_share = gap as f64 / p.obligation_t as f64;
        t.constrained_draw
            < (self.cfg.constrained_base + self.cfg.constrained_per_gap * gap_share).min(1.0)
    }

    /// Whether the company lets the deadline pass without handing anything in. Small companies
    /// (often captive plants with no carbon desk) do so more often.
    pub fn ignores_deadline(&mut self, p: &CompanyPosition) -> bool {
        let t = self.traits(&p.company);
        let share = if p.obligation_t < self.cfg.small_obligation_t {
            self.cfg.ignore_share_small
        } else {
            self.cfg.ignore_share_large
        };
        t.ignore_draw < share
    }

    /// What the company wants to trade given its position now. A company in surplus offers part
    /// of the surplus (or banks it all); one in deficit bids for its gap, for a constrained one
    /// only the part it can pay, buying offsets first (up to `offset_limit_t` in all) if it is
    /// an offset user.
    pub fn trading_intent(&mut self, p: &CompanyPosition, offset_limit_t: u64) -> TradingIntent {
        let t = self.traits(&p.company);
        if t.exempt {
            return TradingIntent::default();
        }
        let offsets_usable = p.offsets_held_t.min(offset_limit_t);
        let covered = p.holdings_t.saturating_add(offsets_usable);
        if covered >= p.obligation_t {
            let keep = p.obligation_t - offsets_usable.min(p.obligation_t);
            let surplus = p.holdings_t.saturating_sub(keep);
            let sell_t = if t.bank_all {
                0
            } else {
                fraction_of(surplus, t.sell_fraction)
            };
            assert!(sell_t <= surplus);
            return TradingIntent {
                sell_t,
                ..TradingIntent::default()
            };
        }
        if self.ignores_deadline(p) {
            return TradingIntent::default();
        }
        let need = p.obligation_t - covered;
        let target = if self.constrained(p) {
            fraction_of(need, t.cover)
        } else {
            need
        };
        let buy_offsets_t = if t.offset_user {
            target.min(offset_limit_t.saturating_sub(offsets_usable))
        } else {
            0
        };
        let intent = TradingIntent {
            sell_t: 0,
            buy_t: target - buy_offsets_t,
            buy_offsets_t,
        };
        assert!(intent.buy_t + intent.buy_offsets_t <= need);
        intent
    }

    /// Allowances and offsets the company hands in: all it may use up to the obligation
    /// (offsets first, up to the limit), or nothing if it is exempt or ignores the deadline.
    pub fn surrender_plan(&mut self, p: &CompanyPosition, offset_limit_t: u64) -> (u64, u64) {
        let t = self.traits(&p.company);
        if t.exempt || self.ignores_deadline(p) {
            return (0, 0);
        }
        let offsets = p.offsets_held_t.min(offset_limit_t).min(p.obligation_t);
        let allowances = p.holdings_t.min(p.obligation_t - offsets);
        assert!(allowances + offsets <= p.obligation_t);
        (allowances, offsets)
    }

    /// Allowances the company hands in (≤ `holdings_t`). Assumes it also hands in its offsets
    /// up to the obligation: `offsets_held_t` should count only offsets usable this cycle
    /// (within the limit); use `surrender_plan` when that is not so.
    pub fn surrender_t(&mut self, p: &CompanyPosition) -> u64 {
        let (allowances, _) = self.surrender_plan(p, p.offsets_held_t);
        assert!(allowances <= p.holdings_t);
        allowances
    }

    /// Offset credits the company hands in (≤ `offsets_held_t`, ≤ `offset_limit_t`).
    pub fn surrender_offsets_t(&mut self, p: &CompanyPosition, offset_limit_t: u64) -> u64 {
        self.surrender_plan(p, offset_limit_t).1
    }
}

/// `floor(x × f)` for a fraction f in 0..=1, never above x.
fn fraction_of(x: u64, f: f64) -> u64 {
    ((x as f64 * f.clamp(0.0, 1.0)).floor() as u64).min(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(
        id: &str,
        obligation_t: u64,
        allocation_t: u64,
        holdings_t: u64,
    ) -> CompanyPosition {
        CompanyPosition {
            company: CompanyId::parse(id).unwrap(),
            province: "Shanxi".into(),
            obligation_t,
            allocation_t,
            holdings_t,
            offsets_held_t: 0,
        }
    }

    #[test]
    fn traits_do_not_depend_on_call_order() {
        let cfg = BehaviourConfig::default_cn_power();
        let ids: Vec<String> = (1..=300).map(|i| format!("SX{i:04}")).collect();
        let mut forward = BehaviourModel::new(9, &cfg);
        let mut backward = BehaviourModel::new(9, &cfg);
        let a: Vec<_> = ids
            .iter()
            .map(|id| forward.trading_intent(&position(id, 1_000_000, 900_000, 900_000), 50_000))
            .collect();
        let mut b: Vec<_> = ids
            .iter()
            .rev()
            .map(|id| backward.trading_intent(&position(id, 1_000_000, 900_000, 900_000), 50_000))
            .collect();
        b.reverse();
        assert_eq!(a, b);
    }

    #[test]
    fn surrender_never_exceeds_holdings_or_obligation() {
        let cfg = BehaviourConfig::default_cn_power();
        let mut m = BehaviourModel::new(1, &cfg);
        for i in 0..2000u64 {
            let mut p = position(
                &format!("GD{:04}", i % 9999 + 1),
                500_000 + i * 37,
                480_000,
                400_000 + i * 101,
            );
            p.offsets_held_t = i * 13;
            let (al, of) = m.surrender_plan(&p, 25_000);
            assert!(al <= p.holdings_t && of <= p.offsets_held_t.min(25_000));
            assert!(al + of <= p.obligation_t);
            assert!(m.surrender_t(&p) <= p.holdings_t);
        }
    }

    #[test]
    fn surplus_sells_and_deficit_buys() {
        let cfg = BehaviourConfig::default_cn_power();
        let mut m = BehaviourModel::new(3, &cfg);
        let (mut sellers, mut buyers) = (0, 0);
        for i in 1..=500 {
            let surplus = m.trading_intent(
                &position(&format!("JS{i:04}"), 1_000_000, 1_100_000, 1_100_000),
                50_000,
            );
            assert_eq!(surplus.buy_t + surplus.buy_offsets_t, 0);
            assert!(surplus.sell_t <= 100_000);
            sellers += u32::from(surplus.sell_t > 0);
            let deficit = m.trading_intent(
                &position(&format!("ZJ{i:04}"), 1_000_000, 900_000, 900_000),
                50_000,
            );
            assert_eq!(deficit.sell_t, 0);
            assert!(
                deficit.buy_offsets_t <= 50_000 && deficit.buy_t + deficit.buy_offsets_t <= 100_000
            );
            buyers += u32::from(deficit.buy_t + deficit.buy_offsets_t == 100_000);
        }
        // Most but not all sell; most but not all cover their gap in full.
        assert!((250..=450).contains(&sellers), "sellers {sellers}");
        assert!((300..=480).contains(&buyers), "buyers {buyers}");
    }
}
