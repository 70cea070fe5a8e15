//! Random sequences of deposits, withdrawals, buy and sell freezes, releases, trades, registry
//! account freezes and day ends, against a reference model.
//!
//! Goal: after every step the real ledgers agree with a naive model on the outcome (accepted, or
//! which leg refused) and on every balance, freeze, holding and purchase of today; money and
//! units are conserved; no seller's freezes plus today's purchases exceed its holding (so no sale
//! goes beyond the tradable quantity); a refused step changes nothing at all.
//!
//! Method: three participants, each with a registry company account holding CEA allocated from
//! an issuance, run in both settlement modes with a random fee schedule. The model is plain
//! arrays and maps, and computes fees with a division and a remainder test rather than the
//! crate's half-up addition.

use std::collections::BTreeMap;

use ets_clearing::*;
use ets_registry::{AccountKind, AccountStatus, NATIONAL_QUOTA, Op, Registry};
use ets_types::AccountId;
use proptest::prelude::*;

use crate::{CEA, admin, day};

const N: usize = 3;

fn pid(i: usize) -> ParticipantId {
    ParticipantId(i as u32 + 1)
}

#[derive(Clone, Debug)]
enum Step {
    Deposit {
        p: usize,
        fen: u64,
    },
    /// `p == N` withdraws from the fee account.
    Withdraw {
        p: usize,
        fen: u64,
    },
    FreezeBuy {
        p: usize,
        limit: u64,
        qty: u64,
    },
    /// `fen == None` releases the whole freeze.
    ReleaseBuy {
        pick: usize,
        p: usize,
        fen: Option<u64>,
    },
    FreezeSell {
        p: usize,
        qty: u64,
    },
    ReleaseSell {
        pick: usize,
        p: usize,
        qty: Option<u64>,
    },
    /// The price is `price_pct` % of the buy order's limit (at least 1 fen), above it for 101..
    Trade {
        buy: usize,
        sell: usize,
        qty: u64,
        price_pct: u64,
    },
    FreezeAccount {
        p: usize,
        frozen: bool,
    },
    EndOfDay,
}

fn step() -> impl Strategy<Value = Step> {
    let p = 0..N;
    prop_oneof![
        3 => (p.clone(), 0..60_000u64).prop_map(|(p, fen)| Step::Deposit { p, fen }),
        1 => (0..=N, 0..30_000u64).prop_map(|(p, fen)| Step::Withdraw { p, fen }),
        3 => (p.clone(), 1..=100u64, 1..=60u64).prop_map(|(p, limit, qty)| Step::FreezeBuy { p, limit, qty }),
        1 => (any::<usize>(), p.clone(), prop::option::of(0..5_000u64)).prop_map(|(pick, p, fen)| Step::ReleaseBuy { pick, p, fen }),
        3 => (p.clone(), 0..=120u64).prop_map(|(p, qty)| Step::FreezeSell { p, qty }),
        1 => (any::<usize>(), p.clone(), prop::option::of(0..40u64)).prop_map(|(pick, p, qty)| Step::ReleaseSell { pick, p, qty }),
        6 => (any::<usize>(), any::<usize>(), 1..=60u64, 50..=103u64)
            .prop_map(|(buy, sell, qty, price_pct)| Step::Trade { buy, sell, qty, price_pct }),
        1 => (p, any::<bool>()).prop_map(|(p, frozen)| Step::FreezeAccount { p, frozen }),
        1 => Just(Step::EndOfDay),
    ]
}

/// The naive model. Index 0 of `available` is the fee account, `i + 1` participant `i`.
#[derive(Clone, Debug, Default)]
struct Model {
    available: [u64; N + 1],
    /// Open buy freezes: order → (participant, fen).
    buy: BTreeMap<u64, (usize, u64)>,
    /// Open sell freezes: order → (participant, t).
    sell: BTreeMap<u64, (usize, u64)>,
    holding: [u64; N],
    bought: [u64; N],
    account_frozen: [bool; N],
    deposited: u128,
    withdrawn: u128,
    pending: Vec<Trade>,
}

/// What the model says about a step: accepted, or the name of what refused it.
type Outcome = Result<(), &'static str>;

