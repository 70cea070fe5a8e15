//! The market configuration file (`markets/*.toml`): instruments, matching mode, bands, size
//! limits, fees, position limits, sessions and holidays, as data.
//!
//! The calendar, sessions and size limits are `ets-exchange`'s types, built once here, so the
//! market and the exchange core share one vocabulary: [`TradingCalendar`] (weekdays numbered
//! from Sunday = 0, as [`ets_exchange::calendar::weekday`]; sessions half-open `[start, end)`)
//! and [`SizeLimits`] (a listed order must be *below* `listed_below`, a block order *at least*
//! `block_at_least`, as DOMAIN.md §4 words the rule: listed "< 100,000 t", block "≥ 100,000 t",
//! so the two modes meet without gap or overlap). The file's `listed.max_order_t` names the
//! largest listed order (99,999 t in `cn-seee.toml`); the parser turns it into
//! `listed_below = max_order_t + 1` once.

use ets_exchange::{SizeLimits, TradingCalendar, Window};
use ets_types::{Date, Decimal, Year};
use serde::Deserialize;

/// A parsed and checked market configuration.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MarketRules {
    pub id: String,
    pub name: String,
    pub continuous: bool,
    pub stp_cancel_incoming: bool,
    pub settle_end_of_day: bool,
    /// Previous close before the first trading day, fen.
    pub opening_reference_fen: i64,
    pub tick_fen: i64,
    pub lot_t: u64,
    pub listed_band_bps: u32,
    /// Listed orders below `listed_below`, block orders from `block_at_least` (see the module).
    pub limits: SizeLimits,
    pub click_levels: usize,
    pub block_band_bps: u32,
    pub buyer_fee_bps: u32,
    pub seller_fee_bps: u32,
    pub min_fee_fen: u64,
    pub compliance_margin_t: u64,
    pub others_cap_t: u64,
    /// Trading days (open weekdays less holidays) and the listed and block sessions, minutes
    /// of the day in Beijing time, `[start, end)`.
    pub calendar: TradingCalendar,
    /// The last year the calendar covers (`calendar.published_through`); days after it are
    /// refused with `beyond_calendar`. `None` in files adopted before the key existed.
    pub calendar_through: Option<u16>,
    pub instruments: Vec<InstrumentRules>,
    /// What the day's close does to block proposals and one-way auctions still open.
    pub lifetimes: Lifetimes,
    /// Whether holders other than covered companies (key emitting units) may trade (DOMAIN.md
    /// §1.3: not in the first phase). `true` in files adopted before the key existed.
    pub admit_non_covered: bool,
}

/// What the close of the trading day does to an instrument still open. Listed orders are day
/// orders in every market file (they expire at the close); the other two are settings, whose
/// absence (files adopted before they existed) keeps what those files did: carry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Lifetimes {
    pub block_proposal: Lifetime,
    pub one_way_auction: Lifetime,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lifetime {
    /// Ends with the day: a block proposal lapses, a one-way auction is allocated from its bids;
    /// either way what it froze is released at the close.
    Day,
    /// Stays open across closes until accepted, closed or withdrawn.
    Carry,
}

/// One instrument of the market file: allowances (CEA) or offset credits (CCER) of the listed
/// vintages, with their own tick, lot, bands, reference price and trading modes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InstrumentRules {
    /// Offset credits (any project) rather than allowances.
    pub offset: bool,
    pub vintages: Vec<Year>,
    pub tick_fen: i64,
    pub lot_t: u64,
    pub listed_band_bps: u32,
    pub block_band_bps: u32,
    /// The previous close before the first trading day, fen.
    pub reference_fen: i64,
    pub listed: bool,
    pub block: bool,
    pub one_way: bool,
}

