//! Trading days and sessions, built from data (holiday list, open weekdays, session windows)
//! so that a new year's holidays or a change of hours is a configuration change.
//!
//! Times are minutes after midnight Beijing time, given by the caller (the core has no clock).
//! A window `[start, end)` is half-open: 9:30–11:30 accepts 9:30 through 11:29.

use std::collections::BTreeSet;

use ets_types::Date;

/// Which market an order belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TradeKind {
    /// Listed agreement (挂牌协议), orders below the block threshold.
    Listed,
    /// Block agreement (大宗协议).
    Block,
}

impl std::fmt::Display for TradeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TradeKind::Listed => "listed",
            TradeKind::Block => "block",
        })
    }
}

/// What is open at a given minute of a trading day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionKind {
    ListedOnly,
    BlockOnly,
    ListedAndBlock,
}

/// Why an order was refused by the calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("{0} is not a trading day")]
    ClosedDay(Date),
    #[error("{kind} trading is closed at minute {minute} of the day")]
    OutsideSession { kind: TradeKind, minute: u16 },
}

/// A half-open window of minutes after midnight, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: u16,
    pub end: u16,
}

impl Window {
    /// A window from `h1:m1` to `h2:m2`.
    pub fn hm(h1: u16, m1: u16, h2: u16, m2: u16) -> Window {
        Window {
            start: h1 * 60 + m1,
            end: h2 * 60 + m2,
        }
    }

    pub fn contains(&self, minute: u16) -> bool {
        (self.start..self.end).contains(&minute)
    }
}

/// The session windows of each trade kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sessions {
    pub listed: Vec<Window>,
    pub block: Vec<Window>,
}

impl Sessions {
    /// The national market's hours (DOMAIN §4): listed 9:30–11:30 and 13:00–15:00, block
    /// 13:00–15:00. A convenience for tests and defaults; the market file may say otherwise.
    pub fn cn_national() -> Sessions {
        Sessions {
            listed: vec![Window::hm(9, 30, 11, 30), Window::hm(13, 0, 15, 0)],
            block: vec![Window::hm(13, 0, 15, 0)],
        }
    }

    /// Whether trading of `kind` is open at `minute` of a trading day.
    pub fn is_open(&self, kind: TradeKind, minute: u16) -> bool {
        let ws = match kind {
            TradeKind::Listed => &self.listed,
            TradeKind::Block => &self.block,
        };
        ws.iter().any(|w| w.contains(minute))
    }
}

/// Trading days: the open weekdays minus the listed holidays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradingCalendar {
    holidays: BTreeSet<Date>,
    /// Indexed by [`weekday`]: 0 = Sunday … 6 = Saturday.
    open_weekdays: [bool; 7],
    sessions: Sessions,
}

impl TradingCalendar {
    pub fn new(
        holidays: impl IntoIterator<Item = Date>,
        open_weekdays: [bool; 7],
        sessions: Sessions,
    ) -> Self {
        TradingCalendar {
            holidays: holidays.into_iter().collect(),
            open_weekdays,
            sessions,
        }
    }

    /// Monday to Friday open (the weekday rule of DOMAIN §4), with these holidays. China's
    /// make-up working Saturdays (调休) are not trading days, so no extra days are needed.
    pub fn weekdays(holidays: impl IntoIterator<Item = Date>, sessions: Sessions) -> Self {
        Self::new(
            holidays,
            [false, true, true, true, true, true, false],
            sessions,
        )
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub fn is_trading_day(&self, date: Date) -> bool {
        self.open_weekdays[weekday(date) as usize] && !self.holidays.contains(&date)
    }

    /// What is open at `minute` of `date`, or `None` when nothing is.
    pub fn session_at(&self, date: Date, minute_of_day: u16) -> Option<SessionKind> {
        if !self.is_trading_day(date) {
            return None;
        }
        let listed = self.sessions.is_open(TradeKind::Listed, minute_of_day);
        let block = self.sessions.is_open(TradeKind::Block, minute_of_day);
        match (listed, block) {
            (true, true) => Some(SessionKind::ListedAndBlock),
            (true, false) => Some(SessionKind::ListedOnly),
            (false, true) => Some(SessionKind::BlockOnly),
            (false, false) => None,
        }
    }

    /// Whether an order of `kind` may be entered at `minute` of `date`.
    ///
    /// # Errors
    /// `ClosedDay` on a weekend or holiday, `OutsideSession` outside the kind's windows.
    pub fn check(
        &self,
        date: Date,
        minute_of_day: u16,
        kind: TradeKind,
    ) -> Result<(), SessionError> {
        if !self.is_trading_day(date) {
            return Err(SessionError::ClosedDay(date));
        }
        if !self.sessions.is_open(kind, minute_of_day) {
            return Err(SessionError::OutsideSession {
                kind,
                minute: minute_of_day,
            });
        }
        Ok(())
    }

    /// The first trading day strictly after `date`, if one exists within a year (settlement
    /// and T+1 resale need it).
    pub fn next_trading_day(&self, date: Date) -> Option<Date> {
        let mut d = date;
        for _ in 0..366 {
            d = next_day(d)?;
            if self.is_trading_day(d) {
                return Some(d);
            }
        }
        None
    }
}

/// Day of the week, 0 = Sunday … 6 = Saturday (Sakamoto's method, Gregorian calendar).
pub fn weekday(date: Date) -> u8 {
    const T: [u32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let m = u32::from(date.month());
    let mut y = u32::from(date.year());
    if m < 3 {
        y -= 1;
    }
    ((y + y / 4 - y / 100 + y / 400 + T[(m - 1) as usize] + u32::from(date.day())) % 7) as u8
}

/// The calendar day after `date` (`None` past year 9999).
pub fn next_day(date: Date) -> Option<Date> {
    Date::new(date.year(), date.month(), date.day() + 1)
        .or_else(|_| Date::new(date.year(), date.month() + 1, 1))
        .or_else(|_| Date::new(date.year() + 1, 1, 1))
        .ok()
}