fn model_fee(value: u64, bps: u32, min: u64) -> u64 {
    let scaled = u128::from(value) * u128::from(bps);
    let (q, r) = (scaled / 10_000, scaled % 10_000);
    let rounded = if r * 2 >= 10_000 { q + 1 } else { q };
    u64::try_from(rounded).unwrap().max(min)
}

impl Model {
    fn frozen_fen(&self, i: usize) -> u64 {
        self.buy
            .values()
            .filter(|(p, _)| *p == i)
            .map(|(_, f)| f)
            .sum()
    }
    fn frozen_t(&self, i: usize) -> u64 {
        self.sell
            .values()
            .filter(|(p, _)| *p == i)
            .map(|(_, q)| q)
            .sum()
    }

    fn settle(&mut self, t: &Trade, fees: &FeeSchedule, accounts: &[AccountId; N]) -> Outcome {
        if t.price_fen_per_t > t.buy_limit_fen_per_t || t.buyer == t.seller {
            return Err("shape");
        }
        let b = (t.buyer.0 - 1) as usize;
        let s = (t.seller.0 - 1) as usize;
        assert_eq!(
            (accounts[b], accounts[s]),
            (t.buyer_account, t.seller_account)
        );
        let value = t.price_fen_per_t * t.quantity;
        let buyer_fee = model_fee(value, fees.buyer_bps, fees.min_fen);
        let seller_fee = model_fee(value, fees.seller_bps, fees.min_fen);
        let limit_value = t.buy_limit_fen_per_t * t.quantity;
        let owned = limit_value + model_fee(limit_value, fees.buyer_bps, fees.min_fen);
        match self.sell.get(&t.sell_order.0) {
            Some(&(owner, q)) if owner == s && q >= t.quantity => {}
            _ => return Err("units"),
        }
        if self.account_frozen[b] || self.account_frozen[s] || self.holding[s] < t.quantity {
            return Err("registry");
        }
        let cost = value + buyer_fee;
        let frozen = match self.buy.get(&t.buy_order.0) {
            Some(&(owner, f)) if owner == b && f >= cost && seller_fee <= value => f,
            _ => return Err("funds"),
        };
        // Both legs pass: apply them.
        self.holding[s] -= t.quantity;
        self.holding[b] += t.quantity;
        self.bought[b] += t.quantity;
        let left_t = self.sell[&t.sell_order.0].1 - t.quantity;
        if left_t == 0 {
            self.sell.remove(&t.sell_order.0);
        } else {
            self.sell.insert(t.sell_order.0, (s, left_t));
        }
        let release = owned.min(frozen) - cost;
        let left_fen = frozen - cost - release;
        if left_fen == 0 {
            self.buy.remove(&t.buy_order.0);
        } else {
            self.buy.insert(t.buy_order.0, (b, left_fen));
        }
        self.available[b + 1] += release;
        self.available[s + 1] += value - seller_fee;
        self.available[0] += buyer_fee + seller_fee;
        Ok(())
    }
}

fn settlement_tag(e: &SettlementError) -> &'static str {
    match e {
        SettlementError::ZeroQuantity { .. }
        | SettlementError::ZeroPrice { .. }
        | SettlementError::PriceAboveLimit { .. }
        | SettlementError::SelfTrade { .. } => "shape",
        SettlementError::AlreadySettled { .. } => "settled",
        SettlementError::Fees { .. } => "fees",
        SettlementError::Units { .. } => "units",
        SettlementError::Registry { .. } => "registry",
        SettlementError::Funds { .. } => "funds",
    }
}

struct Real {
    registry: Registry,
    funds: Funds,
    units: UnitFreezes,
    clearing: Clearing,
}

impl Real {
    fn snapshot(&self) -> (Registry, Funds, UnitFreezes, Clearing) {
        (
            self.registry.clone(),
            self.funds.clone(),
            self.units.clone(),
            self.clearing.clone(),
        )
    }
}

