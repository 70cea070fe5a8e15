//! The server's clock: the one place time is read. The market's business date and the
//! exchange's minute of the day come from it, in Beijing time (UTC+8, no daylight saving).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ets_types::Date;

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// A simulation clock: starts at a chosen instant and runs at real speed from there (an
/// analyst replaying a trading day, a load test inside trading hours).
pub struct StartedClock {
    start_ms: i64,
    began: Instant,
}

impl StartedClock {
    pub fn new(start_ms: i64) -> StartedClock {
        StartedClock {
            start_ms,
            began: Instant::now(),
        }
    }
}

impl Clock for StartedClock {
    fn now_ms(&self) -> i64 {
        self.start_ms + self.began.elapsed().as_millis() as i64
    }
}

/// A clock that moves only when told to (tests).
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(ms: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(ms)))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const BEIJING_OFFSET_MS: i64 = 8 * 3600 * 1000;

/// The Beijing date and minute of the day of an instant.
pub fn beijing(ms: i64) -> (Date, u16) {
    let local = ms + BEIJING_OFFSET_MS;
    let days = local.div_euclid(86_400_000);
    let minute = (local.rem_euclid(86_400_000) / 60_000) as u16;
    let (y, m, d) = civil_from_days(days);
    let date = Date::new(y as u16, m as u8, d as u8).expect("a calendar date");
    (date, minute)
}

/// The instant of a Beijing date and minute.
pub fn instant(date: Date, minute: u16) -> i64 {
    let days = days_from_civil(
        i64::from(date.year()),
        date.month().into(),
        date.day().into(),
    );
    days * 86_400_000 + i64::from(minute) * 60_000 - BEIJING_OFFSET_MS
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (Beijing time) into an instant.
pub fn parse_beijing(text: &str) -> Result<i64, String> {
    let (d, t) = text.split_once('T').unwrap_or((text, "00:00"));
    let date = Date::parse(d).map_err(|e| format!("{text:?}: {e}"))?;
    let (h, m) = t
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<u16>().ok()?, m.get(..2)?.parse::<u16>().ok()?)))
        .filter(|(h, m)| *h < 24 && *m < 60)
        .ok_or_else(|| format!("{text:?}: expected YYYY-MM-DDTHH:MM (Beijing time)"))?;
    Ok(instant(date, h * 60 + m))
}

// Howard Hinnant's civil calendar algorithms.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_round_trips() {
        let t = parse_beijing("2021-07-16T09:30").unwrap();
        let (date, minute) = beijing(t);
        assert_eq!(date.to_string(), "2021-07-16");
        assert_eq!(minute, 570);
        // 2021-07-16 09:30 Beijing is 01:30 UTC.
        assert_eq!(t, 1_626_399_000_000);
        assert_eq!(beijing(t - 570 * 60_000 - 1).0.to_string(), "2021-07-15");
        assert!(parse_beijing("2021-07-16T25:00").is_err());
        assert!(parse_beijing("2021-02-30").is_err());
    }
}
