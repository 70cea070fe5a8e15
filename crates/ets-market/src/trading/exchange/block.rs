//! Block trades (大宗协议): a proposal to a named counterparty, its acceptance (which settles
//! as the market file says: at once or after the close), and its withdrawal by the proposer.
//!
//! Lifetime: under `lifetimes.block_proposal = "day"` a proposal not accepted by the close
//! lapses and the close releases what it froze (`day.rs`); under `"carry"` it stays open. Either
//! way the acceptance is checked as the proposal was, against the day of the acceptance: its
//! block band, its block session, the buyer's position limit, funds and tradable units.

// Each input's check and apply take its fields by name, as the journaled `ExchangeInput`
// spells them, rather than a struct per input that would be a second copy of the variant.
#![allow(clippy::too_many_arguments)]

use super::*;

impl Exchange {
    /// A block proposal: the instrument trades by block, a counterparty other than oneself, open day, block session, lot, block minimum, tick and block band, funds or units.
    pub(super) fn check_propose_block(
        &self,
        registry: &Registry,
        position_limit: &dyn Fn(AccountId, UnitClass) -> Tonnes,
        account: AccountId,
        counterparty: AccountId,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
        if !self.instrument(class)?.block {
            return Err(TradeRejection::ModeNotAllowed {
                class,
                mode: TradeMode::Block,
            });
        }
        if account == counterparty {
            return Err(TradeRejection::SelfTrade);
        }
        self.check_day(date)?;
        self.in_session(TradingWindow::Block, minute)?;
        self.check_price_qty(class, price, qty, true)?;
        self.check_commitment(registry, position_limit, account, class, side, price, qty)
    }

    /// Records a block proposal and freezes what it needs.
    pub(super) fn apply_propose_block(
        &mut self,
        registry: &mut Registry,
        id: u64,
        account: AccountId,
        counterparty: AccountId,
        class: UnitClass,
        side: OrderSide,
        price: i64,
        qty: Tonnes,
    ) -> Result<(), TradeRejection> {
        self.freeze(registry, id, account, class, side, price, qty)?;
        self.blocks.insert(
            id,
            BlockProposal {
                account,
                counterparty,
                class,
                side,
                price,
                qty,
            },
        );
        Ok(())
    }

    /// Accepting a block proposal addressed to oneself, in the block session, with the funds or units the other side needs.
    pub(super) fn check_accept_block(
        &self,
        registry: &Registry,
        position_limit: &dyn Fn(AccountId, UnitClass) -> Tonnes,
        proposal: u64,
        account: AccountId,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
        let p = self
            .blocks
            .get(&proposal)
            .ok_or(TradeRejection::UnknownProposal { id: proposal })?;
        if p.counterparty != account {
            return Err(TradeRejection::NotCounterparty { id: proposal });
        }
        self.check_day(date)?;
        self.in_session(TradingWindow::Block, minute)?;
        // The price, size and mode again, against today's band: a proposal carried from an
        // earlier day must still be a proposal one could make today.
        self.check_price_qty(p.class, p.price, p.qty, true)?;
        // The buyer's position limit, checked again when the trade happens: the acceptor buying
        // from a sell proposal, or the proposer of a buy proposal (whose holdings may have grown).
        // A buying proposal already counts in its proposer's position (`Exchange::position`),
        // so only the acceptor of a selling one adds the quantity.
        let (buyer, adds) = match p.side {
            OrderSide::Sell => (account, p.qty),
            OrderSide::Buy => (p.account, 0),
        };
        self.check_position(
            registry,
            buyer,
            p.class,
            adds,
            position_limit(buyer, p.class),
        )?;
        match p.side {
            OrderSide::Sell => self.check_buy(account, p.price, p.qty, 0).map(|_| ()),
            OrderSide::Buy => self.check_sell(registry, account, p.class, p.qty, 0),
        }
    }

    /// Accepts a block proposal: freezes, settles the trade, releases both sides.
    pub(super) fn apply_accept_block(
        &mut self,
        registry: &mut Registry,
        trades: &mut Vec<TradeRecord>,
        id: u64,
        proposal: u64,
        account: AccountId,
        date: Date,
        minute: u16,
    ) -> Result<(), TradeRejection> {
        let p = self
            .blocks
            .remove(&proposal)
            .ok_or(TradeRejection::UnknownProposal { id: proposal })?;
        let side = match p.side {
            OrderSide::Buy => OrderSide::Sell,
            OrderSide::Sell => OrderSide::Buy,
        };
        self.freeze(registry, id, account, p.class, side, p.price, p.qty)?;
        let (buyer, buy_order, seller, sell_order) = if p.side == OrderSide::Buy {
            (p.account, proposal, account, id)
        } else {
            (account, id, p.account, proposal)
        };
        let record = self.settle_one(
            registry,
            (buyer, buy_order, p.price),
            (seller, sell_order),
            p.class,
            p.price,
            p.qty,
            date,
            minute,
            TradeKindTag::Block,
        )?;
        trades.push(record);
        self.release_unless_pending(proposal)?;
        self.release_unless_pending(id)?;
        Ok(())
    }
}

impl Exchange {
    /// Withdrawing a block proposal: it is open and the withdrawer made it.
    pub(super) fn check_withdraw_block(
        &self,
        proposal: u64,
        account: AccountId,
    ) -> Result<(), TradeRejection> {
        let p = self
            .blocks
            .get(&proposal)
            .ok_or(TradeRejection::UnknownProposal { id: proposal })?;
        if p.account != account {
            return Err(TradeRejection::NotProposer { id: proposal });
        }
        Ok(())
    }

    /// Withdraws a block proposal and releases what it froze.
    pub(super) fn apply_withdraw_block(&mut self, proposal: u64) -> Result<(), TradeRejection> {
        self.blocks
            .remove(&proposal)
            .ok_or(TradeRejection::UnknownProposal { id: proposal })?;
        self.release_all(proposal)
    }
}