/// Runs one random history; panics (with the step) on the first disagreement.
fn run(mode: SettlementMode, fees: FeeSchedule, allocations: [u64; N], steps: Vec<Step>) {
    let mut registry = Registry::new(day());
    let accounts: [AccountId; N] = std::array::from_fn(|i| {
        registry.open_account(AccountKind::CompanyHolding, &format!("company {i}"), day())
    });
    let issued: u64 = 1_000;
    registry
        .execute(admin(Op::Issue {
            class: CEA,
            quantity: issued,
            to: NATIONAL_QUOTA,
        }))
        .unwrap();
    let mut m = Model::default();
    for i in 0..N {
        if allocations[i] > 0 {
            registry
                .execute(admin(Op::Allocate {
                    class: CEA,
                    quantity: allocations[i],
                    from: NATIONAL_QUOTA,
                    to: accounts[i],
                }))
                .unwrap();
        }
        m.holding[i] = allocations[i];
    }
    let mut funds = Funds::new();
    for i in 0..N {
        funds.open(pid(i)).unwrap();
    }
    let clearing = Clearing::new(mode, fees, 1_000).unwrap();
    let mut real = Real {
        registry,
        funds,
        units: UnitFreezes::new(),
        clearing,
    };

    let mut next_order = 1u64;
    let mut next_trade = 1u64;
    // Every buy order ever accepted: (order, owner, limit); every sell order: (order, owner).
    let mut buys: Vec<(u64, usize, u64)> = Vec::new();
    let mut sells: Vec<(u64, usize)> = Vec::new();

    for (n, step) in steps.into_iter().enumerate() {
        let before = real.snapshot();
        let r = &mut real;
        let (expected, actual): (Outcome, Outcome) = match step {
            Step::Deposit { p, fen } => {
                let e = if fen == 0 { Err("funds") } else { Ok(()) };
                if e.is_ok() {
                    m.available[p + 1] += fen;
                    m.deposited += u128::from(fen);
                }
                (
                    e,
                    r.funds.deposit(pid(p), fen).map(drop).map_err(|_| "funds"),
                )
            }
            Step::Withdraw { p, fen } => {
                let (who, slot) = if p == N {
                    (FEE_ACCOUNT, 0)
                } else {
                    (pid(p), p + 1)
                };
                let e = if fen == 0 || fen > m.available[slot] {
                    Err("funds")
                } else {
                    Ok(())
                };
                if e.is_ok() {
                    m.available[slot] -= fen;
                    m.withdrawn += u128::from(fen);
                }
                (e, r.funds.withdraw(who, fen).map(drop).map_err(|_| "funds"))
            }
            Step::FreezeBuy { p, limit, qty } => {
                let order = next_order;
                next_order += 1;
                let fen = limit * qty + model_fee(limit * qty, fees.buyer_bps, fees.min_fen);
                assert_eq!(fees.buy_freeze_fen(limit, qty), Ok(fen));
                let e = if fen > m.available[p + 1] {
                    Err("funds")
                } else {
                    Ok(())
                };
                if e.is_ok() {
                    m.available[p + 1] -= fen;
                    m.buy.insert(order, (p, fen));
                    buys.push((order, p, limit));
                }
                (
                    e,
                    r.funds
                        .freeze(pid(p), fen, OrderRef(order))
                        .map(drop)
                        .map_err(|_| "funds"),
                )
            }
            Step::ReleaseBuy { pick, p, fen } => {
                if buys.is_empty() {
                    continue;
                }
                let order = buys[pick % buys.len()].0;
                let open = m.buy.get(&order).copied();
                let fen = fen.unwrap_or(open.map_or(1, |(_, f)| f));
                let e = match open {
                    Some((owner, f)) if owner == p && fen > 0 && fen <= f => Ok(()),
                    _ => Err("funds"),
                };
                if e.is_ok() {
                    let f = m.buy[&order].1 - fen;
                    if f == 0 {
                        m.buy.remove(&order)
                    } else {
                        m.buy.insert(order, (p, f))
                    };
                    m.available[p + 1] += fen;
                }
                (
                    e,
                    r.funds
                        .release(pid(p), OrderRef(order), fen)
                        .map(drop)
                        .map_err(|_| "funds"),
                )
            }
            Step::FreezeSell { p, qty } => {
                let order = next_order;
                next_order += 1;
                let tradable = m.holding[p]
                    .saturating_sub(m.frozen_t(p))
                    .saturating_sub(m.bought[p]);
                assert_eq!(r.units.tradable_in(&r.registry, accounts[p], CEA), tradable);
                let e = if qty == 0 || qty > tradable {
                    Err("units")
                } else {
                    Ok(())
                };
                if e.is_ok() {
                    m.sell.insert(order, (p, qty));
                    sells.push((order, p));
                }
                (
                    e,
                    r.units
                        .freeze(&r.registry, OrderRef(order), accounts[p], CEA, qty)
                        .map(drop)
                        .map_err(|_| "units"),
                )
            }
            Step::ReleaseSell { pick, p, qty } => {
                if sells.is_empty() {
                    continue;
                }
                let order = sells[pick % sells.len()].0;
                let open = m.sell.get(&order).copied();
                let qty = qty.unwrap_or(open.map_or(1, |(_, q)| q));
                let e = match open {
                    Some((owner, q)) if owner == p && qty > 0 && qty <= q => Ok(()),
                    _ => Err("units"),
                };
                if e.is_ok() {
                    let q = m.sell[&order].1 - qty;
                    if q == 0 {
                        m.sell.remove(&order)
                    } else {
                        m.sell.insert(order, (p, q))
                    };
                }
                (
                    e,
                    r.units
                        .release(OrderRef(order), accounts[p], qty)
                        .map(drop)
                        .map_err(|_| "units"),
                )
            }
            Step::Trade {
                buy,
                sell,
                qty,
                price_pct,
            } => {
                if buys.is_empty() || sells.is_empty() {
                    continue;
                }
                let (buy_order, b, limit) = buys[buy % buys.len()];
                let mut sell_pick = sell % sells.len();
                // Keep some self-trades (refused), but mostly look for a counterparty.
                if sell % 4 != 0 {
                    let other = (0..sells.len())
                        .map(|k| (sell_pick + k) % sells.len())
                        .find(|&k| sells[k].1 != b);
                    sell_pick = other.unwrap_or(sell_pick);
                }
                let (sell_order, s) = sells[sell_pick];
                let price = (limit * price_pct / 100).max(1);
                let trade = Trade {
                    id: TradeId(next_trade),
                    date: day(),
                    class: CEA,
                    quantity: qty,
                    price_fen_per_t: price,
                    buyer: pid(b),
                    buyer_account: accounts[b],
                    buy_order: OrderRef(buy_order),
                    buy_limit_fen_per_t: limit,
                    seller: pid(s),
                    seller_account: accounts[s],
                    sell_order: OrderRef(sell_order),
                };
                next_trade += 1;
                let actual = r
                    .clearing
                    .submit(trade, &mut r.registry, &mut r.funds, &mut r.units);
                match mode {
                    SettlementMode::Immediate => {
                        let e = m.settle(&trade, &fees, &accounts);
                        let a = match actual {
                            Ok(Submitted::Settled(_)) => Ok(()),
                            Ok(Submitted::Queued) => panic!("immediate mode queued a trade"),
                            Err(SubmitError::Settlement(e)) => Err(settlement_tag(&e)),
                            Err(SubmitError::Queue(e)) => panic!("immediate mode queue error {e}"),
                        };
                        (e, a)
                    }
                    SettlementMode::EndOfDay => {
                        let e = if price > limit || b == s {
                            Err("shape")
                        } else {
                            Ok(())
                        };
                        if e.is_ok() {
                            m.pending.push(trade);
                        }
                        let a = match actual {
                            Ok(Submitted::Queued) => Ok(()),
                            Ok(Submitted::Settled(_)) => panic!("end-of-day mode settled at once"),
                            Err(SubmitError::Queue(QueueRejection::Invalid { source, .. })) => {
                                Err(settlement_tag(&source))
                            }
                            Err(e) => panic!("unexpected queue error {e}"),
                        };
                        (e, a)
                    }
                }
            }
            Step::FreezeAccount { p, frozen } => {
                let status = if frozen {
                    AccountStatus::Frozen
                } else {
                    AccountStatus::Open
                };
                m.account_frozen[p] = frozen;
                (
                    Ok(()),
                    r.registry
                        .set_status(accounts[p], status)
                        .map_err(|_| "registry"),
                )
            }
            Step::EndOfDay => {
                let report = r
                    .clearing
                    .end_of_day(&mut r.registry, &mut r.funds, &mut r.units);
                let mut failed = Vec::new();
                for t in std::mem::take(&mut m.pending) {
                    if let Err(tag) = m.settle(&t, &fees, &accounts) {
                        failed.push((t.id, tag));
                    }
                }
                m.bought = [0; N];
                let real_failed: Vec<_> = report
                    .failed
                    .iter()
                    .map(|f| (f.trade.id, settlement_tag(&f.error)))
                    .collect();
                assert_eq!(real_failed, failed, "step {n}: end-of-day failures");
                (Ok(()), Ok(()))
            }
        };
        assert_eq!(actual, expected, "step {n}");
        if actual.is_err() {
            let after = real.snapshot();
            assert!(after == before, "step {n}: a refused step changed state");
        }
        compare(n, &real, &m, &accounts, issued);
    }
    assert_eq!(
        Funds::replay(real.funds.entries()).as_ref(),
        Ok(&real.funds),
        "the funds journal replays"
    );
}

