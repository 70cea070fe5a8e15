//! Unit freezes for sell orders, and the units bought today (T+1 for resale).
//!
//! The registry records who holds which serials, and nothing else: it has no notion of units
//! promised to an open sell order. The exchange books those promises here, per registry account
//! and unit class, keyed by order reference. Units bought today are booked here too, because
//! DOMAIN §4 forbids selling them again before the next trading day; [`UnitFreezes::end_of_day`]
//! rolls them off.
//!
//! `tradable = holding − frozen − bought today`, where `holding` is the registry's. A sell order
//! may freeze at most what is tradable; settlement delivers only frozen units. Together these
//! keep every sale within the seller's tradable quantity.

use std::collections::BTreeMap;

use ets_registry::Registry;
use ets_types::{AccountId, Tonnes, UnitClass};
use serde::{Deserialize, Serialize};

use crate::OrderRef;

/// The units frozen for one open sell order.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct UnitFreeze {
    /// The seller's registry account.
    pub account: AccountId,
    pub class: UnitClass,
    /// Still frozen; the freeze is removed when it reaches 0.
    pub quantity: Tonnes,
}

/// An operation on the unit freezes, with every figure, so that it replays exactly.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum UnitOp {
    /// A sell order promises `quantity` of the account's tradable units.
    Freeze {
        order: OrderRef,
        account: AccountId,
        class: UnitClass,
        quantity: Tonnes,
    },
    /// The order was cancelled or expired (in whole or in part).
    Release {
        order: OrderRef,
        account: AccountId,
        quantity: Tonnes,
    },
    /// Settlement delivered `quantity` of the order's frozen units to a buyer.
    Consume {
        order: OrderRef,
        account: AccountId,
        class: UnitClass,
        quantity: Tonnes,
    },
    /// Settlement credited `quantity` to a buyer today: not for resale before the next day.
    Bought {
        account: AccountId,
        class: UnitClass,
        quantity: Tonnes,
    },
    /// The trading day is over: today's purchases become tradable.
    EndOfDay,
}

impl UnitOp {
    fn name(&self) -> &'static str {
        match self {
            UnitOp::Freeze { .. } => "unit freeze",
            UnitOp::Release { .. } => "unit release",
            UnitOp::Consume { .. } => "delivery",
            UnitOp::Bought { .. } => "purchase",
            UnitOp::EndOfDay => "end of day",
        }
    }
}

/// An accepted operation with its sequence number (from 1, without gaps).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct UnitEntry {
    pub seq: u64,
    pub op: UnitOp,
}

/// Why a unit-freeze operation was refused. Nothing changed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum UnitRejection {
    #[error("{op} quantity must be at least 1 t")]
    ZeroQuantity { op: String },
    #[error("{order} already has a unit freeze")]
    OrderExists { order: OrderRef },
    #[error("{order} has no unit freeze")]
    UnknownOrder { order: OrderRef },
    #[error("{order} freezes units of {owner} in {class}, not of {account} in {requested_class}")]
    OrderMismatch {
        order: OrderRef,
        owner: AccountId,
        class: UnitClass,
        account: AccountId,
        requested_class: UnitClass,
    },
    #[error("{account} has {tradable} t of {class} tradable, {requested} t requested")]
    ExceedsTradable {
        account: AccountId,
        class: UnitClass,
        tradable: Tonnes,
        requested: Tonnes,
    },
    #[error("{order} has {frozen} t frozen, {requested} t requested")]
    ExceedsFreeze {
        order: OrderRef,
        frozen: Tonnes,
        requested: Tonnes,
    },
    #[error("{op} overflows the unit counters")]
    Overflow { op: String },
}

/// What [`UnitFreezes::check_invariants`] counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UnitsReport {
    pub open_freezes: usize,
    pub frozen_t: u128,
    pub bought_today_t: u128,
    pub entries: u64,
}

/// A broken invariant of the unit freezes: a bug, or a registry movement that bypassed them.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum UnitsViolation {
    #[error("{account} {class}: {frozen} t frozen but its order freezes add up to {by_orders} t")]
    FrozenMismatch {
        account: AccountId,
        class: UnitClass,
        frozen: Tonnes,
        by_orders: u128,
    },
    #[error(
        "{account} {class}: {frozen} t frozen for sale but only {holding} t held in the registry"
    )]
    FrozenBeyondHolding {
        account: AccountId,
        class: UnitClass,
        frozen: Tonnes,
        holding: Tonnes,
    },
    #[error("an empty entry was kept ({what})")]
    Empty { what: String },
    #[error("entry {index}: sequence numbers must run 1, 2, 3, ... (found {found})")]
    Sequence { index: u64, found: u64 },
}

