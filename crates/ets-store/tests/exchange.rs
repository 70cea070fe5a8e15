//! The exchange on the registry, rule by rule, through the journaled store: click-to-trade,
//! continuous matching, bands, sessions, T+1 resale, block trades, freezes, the close, and a
//! replay that reproduces every trade.

use ets_journal::JournalOptions;
use ets_market::trading::exchange::{OrderSide, Tif, TradeRejection};
use ets_market::{Command, ExchangeCommand, MarketError};
use ets_store::{Store, StoreError};
use ets_types::*;

mod common;
use common::*;

const CEA19: UnitClass = UnitClass::Cea { vintage: 2019 };
const MARKET: &str = include_str!("../../../markets/cn-seee.toml");

/// The shipped market file with one setting changed, checking that the setting is there.
fn with(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the market file no longer says {from}");
    text.replace(from, to)
}

/// The shipped rules, with holders other than covered companies admitted (these tests trade
/// with TRADER1) and trades settled as `settlement` says. The shipped file's own admission and
/// settlement have tests of their own (`the_shipped_file_*`).
fn rules(settlement: &str) -> String {
    let admitting = with(
        MARKET,
        "admit_non_covered = false",
        "admit_non_covered = true",
    );
    with(
        &admitting,
        "settlement = \"end_of_day\"",
        &format!("settlement = \"{settlement}\""),
    )
}

fn x(date: &str, c: ExchangeCommand) -> ets_market::Envelope {
    env(date, Command::Exchange(c))
}

fn order(holder: &str, side: OrderSide, price: i64, qty: u64, minute: u16) -> ExchangeCommand {
    ExchangeCommand::Order {
        holder: holder.into(),
        class: UnitClass::Cea { vintage: 2019 },
        side,
        price,
        qty,
        tif: Tif::Day,
        minute,
    }
}

fn rejected(r: Result<Vec<ets_market::Event>, StoreError>) -> TradeRejection {
    match r {
        Err(StoreError::Rejected(MarketError::Trade(t))) => t,
        other => panic!("expected an exchange rejection, got {other:?}"),
    }
}

/// A store with the two-company cycle trued up, a trader, the exchange open, funds deposited,
/// and the first trading day (16 July 2021) open.
fn market(toml: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) =
        Store::open(dir.path(), d("2021-01-04"), JournalOptions::default()).unwrap();
    setup(&mut store);
    store
        .submit(&env(
            "2021-07-01",
            Command::RegisterHolder {
                holder: "TRADER1".into(),
            },
        ))
        .unwrap();
    store
        .submit(&env(
            "2021-07-01",
            Command::OpenExchange {
                source: "market".into(),
                toml: toml.into(),
            },
        ))
        .unwrap();
    let admitted = store.market().exchange().unwrap().rules.admit_non_covered;
    for h in ["HB0001", "TRADER1", "SX0001"] {
        if h == "TRADER1" && !admitted {
            continue;
        }
        store
            .submit(&x(
                "2021-07-15",
                ExchangeCommand::Deposit {
                    holder: h.into(),
                    fen: 1_000_000_000,
                },
            ))
            .unwrap();
    }
    store
        .submit(&x("2021-07-16", ExchangeCommand::OpenDay))
        .unwrap();
    (dir, store)
}

fn holding(store: &Store, holder: &str) -> u64 {
    let m = store.market();
    m.registry()
        .holding(m.resolve_account(holder).unwrap(), CEA19)
}

fn funds(store: &Store, holder: &str) -> (u64, u64) {
    let m = store.market();
    let p = ets_clearing::ParticipantId(m.resolve_account(holder).unwrap().0);
    let ex = m.exchange().unwrap();
    (ex.funds.available(p), ex.funds.frozen(p))
}