#[track_caller]
fn compare(n: usize, r: &Real, m: &Model, accounts: &[AccountId; N], issued: u64) {
    assert_eq!(
        r.funds.available(FEE_ACCOUNT),
        m.available[0],
        "step {n}: fee account"
    );
    for (i, &a) in accounts.iter().enumerate() {
        let p = pid(i);
        assert_eq!(
            (r.funds.available(p), r.funds.frozen(p)),
            (m.available[i + 1], m.frozen_fen(i)),
            "step {n}: funds of {p}"
        );
        let (holding, frozen, bought) = (
            r.registry.holding(a, CEA),
            r.units.frozen(a, CEA),
            r.units.bought_today(a, CEA),
        );
        assert_eq!(
            (holding, frozen, bought),
            (m.holding[i], m.frozen_t(i), m.bought[i]),
            "step {n}: units of {a}"
        );
        // The consistency that makes every sale a sale of tradable units.
        assert!(
            frozen + bought <= holding,
            "step {n}: {a} has {frozen} t frozen and {bought} t bought today of {holding} t"
        );
    }
    let buys: BTreeMap<u64, (usize, u64)> = r
        .funds
        .freezes()
        .map(|(o, f)| (o.0, ((f.participant.0 - 1) as usize, f.fen)))
        .collect();
    assert_eq!(buys, m.buy, "step {n}: buy freezes");
    let sells: BTreeMap<u64, (usize, u64)> = r
        .units
        .freezes()
        .map(|(o, f)| {
            (
                o.0,
                (
                    accounts.iter().position(|a| *a == f.account).unwrap(),
                    f.quantity,
                ),
            )
        })
        .collect();
    assert_eq!(sells, m.sell, "step {n}: sell freezes");

    let report = r
        .funds
        .check_invariants()
        .unwrap_or_else(|e| panic!("step {n}: {e}"));
    assert_eq!(
        (report.deposited_fen, report.withdrawn_fen),
        (m.deposited, m.withdrawn),
        "step {n}"
    );
    assert_eq!(
        report.total_fen,
        m.deposited - m.withdrawn,
        "step {n}: money conserved"
    );
    r.registry
        .check_invariants()
        .unwrap_or_else(|e| panic!("step {n}: {e}"));
    let held: u64 = accounts
        .iter()
        .map(|a| r.registry.holding(*a, CEA))
        .sum::<u64>()
        + r.registry.holding(NATIONAL_QUOTA, CEA);
    assert_eq!(held, issued, "step {n}: units conserved");
    r.units
        .check_invariants(&r.registry)
        .unwrap_or_else(|e| panic!("step {n}: {e}"));
    assert_eq!(
        r.clearing.pending().len(),
        m.pending.len(),
        "step {n}: pending trades"
    );
}

fn fee_schedule() -> impl Strategy<Value = FeeSchedule> {
    (0..=200u32, 0..=200u32, prop_oneof![Just(0u64), 1..=30u64]).prop_map(
        |(buyer_bps, seller_bps, min_fen)| FeeSchedule {
            buyer_bps,
            seller_bps,
            min_fen,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn immediate_settlement_matches_the_model(
        fees in fee_schedule(),
        allocations in [0..=300u64, 0..=300u64, 0..=300u64],
        steps in prop::collection::vec(step(), 1..80),
    ) {
        run(SettlementMode::Immediate, fees, allocations, steps);
    }

    #[test]
    fn end_of_day_settlement_matches_the_model(
        fees in fee_schedule(),
        allocations in [0..=300u64, 0..=300u64, 0..=300u64],
        steps in prop::collection::vec(step(), 1..80),
    ) {
        run(SettlementMode::EndOfDay, fees, allocations, steps);
    }
}