/// The unit freezes of open sell orders and today's purchases. `==` compares everything,
/// including the entry log.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct UnitFreezes {
    orders: BTreeMap<OrderRef, UnitFreeze>,
    /// Per (account, class): the sum of the order freezes, kept so `tradable` is one lookup.
    frozen: BTreeMap<(AccountId, UnitClass), Tonnes>,
    bought_today: BTreeMap<(AccountId, UnitClass), Tonnes>,
    entries: Vec<UnitEntry>,
}

/// `holding − frozen − bought_today`, never below zero.
///
/// In a consistent state `frozen + bought_today ≤ holding`, because freezes are capped at the
/// tradable quantity and settlement moves holding and freeze together. It can still fall below
/// when units bought today left the account by another route (a surrender may use them): the
/// saturation then says "nothing to sell", which is right.
fn tradable(holding: Tonnes, frozen: Tonnes, bought_today: Tonnes) -> Tonnes {
    holding.saturating_sub(frozen).saturating_sub(bought_today)
}

impl UnitFreezes {
    pub fn new() -> UnitFreezes {
        UnitFreezes::default()
    }

    /// What the account may still offer for sale, given its registry `holding` of the class.
    pub fn tradable(&self, account: AccountId, class: UnitClass, holding: Tonnes) -> Tonnes {
        tradable(
            holding,
            self.frozen(account, class),
            self.bought_today(account, class),
        )
    }

    /// [`UnitFreezes::tradable`] with the holding read from the registry.
    pub fn tradable_in(&self, registry: &Registry, account: AccountId, class: UnitClass) -> Tonnes {
        self.tradable(account, class, registry.holding(account, class))
    }

