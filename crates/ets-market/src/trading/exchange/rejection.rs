//! Why the exchange refuses: every reason as a variant with its figures; the codes are in
//! `crate::codes`.

use super::*;

/// Why the exchange refused an order or an operation. Nothing changed.
///
/// Every variant has a stable code and its figures (`MarketError::code`, `MarketError::params`);
/// times are minutes of the day shown as `HH:MM`, prices fen, quantities tonnes.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum TradeRejection {
    #[error("the exchange is not open (no market configuration adopted)")]
    NoExchange,
    #[error("{date} is not a trading day")]
    NotTradingDay { date: Date },
    #[error(
        "{date} is beyond the market's calendar, which lists the public holidays through {last_year}: add those of {} to the market file first",
        date.year()
    )]
    BeyondCalendar { date: Date, last_year: u16 },
    #[error("the trading day {date} is not open")]
    DayNotOpen { date: Date },
    #[error("the trading day {open} is still open; close it first")]
    DayStillOpen { open: Date },
    #[error("{} is outside {window}", hhmm(*minute))]
    OutsideSession { window: TradingWindow, minute: u16 },
    #[error("{class} does not trade on this market")]
    UnknownInstrument { class: UnitClass },
    #[error("{class} does not trade by {mode} here")]
    ModeNotAllowed { class: UnitClass, mode: TradeMode },
    #[error("quantity {qty} t is {rule} of {limit} t")]
    SizeLimit {
        rule: SizeRule,
        qty: Tonnes,
        limit: Tonnes,
    },
    #[error("quantity must be at least 1 t")]
    ZeroQuantity,
    #[error("quantity {qty} t is not a multiple of the lot {lot} t")]
    Lot { qty: Tonnes, lot: Tonnes },
    #[error("price {price} fen is not a positive multiple of the tick {tick} fen")]
    Tick { price: i64, tick: i64 },
    #[error("price {price} fen is {}", band.describe(*low, *high))]
    OutsideBand {
        price: i64,
        low: i64,
        high: i64,
        band: Band,
    },
    #[error("insufficient funds: {needed} fen needed, {available} fen available")]
    InsufficientFunds { needed: u64, available: u64 },
    #[error(
        "insufficient tradable units: {requested} t requested, {tradable} t tradable (units bought today cannot be sold today)"
    )]
    InsufficientUnits { requested: Tonnes, tradable: Tonnes },
    #[error("position limit: {position} t held or bid plus {qty} t would exceed {limit} t")]
    PositionLimit {
        position: Tonnes,
        qty: Tonnes,
        limit: Tonnes,
    },
    #[error("unknown order {id}")]
    UnknownOrder { id: u64 },
    #[error("order {id} belongs to another participant")]
    NotOwner { id: u64 },
    #[error("unknown block proposal {id}")]
    UnknownProposal { id: u64 },
    #[error("block proposal {id} is addressed to another participant")]
    NotCounterparty { id: u64 },
    #[error(
        "block proposal {id} was made by another participant; only its proposer may withdraw it"
    )]
    NotProposer { id: u64 },
    #[error(
        "account {account} is not a covered company's: this market admits only key emitting units to trading (market file, participants.admit_non_covered)"
    )]
    NotAdmitted { account: AccountId },
    #[error(
        "the bidding window must close by the end of the day's last listed session ({} ends at {})",
        hhmm(*close),
        hhmm(*day_end)
    )]
    WindowAfterClose { close: u16, day_end: u16 },
    #[error("unknown auction {id}")]
    UnknownAuction { id: u64 },
    #[error("a participant cannot trade with itself")]
    SelfTrade,
    #[error("the amount must be at least 1 fen")]
    ZeroAmount,
    #[error("a deposit of {fen} fen exceeds the limit of {max_fen} fen")]
    DepositTooLarge { fen: u64, max_fen: u64 },
    #[error("a deposit of {fen} fen would overflow the participant's balance")]
    BalanceOverflow { fen: u64 },
    #[error("price {price} fen times {qty} t overflows a 64-bit amount of fen")]
    ValueOverflow { price: i64, qty: Tonnes },
    #[error("{tif} orders need continuous matching; listed orders rest for the day")]
    TifNeedsContinuous { tif: Tif },
    #[error("fill-or-kill order of {qty} t cannot be filled in full ({fillable} t available)")]
    FokNotFillable { qty: Tonnes, fillable: Tonnes },
    #[error(
        "order {id} has trades awaiting end-of-day settlement; cancel it and place a new order"
    )]
    PendingSettlement { id: u64 },
    #[error("taking a listed order is click-to-trade; this market matches continuously")]
    TakeNeedsClickToTrade,
    #[error("order {id} is not within the best {levels} price levels")]
    NotInBestLevels { id: u64, levels: usize },
    #[error("{qty} t requested of order {id}, {open} t open")]
    ExceedsOpen { id: u64, qty: Tonnes, open: Tonnes },
    #[error(
        "the bidding window must close after it opens ({} to {})",
        hhmm(*open),
        hhmm(*close)
    )]
    EmptyWindow { open: u16, close: u16 },
    #[error(
        "account {account} has open exchange orders or unsettled trades; cancel them (or wait for the close) first"
    )]
    LiveBusiness { account: AccountId },
    #[error("order book: {reason}")]
    Book { reason: ets_exchange::RejectReason },
    /// A checked input failed to apply, or a journal does not fit the state: a bug or a
    /// corrupted journal, never a participant's mistake. `cause` is for the operator's log.
    #[error("exchange internal error in {step}: {cause}")]
    Internal { step: &'static str, cause: String },
}

