//! Real order flow: the LOBSTER academic sample (Nasdaq AMZN, 2012-06-21, level 1) replayed
//! through the book by order id; the best bid and ask after every event are compared with
//! LOBSTER's order book file, and every disagreement is put down to a reason.
//!
//! The data folder is `$ETS_SHARED/data/lobster-amzn-2012-06-21` (`ETS_SHARED` defaults to
//! `../shared` relative to the workspace root). Without it the test fails under `CI=true`
//! and is skipped (with a note) otherwise.

use std::path::PathBuf;

use ets_exchange::{BookConfig, LevelView, MatchingMode, OrderBook, RejectReason, Side};

const FOLDER: &str = "data/lobster-amzn-2012-06-21";
const MESSAGES: &str = "AMZN_2012-06-21_34200000_57600000_message_1.csv";
const BOOK: &str = "AMZN_2012-06-21_34200000_57600000_orderbook_1.csv";
/// LOBSTER's placeholders for an empty side.
const NO_ASK: i64 = 9_999_999_999;
const NO_BID: i64 = -9_999_999_999;

fn data_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = std::env::var("ETS_SHARED").unwrap_or_else(|_| "../shared".to_string());
    root.join(shared).join(FOLDER)
}

/// One message line: (type, order id, size, price, direction).
pub type Message = (u8, u64, u64, i64, i8);

fn parse(text: &str, cols: usize) -> Vec<Vec<i64>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.trim().split(',').collect();
            assert_eq!(f.len(), cols, "line {l:?}");
            f.iter().map(|x| x.parse::<i64>().unwrap_or(0)).collect()
        })
        .collect()
}

/// Reads the sample, or explains why it cannot (see the module docs).
pub fn load() -> Option<(Vec<Message>, Vec<[i64; 4]>)> {
    let dir = data_dir();
    let read = |f: &str| std::fs::read_to_string(dir.join(f));
    match (read(MESSAGES), read(BOOK)) {
        (Ok(m), Ok(b)) => {
            // Column 0 of the message file is the time in seconds (a decimal); it is not used.
            let msgs = parse(&m, 6)
                .into_iter()
                .map(|r| (r[1] as u8, r[2] as u64, r[3] as u64, r[4], r[5] as i8))
                .collect();
            let book = parse(&b, 4)
                .into_iter()
                .map(|r| [r[0], r[1], r[2], r[3]])
                .collect();
            Some((msgs, book))
        }
        _ => {
            let msg = format!(
                "LOBSTER sample not found at {}: it is LOBSTER's free academic sample \
                 (Nasdaq AMZN 2012-06-21, level 1; see the folder's README.md in the shared data)",
                dir.display()
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg}; CI=true requires it");
            }
            eprintln!("skipped: {msg}");
            None
        }
    }
}

/// LOBSTER prices are dollars × 10,000 and every visible order is on the cent.
pub const TICK: i64 = 100;

pub fn new_book() -> OrderBook {
    let mut c = BookConfig::new(MatchingMode::Continuous);
    c.tick = TICK;
    c.capacity = 4096;
    OrderBook::new(c)
}