    /// Units of the class frozen for the account's open sell orders.
    pub fn frozen(&self, account: AccountId, class: UnitClass) -> Tonnes {
        self.frozen.get(&(account, class)).copied().unwrap_or(0)
    }
    /// Units of the class the account bought today.
    pub fn bought_today(&self, account: AccountId, class: UnitClass) -> Tonnes {
        self.bought_today
            .get(&(account, class))
            .copied()
            .unwrap_or(0)
    }
    /// The open freeze of a sell order; `None` once released or delivered in full.
    pub fn order_freeze(&self, order: OrderRef) -> Option<UnitFreeze> {
        self.orders.get(&order).copied()
    }
    pub fn freezes(&self) -> impl Iterator<Item = (OrderRef, UnitFreeze)> + '_ {
        self.orders.iter().map(|(o, f)| (*o, *f))
    }
    pub fn entries(&self) -> &[UnitEntry] {
        &self.entries
    }
    pub fn next_seq(&self) -> u64 {
        self.entries.len() as u64 + 1
    }

    /// Freezes units for a sell order, at most the account's tradable quantity.
    ///
    /// # Errors
    /// Zero quantity, an order already frozen, more than tradable.
    pub fn freeze(
        &mut self,
        registry: &Registry,
        order: OrderRef,
        account: AccountId,
        class: UnitClass,
        quantity: Tonnes,
    ) -> Result<UnitEntry, UnitRejection> {
        self.apply(
            registry,
            UnitOp::Freeze {
                order,
                account,
                class,
                quantity,
            },
        )
    }

    /// Releases units of a sell order (cancel, expiry, or the unfilled rest).
    ///
    /// # Errors
    /// Zero quantity, unknown order, another account's order, more than frozen.
    pub fn release(
        &mut self,
        order: OrderRef,
        account: AccountId,
        quantity: Tonnes,
    ) -> Result<UnitEntry, UnitRejection> {
        // A release never reads holdings, so it needs no registry.
        self.apply_state_only(UnitOp::Release {
            order,
            account,
            quantity,
        })
    }

    /// Rolls off today's purchases: they become tradable on the next trading day.
    pub fn end_of_day(&mut self) -> UnitEntry {
        self.apply_state_only(UnitOp::EndOfDay)
            .expect("end of day is always accepted")
    }

    /// Checks an operation against the current state (and the registry's holdings, for a
    /// freeze) without changing anything.
    ///
    /// # Errors
    /// The [`UnitRejection`] that [`UnitFreezes::apply`] would return.
    pub fn check(&self, registry: &Registry, op: &UnitOp) -> Result<(), UnitRejection> {
        self.plan(Some(registry), op).map(|_| ())
    }

    /// Applies an operation and records it; used live and on replay (where the registry must be
    /// replayed up to the same point, since a freeze reads the seller's holding). On `Err`
    /// nothing changed.
    ///
    /// # Errors
    /// Why the operation was refused.
    pub fn apply(&mut self, registry: &Registry, op: UnitOp) -> Result<UnitEntry, UnitRejection> {
        let plan = self.plan(Some(registry), &op)?;
        Ok(self.commit(plan, op))
    }

    fn apply_state_only(&mut self, op: UnitOp) -> Result<UnitEntry, UnitRejection> {
        assert!(
            !matches!(op, UnitOp::Freeze { .. }),
            "a freeze needs the registry's holding"
        );
        let plan = self.plan(None, &op)?;
        Ok(self.commit(plan, op))
    }

    fn plan(&self, registry: Option<&Registry>, op: &UnitOp) -> Result<UnitPlan, UnitRejection> {
        let name = op.name();
        let overflow = || UnitRejection::Overflow {
            op: name.to_string(),
        };
        match *op {
            UnitOp::Freeze {
                order,
                account,
                class,
                quantity,
            } => {
                nonzero(name, quantity)?;
                if self.orders.contains_key(&order) {
                    return Err(UnitRejection::OrderExists { order });
                }
                let holding = registry
                    .expect("a freeze is planned with the registry")
                    .holding(account, class);
                let tradable = self.tradable(account, class, holding);
                if quantity > tradable {
                    return Err(UnitRejection::ExceedsTradable {
                        account,
                        class,
                        tradable,
                        requested: quantity,
                    });
                }
                let frozen = self
                    .frozen(account, class)
                    .checked_add(quantity)
                    .ok_or_else(overflow)?;
                assert!(
                    frozen <= holding,
                    "a freeze within the tradable quantity stays within the holding"
                );
                Ok(UnitPlan::Order {
                    order,
                    freeze: Some(UnitFreeze {
                        account,
                        class,
                        quantity,
                    }),
                    key: (account, class),
                    frozen,
                })
            }
            UnitOp::Release {
                order,
                account,
                quantity,
            } => {
                nonzero(name, quantity)?;
                let f = self.order(order, account, None)?;
                self.take_from_order(order, f, quantity)
            }
            UnitOp::Consume {
                order,
                account,
                class,
                quantity,
            } => {
                nonzero(name, quantity)?;
                let f = self.order(order, account, Some(class))?;
                self.take_from_order(order, f, quantity)
            }
            UnitOp::Bought {
                account,
                class,
                quantity,
            } => {
                nonzero(name, quantity)?;
                let bought = self
                    .bought_today(account, class)
                    .checked_add(quantity)
                    .ok_or_else(overflow)?;
                Ok(UnitPlan::Bought {
                    key: (account, class),
                    bought,
                })
            }
            UnitOp::EndOfDay => Ok(UnitPlan::EndOfDay),
        }
    }

    fn order(
        &self,
        order: OrderRef,
        account: AccountId,
        class: Option<UnitClass>,
    ) -> Result<UnitFreeze, UnitRejection> {
        let f = *self
            .orders
            .get(&order)
            .ok_or(UnitRejection::UnknownOrder { order })?;
        let requested_class = class.unwrap_or(f.class);
        if f.account != account || f.class != requested_class {
            return Err(UnitRejection::OrderMismatch {
                order,
                owner: f.account,
                class: f.class,
                account,
                requested_class,
            });
        }
        Ok(f)
    }

    fn take_from_order(
        &self,
        order: OrderRef,
        f: UnitFreeze,
        quantity: Tonnes,
    ) -> Result<UnitPlan, UnitRejection> {
        let left = f
            .quantity
            .checked_sub(quantity)
            .ok_or(UnitRejection::ExceedsFreeze {
                order,
                frozen: f.quantity,
                requested: quantity,
            })?;
        let key = (f.account, f.class);
        let frozen = self
            .frozen(f.account, f.class)
            .checked_sub(quantity)
            .expect("the per-account sum covers each order freeze");
        let freeze = (left > 0).then_some(UnitFreeze {
            quantity: left,
            ..f
        });
        Ok(UnitPlan::Order {
            order,
            freeze,
            key,
            frozen,
        })
    }

    fn commit(&mut self, plan: UnitPlan, op: UnitOp) -> UnitEntry {
        match plan {
            UnitPlan::Order {
                order,
                freeze,
                key,
                frozen,
            } => {
                match freeze {
                    Some(f) => self.orders.insert(order, f),
                    None => self.orders.remove(&order),
                };
                set_or_remove(&mut self.frozen, key, frozen);
            }
            UnitPlan::Bought { key, bought } => set_or_remove(&mut self.bought_today, key, bought),
            UnitPlan::EndOfDay => self.bought_today.clear(),
        }
        let entry = UnitEntry {
            seq: self.next_seq(),
            op,
        };
        self.entries.push(entry.clone());
        entry
    }

    /// Checks the bookkeeping (per-account sums equal the order freezes, no empty entries,
    /// sequence) and that no account has more frozen than it holds in the registry.
    ///
    /// # Errors
    /// The first [`UnitsViolation`] found.
    pub fn check_invariants(&self, registry: &Registry) -> Result<UnitsReport, UnitsViolation> {
        let mut by_key: BTreeMap<(AccountId, UnitClass), u128> = BTreeMap::new();
        for (order, f) in &self.orders {
            if f.quantity == 0 {
                return Err(UnitsViolation::Empty {
                    what: order.to_string(),
                });
            }
            *by_key.entry((f.account, f.class)).or_insert(0) += u128::from(f.quantity);
        }
        let keys: std::collections::BTreeSet<_> =
            by_key.keys().chain(self.frozen.keys()).copied().collect();
        for (account, class) in keys {
            let frozen = self.frozen(account, class);
            let by_orders = by_key.get(&(account, class)).copied().unwrap_or(0);
            if u128::from(frozen) != by_orders {
                return Err(UnitsViolation::FrozenMismatch {
                    account,
                    class,
                    frozen,
                    by_orders,
                });
            }
            let holding = registry.holding(account, class);
            if frozen > holding {
                return Err(UnitsViolation::FrozenBeyondHolding {
                    account,
                    class,
                    frozen,
                    holding,
                });
            }
        }
        if let Some(((account, class), _)) = self
            .frozen
            .iter()
            .chain(&self.bought_today)
            .find(|(_, q)| **q == 0)
        {
            return Err(UnitsViolation::Empty {
                what: format!("{account} {class}"),
            });
        }
        for (i, e) in self.entries.iter().enumerate() {
            if e.seq != i as u64 + 1 {
                return Err(UnitsViolation::Sequence {
                    index: i as u64 + 1,
                    found: e.seq,
                });
            }
        }
        Ok(UnitsReport {
            open_freezes: self.orders.len(),
            frozen_t: self.frozen.values().map(|q| u128::from(*q)).sum(),
            bought_today_t: self.bought_today.values().map(|q| u128::from(*q)).sum(),
            entries: self.entries.len() as u64,
        })
    }
}

/// The writes an operation will make, every check already passed.
enum UnitPlan {
    Order {
        order: OrderRef,
        freeze: Option<UnitFreeze>,
        key: (AccountId, UnitClass),
        frozen: Tonnes,
    },
    Bought {
        key: (AccountId, UnitClass),
        bought: Tonnes,
    },
    EndOfDay,
}

/// Keeps the maps free of zero entries, so equal states compare equal.
fn set_or_remove(
    map: &mut BTreeMap<(AccountId, UnitClass), Tonnes>,
    key: (AccountId, UnitClass),
    quantity: Tonnes,
) {
    if quantity == 0 {
        map.remove(&key);
    } else {
        map.insert(key, quantity);
    }
}

fn nonzero(op: &str, quantity: Tonnes) -> Result<(), UnitRejection> {
    if quantity == 0 {
        Err(UnitRejection::ZeroQuantity { op: op.to_string() })
    } else {
        Ok(())
    }
}
