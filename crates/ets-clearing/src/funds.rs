//! The funds ledger: each participant's available and frozen fen, and the freezes of open buy
//! orders.
//!
//! Every operation is a [`FundsOp`]. [`Funds::check`] plans it against the current state
//! without changing anything; [`Funds::apply`] plans it again and writes the plan, which cannot
//! fail, then records a [`FundsEntry`] with the next sequence number. Replaying the entries on a
//! new ledger ([`Funds::replay`]) rebuilds the same state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{FEE_ACCOUNT, Fen, OrderRef, ParticipantId};

/// One participant's money.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Balance {
    /// Free to withdraw or to freeze for a new buy order.
    pub available: Fen,
    /// Promised to open buy orders: always the sum of this participant's [`MoneyFreeze`]s.
    pub frozen: Fen,
}

/// The money frozen for one open buy order.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MoneyFreeze {
    pub participant: ParticipantId,
    /// What is still frozen; the freeze is removed when it reaches 0.
    pub fen: Fen,
}

/// An operation on the funds ledger, spelled out with every figure so that it replays exactly.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FundsOp {
    /// Opens an empty funds account.
    Open { participant: ParticipantId },
    /// Money paid in from outside (a bank transfer): the only way money enters.
    Deposit {
        participant: ParticipantId,
        fen: Fen,
    },
    /// Money paid out, from available funds only: the only way money leaves.
    Withdraw {
        participant: ParticipantId,
        fen: Fen,
    },
    /// Available → frozen for an open buy order (price × quantity + fees).
    Freeze {
        participant: ParticipantId,
        order: OrderRef,
        fen: Fen,
    },
    /// Frozen → available: the order was cancelled or expired, or filled at a better price.
    Release {
        participant: ParticipantId,
        order: OrderRef,
        fen: Fen,
    },
    /// Pays for a trade from the buy order's freeze: `amount + buyer_fee` leaves the buyer's
    /// frozen funds, `amount − seller_fee` reaches the seller's available funds, both fees reach
    /// [`FEE_ACCOUNT`].
    SettlePayment {
        buyer: ParticipantId,
        seller: ParticipantId,
        order: OrderRef,
        amount_fen: Fen,
        buyer_fee_fen: Fen,
        seller_fee_fen: Fen,
    },
}

impl FundsOp {
    fn name(&self) -> &'static str {
        match self {
            FundsOp::Open { .. } => "open",
            FundsOp::Deposit { .. } => "deposit",
            FundsOp::Withdraw { .. } => "withdrawal",
            FundsOp::Freeze { .. } => "freeze",
            FundsOp::Release { .. } => "release",
            FundsOp::SettlePayment { .. } => "payment",
        }
    }
}

/// An accepted operation with its sequence number (from 1, without gaps): what the journal keeps.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FundsEntry {
    pub seq: u64,
    pub op: FundsOp,
}

/// Why a funds operation was refused. Nothing changed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FundsRejection {
    #[error("{op} amount must be at least 1 fen")]
    ZeroAmount { op: String },
    #[error("{participant} has no funds account")]
    UnknownParticipant { participant: ParticipantId },
    #[error("{participant} already has a funds account")]
    AccountExists { participant: ParticipantId },
    #[error("{participant} has {available} fen available, {requested} fen requested")]
    InsufficientAvailable {
        participant: ParticipantId,
        available: Fen,
        requested: Fen,
    },
    #[error("{order} already has a funds freeze")]
    OrderExists { order: OrderRef },
    #[error("{order} has no funds freeze")]
    UnknownOrder { order: OrderRef },
    #[error("{order} is frozen for {owner}, not for {participant}")]
    NotOrderOwner {
        order: OrderRef,
        owner: ParticipantId,
        participant: ParticipantId,
    },
    #[error("{order} has {frozen} fen frozen, {requested} fen requested")]
    ExceedsFreeze {
        order: OrderRef,
        frozen: Fen,
        requested: Fen,
    },
    #[error("the fee account cannot {op}")]
    FeeAccountNotTrading { op: String },
    #[error("{participant} cannot trade with itself")]
    SelfTrade { participant: ParticipantId },
    #[error("seller fee of {seller_fee} fen exceeds the trade amount of {amount} fen")]
    FeeExceedsProceeds { amount: Fen, seller_fee: Fen },
    #[error("{op} overflows a 64-bit balance of fen")]
    Overflow { op: String },
}

