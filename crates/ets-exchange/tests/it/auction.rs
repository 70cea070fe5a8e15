//! One-way bidding: hand-computed allocations under both pricing rules.

use ets_exchange::{Allocation, Bid, BidRejection, OneWayAuction, Pricing, Side, run_one_way};

fn bid(id: u64, price: i64, qty: u64, time: u64) -> Bid {
    Bid {
        id,
        participant: id * 10,
        price,
        qty,
        time,
    }
}

fn alloc(bid: u64, qty: u64, price: i64) -> Allocation {
    Allocation {
        bid,
        participant: bid * 10,
        qty,
        price,
    }
}

/// Sell 1,000 t, floor 50.00. Ranked: 1 (52.00), 3 (51.00, t=1), 6 (51.00, t=4), 2 (50.50).
fn sell_bids() -> Vec<Bid> {
    vec![
        bid(1, 5200, 400, 3),
        bid(2, 5050, 300, 2),
        bid(3, 5100, 300, 1),
        bid(4, 4990, 200, 0), // below the floor
        bid(5, 6000, 0, 0),   // zero quantity
        bid(6, 5100, 200, 4),
    ]
}

#[test]
fn sell_uniform_price_clears_at_marginal_bid() {
    let a = OneWayAuction {
        side: Side::Sell,
        qty: 1000,
        limit: 5000,
        pricing: Pricing::Uniform,
    };
    let r = run_one_way(&a, &sell_bids());
    // 400 + 300 + 200 = 900; the marginal bid 2 gets 100 of its 300.
    assert_eq!(
        r.allocations,
        vec![
            alloc(1, 400, 5050),
            alloc(3, 300, 5050),
            alloc(6, 200, 5050),
            alloc(2, 100, 5050)
        ]
    );
    assert_eq!(r.clearing_price, Some(5050));
    assert_eq!((r.allocated, r.unallocated), (1000, 0));
    assert_eq!(
        r.rejected,
        vec![
            (4, BidRejection::BeyondLimit),
            (5, BidRejection::ZeroQuantity)
        ]
    );
}

#[test]
fn sell_pay_as_bid() {
    let a = OneWayAuction {
        side: Side::Sell,
        qty: 1000,
        limit: 5000,
        pricing: Pricing::PayAsBid,
    };
    let r = run_one_way(&a, &sell_bids());
    assert_eq!(
        r.allocations,
        vec![
            alloc(1, 400, 5200),
            alloc(3, 300, 5100),
            alloc(6, 200, 5100),
            alloc(2, 100, 5050)
        ]
    );
    assert_eq!(r.clearing_price, Some(5050));
}

#[test]
fn buy_side_ranks_lowest_offers_first_under_ceiling() {
    let offers = vec![
        bid(1, 5900, 300, 1),
        bid(2, 5800, 300, 2),
        bid(3, 6100, 100, 0),
    ];
    let a = OneWayAuction {
        side: Side::Buy,
        qty: 500,
        limit: 6000,
        pricing: Pricing::Uniform,
    };
    let r = run_one_way(&a, &offers);
    assert_eq!(
        r.allocations,
        vec![alloc(2, 300, 5900), alloc(1, 200, 5900)]
    );
    let a = OneWayAuction {
        pricing: Pricing::PayAsBid,
        ..a
    };
    let r = run_one_way(&a, &offers);
    assert_eq!(
        r.allocations,
        vec![alloc(2, 300, 5800), alloc(1, 200, 5900)]
    );
    assert_eq!(r.rejected, vec![(3, BidRejection::BeyondLimit)]);
}

#[test]
fn undersubscribed_and_empty() {
    let a = OneWayAuction {
        side: Side::Sell,
        qty: 1000,
        limit: 5000,
        pricing: Pricing::Uniform,
    };
    let r = run_one_way(&a, &[bid(1, 5500, 600, 0)]);
    assert_eq!(r.allocations, vec![alloc(1, 600, 5500)]);
    assert_eq!((r.allocated, r.unallocated), (600, 400));
    let r = run_one_way(&a, &[]);
    assert_eq!(
        (r.allocations.len(), r.clearing_price, r.unallocated),
        (0, None, 1000)
    );
}
