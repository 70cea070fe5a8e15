//! Clearing behaviour: rules by example (funds, fees, unit freezes, DvP, settlement timing) and
//! random operation sequences against a reference model (`model`).
//!
//! One test binary for the crate, one module per topic; `World` gives every test its own
//! registry, funds ledger and unit freezes.

mod dvp;
mod fees;
mod funds;
mod model;
mod timing;
mod units;

use ets_clearing::*;
use ets_registry::{AccountKind, NATIONAL_QUOTA, Op, Registry, Request};
use ets_types::{AccountId, Date, UnitClass};

pub const CEA: UnitClass = UnitClass::Cea { vintage: 2021 };
pub const SELLER: ParticipantId = ParticipantId(1);
pub const BUYER: ParticipantId = ParticipantId(2);

pub fn day() -> Date {
    Date::new(2021, 7, 16).unwrap()
}

pub fn admin(op: Op) -> Request {
    Request {
        op,
        date: day(),
        initiator: "test".into(),
        reason: "test".into(),
        key: None,
    }
}

/// Fees with both rounding and the minimum visible in hand-computed figures.
pub const FEES: FeeSchedule = FeeSchedule {
    buyer_bps: 30,
    seller_bps: 25,
    min_fen: 100,
};

/// A registry with a seller holding 600 t of CEA and a buyer holding none; both participants
/// have funds accounts and the buyer has 1 000 000 fen (10 000 CNY) available.
pub struct World {
    pub registry: Registry,
    pub funds: Funds,
    pub units: UnitFreezes,
    pub seller_account: AccountId,
    pub buyer_account: AccountId,
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

impl World {
    pub fn new() -> World {
        let mut registry = Registry::new(day());
        let seller_account = registry.open_account(AccountKind::CompanyHolding, "seller", day());
        let buyer_account = registry.open_account(AccountKind::CompanyHolding, "buyer", day());
        registry
            .execute(admin(Op::Issue {
                class: CEA,
                quantity: 1000,
                to: NATIONAL_QUOTA,
            }))
            .unwrap();
        registry
            .execute(admin(Op::Allocate {
                class: CEA,
                quantity: 600,
                from: NATIONAL_QUOTA,
                to: seller_account,
            }))
            .unwrap();
        let mut funds = Funds::new();
        funds.open(SELLER).unwrap();
        funds.open(BUYER).unwrap();
        funds.deposit(BUYER, 1_000_000).unwrap();
        World {
            registry,
            funds,
            units: UnitFreezes::new(),
            seller_account,
            buyer_account,
        }
    }

    /// A trade of the seller's order 2 against the buyer's order 1.
    pub fn trade(
        &self,
        id: u64,
        quantity: u64,
        price_fen_per_t: u64,
        limit_fen_per_t: u64,
    ) -> Trade {
        Trade {
            id: TradeId(id),
            date: day(),
            class: CEA,
            quantity,
            price_fen_per_t,
            buyer: BUYER,
            buyer_account: self.buyer_account,
            buy_order: OrderRef(1),
            buy_limit_fen_per_t: limit_fen_per_t,
            seller: SELLER,
            seller_account: self.seller_account,
            sell_order: OrderRef(2),
        }
    }

    /// Opens the two orders: buy `quantity` at `limit` (funds frozen at the limit), sell
    /// `quantity` (units frozen).
    pub fn orders(&mut self, quantity: u64, limit_fen_per_t: u64) {
        let fen = FEES.buy_freeze_fen(limit_fen_per_t, quantity).unwrap();
        self.funds.freeze(BUYER, fen, OrderRef(1)).unwrap();
        self.units
            .freeze(
                &self.registry,
                OrderRef(2),
                self.seller_account,
                CEA,
                quantity,
            )
            .unwrap();
    }

    pub fn snapshot(&self) -> (Registry, Funds, UnitFreezes) {
        (
            self.registry.clone(),
            self.funds.clone(),
            self.units.clone(),
        )
    }

    pub fn settle(&mut self, trade: Trade) -> Result<Settlement, SettlementError> {
        settle(
            trade,
            &mut self.registry,
            &mut self.funds,
            &mut self.units,
            &FEES,
        )
    }

    /// Every invariant of the three ledgers.
    pub fn check(&self) {
        self.registry.check_invariants().unwrap();
        self.funds.check_invariants().unwrap();
        self.units.check_invariants(&self.registry).unwrap();
    }
}