/// Why a journal of funds entries does not replay.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum FundsReplayError {
    #[error("funds entry {found} found where entry {expected} was expected")]
    OutOfSequence { expected: u64, found: u64 },
    #[error("funds entry {seq} is refused on replay")]
    Refused {
        seq: u64,
        #[source]
        source: FundsRejection,
    },
}

/// What [`Funds::check_invariants`] counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FundsReport {
    pub accounts: usize,
    pub open_freezes: usize,
    pub entries: u64,
    /// Sum of every account's available + frozen (= deposited − withdrawn).
    pub total_fen: u128,
    pub deposited_fen: u128,
    pub withdrawn_fen: u128,
}

/// A broken invariant of the funds ledger: a bug or a corrupted state, never a user error.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum FundsViolation {
    #[error("balances add up to {held} fen but deposits − withdrawals are {expected} fen")]
    NotConserved { held: u128, expected: i128 },
    #[error(
        "{participant} has {frozen} fen frozen but its order freezes add up to {by_orders} fen"
    )]
    FrozenMismatch {
        participant: ParticipantId,
        frozen: Fen,
        by_orders: u128,
    },
    #[error("{order} is frozen for {participant}, who has no funds account")]
    OrphanFreeze {
        order: OrderRef,
        participant: ParticipantId,
    },
    #[error("{order} has an empty freeze that should have been removed")]
    EmptyFreeze { order: OrderRef },
    #[error("the fee account is missing or has money frozen")]
    FeeAccount,
    #[error("entry {index}: sequence numbers must run 1, 2, 3, ... (found {found})")]
    Sequence { index: u64, found: u64 },
}

/// The funds ledger. Cloning it is how a caller stages work; `==` compares everything,
/// including the entry log.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Funds {
    balances: BTreeMap<ParticipantId, Balance>,
    freezes: BTreeMap<OrderRef, MoneyFreeze>,
    /// Totals ever paid in and out; `u128` because they only grow.
    deposited_fen: u128,
    withdrawn_fen: u128,
    entries: Vec<FundsEntry>,
}

impl Default for Funds {
    fn default() -> Funds {
        Funds::new()
    }
}

/// The writes an operation will make, computed by `plan` with every check already passed.
struct Plan {
    /// New balances of the accounts touched, each account at most once.
    balances: Vec<(ParticipantId, Balance)>,
    /// The order freeze after the operation (`None` removes it).
    freeze: Option<(OrderRef, Option<MoneyFreeze>)>,
    deposited_fen: Fen,
    withdrawn_fen: Fen,
}

impl Funds {
    /// An empty ledger with only the [`FEE_ACCOUNT`] open.
    pub fn new() -> Funds {
        let mut balances = BTreeMap::new();
        balances.insert(FEE_ACCOUNT, Balance::default());
        Funds {
            balances,
            freezes: BTreeMap::new(),
            deposited_fen: 0,
            withdrawn_fen: 0,
            entries: Vec::new(),
        }
    }

    /// Rebuilds a ledger from its journal entries.
    ///
    /// # Errors
    /// The first entry that is out of sequence or that the ledger refuses.
    pub fn replay(entries: &[FundsEntry]) -> Result<Funds, FundsReplayError> {
        let mut funds = Funds::new();
        for entry in entries {
            let expected = funds.next_seq();
            if entry.seq != expected {
                return Err(FundsReplayError::OutOfSequence {
                    expected,
                    found: entry.seq,
                });
            }
            funds
                .apply(entry.op.clone())
                .map_err(|source| FundsReplayError::Refused {
                    seq: entry.seq,
                    source,
                })?;
        }
        Ok(funds)
    }

    // Convenience wrappers, one per operation: each is `apply` of the matching `FundsOp`.