impl InstrumentRules {
    pub fn covers(&self, class: ets_types::UnitClass) -> bool {
        class.is_offset() == self.offset && self.vintages.contains(&class.vintage())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    market: MarketSection,
    listed: ListedSection,
    block: BlockSection,
    fees: FeesSection,
    position_limits: PositionSection,
    calendar: CalendarSection,
    instruments: Vec<InstrumentSection>,
    #[serde(default)]
    lifetimes: Option<LifetimesSection>,
    #[serde(default)]
    participants: Option<ParticipantsSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LifetimesSection {
    block_proposal: String,
    one_way_auction: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParticipantsSection {
    admit_non_covered: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarketSection {
    id: String,
    name: String,
    matching: String,
    self_trade_prevention: String,
    settlement: String,
    opening_reference_price: String,
    tick: String,
    lot_t: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListedSection {
    band_pct: String,
    max_order_t: u64,
    click_levels: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockSection {
    band_pct: String,
    min_order_t: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeesSection {
    buyer_bps: u32,
    seller_bps: u32,
    min_fen: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionSection {
    compliance_margin_t: u64,
    others_cap_t: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarSection {
    weekdays: Vec<String>,
    listed_sessions: Vec<String>,
    block_sessions: Vec<String>,
    holidays: Vec<toml::value::Datetime>,
    /// The last year whose public holidays `holidays` lists (the latest State Council notice);
    /// a day after it is refused. Absent in market files adopted before it existed: no limit.
    #[serde(default)]
    published_through: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentSection {
    unit: String,
    vintages: Vec<Year>,
    modes: Vec<String>,
    /// Defaults: the market section's tick, lot, reference price and the bands above.
    tick: Option<String>,
    lot_t: Option<u64>,
    reference_price: Option<String>,
    listed_band_pct: Option<String>,
    block_band_pct: Option<String>,
}

/// A configuration that does not parse or does not make sense; names the key.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{source_name}: {key}: {message}")]
pub struct ConfigError {
    pub source_name: String,
    pub key: String,
    pub message: String,
}

/// Fen from a CNY amount written as text with at most two decimals.
pub fn fen(text: &str) -> Option<i64> {
    let d: Decimal = text.trim().parse().ok()?;
    if d.scale() > 2 || d.is_sign_negative() {
        return None;
    }
    let scaled = d * Decimal::ONE_HUNDRED;
    i64::try_from(scaled.trunc().mantissa() / 10i128.pow(scaled.trunc().scale())).ok()
}

fn bps(text: &str) -> Option<u32> {
    let d: Decimal = text.trim().parse().ok()?;
    let b = d * Decimal::ONE_HUNDRED;
    if !b.fract().is_zero() || b.is_sign_negative() || b > Decimal::from(10_000) {
        return None;
    }
    u32::try_from(b.trunc().mantissa() / 10i128.pow(b.trunc().scale())).ok()
}

fn session(text: &str) -> Option<(u16, u16)> {
    let (a, b) = text.split_once('-')?;
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (a, b) = (minute(a)?, minute(b)?);
    (a < b).then_some((a, b))
}

impl MarketRules {
    pub fn from_toml_str(text: &str, source: &str) -> Result<MarketRules, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            source_name: source.to_string(),
            key: key.to_string(),
            message,
        };
        let f: File = toml::from_str(text).map_err(|e| err("(file)", e.to_string()))?;
        let continuous = match f.market.matching.as_str() {
            "continuous" => true,
            "click_to_trade" => false,
            other => {
                return Err(err(
                    "market.matching",
                    format!("{other}: expected click_to_trade or continuous"),
                ));
            }
        };
        let stp_cancel_incoming = match f.market.self_trade_prevention.as_str() {
            "cancel_resting" => false,
            "cancel_incoming" => true,
            other => {
                return Err(err(
                    "market.self_trade_prevention",
                    format!("{other}: expected cancel_resting or cancel_incoming"),
                ));
            }
        };
        let settle_end_of_day = match f.market.settlement.as_str() {
            "immediate" => false,
            "end_of_day" => true,
            other => {
                return Err(err(
                    "market.settlement",
                    format!("{other}: expected immediate or end_of_day"),
                ));
            }
        };
        let opening = fen(&f.market.opening_reference_price)
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                err(
                    "market.opening_reference_price",
                    "a positive CNY amount with at most 2 decimals".into(),
                )
            })?;
        let tick = fen(&f.market.tick)
            .filter(|t| *t > 0)
            .ok_or_else(|| err("market.tick", "a positive CNY amount, at least 0.01".into()))?;
        if opening % tick != 0 {
            return Err(err(
                "market.opening_reference_price",
                "must be a multiple of the tick".into(),
            ));
        }
        if f.market.lot_t == 0 {
            return Err(err("market.lot_t", "must be at least 1".into()));
        }
        let listed_band_bps = bps(&f.listed.band_pct).ok_or_else(|| {
            err(
                "listed.band_pct",
                "a percentage 0..100 with at most 2 decimals".into(),
            )
        })?;
        let block_band_bps = bps(&f.block.band_pct).ok_or_else(|| {
            err(
                "block.band_pct",
                "a percentage 0..100 with at most 2 decimals".into(),
            )
        })?;
        if f.listed.max_order_t == 0 || f.block.min_order_t == 0 {
            return Err(err(
                "listed.max_order_t",
                "size limits must be at least 1 t".into(),
            ));
        }
        let limits = SizeLimits {
            listed_below: f
                .listed
                .max_order_t
                .checked_add(1)
                .ok_or_else(|| err("listed.max_order_t", "must be below 2^64 - 1 t".into()))?,
            block_at_least: f.block.min_order_t,
        };
        // A fee above the whole trade value is a data error (clearing refuses such a schedule).
        for (key, bps) in [
            ("fees.buyer_bps", f.fees.buyer_bps),
            ("fees.seller_bps", f.fees.seller_bps),
        ] {
            if bps > 10_000 {
                return Err(err(
                    key,
                    format!("{bps}: at most 10000 (the whole trade value)"),
                ));
            }
        }
        if f.listed.click_levels == 0 {
            return Err(err("listed.click_levels", "must be at least 1".into()));
        }
        // Indexed as `ets_exchange::calendar::weekday` counts: Sunday = 0 .. Saturday = 6.
        let mut weekdays = [false; 7];
        const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        for (i, w) in f.calendar.weekdays.iter().enumerate() {
            let d = NAMES.iter().position(|n| n == w).ok_or_else(|| {
                err(
                    &format!("calendar.weekdays[{i}]"),
                    format!("{w}: expected mon..sun"),
                )
            })?;
            weekdays[d] = true;
        }
        let parse_sessions = |key: &str, list: &[String]| -> Result<Vec<Window>, ConfigError> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    session(s)
                        .map(|(start, end)| Window { start, end })
                        .ok_or_else(|| {
                            err(&format!("{key}[{i}]"), format!("{s}: expected HH:MM-HH:MM"))
                        })
                })
                .collect()
        };
        let listed_sessions =
            parse_sessions("calendar.listed_sessions", &f.calendar.listed_sessions)?;
        let block_sessions = parse_sessions("calendar.block_sessions", &f.calendar.block_sessions)?;
        let mut holidays = Vec::with_capacity(f.calendar.holidays.len());
        for (i, h) in f.calendar.holidays.iter().enumerate() {
            let d = Date::parse(&h.to_string())
                .map_err(|e| err(&format!("calendar.holidays[{i}]"), e.to_string()))?;
            holidays.push(d);
        }
        holidays.sort();
        let calendar_through = f.calendar.published_through;
        if let (Some(last), Some(h)) = (calendar_through, holidays.last())
            && h.year() > last
        {
            return Err(err(
                "calendar.holidays",
                format!("{h} is after calendar.published_through = {last}"),
            ));
        }
        let calendar = TradingCalendar::new(
            holidays,
            weekdays,
            ets_exchange::Sessions {
                listed: listed_sessions,
                block: block_sessions,
            },
        );
        let mut instruments = Vec::new();
        for (i, inst) in f.instruments.iter().enumerate() {
            let key = |k: &str| format!("instruments[{i}].{k}");
            let offset = match inst.unit.to_ascii_uppercase().as_str() {
                "CEA" => false,
                "CCER" => true,
                _ => {
                    return Err(err(
                        &key("unit"),
                        format!("{}: expected CEA or CCER", inst.unit),
                    ));
                }
            };
            if inst.vintages.is_empty() {
                return Err(err(
                    &key("vintages"),
                    "at least one vintage must trade".into(),
                ));
            }
            let (mut listed, mut block, mut one_way) = (false, false, false);
            for m in &inst.modes {
                match m.as_str() {
                    "listed" => listed = true,
                    "block" => block = true,
                    "one_way" => one_way = true,
                    other => {
                        return Err(err(
                            &key("modes"),
                            format!("{other}: expected listed, block or one_way"),
                        ));
                    }
                }
            }
            let tick_fen = match &inst.tick {
                Some(t) => fen(t).filter(|t| *t > 0).ok_or_else(|| {
                    err(&key("tick"), "a positive CNY amount, at least 0.01".into())
                })?,
                None => tick,
            };
            let reference_fen = match &inst.reference_price {
                Some(p) => fen(p)
                    .filter(|p| *p > 0)
                    .ok_or_else(|| err(&key("reference_price"), "a positive CNY amount".into()))?,
                None => opening,
            };
            if reference_fen % tick_fen != 0 {
                return Err(err(
                    &key("reference_price"),
                    "must be a multiple of the tick".into(),
                ));
            }
            let pct = |v: &Option<String>, default: u32, k: &str| -> Result<u32, ConfigError> {
                match v {
                    Some(t) => bps(t).ok_or_else(|| {
                        err(
                            &key(k),
                            "a percentage 0..100 with at most 2 decimals".into(),
                        )
                    }),
                    None => Ok(default),
                }
            };
            let lot_t = inst.lot_t.unwrap_or(f.market.lot_t);
            if lot_t == 0 {
                return Err(err(&key("lot_t"), "must be at least 1".into()));
            }
            instruments.push(InstrumentRules {
                offset,
                vintages: inst.vintages.clone(),
                tick_fen,
                lot_t,
                listed_band_bps: pct(&inst.listed_band_pct, listed_band_bps, "listed_band_pct")?,
                block_band_bps: pct(&inst.block_band_pct, block_band_bps, "block_band_pct")?,
                reference_fen,
                listed,
                block,
                one_way,
            });
        }
        if instruments.is_empty() {
            return Err(err(
                "instruments",
                "at least one instrument must trade".into(),
            ));
        }
        let lifetime = |key: &str, v: &str| match v {
            "day" => Ok(Lifetime::Day),
            "carry" => Ok(Lifetime::Carry),
            other => Err(err(key, format!("{other}: expected day or carry"))),
        };
        let lifetimes = match &f.lifetimes {
            Some(l) => Lifetimes {
                block_proposal: lifetime("lifetimes.block_proposal", &l.block_proposal)?,
                one_way_auction: lifetime("lifetimes.one_way_auction", &l.one_way_auction)?,
            },
            None => Lifetimes {
                block_proposal: Lifetime::Carry,
                one_way_auction: Lifetime::Carry,
            },
        };
        Ok(MarketRules {
            id: f.market.id,
            name: f.market.name,
            continuous,
            stp_cancel_incoming,
            settle_end_of_day,
            opening_reference_fen: opening,
            tick_fen: tick,
            lot_t: f.market.lot_t,
            listed_band_bps,
            limits,
            click_levels: f.listed.click_levels,
            block_band_bps,
            buyer_fee_bps: f.fees.buyer_bps,
            seller_fee_bps: f.fees.seller_bps,
            min_fee_fen: f.fees.min_fen,
            compliance_margin_t: f.position_limits.compliance_margin_t,
            others_cap_t: f.position_limits.others_cap_t,
            calendar,
            calendar_through,
            instruments,
            lifetimes,
            admit_non_covered: f.participants.is_none_or(|p| p.admit_non_covered),
        })
    }

    /// The instrument a unit class trades as, if any.
    pub fn instrument(&self, class: ets_types::UnitClass) -> Option<&InstrumentRules> {
        self.instruments.iter().find(|i| i.covers(class))
    }

    pub fn builtin_text() -> &'static str {
        include_str!("../../../../markets/cn-seee.toml")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_parses() {
        let r = MarketRules::from_toml_str(MarketRules::builtin_text(), "cn-seee.toml").unwrap();
        assert_eq!(
            (
                r.opening_reference_fen,
                r.tick_fen,
                r.listed_band_bps,
                r.block_band_bps
            ),
            (4800, 1, 1000, 3000)
        );
        assert_eq!(
            r.calendar.sessions().listed,
            [Window::hm(9, 30, 11, 30), Window::hm(13, 0, 15, 0)]
        );
        assert!(!r.continuous);
    }

    /// The market file says `max_order_t = 99999` (the largest listed order) where
    /// `ets-exchange` says `listed_below` (DOMAIN.md §4: a listed order is "< 100,000 t", a
    /// block order "≥ 100,000 t"). One convention won, the exchange core's, because it states
    /// the rule as the source does and makes the two modes meet at one threshold; the file's
    /// key keeps its meaning and is converted once, so 99,999 t is still the largest listed
    /// order and 100,000 t the smallest block.
    #[test]
    fn the_listed_maximum_of_the_file_is_the_exchange_limit_below() {
        use ets_exchange::{LimitError, TradeKind};
        let r = MarketRules::from_toml_str(MarketRules::builtin_text(), "cn-seee.toml").unwrap();
        assert_eq!(r.limits.listed_below, 100_000);
        assert_eq!(r.limits.listed_max(), 99_999);
        assert_eq!(r.limits.check(TradeKind::Listed, 99_999), Ok(()));
        assert_eq!(
            r.limits.check(TradeKind::Listed, 100_000),
            Err(LimitError::ListedTooLarge {
                qty: 100_000,
                limit: 100_000
            })
        );
        assert_eq!(r.limits.check(TradeKind::Block, 100_000), Ok(()));
        assert!(r.limits.check(TradeKind::Block, 99_999).is_err());
        // Weekdays count from Sunday, as the exchange's calendar does: 16 July 2021 was a
        // Friday (open), the 17th a Saturday, 1 October National Day.
        assert!(
            r.calendar
                .is_trading_day(Date::parse("2021-07-16").unwrap())
        );
        assert!(
            !r.calendar
                .is_trading_day(Date::parse("2021-07-17").unwrap())
        );
        assert!(
            !r.calendar
                .is_trading_day(Date::parse("2021-10-01").unwrap())
        );
    }

    #[test]
    fn amounts() {
        assert_eq!(fen("48.00"), Some(4800));
        assert_eq!(fen("0.01"), Some(1));
        assert_eq!(fen("1.005"), None);
        assert_eq!(fen("-1"), None);
        assert_eq!(bps("10"), Some(1000));
        assert_eq!(bps("12.5"), Some(1250));
    }

    #[test]
    fn bad_config_names_the_key() {
        let text = MarketRules::builtin_text()
            .replace("matching = \"click_to_trade\"", "matching = \"auction\"");
        let e = MarketRules::from_toml_str(&text, "m.toml").unwrap_err();
        assert_eq!(e.key, "market.matching");
        let text = MarketRules::builtin_text().replace("\"09:30-11:30\"", "\"9h30\"");
        assert_eq!(
            MarketRules::from_toml_str(&text, "m.toml").unwrap_err().key,
            "calendar.listed_sessions[0]"
        );
    }
}
