//! One exchange vocabulary: `ets-market` uses `ets-exchange`'s calendar, sessions, size limits
//! and daily statistics, and keeps no second copy with other conventions. This test fails when
//! one creeps back (a weekday computed by hand, a session test on minute pairs, an inclusive
//! listed maximum, a VWAP rounded here).

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }
}

#[test]
fn the_market_keeps_no_second_copy_of_the_exchange_vocabulary() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 5);
    let forbidden = [
        ("calendar::weekday(", "use TradingCalendar::is_trading_day"),
        (".contains(&minute)", "use Sessions::is_open"),
        ("listed_max_t", "use SizeLimits (listed_below)"),
        ("block_min_t", "use SizeLimits (block_at_least)"),
        ("2 * r >= den", "use DailyStats::close"),
    ];
    for (path, text) in &files {
        for (pattern, instead) in forbidden {
            assert!(
                !text.contains(pattern),
                "{path} contains {pattern:?}: {instead}"
            );
        }
    }
}
