//! The registry (注册登记系统): accounts, unit holdings as serial blocks, and every movement as an
//! immutable, sequenced transaction.
//!
//! Principal types: [`Registry`] (the ledger state), [`Request`] and [`Op`] (what a caller asks
//! for), [`Transaction`] (what was done, with its sequence number and the serial [`Block`]s it
//! moved), [`Rejection`] (why a request was refused; nothing moves on a rejection).
//!
//! **Architecture Invariant:** units appear only by [`Op::Issue`]; every unit ever issued stays in
//! exactly one account (circulating, surrendered or cancelled), so per [`UnitClass`] the holdings
//! add up to what was issued and the serial blocks of all accounts tile `1..=issued` without
//! overlap. [`Registry::check_invariants`] asserts all of it; the property tests drive random
//! operation sequences against a reference model.
//!
//! **Architecture Invariant:** history is never edited. A mistaken allocation is undone by a
//! [`Op::Correct`] counter-transaction that references the original.
//!
//! The registry does no I/O and reads no clock: business dates come in with each request.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use ets_types::{AccountId, Date, Tonnes, UnitClass};
use serde::{Deserialize, Serialize};

mod check;
mod codes;
pub use check::{InvariantReport, InvariantViolation};

/// Account ids of the national accounts, opened by [`Registry::new`] in this order.
pub const NATIONAL_QUOTA: AccountId = AccountId(1);
pub const NATIONAL_SURRENDER: AccountId = AccountId(2);
pub const NATIONAL_CANCELLATION: AccountId = AccountId(3);

/// What an account is for. Each kind limits which operations may touch it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// The regulator's issuance account: allowances are issued here, then allocated.
    NationalQuota,
    /// Where surrendered units go and stay (清缴).
    NationalSurrender,
    /// Where cancelled units (voluntary retirement, 注销) go and stay.
    NationalCancellation,
    /// A covered company's holding account.
    CompanyHolding,
    /// An institution's or individual's holding account (traders, later issues).
    GeneralHolding,
    /// The exchange's settlement account (later issues).
    ExchangeSettlement,
    /// An offset project owner's account: offset credits are issued here.
    OffsetProject,
}

impl AccountKind {
    /// The kind's stable snake_case name, as serialized (for messages and error parameters).
    pub fn name(self) -> &'static str {
        match self {
            AccountKind::NationalQuota => "national_quota",
            AccountKind::NationalSurrender => "national_surrender",
            AccountKind::NationalCancellation => "national_cancellation",
            AccountKind::CompanyHolding => "company_holding",
            AccountKind::GeneralHolding => "general_holding",
            AccountKind::ExchangeSettlement => "exchange_settlement",
            AccountKind::OffsetProject => "offset_project",
        }
    }
    /// Terminal accounts keep what they receive for ever: nothing is ever sent out of them.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            AccountKind::NationalSurrender | AccountKind::NationalCancellation
        )
    }
    /// Accounts whose holdings circulate between market participants by transfer.
    pub fn is_holding(self) -> bool {
        matches!(
            self,
            AccountKind::CompanyHolding
                | AccountKind::GeneralHolding
                | AccountKind::ExchangeSettlement
                | AccountKind::OffsetProject
        )
    }
}

/// Accounts are never deleted; they may be frozen (no movement in or out) or closed (when empty).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Open,
    Frozen,
    Closed,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub kind: AccountKind,
    /// Who holds it: a company id, a project id, an institution's name.
    pub holder: String,
    pub status: AccountStatus,
    pub opened_on: Date,
}

/// An inclusive range of serial numbers within one unit class.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub struct Block {
    pub start: u64,
    pub end: u64,
}