/// A window of the trading day an operation must fall in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TradingWindow {
    /// The listed (click-to-trade or continuous) sessions of the market file.
    Listed,
    /// The block sessions of the market file.
    Block,
    /// The bidding window of a one-way auction, `[open, close)` on its date.
    Bidding {
        auction: u64,
        date: Date,
        open: u16,
        close: u16,
    },
    /// An auction closes at or after the end of its window, on its date.
    AuctionClose {
        auction: u64,
        date: Date,
        close: u16,
    },
}

impl std::fmt::Display for TradingWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            TradingWindow::Listed => f.write_str("the listed sessions"),
            TradingWindow::Block => f.write_str("the block sessions"),
            TradingWindow::Bidding {
                auction,
                date,
                open,
                close,
            } => write!(
                f,
                "the bidding window of auction {auction} ({date} {} to {})",
                hhmm(open),
                hhmm(close)
            ),
            TradingWindow::AuctionClose {
                auction,
                date,
                close,
            } => write!(
                f,
                "the close of auction {auction} (on {date} from {})",
                hhmm(close)
            ),
        }
    }
}

/// A way of trading that an instrument may or may not allow (market file, `modes`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TradeMode {
    Listed,
    Block,
    OneWay,
}

impl std::fmt::Display for TradeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TradeMode::Listed => "listed agreement",
            TradeMode::Block => "block agreement",
            TradeMode::OneWay => "one-way bidding",
        })
    }
}

/// Which order size limit a quantity broke ([`ets_exchange::SizeLimits`]' convention).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SizeRule {
    /// A listed order must be below the limit (`listed_below`).
    ListedBelow,
    /// A block order must be at least the minimum (`block_at_least`).
    BlockAtLeast,
}

impl std::fmt::Display for SizeRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SizeRule::ListedBelow => "not below the listed order limit",
            SizeRule::BlockAtLeast => "below the block order minimum",
        })
    }
}

/// The price range a price broke.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Band {
    /// The listed band around the previous close, `low..=high`.
    Listed,
    /// The block band around the previous close, `low..=high` (also the one-way limit's).
    Block,
    /// A bid in a selling auction: at least the floor `low` (`high` is unbounded).
    AuctionFloor,
    /// An offer in a buying auction: at most the ceiling `high` (`low` is 0).
    AuctionCeiling,
}

impl Band {
    fn describe(self, low: i64, high: i64) -> String {
        match self {
            Band::Listed => format!("outside the listed band {low}..={high} fen"),
            Band::Block => format!("outside the block band {low}..={high} fen"),
            Band::AuctionFloor => format!("below the auction's floor of {low} fen"),
            Band::AuctionCeiling => format!("above the auction's ceiling of {high} fen"),
        }
    }
}
