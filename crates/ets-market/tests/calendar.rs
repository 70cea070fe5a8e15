//! The shipped market file's calendar through its last published year: the State Council's
//! holidays are closed days, the days around them open, and a day in a year the file does not
//! cover is refused with an error that names the missing year, never opened blindly.

use ets_market::{Command, Envelope, ExchangeCommand, Market, MarketError};
use ets_types::Date;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn env(date: &str, command: Command) -> Envelope {
    Envelope {
        date: d(date),
        initiator: "test".into(),
        key: None,
        reason: "test".into(),
        command,
    }
}

fn shipped(file: &str) -> Market {
    let toml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../markets/cn-seee.toml"),
    )
    .unwrap();
    let toml = match file {
        "shipped" => toml,
        // The same file as adopted before `published_through` existed.
        _ => toml
            .lines()
            .filter(|l| !l.starts_with("published_through"))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut m = Market::new(d("2021-01-04"));
    m.execute(&env(
        "2021-01-04",
        Command::OpenExchange {
            source: "cn-seee.toml".into(),
            toml,
        },
    ))
    .unwrap();
    m
}

/// Opens and closes `date`'s trading day; the refusal if it cannot be opened.
fn trade_day(m: &mut Market, date: &str) -> Result<(), MarketError> {
    m.execute(&env(date, Command::Exchange(ExchangeCommand::OpenDay)))?;
    m.execute(&env(date, Command::Exchange(ExchangeCommand::CloseDay)))
        .unwrap();
    Ok(())
}

#[test]
fn the_exchange_opens_on_1_october_2024_and_1_january_2025_only_after_the_holidays() {
    let mut m = shipped("shipped");
    for closed in [
        "2024-10-01", // National Day
        "2024-10-07",
        "2025-01-01", // New Year
        "2025-01-28", // Spring Festival
        "2026-02-23",
        "2026-10-07",
    ] {
        let e = trade_day(&mut m, closed).unwrap_err();
        assert_eq!(e.code(), "not_trading_day", "{closed}: {e}");
    }
    for open in [
        "2024-09-30",
        "2024-10-08",
        "2025-01-02",
        "2025-02-05",
        "2026-12-31",
    ] {
        trade_day(&mut m, open).unwrap_or_else(|e| panic!("{open}: {e}"));
    }
}

#[test]
fn a_day_beyond_the_calendar_is_refused_naming_the_missing_year() {
    let mut m = shipped("shipped");
    let e = trade_day(&mut m, "2027-01-04").unwrap_err();
    assert_eq!(e.code(), "beyond_calendar");
    let params = e.params();
    assert_eq!(params["year"], 2027);
    assert_eq!(params["last_year"], 2026);
    let message = e.to_string();
    assert!(
        message.contains("2027") && message.contains("through 2026"),
        "{message}"
    );
    // A market file adopted before the key existed keeps its old behaviour on replay.
    let mut old = shipped("without the key");
    trade_day(&mut old, "2027-01-04").unwrap();
}

#[test]
fn a_holiday_after_the_published_year_is_a_file_error() {
    let toml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../markets/cn-seee.toml"),
    )
    .unwrap()
    .replace("published_through = 2026", "published_through = 2025");
    let mut m = Market::new(d("2021-01-04"));
    let e = m
        .execute(&env(
            "2021-01-04",
            Command::OpenExchange {
                source: "cn-seee.toml".into(),
                toml,
            },
        ))
        .unwrap_err();
    assert!(e.to_string().contains("published_through"), "{e}");
}