impl Block {
    pub fn len(self) -> u64 {
        self.end - self.start + 1
    }
    pub fn is_empty(self) -> bool {
        false
    }
    pub fn contains(self, serial: u64) -> bool {
        self.start <= serial && serial <= self.end
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A purpose recorded with a surrender: whose obligation, for which cycle.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SurrenderFor {
    pub company: String,
    pub cycle: String,
}

/// The operation a request asks for.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create units: allowances into the national quota account, offset credits into an offset
    /// project account. The only way units come into being.
    Issue {
        class: UnitClass,
        quantity: Tonnes,
        to: AccountId,
    },
    /// Free allocation from the national quota account to a company.
    Allocate {
        class: UnitClass,
        quantity: Tonnes,
        from: AccountId,
        to: AccountId,
    },
    /// Between holding accounts.
    Transfer {
        class: UnitClass,
        quantity: Tonnes,
        from: AccountId,
        to: AccountId,
    },
    /// From a company to the national surrender account, against an obligation.
    Surrender {
        class: UnitClass,
        quantity: Tonnes,
        from: AccountId,
        purpose: SurrenderFor,
    },
    /// Voluntary retirement: to the national cancellation account.
    Cancel {
        class: UnitClass,
        quantity: Tonnes,
        from: AccountId,
    },
    /// Counter-transaction of a mistaken allocation: moves `quantity` back from the original
    /// recipient to the original sender. The original stays in history untouched.
    Correct { original: u64, quantity: Tonnes },
}

/// A request: the operation with who asked, when, why, and an optional idempotency key.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Request {
    pub op: Op,
    pub date: Date,
    pub initiator: String,
    pub reason: String,
    /// A retry with the same key returns the first result and moves nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    Issue,
    Allocate,
    Transfer,
    Surrender,
    Cancel,
    Correct,
}

impl TxKind {
    /// The kind's stable snake_case name, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            TxKind::Issue => "issue",
            TxKind::Allocate => "allocate",
            TxKind::Transfer => "transfer",
            TxKind::Surrender => "surrender",
            TxKind::Cancel => "cancel",
            TxKind::Correct => "correct",
        }
    }
}

/// A completed movement. Immutable once recorded.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Transaction {
    /// Sequence number, from 1, without gaps.
    pub seq: u64,
    pub kind: TxKind,
    pub class: UnitClass,
    pub quantity: Tonnes,
    /// `None` for issuance.
    pub from: Option<AccountId>,
    pub to: AccountId,
    /// The serial blocks moved (or created, for issuance).
    pub blocks: Vec<Block>,
    pub request: Request,
}

/// Why a request was refused. Nothing moved.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    #[error("quantity must be at least 1 t")]
    ZeroQuantity,
    #[error("unknown account {account}")]
    UnknownAccount { account: AccountId },
    #[error("account {account} is frozen")]
    AccountFrozen { account: AccountId },
    #[error("account {account} is closed")]
    AccountClosed { account: AccountId },
    #[error(
        "insufficient holdings in {account} of {class}: {available} t available, {requested} t requested"
    )]
    InsufficientHoldings {
        account: AccountId,
        class: UnitClass,
        available: Tonnes,
        requested: Tonnes,
    },
    #[error("{op} is not allowed {direction} a {} account ({account})", kind.name().replace('_', " "))]
    WrongAccountKind {
        op: &'static str,
        direction: &'static str,
        account: AccountId,
        kind: AccountKind,
    },
    #[error("{op} is not allowed for {class}")]
    WrongUnitClass { op: &'static str, class: UnitClass },
    #[error("source and destination are the same account {account}")]
    SameAccount { account: AccountId },
    #[error("transaction {original} does not exist")]
    UnknownTransaction { original: u64 },
    #[error("transaction {original} is a {} transaction; only allocations can be corrected", kind.name())]
    NotCorrectable { original: u64, kind: TxKind },
    #[error(
        "correction of {requested} t exceeds the {remaining} t of transaction {original} not yet corrected"
    )]
    CorrectionExceedsOriginal {
        original: u64,
        remaining: Tonnes,
        requested: Tonnes,
    },
    #[error("idempotency key {key} was already used for a different request (transaction {seq})")]
    KeyReused { key: String, seq: u64 },
    #[error("account {account} still holds units and cannot be closed")]
    NotEmpty { account: AccountId },
    #[error("quantity overflows the registry's counters")]
    Overflow,
}