    /// # Errors
    /// See [`FundsOp::Open`]; [`FundsRejection::AccountExists`].
    pub fn open(&mut self, participant: ParticipantId) -> Result<FundsEntry, FundsRejection> {
        self.apply(FundsOp::Open { participant })
    }
    /// # Errors
    /// Zero amount, unknown participant, overflow.
    pub fn deposit(
        &mut self,
        participant: ParticipantId,
        fen: Fen,
    ) -> Result<FundsEntry, FundsRejection> {
        self.apply(FundsOp::Deposit { participant, fen })
    }
    /// # Errors
    /// Zero amount, unknown participant, more than available.
    pub fn withdraw(
        &mut self,
        participant: ParticipantId,
        fen: Fen,
    ) -> Result<FundsEntry, FundsRejection> {
        self.apply(FundsOp::Withdraw { participant, fen })
    }
    /// # Errors
    /// Zero amount, unknown participant, the fee account, an order already frozen, more than
    /// available.
    pub fn freeze(
        &mut self,
        participant: ParticipantId,
        fen: Fen,
        order: OrderRef,
    ) -> Result<FundsEntry, FundsRejection> {
        self.apply(FundsOp::Freeze {
            participant,
            order,
            fen,
        })
    }
    /// # Errors
    /// Zero amount, unknown order, another participant's order, more than the order's freeze.
    pub fn release(
        &mut self,
        participant: ParticipantId,
        order: OrderRef,
        fen: Fen,
    ) -> Result<FundsEntry, FundsRejection> {
        self.apply(FundsOp::Release {
            participant,
            order,
            fen,
        })
    }
    /// # Errors
    /// See [`FundsOp::SettlePayment`]: zero amount, self-trade, the fee account as a party,
    /// unknown accounts or order, another participant's order, amount + buyer fee beyond the
    /// freeze, seller fee beyond the amount, overflow.
    pub fn settle_payment(
        &mut self,
        buyer: ParticipantId,
        seller: ParticipantId,
        order: OrderRef,
        amount_fen: Fen,
        buyer_fee_fen: Fen,
        seller_fee_fen: Fen,
    ) -> Result<FundsEntry, FundsRejection> {
        self.apply(FundsOp::SettlePayment {
            buyer,
            seller,
            order,
            amount_fen,
            buyer_fee_fen,
            seller_fee_fen,
        })
    }

    /// Checks an operation against the current state without changing anything.
    ///
    /// # Errors
    /// The [`FundsRejection`] that [`Funds::apply`] would return.
    pub fn check(&self, op: &FundsOp) -> Result<(), FundsRejection> {
        self.plan(op).map(|_| ())
    }

    /// Applies an operation and records it. On `Err` nothing changed.
    ///
    /// # Errors
    /// Why the operation was refused.
    pub fn apply(&mut self, op: FundsOp) -> Result<FundsEntry, FundsRejection> {
        let plan = self.plan(&op)?;
        let total_before = self.total_fen();
        for (participant, balance) in plan.balances {
            let slot = self.balances.entry(participant).or_default();
            *slot = balance;
        }
        if let Some((order, freeze)) = plan.freeze {
            match freeze {
                Some(f) => {
                    assert!(f.fen > 0, "planned freezes are never empty");
                    self.freezes.insert(order, f);
                }
                None => {
                    self.freezes.remove(&order);
                }
            }
        }
        self.deposited_fen += u128::from(plan.deposited_fen);
        self.withdrawn_fen += u128::from(plan.withdrawn_fen);
        // Conservation, per operation: only deposits and withdrawals change the total.
        assert_eq!(
            self.total_fen() + u128::from(plan.withdrawn_fen),
            total_before + u128::from(plan.deposited_fen),
            "{} changed the money in the ledger",
            op.name()
        );
        let entry = FundsEntry {
            seq: self.next_seq(),
            op,
        };
        self.entries.push(entry.clone());
        Ok(entry)
    }

