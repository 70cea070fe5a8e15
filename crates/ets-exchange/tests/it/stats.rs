//! Daily statistics: open, high, low, VWAP close of listed trades (half up to the tick) and
//! the previous-close fallback; block trades excluded from the prices.

use ets_exchange::{DailyStats, StatsKind, Tally, TradeKind};

#[test]
fn vwap_close_of_listed_trades_only() {
    let mut s = DailyStats::new(5000, 1).unwrap();
    s.record(TradeKind::Listed, 5010, 100);
    s.record(TradeKind::Block, 4000, 100_000);
    s.record(TradeKind::Listed, 5020, 200);
    s.record(TradeKind::Listed, 4990, 50);
    // (501,000 + 1,004,000 + 249,500) / 350 = 5012.857… -> 5013
    assert_eq!(s.close(), 5013);
    assert_eq!(
        (s.open(), s.high(), s.low()),
        (5010, Some(5020), Some(4990))
    );
    assert_eq!(s.listed_volume(), Ok(350));
    assert_eq!(s.listed_turnover(), Ok(1_754_500));
    assert_eq!(s.block_volume(), Ok(100_000));
    assert_eq!(s.block_turnover(), Ok(400_000_000));
    assert_eq!(s.listed_trades(), 3);
}

#[test]
fn each_kind_has_its_own_sums_and_only_listed_trades_set_the_prices() {
    let mut s = DailyStats::new(5000, 1).unwrap();
    s.record(StatsKind::Listed, 5010, 100);
    s.record(StatsKind::Block, 4000, 100_000);
    s.record(StatsKind::OneWay, 4500, 2_000);
    s.record(StatsKind::OneWay, 4600, 1_000);
    assert_eq!(
        (s.open(), s.high(), s.low(), s.close()),
        (5010, Some(5010), Some(5010), 5010)
    );
    let tally = |volume, turnover, trades| Tally {
        volume,
        turnover,
        trades,
    };
    assert_eq!(s.tally(StatsKind::Listed), tally(100, 501_000, 1));
    assert_eq!(s.tally(StatsKind::Block), tally(100_000, 400_000_000, 1));
    assert_eq!(s.tally(StatsKind::OneWay), tally(3_000, 13_600_000, 2));
    assert_eq!(s.total(), tally(103_100, 414_101_000, 4));
    // One-way allocations are not block trades.
    assert_eq!((s.block_volume(), s.block_trades()), (Ok(100_000), 1));
    // Only one-way allocations: the prices stay at the previous close.
    let mut s = DailyStats::new(5837, 1).unwrap();
    s.record(StatsKind::OneWay, 7000, 10);
    assert_eq!((s.open(), s.close(), s.high()), (5837, 5837, None));
}

#[test]
fn vwap_rounds_half_up_to_the_tick() {
    let mut s = DailyStats::new(5000, 1).unwrap();
    s.record(TradeKind::Listed, 5000, 1);
    s.record(TradeKind::Listed, 5001, 1);
    assert_eq!(s.close(), 5001); // 5000.5 -> 5001
    let mut s = DailyStats::new(5000, 1).unwrap();
    s.record(TradeKind::Listed, 5000, 2);
    s.record(TradeKind::Listed, 5001, 1);
    assert_eq!(s.close(), 5000); // 5000.33 -> 5000
    let mut s = DailyStats::new(5000, 5).unwrap();
    s.record(TradeKind::Listed, 5000, 1);
    s.record(TradeKind::Listed, 5005, 1);
    assert_eq!(s.close(), 5005); // 5002.5 is half a tick of 5 -> up to 5005
}

#[test]
fn no_listed_trade_falls_back_to_previous_close() {
    let mut s = DailyStats::new(5837, 1).unwrap();
    s.record(TradeKind::Block, 7000, 200_000);
    assert_eq!(
        (s.open(), s.close(), s.high(), s.low()),
        (5837, 5837, None, None)
    );
    assert!(DailyStats::new(5837, 0).is_err());
}

#[test]
fn huge_sums_do_not_overflow_internally() {
    let mut s = DailyStats::new(5000, 1).unwrap();
    for _ in 0..4 {
        s.record(TradeKind::Listed, i64::MAX / 2, u64::MAX / 2);
    }
    assert_eq!(s.close(), i64::MAX / 2);
    assert!(s.listed_volume().is_err());
    assert!(s.listed_turnover().is_err());
}