/// Applies one message; `Err` when it names an order the book does not hold.
pub fn apply(book: &mut OrderBook, m: Message) -> Result<(), RejectReason> {
    let (kind, id, size, price, dir) = m;
    let side = if dir == 1 { Side::Buy } else { Side::Sell };
    match kind {
        1 => book.add_resting(id, 0, side, price, size).map(drop),
        2 => book.reduce(id, size).map(drop),
        3 => book.delete(id).map(drop),
        4 => book.execute(id, size).map(drop),
        // 5: hidden execution, no visible change; 7: trading halt.
        _ => Ok(()),
    }
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Breakdown {
    events: usize,
    agree: usize,
    /// The event itself names an order we never saw (it rested before 09:30, or was added
    /// away from the best level, which a level-1 file does not report).
    unknown_order_event: usize,
    /// Best prices agree, a best size differs: that level holds quantity of unseen orders.
    size_only: usize,
    /// A best price differs and LOBSTER's is the better one: the level is made of unseen orders.
    price_unseen_level: usize,
    /// A best price differs and ours is the better one: an order removed away from the best
    /// level (not reported in a level-1 file) still rests in our book.
    price_ours_better: usize,
    /// Messages the book refused for another reason than an unknown id.
    other_rejects: usize,
}

fn side_view(l: Option<LevelView>, empty: i64) -> (i64, i64) {
    l.map_or((empty, 0), |l| (l.price, l.qty as i64))
}

/// The strict replay: messages only, no correction. Few lines agree because a level-1 file
/// reports only the events that change the best level: orders resting before 09:30, orders
/// added away from the best (later executed or deleted by unknown id) and orders removed
/// away from the best (which then stay in our book, "ours better") are all invisible, and
/// one such order spoils every later line until it is gone.
#[test]
fn lobster_strict_replay_without_correction() {
    let Some((msgs, rows)) = load() else { return };
    assert_eq!(msgs.len(), 57_515);
    assert_eq!(rows.len(), msgs.len());
    let mut book = new_book();
    let mut b = Breakdown::default();
    for (m, row) in msgs.iter().zip(&rows) {
        b.events += 1;
        let res = apply(&mut book, *m);
        let ask = side_view(book.best_ask(), NO_ASK);
        let bid = side_view(book.best_bid(), NO_BID);
        let (lask, lbid) = ((row[0], row[1]), (row[2], row[3]));
        if ask == lask && bid == lbid {
            b.agree += 1;
        } else if res == Err(RejectReason::UnknownOrder) {
            b.unknown_order_event += 1;
        } else if ask.0 == lask.0 && bid.0 == lbid.0 {
            b.size_only += 1;
        } else if (ask.0 != lask.0 && lask.0 < ask.0) || (bid.0 != lbid.0 && lbid.0 > bid.0) {
            b.price_unseen_level += 1;
        } else {
            b.price_ours_better += 1;
        }
        if let Err(e) = res
            && e != RejectReason::UnknownOrder
        {
            b.other_rejects += 1;
        }
    }
    book.check_invariants().unwrap();
    println!("LOBSTER AMZN 2012-06-21 strict replay (no correction): {b:#?}");
    assert_eq!(
        b,
        Breakdown {
            events: 57_515,
            agree: 51,
            unknown_order_event: 7_467,
            size_only: 1,
            price_unseen_level: 161,
            price_ours_better: 49_835,
            other_rejects: 0,
        }
    );
}

/// Synthetic orders standing for quantity the message file never showed us, per side and price.
#[derive(Default)]
struct Unseen {
    next_id: u64,
    ids: std::collections::HashMap<(Side, i64), Vec<u64>>,
    added: u64,
    stale_levels_pruned: u64,
}

impl Unseen {
    /// Takes `qty` off the synthetic quantity at `price` (an event on an unknown id).
    /// Returns whether there was synthetic quantity there to absorb it.
    fn absorb(&mut self, book: &mut OrderBook, side: Side, price: i64, mut qty: u64) -> bool {
        let Some(ids) = self.ids.get_mut(&(side, price)) else {
            return false;
        };
        ids.retain(|&id| book.order(id).is_some());
        let found = !ids.is_empty();
        for &id in ids.iter() {
            let open = book.order(id).map_or(0, |o| o.qty);
            let cut = open.min(qty);
            if cut > 0 {
                book.reduce(id, cut).unwrap();
                qty -= cut;
            }
        }
        found
    }

    fn add(&mut self, book: &mut OrderBook, side: Side, price: i64, qty: u64) {
        let id = (1 << 62) + self.next_id;
        self.next_id += 1;
        book.add_resting(id, 0, side, price, qty).unwrap();
        self.ids.entry((side, price)).or_default().push(id);
        self.added += 1;
    }

    /// Brings one side's best level in line with LOBSTER's: levels better than LOBSTER's
    /// best were emptied by messages a level-1 file leaves out, so they go; missing quantity
    /// at LOBSTER's best becomes a synthetic order; surplus quantity is cut.
    fn resync(&mut self, book: &mut OrderBook, side: Side, (price, size): (i64, i64)) {
        let empty = size == 0;
        while let Some(best) = book.best(side) {
            let better = match side {
                Side::Buy => best.price > price,
                Side::Sell => best.price < price,
            };
            if !(empty || better) {
                break;
            }
            for o in book.level_orders(side, best.price) {
                book.delete(o.id).unwrap();
            }
            self.stale_levels_pruned += 1;
        }
        if empty {
            return;
        }
        let have = book
            .best(side)
            .filter(|l| l.price == price)
            .map_or(0, |l| l.qty as i64);
        if have < size {
            self.add(book, side, price, (size - have) as u64);
        } else if have > size {
            let mut surplus = (have - size) as u64;
            // Synthetic quantity goes first, then real orders from the front of the queue
            // (the oldest are the likeliest to have changed unseen; cutting from the back
            // agrees on 119 fewer lines).
            let orders = book.level_orders(side, price);
            let synthetic = orders.iter().filter(|o| o.id >= 1 << 62);
            let real = orders.iter().filter(|o| o.id < 1 << 62);
            for o in synthetic.chain(real) {
                let cut = o.qty.min(surplus);
                book.reduce(o.id, cut).unwrap();
                surplus -= cut;
                if surplus == 0 {
                    break;
                }
            }
        }
    }
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Resynced {
    events: usize,
    agree: usize,
    /// An event on an unknown id at a price where no unseen quantity was known.
    unknown_order_unabsorbed: usize,
    /// Our best is better than LOBSTER's: an order was removed away from the best level, a
    /// change a level-1 message file does not report.
    stale_level: usize,
    /// LOBSTER's best is better, or holds more at the same price: quantity added away from
    /// the best (or before 09:30) became the best.
    unseen_quantity: usize,
    /// Same best prices, ours holds more (a partial removal we did not see).
    surplus_quantity: usize,
    /// Events on unknown ids that synthetic quantity absorbed (these lines may agree).
    unknown_order_absorbed: usize,
    /// Executions larger than what a surplus cut had left of the order.
    executions_beyond_open: usize,
}

/// The replay as a checker with recovery: each line is compared before any correction and
/// counted by reason; then each side's best level is resynchronised to LOBSTER's, so that one
/// message missing from a level-1 file does not spoil every later comparison.
#[test]
fn lobster_replay_with_resync_to_level_one() {
    let Some((msgs, rows)) = load() else { return };
    let mut book = new_book();
    let mut unseen = Unseen::default();
    let mut r = Resynced::default();
    // The book before the first event: the pre-09:30 book's best levels, from the first row
    // (the first message is a hidden execution, which changes no visible level).
    assert_eq!(msgs[0].0, 5);
    unseen.resync(&mut book, Side::Sell, (rows[0][0], rows[0][1]));
    unseen.resync(&mut book, Side::Buy, (rows[0][2], rows[0][3]));
    for (m, row) in msgs.iter().zip(&rows) {
        r.events += 1;
        let mut res = apply(&mut book, *m);
        let mut unabsorbed = false;
        if res == Err(RejectReason::UnknownOrder) {
            let side = if m.4 == 1 { Side::Buy } else { Side::Sell };
            if unseen.absorb(&mut book, side, m.3, m.2) {
                r.unknown_order_absorbed += 1;
                res = Ok(());
            } else {
                unabsorbed = true;
            }
        }
        if res == Err(RejectReason::ExceedsOpenQuantity) {
            // An earlier surplus cut took quantity from this order: execute what is left.
            r.executions_beyond_open += 1;
            let open = book.order(m.1).map_or(0, |o| o.qty);
            book.execute(m.1, open).unwrap();
            res = Ok(());
        }
        assert!(res.is_ok() || unabsorbed, "{m:?}: {res:?}");
        let ask = side_view(book.best_ask(), NO_ASK);
        let bid = side_view(book.best_bid(), NO_BID);
        let (lask, lbid) = ((row[0], row[1]), (row[2], row[3]));
        if ask == lask && bid == lbid {
            r.agree += 1;
        } else if unabsorbed {
            r.unknown_order_unabsorbed += 1;
        } else if ask.0 < lask.0 || bid.0 > lbid.0 {
            r.stale_level += 1;
        } else if ask.0 > lask.0 || bid.0 < lbid.0 || ask.1 < lask.1 || bid.1 < lbid.1 {
            r.unseen_quantity += 1;
        } else {
            r.surplus_quantity += 1;
        }
        unseen.resync(&mut book, Side::Sell, lask);
        unseen.resync(&mut book, Side::Buy, lbid);
    }
    book.check_invariants().unwrap();
    println!(
        "LOBSTER replay with level-1 resync: {r:#?}\nsynthetic orders added: {}, stale levels pruned: {}",
        unseen.added, unseen.stale_levels_pruned
    );
    assert_eq!(
        r,
        Resynced {
            events: 57_515,
            agree: 48_106,
            unknown_order_unabsorbed: 2_028,
            stale_level: 2_002,
            unseen_quantity: 3_412,
            surplus_quantity: 1_967,
            unknown_order_absorbed: 5_854,
            executions_beyond_open: 73,
        }
    );
}