/// The result of an accepted request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// A new transaction with this sequence number.
    Done(u64),
    /// The key was seen before with the same request: the first transaction's number.
    Replayed(u64),
}

impl Outcome {
    pub fn seq(self) -> u64 {
        match self {
            Outcome::Done(s) | Outcome::Replayed(s) => s,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
struct Holding {
    total: Tonnes,
    /// Oldest received first; transfers take from the front, so a holding's blocks stay few.
    blocks: VecDeque<Block>,
}

/// The registry's state. Cloning it is how callers stage a batch that must apply all or nothing.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Registry {
    accounts: Vec<Account>,
    /// Per account (index `id − 1`, parallel to `accounts`), its holdings by class: every class
    /// the account ever received, emptied ones included. One entry per (account, class), as a
    /// map keyed by the pair would hold, but an account's holdings are found without a scan
    /// and a lookup compares a few classes instead of hashing.
    holdings: Vec<BTreeMap<UnitClass, Holding>>,
    /// Per class: units issued so far (= the highest serial).
    issued: BTreeMap<UnitClass, Tonnes>,
    transactions: Vec<Transaction>,
    keys: HashMap<String, u64>,
    /// Per allocation transaction: tonnes already corrected.
    corrected: HashMap<u64, Tonnes>,
}

impl Registry {
    /// A registry with its three national accounts (quota, surrender, cancellation).
    pub fn new(opened_on: Date) -> Registry {
        let mut r = Registry {
            accounts: Vec::new(),
            holdings: Vec::new(),
            issued: BTreeMap::new(),
            transactions: Vec::new(),
            keys: HashMap::new(),
            corrected: HashMap::new(),
        };
        let q = r.open_account(
            AccountKind::NationalQuota,
            "MEE national quota account",
            opened_on,
        );
        let s = r.open_account(
            AccountKind::NationalSurrender,
            "MEE national surrender account",
            opened_on,
        );
        let c = r.open_account(
            AccountKind::NationalCancellation,
            "MEE national cancellation account",
            opened_on,
        );
        assert_eq!(
            (q, s, c),
            (NATIONAL_QUOTA, NATIONAL_SURRENDER, NATIONAL_CANCELLATION)
        );
        r
    }

    /// Opens an account; ids are given in opening order, so a replay gives the same ids.
    pub fn open_account(&mut self, kind: AccountKind, holder: &str, opened_on: Date) -> AccountId {
        let id = AccountId(u32::try_from(self.accounts.len() + 1).expect("account count fits u32"));
        self.accounts.push(Account {
            id,
            kind,
            holder: holder.to_string(),
            status: AccountStatus::Open,
            opened_on,
        });
        self.holdings.push(BTreeMap::new());
        debug_assert_eq!(self.holdings.len(), self.accounts.len());
        id
    }

    /// Freezes, unfreezes or closes an account. Closing needs an empty account.
    pub fn set_status(&mut self, id: AccountId, status: AccountStatus) -> Result<(), Rejection> {
        let account = self
            .account(id)
            .ok_or(Rejection::UnknownAccount { account: id })?;
        if account.status == AccountStatus::Closed {
            return Err(Rejection::AccountClosed { account: id });
        }
        if status == AccountStatus::Closed && self.holdings_of(id).iter().any(|(_, q)| *q > 0) {
            return Err(Rejection::NotEmpty { account: id });
        }
        self.accounts[id.0 as usize - 1].status = status;
        Ok(())
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        (id.0 as usize)
            .checked_sub(1)
            .and_then(|i| self.accounts.get(i))
    }
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }
    pub fn transactions(&self) -> &[Transaction] {
        &self.transactions
    }
    pub fn transaction(&self, seq: u64) -> Option<&Transaction> {
        (seq as usize)
            .checked_sub(1)
            .and_then(|i| self.transactions.get(i))
    }
    /// The transaction an idempotency key was first used for.
    pub fn key_seq(&self, key: &str) -> Option<u64> {
        self.keys.get(key).copied()
    }
    /// The sequence number the next transaction will get.
    pub fn next_seq(&self) -> u64 {
        self.transactions.len() as u64 + 1
    }
    pub fn holding(&self, id: AccountId, class: UnitClass) -> Tonnes {
        self.holding_ref(id, class).map_or(0, |h| h.total)
    }
    /// An account's non-empty holdings, by class: O(classes the account ever held).
    pub fn holdings_of(&self, id: AccountId) -> Vec<(UnitClass, Tonnes)> {
        self.classes_of(id)
            .filter(|(_, h)| h.total > 0)
            .map(|(c, h)| (*c, h.total))
            .collect()
    }
    /// The serial blocks an account holds of a class, oldest received first.
    pub fn blocks(&self, id: AccountId, class: UnitClass) -> Vec<Block> {
        self.holding_ref(id, class)
            .map_or_else(Vec::new, |h| h.blocks.iter().copied().collect())
    }
    /// The holdings of an account by class (none for an unknown account).
    fn classes_of(&self, id: AccountId) -> impl Iterator<Item = (&UnitClass, &Holding)> {
        (id.0 as usize)
            .checked_sub(1)
            .and_then(|i| self.holdings.get(i))
            .into_iter()
            .flatten()
    }
    fn holding_ref(&self, id: AccountId, class: UnitClass) -> Option<&Holding> {
        (id.0 as usize)
            .checked_sub(1)
            .and_then(|i| self.holdings.get(i))?
            .get(&class)
    }
    /// The holding of a validated (so existing) account, created empty on first receipt.
    fn holding_mut(&mut self, id: AccountId, class: UnitClass) -> &mut Holding {
        match self.holdings[id.0 as usize - 1].entry(class) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Holding::default()),
        }
    }
    pub fn issued(&self, class: UnitClass) -> Tonnes {
        self.issued.get(&class).copied().unwrap_or(0)
    }
    pub fn classes(&self) -> impl Iterator<Item = (UnitClass, Tonnes)> + '_ {
        self.issued.iter().map(|(c, q)| (*c, *q))
    }
    /// Units of a class in one account kind (e.g. all surrendered units).
    pub fn total_in_kind(&self, kind: AccountKind, class: UnitClass) -> Tonnes {
        self.accounts
            .iter()
            .zip(&self.holdings)
            .filter(|(a, _)| a.kind == kind)
            .filter_map(|(_, held)| held.get(&class))
            .map(|h| h.total)
            .sum()
    }

    /// Every transaction that moved the unit with this serial, from issuance on: one tonne traced.
    pub fn trace(&self, class: UnitClass, serial: u64) -> Vec<&Transaction> {
        self.transactions
            .iter()
            .filter(|t| t.class == class && t.blocks.iter().any(|b| b.contains(serial)))
            .collect()
    }

    /// Executes a request: validates everything first, then moves units. On `Err` nothing changed.
    pub fn execute(&mut self, request: Request) -> Result<Outcome, Rejection> {
        if let Some(key) = &request.key
            && let Some(&seq) = self.keys.get(key)
        {
            let first = &self.transactions[seq as usize - 1].request;
            return if first.op == request.op {
                Ok(Outcome::Replayed(seq))
            } else {
                Err(Rejection::KeyReused {
                    key: key.clone(),
                    seq,
                })
            };
        }
        let plan = self.validate(&request.op)?;
        Ok(Outcome::Done(self.commit(plan, request)))
    }

    /// Checks a request against the current state without changing anything.
    pub fn check(&self, request: &Request) -> Result<(), Rejection> {
        if let Some(key) = &request.key
            && let Some(&seq) = self.keys.get(key)
        {
            let first = &self.transactions[seq as usize - 1].request;
            return if first.op == request.op {
                Ok(())
            } else {
                Err(Rejection::KeyReused {
                    key: key.clone(),
                    seq,
                })
            };
        }
        self.validate(&request.op).map(|_| ())
    }

    fn validate(&self, op: &Op) -> Result<Movement, Rejection> {
        match *op {
            Op::Issue {
                class,
                quantity,
                to,
            } => {
                nonzero(quantity)?;
                let kind = self.live(to)?;
                let expected = if class.is_offset() {
                    AccountKind::OffsetProject
                } else {
                    AccountKind::NationalQuota
                };
                if kind != expected {
                    return Err(Rejection::WrongAccountKind {
                        op: "issuance",
                        direction: "into",
                        account: to,
                        kind,
                    });
                }
                // Serials run 1..=issued and every block's successor serial must exist, so a
                // class holds at most u64::MAX - 1 units: no serial arithmetic can overflow.
                self.issued(class)
                    .checked_add(quantity)
                    .filter(|total| *total < u64::MAX)
                    .ok_or(Rejection::Overflow)?;
                Ok(Movement {
                    kind: TxKind::Issue,
                    class,
                    quantity,
                    from: None,
                    to,
                })
            }
            Op::Allocate {
                class,
                quantity,
                from,
                to,
            } => {
                if class.is_offset() {
                    return Err(Rejection::WrongUnitClass {
                        op: "allocation",
                        class,
                    });
                }
                self.movement(
                    TxKind::Allocate,
                    "allocation",
                    class,
                    quantity,
                    from,
                    to,
                    |k| k == AccountKind::NationalQuota,
                    |k| k == AccountKind::CompanyHolding,
                )
            }
            Op::Transfer {
                class,
                quantity,
                from,
                to,
            } => self.movement(
                TxKind::Transfer,
                "transfer",
                class,
                quantity,
                from,
                to,
                AccountKind::is_holding,
                AccountKind::is_holding,
            ),
            Op::Surrender {
                class,
                quantity,
                from,
                ..
            } => self.movement(
                TxKind::Surrender,
                "surrender",
                class,
                quantity,
                from,
                NATIONAL_SURRENDER,
                |k| k == AccountKind::CompanyHolding,
                |k| k == AccountKind::NationalSurrender,
            ),
            Op::Cancel {
                class,
                quantity,
                from,
            } => self.movement(
                TxKind::Cancel,
                "cancellation",
                class,
                quantity,
                from,
                NATIONAL_CANCELLATION,
                |k| k.is_holding() || k == AccountKind::NationalQuota,
                |k| k == AccountKind::NationalCancellation,
            ),
            Op::Correct { original, quantity } => {
                let tx = self
                    .transaction(original)
                    .ok_or(Rejection::UnknownTransaction { original })?;
                if tx.kind != TxKind::Allocate {
                    return Err(Rejection::NotCorrectable {
                        original,
                        kind: tx.kind,
                    });
                }
                let remaining = tx.quantity - self.corrected.get(&original).copied().unwrap_or(0);
                if quantity > remaining {
                    return Err(Rejection::CorrectionExceedsOriginal {
                        original,
                        remaining,
                        requested: quantity,
                    });
                }
                let from = tx.to;
                let to = tx.from.expect("an allocation has a source");
                self.movement(
                    TxKind::Correct,
                    "correction",
                    tx.class,
                    quantity,
                    from,
                    to,
                    |_| true,
                    |_| true,
                )
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn movement(
        &self,
        kind: TxKind,
        name: &'static str,
        class: UnitClass,
        quantity: Tonnes,
        from: AccountId,
        to: AccountId,
        from_ok: impl Fn(AccountKind) -> bool,
        to_ok: impl Fn(AccountKind) -> bool,
    ) -> Result<Movement, Rejection> {
        nonzero(quantity)?;
        if from == to {
            return Err(Rejection::SameAccount { account: from });
        }
        let from_kind = self.live(from)?;
        let to_kind = self.live(to)?;
        if !from_ok(from_kind) || from_kind.is_terminal() {
            return Err(Rejection::WrongAccountKind {
                op: name,
                direction: "from",
                account: from,
                kind: from_kind,
            });
        }
        if !to_ok(to_kind) {
            return Err(Rejection::WrongAccountKind {
                op: name,
                direction: "into",
                account: to,
                kind: to_kind,
            });
        }
        let available = self.holding(from, class);
        if available < quantity {
            return Err(Rejection::InsufficientHoldings {
                account: from,
                class,
                available,
                requested: quantity,
            });
        }
        Ok(Movement {
            kind,
            class,
            quantity,
            from: Some(from),
            to,
        })
    }

    fn live(&self, id: AccountId) -> Result<AccountKind, Rejection> {
        let a = self
            .account(id)
            .ok_or(Rejection::UnknownAccount { account: id })?;
        match a.status {
            AccountStatus::Open => Ok(a.kind),
            AccountStatus::Frozen => Err(Rejection::AccountFrozen { account: id }),
            AccountStatus::Closed => Err(Rejection::AccountClosed { account: id }),
        }
    }

    /// Applies a validated movement. Cannot fail: every check happened in `validate`.
    fn commit(&mut self, m: Movement, request: Request) -> u64 {
        let seq = self.next_seq();
        let blocks = match m.from {
            None => {
                let issued = self.issued.entry(m.class).or_insert(0);
                let block = Block {
                    start: *issued + 1,
                    end: *issued + m.quantity,
                };
                *issued += m.quantity;
                let target = self.holding_mut(m.to, m.class);
                push_block(target, block);
                target.total += m.quantity;
                vec![block]
            }
            Some(from) => {
                let source = self.holdings[from.0 as usize - 1]
                    .get_mut(&m.class)
                    .expect("validated: source holds the class");
                assert!(source.total >= m.quantity, "validated: enough holdings");
                let blocks = take_blocks(source, m.quantity);
                let target = self.holding_mut(m.to, m.class);
                for b in &blocks {
                    push_block(target, *b);
                }
                target.total += m.quantity;
                blocks
            }
        };
        if let Op::Correct { original, quantity } = request.op {
            *self.corrected.entry(original).or_insert(0) += quantity;
        }
        if let Some(key) = &request.key {
            self.keys.insert(key.clone(), seq);
        }
        debug_assert_eq!(blocks.iter().map(|b| b.len()).sum::<u64>(), m.quantity);
        self.transactions.push(Transaction {
            seq,
            kind: m.kind,
            class: m.class,
            quantity: m.quantity,
            from: m.from,
            to: m.to,
            blocks,
            request,
        });
        seq
    }

    /// Checks every invariant of the ledger; see [`InvariantReport`] for what is counted.
    pub fn check_invariants(&self) -> Result<InvariantReport, InvariantViolation> {
        check::check(self)
    }
}

struct Movement {
    kind: TxKind,
    class: UnitClass,
    quantity: Tonnes,
    from: Option<AccountId>,
    to: AccountId,
}

fn nonzero(quantity: Tonnes) -> Result<(), Rejection> {
    if quantity == 0 {
        Err(Rejection::ZeroQuantity)
    } else {
        Ok(())
    }
}

/// Takes `quantity` units from the front of a holding, splitting the last block if needed.
fn take_blocks(h: &mut Holding, quantity: Tonnes) -> Vec<Block> {
    let mut left = quantity;
    let mut out = Vec::with_capacity(1);
    while left > 0 {
        let front = h
            .blocks
            .front_mut()
            .expect("holding total matches its blocks");
        if front.len() <= left {
            left -= front.len();
            out.push(*front);
            h.blocks.pop_front();
        } else {
            out.push(Block {
                start: front.start,
                end: front.start + left - 1,
            });
            front.start += left;
            left = 0;
        }
    }
    h.total -= quantity;
    out
}

/// Appends a block, merging it with the last one when the serials run on.
fn push_block(h: &mut Holding, b: Block) {
    if let Some(last) = h.blocks.back_mut()
        && last.end + 1 == b.start
    {
        last.end = b.end;
        return;
    }
    h.blocks.push_back(b);
}
