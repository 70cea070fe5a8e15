//! The registry's invariants, checked over the whole state.

use std::collections::BTreeMap;

use ets_types::{AccountId, Tonnes, UnitClass};

use crate::{AccountKind, Block, Registry, TxKind};

/// What [`Registry::check_invariants`] counted while checking.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InvariantReport {
    pub accounts: usize,
    pub transactions: usize,
    pub classes: usize,
    pub blocks: usize,
    pub issued_t: Tonnes,
    pub surrendered_t: Tonnes,
    pub cancelled_t: Tonnes,
}

/// A broken invariant: this is a bug or a corrupted state, never a user error.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum InvariantViolation {
    #[error("{class}: holdings add up to {held} t but {issued} t were issued")]
    NotConserved {
        class: UnitClass,
        held: Tonnes,
        issued: Tonnes,
    },
    #[error("{class}: holding of {account} says {total} t but its blocks hold {blocks} t")]
    HoldingMismatch {
        class: UnitClass,
        account: AccountId,
        total: Tonnes,
        blocks: Tonnes,
    },
    #[error("{class}: serial blocks {a} and {b} overlap or leave a gap")]
    BlocksDoNotTile {
        class: UnitClass,
        a: Block,
        b: Block,
    },
    #[error("{class}: serials do not cover 1..={issued}")]
    SerialsIncomplete { class: UnitClass, issued: Tonnes },
    #[error("transaction {seq}: sequence numbers must run 1, 2, 3, ... (found {found})")]
    Sequence { seq: u64, found: u64 },
    #[error(
        "{class}: issuance transactions add up to {by_tx} t but the registry counts {issued} t"
    )]
    IssuanceMismatch {
        class: UnitClass,
        by_tx: Tonnes,
        issued: Tonnes,
    },
    #[error("account {account} is terminal but transaction {seq} sent units out of it")]
    TerminalOutflow { account: AccountId, seq: u64 },
}

pub(crate) fn check(r: &Registry) -> Result<InvariantReport, InvariantViolation> {
    // Sequence numbers run without gaps.
    for (i, t) in r.transactions.iter().enumerate() {
        if t.seq != i as u64 + 1 {
            return Err(InvariantViolation::Sequence {
                seq: i as u64 + 1,
                found: t.seq,
            });
        }
        if let Some(from) = t.from
            && r.account(from).is_some_and(|a| a.kind.is_terminal())
        {
            return Err(InvariantViolation::TerminalOutflow {
                account: from,
                seq: t.seq,
            });
        }
    }
    // Units appear only by issuance: the issuance transactions explain every unit issued.
    let mut by_tx: BTreeMap<UnitClass, Tonnes> = BTreeMap::new();
    for t in r.transactions.iter().filter(|t| t.kind == TxKind::Issue) {
        let n = by_tx.entry(t.class).or_insert(0);
        *n = n.saturating_add(t.quantity);
    }
    for (class, issued) in r.classes() {
        let tx = by_tx.get(&class).copied().unwrap_or(0);
        if tx != issued {
            return Err(InvariantViolation::IssuanceMismatch {
                class,
                by_tx: tx,
                issued,
            });
        }
    }
    // Every holding's total equals its blocks; per class the blocks tile 1..=issued.
    let mut per_class: BTreeMap<UnitClass, (Tonnes, Vec<Block>)> = BTreeMap::new();
    let mut block_count = 0;
    let held = r.accounts.iter().zip(&r.holdings);
    for (account, class, h) in held.flat_map(|(a, m)| m.iter().map(|(c, h)| (a.id, c, h))) {
        let blocks: Tonnes = h.blocks.iter().map(|b| b.len()).sum();
        if blocks != h.total {
            return Err(InvariantViolation::HoldingMismatch {
                class: *class,
                account,
                total: h.total,
                blocks,
            });
        }
        let entry = per_class.entry(*class).or_default();
        entry.0 = entry.0.saturating_add(h.total);
        entry.1.extend(h.blocks.iter().copied());
        block_count += h.blocks.len();
    }
    for (class, issued) in r.classes() {
        let (held, mut blocks) = per_class.remove(&class).unwrap_or_default();
        if held != issued {
            return Err(InvariantViolation::NotConserved {
                class,
                held,
                issued,
            });
        }
        blocks.sort_unstable();
        let mut next = 1;
        for pair in blocks.windows(2) {
            if pair[0].end.checked_add(1) != Some(pair[1].start) {
                return Err(InvariantViolation::BlocksDoNotTile {
                    class,
                    a: pair[0],
                    b: pair[1],
                });
            }
        }
        if let (Some(first), Some(last)) = (blocks.first(), blocks.last()) {
            if first.start != 1 || last.end != issued {
                return Err(InvariantViolation::SerialsIncomplete { class, issued });
            }
            next = last.end.saturating_add(1);
        }
        if next != issued.saturating_add(1) {
            return Err(InvariantViolation::SerialsIncomplete { class, issued });
        }
    }
    // A class held but never issued.
    if let Some((class, (held, _))) = per_class.into_iter().find(|(_, (held, _))| *held > 0) {
        return Err(InvariantViolation::NotConserved {
            class,
            held,
            issued: 0,
        });
    }
    // Totals over classes saturate: each class stays below 2^64 t, their sum need not.
    let sum_kind = |kind| {
        r.classes()
            .map(|(c, _)| r.total_in_kind(kind, c))
            .fold(0, Tonnes::saturating_add)
    };
    Ok(InvariantReport {
        accounts: r.accounts.len(),
        transactions: r.transactions.len(),
        classes: r.issued.len(),
        blocks: block_count,
        issued_t: r.issued.values().copied().fold(0, Tonnes::saturating_add),
        surrendered_t: sum_kind(AccountKind::NationalSurrender),
        cancelled_t: sum_kind(AccountKind::NationalCancellation),
    })
}