    fn plan(&self, op: &FundsOp) -> Result<Plan, FundsRejection> {
        let name = op.name();
        let overflow = || FundsRejection::Overflow {
            op: name.to_string(),
        };
        let nothing = Plan {
            balances: Vec::new(),
            freeze: None,
            deposited_fen: 0,
            withdrawn_fen: 0,
        };
        match *op {
            FundsOp::Open { participant } => {
                if self.balances.contains_key(&participant) {
                    return Err(FundsRejection::AccountExists { participant });
                }
                Ok(Plan {
                    balances: vec![(participant, Balance::default())],
                    ..nothing
                })
            }
            FundsOp::Deposit { participant, fen } => {
                nonzero(name, fen)?;
                let mut b = self.balance_of(participant)?;
                b.available = b.available.checked_add(fen).ok_or_else(overflow)?;
                Ok(Plan {
                    balances: vec![(participant, b)],
                    deposited_fen: fen,
                    ..nothing
                })
            }
            FundsOp::Withdraw { participant, fen } => {
                nonzero(name, fen)?;
                let mut b = self.balance_of(participant)?;
                b.available = take(participant, b.available, fen)?;
                Ok(Plan {
                    balances: vec![(participant, b)],
                    withdrawn_fen: fen,
                    ..nothing
                })
            }
            FundsOp::Freeze {
                participant,
                order,
                fen,
            } => {
                nonzero(name, fen)?;
                if participant == FEE_ACCOUNT {
                    return Err(FundsRejection::FeeAccountNotTrading {
                        op: "freeze funds for an order".to_string(),
                    });
                }
                let mut b = self.balance_of(participant)?;
                if self.freezes.contains_key(&order) {
                    return Err(FundsRejection::OrderExists { order });
                }
                b.available = take(participant, b.available, fen)?;
                b.frozen = b.frozen.checked_add(fen).ok_or_else(overflow)?;
                Ok(Plan {
                    balances: vec![(participant, b)],
                    freeze: Some((order, Some(MoneyFreeze { participant, fen }))),
                    ..nothing
                })
            }
            FundsOp::Release {
                participant,
                order,
                fen,
            } => {
                nonzero(name, fen)?;
                let mut b = self.balance_of(participant)?;
                let left = self.take_from_order(participant, order, fen)?;
                b.frozen = b
                    .frozen
                    .checked_sub(fen)
                    .expect("an account's frozen funds cover each of its order freezes");
                b.available = b.available.checked_add(fen).ok_or_else(overflow)?;
                Ok(Plan {
                    balances: vec![(participant, b)],
                    freeze: Some((order, left)),
                    ..nothing
                })
            }
            FundsOp::SettlePayment {
                buyer,
                seller,
                order,
                amount_fen,
                buyer_fee_fen,
                seller_fee_fen,
            } => {
                nonzero(name, amount_fen)?;
                if buyer == seller {
                    return Err(FundsRejection::SelfTrade { participant: buyer });
                }
                if buyer == FEE_ACCOUNT || seller == FEE_ACCOUNT {
                    return Err(FundsRejection::FeeAccountNotTrading {
                        op: "buy or sell".to_string(),
                    });
                }
                let mut b = self.balance_of(buyer)?;
                let mut s = self.balance_of(seller)?;
                let mut f = self.balance_of(FEE_ACCOUNT)?;
                let debit = amount_fen.checked_add(buyer_fee_fen).ok_or_else(overflow)?;
                let left = self.take_from_order(buyer, order, debit)?;
                let proceeds = amount_fen.checked_sub(seller_fee_fen).ok_or(
                    FundsRejection::FeeExceedsProceeds {
                        amount: amount_fen,
                        seller_fee: seller_fee_fen,
                    },
                )?;
                let fees = buyer_fee_fen
                    .checked_add(seller_fee_fen)
                    .ok_or_else(overflow)?;
                b.frozen = b
                    .frozen
                    .checked_sub(debit)
                    .expect("an account's frozen funds cover each of its order freezes");
                s.available = s.available.checked_add(proceeds).ok_or_else(overflow)?;
                f.available = f.available.checked_add(fees).ok_or_else(overflow)?;
                assert_eq!(
                    u128::from(debit),
                    u128::from(proceeds) + u128::from(fees),
                    "payment legs balance"
                );
                Ok(Plan {
                    balances: vec![(buyer, b), (seller, s), (FEE_ACCOUNT, f)],
                    freeze: Some((order, left)),
                    ..nothing
                })
            }
        }
    }

    fn balance_of(&self, participant: ParticipantId) -> Result<Balance, FundsRejection> {
        self.balances
            .get(&participant)
            .copied()
            .ok_or(FundsRejection::UnknownParticipant { participant })
    }

    /// The order's freeze after taking `fen` from it (`None` once empty).
    fn take_from_order(
        &self,
        participant: ParticipantId,
        order: OrderRef,
        fen: Fen,
    ) -> Result<Option<MoneyFreeze>, FundsRejection> {
        let freeze = self
            .freezes
            .get(&order)
            .ok_or(FundsRejection::UnknownOrder { order })?;
        if freeze.participant != participant {
            return Err(FundsRejection::NotOrderOwner {
                order,
                owner: freeze.participant,
                participant,
            });
        }
        let left = freeze
            .fen
            .checked_sub(fen)
            .ok_or(FundsRejection::ExceedsFreeze {
                order,
                frozen: freeze.fen,
                requested: fen,
            })?;
        Ok((left > 0).then_some(MoneyFreeze {
            participant,
            fen: left,
        }))
    }

