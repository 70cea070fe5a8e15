//! Trading days (weekday rule + holidays from data) and sessions (windows from data).

use ets_exchange::calendar::{next_day, weekday};
use ets_exchange::{SessionError, SessionKind, Sessions, TradeKind, TradingCalendar, Window};
use ets_types::Date;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn cal() -> TradingCalendar {
    // The 2024 National Day holiday, 1–7 October; 12 October is a make-up working Saturday.
    let holidays = (1..=7).map(|day| Date::new(2024, 10, day).unwrap());
    TradingCalendar::weekdays(holidays, Sessions::cn_national())
}

#[test]
fn weekday_by_sakamoto() {
    for (date, wd) in [
        ("1970-01-01", 4),
        ("2000-02-29", 2),
        ("2024-01-01", 1),
        ("2024-10-05", 6),
        ("2024-10-06", 0),
        ("2021-07-16", 5), // the national market's first trading day, a Friday
        ("2100-03-01", 1),
    ] {
        assert_eq!(weekday(d(date)), wd, "{date}");
    }
}

#[test]
fn trading_days_skip_weekends_and_holidays() {
    let c = cal();
    assert!(c.is_trading_day(d("2024-09-30")));
    assert!(!c.is_trading_day(d("2024-10-01")));
    assert!(!c.is_trading_day(d("2024-10-07")));
    assert!(c.is_trading_day(d("2024-10-08")));
    assert!(
        !c.is_trading_day(d("2024-10-12")),
        "make-up working Saturday is not a trading day"
    );
    assert_eq!(c.next_trading_day(d("2024-09-30")), Some(d("2024-10-08")));
    assert_eq!(next_day(d("2024-12-31")), Some(d("2025-01-01")));
    assert_eq!(next_day(d("2024-02-28")), Some(d("2024-02-29")));
}

#[test]
fn sessions_half_open_windows() {
    let c = cal();
    let day = d("2024-10-08");
    for (h, m, expect) in [
        (9, 29, None),
        (9, 30, Some(SessionKind::ListedOnly)),
        (11, 29, Some(SessionKind::ListedOnly)),
        (11, 30, None),
        (12, 59, None),
        (13, 0, Some(SessionKind::ListedAndBlock)),
        (14, 59, Some(SessionKind::ListedAndBlock)),
        (15, 0, None),
    ] {
        assert_eq!(c.session_at(day, h * 60 + m), expect, "{h}:{m}");
    }
    assert_eq!(c.session_at(d("2024-10-01"), 600), None);
}

#[test]
fn session_checks_give_reasons() {
    let c = cal();
    let day = d("2024-10-08");
    assert_eq!(c.check(day, 600, TradeKind::Listed), Ok(()));
    assert_eq!(
        c.check(day, 600, TradeKind::Block),
        Err(SessionError::OutsideSession {
            kind: TradeKind::Block,
            minute: 600
        })
    );
    assert_eq!(c.check(day, 13 * 60, TradeKind::Block), Ok(()));
    assert_eq!(
        c.check(d("2024-10-05"), 600, TradeKind::Listed),
        Err(SessionError::ClosedDay(d("2024-10-05")))
    );
    // Hours are data: a pilot market with one window.
    let other = TradingCalendar::new(
        [],
        [false, true, true, true, true, true, false],
        Sessions {
            listed: vec![Window::hm(9, 0, 15, 30)],
            block: vec![],
        },
    );
    assert_eq!(
        other.session_at(day, 12 * 60),
        Some(SessionKind::ListedOnly)
    );
    assert!(other.check(day, 14 * 60, TradeKind::Block).is_err());
}
