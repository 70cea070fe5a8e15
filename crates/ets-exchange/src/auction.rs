//! One-way bidding (单向竞价, DOMAIN §4) as a pure function: one side announces a quantity to
//! sell (or buy) with a floor (or ceiling) price; bids collected in a window are ranked by
//! price, then by time, and filled until the quantity runs out; the marginal bid may be
//! filled in part. Pricing is uniform (every winner pays the marginal accepted bid's price,
//! as in the EU's auctions) or pay-as-bid, a parameter of the announcement.

use crate::{Participant, Price, Qty, Side};

/// How winners pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pricing {
    /// All winners trade at the marginal (last accepted) bid's price.
    Uniform,
    /// Each winner trades at its own bid price.
    PayAsBid,
}

/// The announcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneWayAuction {
    /// The initiator's side: `Sell` = it sells `qty` and bidders buy (highest bids win, at or
    /// above `limit`, a floor); `Buy` = it buys and bidders offer (lowest offers win, at or
    /// below `limit`, a ceiling).
    pub side: Side,
    pub qty: Qty,
    pub limit: Price,
    pub pricing: Pricing,
}

/// One bid of the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bid {
    pub id: u64,
    pub participant: Participant,
    pub price: Price,
    pub qty: Qty,
    /// When it arrived (any monotone unit the caller uses); ties in price go to the earlier.
    pub time: u64,
}

/// Why a bid got nothing without being outranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BidRejection {
    ZeroQuantity,
    /// Below the floor (selling) or above the ceiling (buying).
    BeyondLimit,
}

/// What one winning bid gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub bid: u64,
    pub participant: Participant,
    pub qty: Qty,
    pub price: Price,
}

/// The outcome: allocations in rank order, the marginal price, and refused bids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuctionResult {
    pub allocations: Vec<Allocation>,
    /// The price of the last accepted bid (`None` when nothing was allocated).
    pub clearing_price: Option<Price>,
    pub allocated: Qty,
    pub unallocated: Qty,
    pub rejected: Vec<(u64, BidRejection)>,
}

/// Runs the allocation. Ties in price and time fall back to the bid id, so the result is a
/// pure function of the input.
pub fn run_one_way(auction: &OneWayAuction, bids: &[Bid]) -> AuctionResult {
    let mut rejected = Vec::new();
    let mut valid: Vec<&Bid> = Vec::with_capacity(bids.len());
    for b in bids {
        let beyond = match auction.side {
            Side::Sell => b.price < auction.limit,
            Side::Buy => b.price > auction.limit,
        };
        if b.qty == 0 {
            rejected.push((b.id, BidRejection::ZeroQuantity));
        } else if beyond {
            rejected.push((b.id, BidRejection::BeyondLimit));
        } else {
            valid.push(b);
        }
    }
    valid.sort_by(|a, b| {
        let by_price = match auction.side {
            Side::Sell => b.price.cmp(&a.price),
            Side::Buy => a.price.cmp(&b.price),
        };
        by_price.then(a.time.cmp(&b.time)).then(a.id.cmp(&b.id))
    });
    let mut left = auction.qty;
    let mut allocations = Vec::new();
    for b in valid {
        if left == 0 {
            break;
        }
        let q = b.qty.min(left);
        left -= q;
        allocations.push(Allocation {
            bid: b.id,
            participant: b.participant,
            qty: q,
            price: b.price,
        });
    }
    let clearing_price = allocations.last().map(|a| a.price);
    if let (Pricing::Uniform, Some(p)) = (auction.pricing, clearing_price) {
        for a in &mut allocations {
            a.price = p;
        }
    }
    AuctionResult {
        allocations,
        clearing_price,
        allocated: auction.qty - left,
        unallocated: left,
        rejected,
    }
}