    /// A participant's balance, if the account is open.
    pub fn balance(&self, participant: ParticipantId) -> Option<Balance> {
        self.balances.get(&participant).copied()
    }
    /// Available fen (0 for an unknown participant).
    pub fn available(&self, participant: ParticipantId) -> Fen {
        self.balance(participant).map_or(0, |b| b.available)
    }
    /// Frozen fen (0 for an unknown participant).
    pub fn frozen(&self, participant: ParticipantId) -> Fen {
        self.balance(participant).map_or(0, |b| b.frozen)
    }
    /// The open freeze of a buy order; `None` once released or consumed in full.
    pub fn order_freeze(&self, order: OrderRef) -> Option<MoneyFreeze> {
        self.freezes.get(&order).copied()
    }
    /// Every open account with its balance, by participant.
    pub fn balances(&self) -> impl Iterator<Item = (ParticipantId, Balance)> + '_ {
        self.balances.iter().map(|(p, b)| (*p, *b))
    }
    /// Every open buy-order freeze, by order.
    pub fn freezes(&self) -> impl Iterator<Item = (OrderRef, MoneyFreeze)> + '_ {
        self.freezes.iter().map(|(o, f)| (*o, *f))
    }
    /// Sum of every account's available + frozen.
    pub fn total_fen(&self) -> u128 {
        self.balances
            .values()
            .map(|b| u128::from(b.available) + u128::from(b.frozen))
            .sum()
    }
    pub fn deposited_fen(&self) -> u128 {
        self.deposited_fen
    }
    pub fn withdrawn_fen(&self) -> u128 {
        self.withdrawn_fen
    }
    /// Every accepted operation, in order.
    pub fn entries(&self) -> &[FundsEntry] {
        &self.entries
    }
    /// The sequence number the next accepted operation will get.
    pub fn next_seq(&self) -> u64 {
        self.entries.len() as u64 + 1
    }

    /// Checks every invariant of the ledger: conservation, frozen funds = order freezes, no
    /// orphan or empty freeze, the fee account, entry sequence.
    ///
    /// # Errors
    /// The first [`FundsViolation`] found.
    pub fn check_invariants(&self) -> Result<FundsReport, FundsViolation> {
        let held = self.total_fen();
        let expected = self.deposited_fen as i128 - self.withdrawn_fen as i128;
        if held as i128 != expected {
            return Err(FundsViolation::NotConserved { held, expected });
        }
        let mut by_owner: BTreeMap<ParticipantId, u128> = BTreeMap::new();
        for (order, f) in &self.freezes {
            if f.fen == 0 {
                return Err(FundsViolation::EmptyFreeze { order: *order });
            }
            if !self.balances.contains_key(&f.participant) {
                return Err(FundsViolation::OrphanFreeze {
                    order: *order,
                    participant: f.participant,
                });
            }
            *by_owner.entry(f.participant).or_insert(0) += u128::from(f.fen);
        }
        for (participant, b) in &self.balances {
            let by_orders = by_owner.get(participant).copied().unwrap_or(0);
            if u128::from(b.frozen) != by_orders {
                return Err(FundsViolation::FrozenMismatch {
                    participant: *participant,
                    frozen: b.frozen,
                    by_orders,
                });
            }
        }
        if self
            .balances
            .get(&FEE_ACCOUNT)
            .is_none_or(|b| b.frozen != 0)
        {
            return Err(FundsViolation::FeeAccount);
        }
        for (i, e) in self.entries.iter().enumerate() {
            if e.seq != i as u64 + 1 {
                return Err(FundsViolation::Sequence {
                    index: i as u64 + 1,
                    found: e.seq,
                });
            }
        }
        Ok(FundsReport {
            accounts: self.balances.len(),
            open_freezes: self.freezes.len(),
            entries: self.entries.len() as u64,
            total_fen: held,
            deposited_fen: self.deposited_fen,
            withdrawn_fen: self.withdrawn_fen,
        })
    }
}

fn nonzero(op: &str, fen: Fen) -> Result<(), FundsRejection> {
    if fen == 0 {
        Err(FundsRejection::ZeroAmount { op: op.to_string() })
    } else {
        Ok(())
    }
}

fn take(participant: ParticipantId, available: Fen, fen: Fen) -> Result<Fen, FundsRejection> {
    available
        .checked_sub(fen)
        .ok_or(FundsRejection::InsufficientAvailable {
            participant,
            available,
            requested: fen,
        })
}