#[test]
fn click_to_trade_bands_sessions_resale_block_trades_and_the_close() {
    let (dir, mut store) = market(&rules("immediate"));
    let day1 = "2021-07-16";
    // The band of the first day is ±10 % of the 48.00 opening reference: 43.20..=52.80.
    assert!(matches!(
        rejected(store.submit(&x(day1, order("SX0001", OrderSide::Sell, 5281, 100, 600)))),
        TradeRejection::OutsideBand {
            low: 4320,
            high: 5280,
            ..
        }
    ));
    assert!(matches!(
        rejected(store.submit(&x(day1, order("HB0001", OrderSide::Buy, 4319, 100, 600)))),
        TradeRejection::OutsideBand { .. }
    ));
    // Size: a listed order is under 100,000 t.
    assert!(matches!(
        rejected(store.submit(&x(
            day1,
            order("SX0001", OrderSide::Sell, 4800, 100_000, 600)
        ))),
        TradeRejection::SizeLimit { .. }
    ));
    // Sessions: 9:30-11:30 and 13:00-15:00.
    for minute in [569, 690, 720, 900] {
        assert!(
            matches!(
                rejected(store.submit(&x(
                    day1,
                    order("SX0001", OrderSide::Sell, 4800, 100, minute)
                ))),
                TradeRejection::OutsideSession { .. }
            ),
            "minute {minute}"
        );
    }
    let sx_before = holding(&store, "SX0001");
    let o1 = store.market().exchange().unwrap().next_id();
    store
        .submit(&x(
            day1,
            order("SX0001", OrderSide::Sell, 4800, 10_000, 570),
        ))
        .unwrap();
    store
        .submit(&x(day1, order("SX0001", OrderSide::Sell, 4900, 5_000, 780)))
        .unwrap();
    store
        .submit(&x(day1, order("SX0001", OrderSide::Sell, 5280, 1_000, 899)))
        .unwrap();
    store
        .submit(&x(day1, order("HB0001", OrderSide::Buy, 4320, 1_000, 600)))
        .unwrap();
    // Listed units are frozen: a registry transfer cannot take them.
    let all = holding(&store, "SX0001");
    let transfer = Command::Transfer {
        class: CEA19,
        quantity: all,
        from: "SX0001".into(),
        to: "HB0001".into(),
    };
    assert!(matches!(
        rejected(store.submit(&env(day1, transfer))),
        TradeRejection::InsufficientUnits { .. }
    ));
    // The five-level view shows the listed sell orders, best first.
    let (bids, asks) = store.market().exchange().unwrap().depth(CEA19, 5);
    assert_eq!(
        asks.iter().map(|l| (l.price, l.qty)).collect::<Vec<_>>(),
        [(4800, 10_000), (4900, 5_000), (5280, 1_000)]
    );
    assert_eq!(bids.iter().map(|l| l.price).collect::<Vec<_>>(), [4320]);

    // A buyer takes part of the best order at its price: delivery versus payment.
    let hb_funds = funds(&store, "HB0001").0;
    let events = store
        .submit(&x(
            day1,
            ExchangeCommand::Take {
                holder: "HB0001".into(),
                order: o1,
                qty: 4_000,
                minute: 601,
            },
        ))
        .unwrap();
    let ets_market::Event::Exchange { trades, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!((trades[0].price, trades[0].qty), (4800, 4_000));
    assert_eq!(holding(&store, "SX0001"), sx_before - 4_000);
    assert_eq!(funds(&store, "HB0001").0, hb_funds - 4_000 * 4800);
    assert_eq!(funds(&store, "SX0001").0, 1_000_000_000 + 4_000 * 4800);
    // A trader buys 1,000 t at 48.00 and 500 t at 49.00, and cannot resell them today.
    store
        .submit(&x(
            day1,
            ExchangeCommand::Take {
                holder: "TRADER1".into(),
                order: o1,
                qty: 1_000,
                minute: 602,
            },
        ))
        .unwrap();
    store
        .submit(&x(
            day1,
            ExchangeCommand::Take {
                holder: "TRADER1".into(),
                order: o1 + 1,
                qty: 500,
                minute: 790,
            },
        ))
        .unwrap();
    assert!(matches!(
        rejected(store.submit(&x(day1, order("TRADER1", OrderSide::Sell, 4800, 1, 800)))),
        TradeRejection::InsufficientUnits { tradable: 0, .. }
    ));
    // Taking more than is open, one's own order, or an unknown order is refused.
    assert!(
        store
            .submit(&x(
                day1,
                ExchangeCommand::Take {
                    holder: "HB0001".into(),
                    order: o1,
                    qty: 5_001,
                    minute: 603
                }
            ))
            .is_err()
    );
    assert!(matches!(
        rejected(store.submit(&x(
            day1,
            ExchangeCommand::Take {
                holder: "SX0001".into(),
                order: o1 + 1,
                qty: 1,
                minute: 603
            }
        ))),
        TradeRejection::SelfTrade
    ));
    // A block trade outside the afternoon session, or under 100,000 t, is refused.
    let block = |qty, price, minute| ExchangeCommand::ProposeBlock {
        holder: "SX0001".into(),
        counterparty: "HB0001".into(),
        class: UnitClass::Cea { vintage: 2019 },
        side: OrderSide::Sell,
        price,
        qty,
        minute,
    };
    assert!(matches!(
        rejected(store.submit(&x(day1, block(100_000, 5000, 600)))),
        TradeRejection::OutsideSession { .. }
    ));
    assert!(matches!(
        rejected(store.submit(&x(day1, block(99_999, 5000, 800)))),
        TradeRejection::SizeLimit { .. }
    ));
    // ±30 % of 48.00: 33.60..=62.40.
    assert!(matches!(
        rejected(store.submit(&x(day1, block(100_000, 6241, 800)))),
        TradeRejection::OutsideBand {
            low: 3360,
            high: 6240,
            ..
        }
    ));
    let proposal = store.market().exchange().unwrap().next_id();
    store.submit(&x(day1, block(100_000, 6240, 800))).unwrap();
    assert!(matches!(
        rejected(store.submit(&x(
            day1,
            ExchangeCommand::AcceptBlock {
                holder: "TRADER1".into(),
                proposal,
                minute: 801
            }
        ))),
        TradeRejection::NotCounterparty { .. }
    ));
    store
        .submit(&x(
            day1,
            ExchangeCommand::AcceptBlock {
                holder: "HB0001".into(),
                proposal,
                minute: 801,
            },
        ))
        .unwrap();

    // The close: VWAP of the listed trades only, (5,000 × 48.00 + 500 × 49.00) / 5,500 = 48.0909 -> 48.09.
    store.submit(&x(day1, ExchangeCommand::CloseDay)).unwrap();
    let ex = store.market().exchange().unwrap();
    let bar = ex
        .days()
        .iter()
        .find(|b| b.class == CEA19 && b.date == d(day1))
        .unwrap();
    let f = &bar.figures;
    assert_eq!(
        (
            f.open,
            f.high,
            f.low,
            f.close,
            f.listed_volume_t,
            f.block_volume_t,
            f.volume_t
        ),
        (4800, 4900, 4800, 4809, 5_500, 100_000, 105_500)
    );
    assert_eq!(f.listed_turnover_fen, 5_000 * 4800 + 500 * 4900);
    assert_eq!(f.block_turnover_fen, 100_000 * 6240);
    assert!(
        ex.open_orders(store.market().resolve_account("SX0001").unwrap())
            .is_empty(),
        "open orders expire at the close"
    );
    assert_eq!(
        funds(&store, "HB0001").1,
        0,
        "expired buy orders give their funds back"
    );
    // Saturday is not a trading day; Monday is, with a band around 48.09: 43.29..=52.89.
    assert!(matches!(
        rejected(store.submit(&x("2021-07-17", ExchangeCommand::OpenDay))),
        TradeRejection::NotTradingDay { .. }
    ));
    store
        .submit(&x("2021-07-19", ExchangeCommand::OpenDay))
        .unwrap();
    assert!(matches!(
        rejected(store.submit(&x(
            "2021-07-19",
            order("TRADER1", OrderSide::Sell, 5290, 1_500, 600)
        ))),
        TradeRejection::OutsideBand {
            low: 4329,
            high: 5289,
            ..
        }
    ));
    store
        .submit(&x(
            "2021-07-19",
            order("TRADER1", OrderSide::Sell, 5289, 1_500, 600),
        ))
        .unwrap();
    store.market().check_invariants().unwrap();

    // Replay reproduces the same state and the same trades.
    let live = store.market().clone();
    drop(store);
    let (reopened, _) =
        Store::open(dir.path(), d("2030-01-01"), JournalOptions::default()).unwrap();
    assert_eq!(reopened.market(), &live);
    assert_eq!(
        reopened.market().exchange().unwrap().trades(),
        live.exchange().unwrap().trades()
    );
}

#[test]
fn continuous_matching_price_time_ioc_fok_and_amend() {
    let toml = with(
        &rules("immediate"),
        "matching = \"click_to_trade\"",
        "matching = \"continuous\"",
    );
    let (dir, mut store) = market(&toml);
    let day = "2021-07-16";
    store
        .submit(&x(day, order("SX0001", OrderSide::Sell, 4800, 1_000, 600)))
        .unwrap();
    store
        .submit(&x(day, order("SX0001", OrderSide::Sell, 4850, 1_000, 600)))
        .unwrap();
    // A buy at 49.00 for 1,500 t takes 1,000 at 48.00 then 500 at 48.50 (maker prices); the
    // funds frozen at 49.00 beyond what was paid come back.
    let before = funds(&store, "HB0001").0;
    let events = store
        .submit(&x(day, order("HB0001", OrderSide::Buy, 4900, 1_500, 601)))
        .unwrap();
    let ets_market::Event::Exchange { trades, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(
        trades.iter().map(|t| (t.price, t.qty)).collect::<Vec<_>>(),
        [(4800, 1_000), (4850, 500)]
    );
    assert_eq!(
        funds(&store, "HB0001"),
        (before - 1_000 * 4800 - 500 * 4850, 0)
    );
    // FOK for more than there is: refused, nothing changes.
    let snapshot = store.market().clone();
    let fok = ExchangeCommand::Order {
        holder: "HB0001".into(),
        class: UnitClass::Cea { vintage: 2019 },
        side: OrderSide::Buy,
        price: 4850,
        qty: 501,
        tif: Tif::Fok,
        minute: 602,
    };
    assert!(store.submit(&x(day, fok)).is_err());
    assert_eq!(store.market(), &snapshot);
    // IOC for 800 at 48.50: 500 trade, the rest is cancelled and its funds released.
    let ioc = ExchangeCommand::Order {
        holder: "TRADER1".into(),
        class: UnitClass::Cea { vintage: 2019 },
        side: OrderSide::Buy,
        price: 4850,
        qty: 800,
        tif: Tif::Ioc,
        minute: 603,
    };
    let events = store.submit(&x(day, ioc)).unwrap();
    let ets_market::Event::Exchange { trades, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(trades.iter().map(|t| t.qty).sum::<u64>(), 500);
    assert_eq!(funds(&store, "TRADER1").1, 0);
    // Price-time priority and amend: two bids at 47.00; the first loses priority when it
    // raises its quantity, so the second is filled first.
    let b1 = store.market().exchange().unwrap().next_id();
    store
        .submit(&x(day, order("HB0001", OrderSide::Buy, 4700, 100, 604)))
        .unwrap();
    store
        .submit(&x(day, order("TRADER1", OrderSide::Buy, 4700, 100, 605)))
        .unwrap();
    store
        .submit(&x(
            day,
            ExchangeCommand::Amend {
                holder: "HB0001".into(),
                order: b1,
                price: 4700,
                qty: 200,
                minute: 606,
            },
        ))
        .unwrap();
    let events = store
        .submit(&x(day, order("SX0001", OrderSide::Sell, 4700, 100, 607)))
        .unwrap();
    let ets_market::Event::Exchange { trades, .. } = &events[0] else {
        panic!()
    };
    let trader = store.market().resolve_account("TRADER1").unwrap();
    assert_eq!(
        trades[0].buyer, trader,
        "the amended (increased) order lost its time priority"
    );
    store
        .submit(&x(
            day,
            ExchangeCommand::Cancel {
                holder: "HB0001".into(),
                order: b1,
            },
        ))
        .unwrap();
    assert_eq!(
        funds(&store, "HB0001").1,
        0,
        "a cancel releases the order's funds"
    );
    store.submit(&x(day, ExchangeCommand::CloseDay)).unwrap();
    store.market().check_invariants().unwrap();
    let live = store.market().clone();
    drop(store);
    let (reopened, _) =
        Store::open(dir.path(), d("2030-01-01"), JournalOptions::default()).unwrap();
    assert_eq!(reopened.market(), &live);
}

/// Issue 13 item 3: a day with listed trades, a block trade and one-way allocations in one
/// class. The instrument's bar and the market's day count each kind apart (volume, turnover,
/// trades) and in the totals; only the listed trades set the prices; replay rebuilds the same.
#[test]
fn the_day_counts_listed_block_and_one_way_trades_apart_and_in_total() {
    let (dir, mut store) = market(&rules("immediate"));
    let day = "2021-07-16";
    let first = store.market().exchange().unwrap().next_id();
    store
        .submit(&x(day, order("SX0001", OrderSide::Sell, 4800, 1_000, 570)))
        .unwrap();
    store
        .submit(&x(day, order("SX0001", OrderSide::Sell, 4900, 1_000, 571)))
        .unwrap();
    for (holder, order, qty, minute) in [
        ("HB0001", first, 600, 601),
        ("TRADER1", first + 1, 400, 602),
    ] {
        store
            .submit(&x(
                day,
                ExchangeCommand::Take {
                    holder: holder.into(),
                    order,
                    qty,
                    minute,
                },
            ))
            .unwrap();
    }
    // A block trade of 100,000 t at 50.00, far from the listed prices.
    let proposal = store.market().exchange().unwrap().next_id();
    store
        .submit(&x(
            day,
            ExchangeCommand::ProposeBlock {
                holder: "SX0001".into(),
                counterparty: "HB0001".into(),
                class: CEA19,
                side: OrderSide::Sell,
                price: 5000,
                qty: 100_000,
                minute: 800,
            },
        ))
        .unwrap();
    store
        .submit(&x(
            day,
            ExchangeCommand::AcceptBlock {
                holder: "HB0001".into(),
                proposal,
                minute: 801,
            },
        ))
        .unwrap();
    // One-way bidding, pay-as-bid: 2,000 t at 47.00 and 1,000 t at 46.00.
    let auction = store.market().exchange().unwrap().next_id();
    store
        .submit(&x(
            day,
            ExchangeCommand::Announce {
                holder: "SX0001".into(),
                class: CEA19,
                side: OrderSide::Sell,
                qty: 3_000,
                limit: 4500,
                pay_as_bid: true,
                open_minute: 840,
                close_minute: 870,
            },
        ))
        .unwrap();
    for (holder, price, minute) in [("TRADER1", 4700, 845), ("HB0001", 4600, 846)] {
        store
            .submit(&x(
                day,
                ExchangeCommand::Bid {
                    holder: holder.into(),
                    auction,
                    price,
                    qty: 2_000,
                    minute,
                },
            ))
            .unwrap();
    }
    store
        .submit(&x(
            day,
            ExchangeCommand::CloseAuction {
                auction,
                minute: 870,
            },
        ))
        .unwrap();
    let expected = ets_market::trading::exchange::DayFigures {
        open: 4800,
        high: 4900,
        low: 4800,
        // (600 × 48.00 + 400 × 49.00) / 1,000: the block and one-way prices are left out.
        close: 4840,
        listed_volume_t: 1_000,
        listed_turnover_fen: 600 * 4800 + 400 * 4900,
        listed_trades: 2,
        block_volume_t: 100_000,
        block_turnover_fen: 100_000 * 5000,
        block_trades: 1,
        one_way_volume_t: 3_000,
        one_way_turnover_fen: 2_000 * 4700 + 1_000 * 4600,
        one_way_trades: 2,
        volume_t: 104_000,
        turnover_fen: 600 * 4800 + 400 * 4900 + 100_000 * 5000 + 2_000 * 4700 + 1_000 * 4600,
        trades: 5,
    };
    let so_far = store
        .market()
        .exchange()
        .unwrap()
        .day_so_far(CEA19)
        .unwrap();
    assert_eq!(so_far.figures, expected, "the open day so far");
    store.submit(&x(day, ExchangeCommand::CloseDay)).unwrap();
    let ex = store.market().exchange().unwrap();
    let bar = ex
        .days()
        .iter()
        .find(|b| b.class == CEA19 && b.date == d(day))
        .unwrap();
    assert_eq!(bar.figures, expected, "the instrument's bar");
    let days = ex.market_days();
    assert_eq!(days.len(), 1);
    assert_eq!(
        (days[0].date, days[0].figures),
        (d(day), expected),
        "the market's day"
    );
    assert_eq!(ex.prev_close(CEA19), Some(4840));
    store.market().check_invariants().unwrap();
    let live = store.market().clone();
    drop(store);
    let (reopened, _) =
        Store::open(dir.path(), d("2030-01-01"), JournalOptions::default()).unwrap();
    assert_eq!(reopened.market(), &live);
    assert_eq!(
        reopened.market().exchange().unwrap().days(),
        live.exchange().unwrap().days()
    );
}

#[test]
fn one_way_bidding_end_of_day_settlement_and_position_limits() {
    let toml = rules("end_of_day");
    let (dir, mut store) = market(&toml);
    let day = "2021-07-16";
    for h in ["TRADER1", "HB0001"] {
        store
            .submit(&x(
                day,
                ExchangeCommand::Deposit {
                    holder: h.into(),
                    fen: 100_000_000_000,
                },
            ))
            .unwrap();
    }
    // SX0001 sells 300,000 t by one-way bidding, floor 45.00, uniform price, window 10:00-10:30.
    let auction = store.market().exchange().unwrap().next_id();
    let announce = ExchangeCommand::Announce {
        holder: "SX0001".into(),
        class: UnitClass::Cea { vintage: 2019 },
        side: OrderSide::Sell,
        qty: 300_000,
        limit: 4500,
        pay_as_bid: false,
        open_minute: 600,
        close_minute: 630,
    };
    store.submit(&x(day, announce)).unwrap();
    let bid = |who: &str, price, qty, minute| ExchangeCommand::Bid {
        holder: who.into(),
        auction,
        price,
        qty,
        minute,
    };
    assert!(
        matches!(
            rejected(store.submit(&x(day, bid("HB0001", 4499, 1_000, 605)))),
            TradeRejection::OutsideBand { .. }
        ),
        "below the floor"
    );
    assert!(
        matches!(
            rejected(store.submit(&x(day, bid("HB0001", 4600, 1_000, 631)))),
            TradeRejection::OutsideSession { .. }
        ),
        "after the window"
    );
    assert!(matches!(
        rejected(store.submit(&x(day, bid("SX0001", 4600, 1_000, 605)))),
        TradeRejection::SelfTrade
    ));
    store
        .submit(&x(day, bid("HB0001", 5000, 200_000, 605)))
        .unwrap();
    store
        .submit(&x(day, bid("TRADER1", 4700, 150_000, 606)))
        .unwrap();
    store
        .submit(&x(day, bid("HB0001", 4600, 50_000, 607)))
        .unwrap();
    assert!(
        store
            .submit(&x(
                day,
                ExchangeCommand::CloseAuction {
                    auction,
                    minute: 629
                }
            ))
            .is_err(),
        "not before the window ends"
    );
    let events = store
        .submit(&x(
            day,
            ExchangeCommand::CloseAuction {
                auction,
                minute: 630,
            },
        ))
        .unwrap();
    let ets_market::Event::Exchange { trades, .. } = &events[0] else {
        panic!()
    };
    // By price: 200,000 to HB0001 at 50.00, then 100,000 of TRADER1's 150,000 at 47.00; the
    // 46.00 bid gets nothing. Uniform price: the marginal accepted bid, 47.00.
    assert_eq!(
        trades.iter().map(|t| (t.price, t.qty)).collect::<Vec<_>>(),
        [(4700, 200_000), (4700, 100_000)]
    );
    assert!(
        trades.iter().all(|t| t.registry_seq.is_none()),
        "end-of-day settlement: nothing moved yet"
    );
    let trader_before = holding(&store, "TRADER1");
    assert_eq!(trader_before, 0);
    store.submit(&x(day, ExchangeCommand::CloseDay)).unwrap();
    assert_eq!(holding(&store, "TRADER1"), 100_000, "settled at the close");
    assert!(
        store
            .market()
            .exchange()
            .unwrap()
            .trades()
            .iter()
            .all(|t| t.registry_seq.is_some())
    );
    assert_eq!(
        funds(&store, "TRADER1").1,
        0,
        "the unallocated part of the bid is released"
    );
    assert_eq!(funds(&store, "HB0001").1, 0);

    // Position limit of a non-compliance participant: 1,000,000 t (market file).
    store
        .submit(&x("2021-07-19", ExchangeCommand::OpenDay))
        .unwrap();
    for i in 0..9 {
        store
            .submit(&x(
                "2021-07-19",
                order("TRADER1", OrderSide::Buy, 4700, 99_999, 600 + i),
            ))
            .unwrap();
    }
    assert!(matches!(
        rejected(store.submit(&x(
            "2021-07-19",
            order("TRADER1", OrderSide::Buy, 4700, 99_999, 610)
        ))),
        TradeRejection::PositionLimit {
            limit: 1_000_000,
            ..
        }
    ));
    // Every way of acquiring units counts (issue 13: a block once gave a holder 1,000,001 t
    // against a 1,000,000 t cap): a buying block proposal, the acceptance of a selling one,
    // and a bid in a selling one-way auction are refused alike.
    let block = |holder: &str, counterparty: &str, side| ExchangeCommand::ProposeBlock {
        holder: holder.into(),
        counterparty: counterparty.into(),
        class: UnitClass::Cea { vintage: 2019 },
        side,
        price: 4700,
        qty: 100_000,
        minute: 800,
    };
    assert!(matches!(
        rejected(store.submit(&x("2021-07-19", block("TRADER1", "HB0001", OrderSide::Buy)))),
        TradeRejection::PositionLimit {
            limit: 1_000_000,
            ..
        }
    ));
    let events = store
        .submit(&x(
            "2021-07-19",
            block("HB0001", "TRADER1", OrderSide::Sell),
        ))
        .expect("the seller may propose: its own position does not grow");
    let proposal = events
        .iter()
        .find_map(|e| match e {
            ets_market::Event::Exchange { input, .. } => input.id(),
            _ => None,
        })
        .unwrap();
    assert!(matches!(
        rejected(store.submit(&x(
            "2021-07-19",
            ExchangeCommand::AcceptBlock {
                holder: "TRADER1".into(),
                proposal,
                minute: 801,
            }
        ))),
        TradeRejection::PositionLimit {
            limit: 1_000_000,
            ..
        }
    ));
    let auction = store.market().exchange().unwrap().next_id();
    store
        .submit(&x(
            "2021-07-19",
            ExchangeCommand::Announce {
                holder: "HB0001".into(),
                class: UnitClass::Cea { vintage: 2019 },
                side: OrderSide::Sell,
                qty: 100_000,
                limit: 4500,
                pay_as_bid: false,
                open_minute: 810,
                close_minute: 840,
            },
        ))
        .unwrap();
    assert!(matches!(
        rejected(store.submit(&x(
            "2021-07-19",
            ExchangeCommand::Bid {
                holder: "TRADER1".into(),
                auction,
                price: 4700,
                qty: 100_000,
                minute: 815,
            }
        ))),
        TradeRejection::PositionLimit {
            limit: 1_000_000,
            ..
        }
    ));
    store
        .submit(&x("2021-07-19", ExchangeCommand::CloseDay))
        .unwrap();
    store.market().check_invariants().unwrap();
    let live = store.market().clone();
    drop(store);
    let (reopened, _) =
        Store::open(dir.path(), d("2030-01-01"), JournalOptions::default()).unwrap();
    assert_eq!(reopened.market(), &live);
}

#[test]
fn offset_credits_trade_as_their_own_instrument() {
    let (dir, mut store) = market(&rules("immediate"));
    let day = "2021-07-16";
    let project = ProjectId::parse("CCER-SX-F001").unwrap();
    let register = Command::RegisterProject {
        project: project.clone(),
        name: "Shanxi afforestation".into(),
        province: "Shanxi".into(),
        kind: "forestry".into(),
    };
    store.submit(&env(day, register)).unwrap();
    store
        .submit(&env(
            day,
            Command::IssueOffsets {
                project: project.clone(),
                vintage: 2019,
                quantity: 50_000,
            },
        ))
        .unwrap();
    let ccer = UnitClass::Ccer {
        project: store.market().project_number(&project).unwrap(),
        vintage: 2019,
    };
    let sell = |price| ExchangeCommand::Order {
        holder: project.to_string(),
        class: ccer,
        side: OrderSide::Sell,
        price,
        qty: 10_000,
        tif: Tif::Day,
        minute: 600,
    };
    // Its own reference price (30.00 in the market file) sets its band: 27.00..=33.00.
    assert!(matches!(
        rejected(store.submit(&x(day, sell(3301)))),
        TradeRejection::OutsideBand {
            low: 2700,
            high: 3300,
            ..
        }
    ));
    let id = store.market().exchange().unwrap().next_id();
    store.submit(&x(day, sell(3000))).unwrap();
    store
        .submit(&x(
            day,
            ExchangeCommand::Take {
                holder: "HB0001".into(),
                order: id,
                qty: 4_000,
                minute: 601,
            },
        ))
        .unwrap();
    let hb = store.market().resolve_account("HB0001").unwrap();
    assert_eq!(store.market().registry().holding(hb, ccer), 4_000);
    // Offset trades do not move the allowance price: the market's day has no trade.
    store.submit(&x(day, ExchangeCommand::CloseDay)).unwrap();
    let ex = store.market().exchange().unwrap();
    assert_eq!(ex.market_days()[0].figures.volume_t, 0);
    assert_eq!(
        ex.days()
            .iter()
            .find(|b| b.class == ccer)
            .map(|b| (b.figures.close, b.figures.volume_t)),
        Some((3000, 4_000))
    );
    // The credits bought count as offsets at surrender, within the 5 % limit.
    let surrender = Command::Surrender {
        plan: PLAN.into(),
        company: cid("HB0001"),
        class: ccer,
        quantity: 4_000,
    };
    store.submit(&env("2021-12-01", surrender)).unwrap();
    assert_eq!(
        store.market().surrendered(PLAN, &cid("HB0001")).offsets_t,
        4_000
    );
    let live = store.market().clone();
    drop(store);
    let (reopened, _) =
        Store::open(dir.path(), d("2030-01-01"), JournalOptions::default()).unwrap();
    assert_eq!(reopened.market(), &live);
}

fn take(holder: &str, order: u64, qty: u64, minute: u16) -> ExchangeCommand {
    ExchangeCommand::Take {
        holder: holder.into(),
        order,
        qty,
        minute,
    }
}

fn propose(holder: &str, to: &str, price: i64, qty: u64, minute: u16) -> ExchangeCommand {
    ExchangeCommand::ProposeBlock {
        holder: holder.into(),
        counterparty: to.into(),
        class: CEA19,
        side: OrderSide::Sell,
        price,
        qty,
        minute,
    }
}

/// The id an accepted command introduced, and what a close released.
fn id_of(events: &[ets_market::Event]) -> u64 {
    events
        .iter()
        .find_map(|e| match e {
            ets_market::Event::Exchange { input, .. } => input.id(),
            _ => None,
        })
        .unwrap()
}

fn close_day(
    store: &mut Store,
    date: &str,
) -> (
    Vec<ets_market::trading::exchange::TradeRecord>,
    Vec<ets_market::trading::exchange::Release>,
) {
    let events = store.submit(&x(date, ExchangeCommand::CloseDay)).unwrap();
    match &events[..] {
        [
            ets_market::Event::Exchange {
                trades,
                released: Some(released),
                ..
            },
        ] => (trades.clone(), released.clone()),
        other => panic!("a close records its trades and releases: {other:?}"),
    }
}

fn frozen_units(store: &Store, holder: &str) -> u64 {
    let m = store.market();
    m.exchange()
        .unwrap()
        .freezes
        .frozen(m.resolve_account(holder).unwrap(), CEA19)
}

/// DOMAIN.md §4 "Settlement": the registry settles after the close; §1.3: in the first phase
/// only key emitting units trade. The shipped file says both (issue 13: it settled at the
/// trade and admitted anyone).
#[test]
fn the_shipped_file_settles_after_the_close_and_admits_only_covered_companies() {
    let (dir, mut store) = market(MARKET);
    let day = "2021-07-16";
    store
        .submit(&env(
            day,
            Command::RegisterHolder {
                holder: "TRADER2".into(),
            },
        ))
        .unwrap();
    assert!(matches!(
        rejected(store.submit(&x(
            day,
            ExchangeCommand::Deposit {
                holder: "TRADER2".into(),
                fen: 1_000
            }
        ))),
        TradeRejection::NotAdmitted { .. }
    ));
    let (sx, hb) = (holding(&store, "SX0001"), holding(&store, "HB0001"));
    let ask = id_of(
        &store
            .submit(&x(day, order("SX0001", OrderSide::Sell, 4800, 1_000, 600)))
            .unwrap(),
    );
    let events = store
        .submit(&x(day, take("HB0001", ask, 1_000, 601)))
        .unwrap();
    let ets_market::Event::Exchange { trades, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(trades.len(), 1);
    assert_eq!(
        trades[0].registry_seq, None,
        "nothing moves before the close"
    );
    assert_eq!(
        (holding(&store, "SX0001"), holding(&store, "HB0001")),
        (sx, hb)
    );
    close_day(&mut store, day);
    assert_eq!(
        (holding(&store, "SX0001"), holding(&store, "HB0001")),
        (sx - 1_000, hb + 1_000),
        "delivered at the close"
    );
    assert_eq!(frozen_units(&store, "SX0001"), 0);
    store.market().check_invariants().unwrap();
    drop(dir);
}

/// Issue 13: a proposal made on one day was accepted the next, outside that day's band, and
/// nobody could withdraw it. Under the shipped file it lapses at the close, its proposer may
/// withdraw it before, and the close says what it released.
#[test]
fn block_proposals_lapse_at_the_close_and_their_proposer_may_withdraw_them() {
    let (dir, mut store) = market(MARKET);
    let day = "2021-07-16";
    let free = store.market().exchange().unwrap().tradable(
        store.market().registry(),
        store.market().resolve_account("SX0001").unwrap(),
        CEA19,
    );
    let first = id_of(
        &store
            .submit(&x(day, propose("SX0001", "HB0001", 4800, 100_000, 810)))
            .unwrap(),
    );
    assert_eq!(frozen_units(&store, "SX0001"), 100_000);
    let withdraw = |holder: &str, proposal| ExchangeCommand::WithdrawBlock {
        holder: holder.into(),
        proposal,
    };
    assert_eq!(
        rejected(store.submit(&x(day, withdraw("HB0001", first)))),
        TradeRejection::NotProposer { id: first }
    );
    store.submit(&x(day, withdraw("SX0001", first))).unwrap();
    assert_eq!(frozen_units(&store, "SX0001"), 0, "withdrawn, released");
    assert_eq!(
        rejected(store.submit(&x(
            day,
            ExchangeCommand::AcceptBlock {
                holder: "HB0001".into(),
                proposal: first,
                minute: 811,
            }
        ))),
        TradeRejection::UnknownProposal { id: first }
    );
    let second = id_of(
        &store
            .submit(&x(day, propose("SX0001", "HB0001", 4800, 100_000, 812)))
            .unwrap(),
    );
    let (_, released) = close_day(&mut store, day);
    let account = store.market().resolve_account("SX0001").unwrap();
    assert_eq!(
        released,
        [ets_market::trading::exchange::Release {
            id: second,
            held: ets_market::trading::exchange::Held::BlockProposal,
            account,
            fen: 0,
            units: Some((CEA19, 100_000)),
        }]
    );
    assert_eq!(frozen_units(&store, "SX0001"), 0);
    store
        .submit(&x("2021-07-19", ExchangeCommand::OpenDay))
        .unwrap();
    assert_eq!(
        rejected(store.submit(&x(
            "2021-07-19",
            ExchangeCommand::AcceptBlock {
                holder: "HB0001".into(),
                proposal: second,
                minute: 800,
            }
        ))),
        TradeRejection::UnknownProposal { id: second },
        "lapsed at yesterday's close"
    );
    assert_eq!(
        store
            .market()
            .exchange()
            .unwrap()
            .tradable(store.market().registry(), account, CEA19),
        free
    );
    // The replay reproduces the close's releases (compared with the journal's record).
    let live = store.market().clone();
    drop(store);
    let (reopened, _) =
        Store::open(dir.path(), d("2030-01-01"), JournalOptions::default()).unwrap();
    assert_eq!(reopened.market(), &live);
}

/// Where a market file carries proposals across days, the acceptance is checked against the
/// day of the acceptance (issue 13: 33.60 accepted when that day's band was 33.74-62.64).
#[test]
fn carried_block_proposals_are_checked_again_against_the_day_they_are_accepted() {
    let toml = with(
        &rules("immediate"),
        "block_proposal = \"day\"",
        "block_proposal = \"carry\"",
    );
    let (_dir, mut store) = market(&toml);
    let day = "2021-07-16";
    // The block band of the first day: 48.00 ± 30 % = 33.60..=62.40.
    let proposal = id_of(
        &store
            .submit(&x(day, propose("SX0001", "HB0001", 3360, 100_000, 810)))
            .unwrap(),
    );
    // A listed trade at 52.80 makes the close 52.80: tomorrow's block band is 36.96..=68.64.
    let ask = id_of(
        &store
            .submit(&x(day, order("SX0001", OrderSide::Sell, 5280, 1_000, 820)))
            .unwrap(),
    );
    store
        .submit(&x(day, take("HB0001", ask, 1_000, 821)))
        .unwrap();
    let (_, released) = close_day(&mut store, day);
    assert!(
        released.iter().all(|r| r.id != proposal),
        "carried, not released"
    );
    assert_eq!(frozen_units(&store, "SX0001"), 100_000);
    let day2 = "2021-07-19";
    store.submit(&x(day2, ExchangeCommand::OpenDay)).unwrap();
    let accept = |minute| ExchangeCommand::AcceptBlock {
        holder: "HB0001".into(),
        proposal,
        minute,
    };
    assert!(
        matches!(
            rejected(store.submit(&x(day2, accept(600)))),
            TradeRejection::OutsideSession { .. }
        ),
        "block session of the day of acceptance"
    );
    assert_eq!(
        rejected(store.submit(&x(day2, accept(800)))),
        TradeRejection::OutsideBand {
            price: 3360,
            low: 3696,
            high: 6864,
            band: ets_market::trading::exchange::Band::Block,
        }
    );
    store
        .submit(&x(
            day2,
            ExchangeCommand::WithdrawBlock {
                holder: "SX0001".into(),
                proposal,
            },
        ))
        .unwrap();
    assert_eq!(frozen_units(&store, "SX0001"), 0);
    store.market().check_invariants().unwrap();
}

/// Issue 13: an auction not closed on its own day could never be closed, and the close did
/// not release it. Under the shipped file its window ends by the close, which allocates it.
#[test]
fn one_way_auctions_end_with_their_day() {
    let (_dir, mut store) = market(MARKET);
    let day = "2021-07-16";
    let announce = |close_minute| ExchangeCommand::Announce {
        holder: "SX0001".into(),
        class: CEA19,
        side: OrderSide::Sell,
        qty: 100_000,
        limit: 4500,
        pay_as_bid: false,
        open_minute: 600,
        close_minute,
    };
    assert_eq!(
        rejected(store.submit(&x(day, announce(901)))),
        TradeRejection::WindowAfterClose {
            close: 901,
            day_end: 900
        }
    );
    let auction = id_of(&store.submit(&x(day, announce(630))).unwrap());
    let bid = |price, qty, minute| ExchangeCommand::Bid {
        holder: "HB0001".into(),
        auction,
        price,
        qty,
        minute,
    };
    store.submit(&x(day, bid(4600, 60_000, 605))).unwrap();
    let second_bid = id_of(&store.submit(&x(day, bid(4500, 100_000, 606))).unwrap());
    let (sx, hb) = (holding(&store, "SX0001"), holding(&store, "HB0001"));
    // Nobody closes the auction: the day's close allocates it (60,000 + 40,000 t at the
    // uniform 45.00) and settles it, and releases what the second bid did not win.
    let (trades, released) = close_day(&mut store, day);
    assert_eq!(
        trades
            .iter()
            .map(|t| (t.kind, t.price, t.qty))
            .collect::<Vec<_>>(),
        [
            (
                ets_market::trading::exchange::TradeKindTag::OneWay,
                4500,
                60_000
            ),
            (
                ets_market::trading::exchange::TradeKindTag::OneWay,
                4500,
                40_000
            )
        ]
    );
    assert!(
        released.iter().any(|r| r.id == second_bid && r.fen > 0),
        "the second bid's unfilled 60,000 t: {released:?}"
    );
    assert_eq!(
        (holding(&store, "SX0001"), holding(&store, "HB0001")),
        (sx - 100_000, hb + 100_000)
    );
    assert_eq!(
        funds(&store, "HB0001").1,
        0,
        "nothing frozen after the close"
    );
    assert_eq!(frozen_units(&store, "SX0001"), 0);
    store
        .submit(&x("2021-07-19", ExchangeCommand::OpenDay))
        .unwrap();
    assert_eq!(
        rejected(store.submit(&x(
            "2021-07-19",
            ExchangeCommand::CloseAuction {
                auction,
                minute: 600
            }
        ))),
        TradeRejection::UnknownAuction { id: auction }
    );
    store.market().check_invariants().unwrap();
}

/// Where a market file carries auctions, one left open at its day's close can still be closed
/// on a later trading day (before issue 13 it could not, and its freezes stayed for ever).
#[test]
fn a_carried_auction_can_be_closed_on_a_later_day() {
    let toml = with(
        &rules("immediate"),
        "one_way_auction = \"day\"",
        "one_way_auction = \"carry\"",
    );
    let (_dir, mut store) = market(&toml);
    let day = "2021-07-16";
    let auction = id_of(
        &store
            .submit(&x(
                day,
                ExchangeCommand::Announce {
                    holder: "SX0001".into(),
                    class: CEA19,
                    side: OrderSide::Sell,
                    qty: 100_000,
                    limit: 4500,
                    pay_as_bid: false,
                    open_minute: 600,
                    close_minute: 630,
                },
            ))
            .unwrap(),
    );
    store
        .submit(&x(
            day,
            ExchangeCommand::Bid {
                holder: "HB0001".into(),
                auction,
                price: 4600,
                qty: 100_000,
                minute: 605,
            },
        ))
        .unwrap();
    close_day(&mut store, day);
    assert_eq!(frozen_units(&store, "SX0001"), 100_000, "carried");
    let close = ExchangeCommand::CloseAuction {
        auction,
        minute: 600,
    };
    assert_eq!(
        rejected(store.submit(&x("2021-07-19", close.clone()))),
        TradeRejection::DayNotOpen {
            date: d("2021-07-19")
        },
        "a later day must be open"
    );
    store
        .submit(&x("2021-07-19", ExchangeCommand::OpenDay))
        .unwrap();
    let events = store.submit(&x("2021-07-19", close)).unwrap();
    let ets_market::Event::Exchange { trades, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(trades.len(), 1);
    assert_eq!(frozen_units(&store, "SX0001"), 0);
    store.market().check_invariants().unwrap();
}

/// A buying block proposal counts in its proposer's position once: a proposal for exactly the
/// room left under the limit is accepted (it was refused when the acceptance added it again).
#[test]
fn a_buying_proposal_at_the_limit_can_be_accepted() {
    let toml = with(
        &rules("immediate"),
        "others_cap_t = 1000000",
        "others_cap_t = 100000",
    );
    let (_dir, mut store) = market(&toml);
    let day = "2021-07-16";
    let proposal = id_of(
        &store
            .submit(&x(
                day,
                ExchangeCommand::ProposeBlock {
                    holder: "TRADER1".into(),
                    counterparty: "SX0001".into(),
                    class: CEA19,
                    side: OrderSide::Buy,
                    price: 4800,
                    qty: 100_000,
                    minute: 810,
                },
            ))
            .unwrap(),
    );
    store
        .submit(&x(
            day,
            ExchangeCommand::AcceptBlock {
                holder: "SX0001".into(),
                proposal,
                minute: 811,
            },
        ))
        .expect("the proposal already counted; accepting it does not count it twice");
    assert_eq!(holding(&store, "TRADER1"), 100_000);
    store.market().check_invariants().unwrap();
}
