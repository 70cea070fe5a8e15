//! The rulebook's figures: the shipped market file read as plain TOML (not through the engine's
//! parser, so that the suite checks the engine against the file), the figures derived from it
//! (price bands around a close, the sessions in minutes of the day, the reference price in fen),
//! and the `=expressions` of the cases over them, in exact rational arithmetic.
//!
//! Names an expression may use:
//! - a key of the market file by its dotted path: `listed.band_pct`, `block.min_order_t`,
//!   `position_limits.others_cap_t`, `market.lot_t`…;
//! - `tick` (fen), `lot` (t), `ref` (the opening reference price, fen), `listed_low`,
//!   `listed_high`, `block_low`, `block_high` (the bands around `ref`), `levels` (click-to-trade
//!   levels), and `listed_open_N`, `listed_close_N`, `block_open_N`, `block_close_N` (the Nth
//!   session's first minute and end minute, counted from 1, in minutes of the day);
//! - `low(pct, close)` and `high(pct, close)` (a band's edges rounded inward to the tick),
//!   `vwap(p1, q1, p2, q2, …)` (rounded half up to the tick), `min(a, b)`, `max(a, b)`;
//! - whatever the runner adds at run time (`held(actor, 'CEA-2019')`…).

use std::collections::BTreeMap;
use std::fmt;

/// An exact rational number (`d > 0`, reduced).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Num {
    n: i128,
    d: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

impl Num {
    pub fn int(n: i128) -> Num {
        Num { n, d: 1 }
    }
    fn new(n: i128, d: i128) -> Result<Num, String> {
        if d == 0 {
            return Err("division by zero".into());
        }
        let g = gcd(n, d).max(1) * d.signum();
        Ok(Num { n: n / g, d: d / g })
    }
    /// A decimal as the market file writes it: `"48.00"`, `"10"`, `"0.01"`.
    pub fn decimal(text: &str) -> Result<Num, String> {
        let bad = || format!("{text:?} is not a decimal number");
        let (neg, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || !(whole
                .chars()
                .chain(frac.chars())
                .all(|c| c.is_ascii_digit()))
        {
            return Err(bad());
        }
        let n: i128 = format!("{whole}{frac}").parse().map_err(|_| bad())?;
        let d = 10i128.checked_pow(frac.len() as u32).ok_or_else(bad)?;
        Num::new(if neg { -n } else { n }, d)
    }
    pub fn as_int(self) -> Option<i128> {
        (self.d == 1).then_some(self.n)
    }
    /// A JSON number: an integer when whole, else the nearest float (only off-tick and
    /// off-lot figures are fractions, and those are meant to be refused).
    pub fn json(self) -> serde_json::Value {
        match self.as_int() {
            Some(n) => match i64::try_from(n) {
                Ok(n) => serde_json::json!(n),
                Err(_) => serde_json::json!(n as f64),
            },
            None => serde_json::json!(self.n as f64 / self.d as f64),
        }
    }
    fn add(self, o: Num) -> Result<Num, String> {
        Num::new(self.n * o.d + o.n * self.d, self.d * o.d)
    }
    fn sub(self, o: Num) -> Result<Num, String> {
        Num::new(self.n * o.d - o.n * self.d, self.d * o.d)
    }
    fn mul(self, o: Num) -> Result<Num, String> {
        Num::new(self.n * o.n, self.d * o.d)
    }
    fn div(self, o: Num) -> Result<Num, String> {
        Num::new(self.n * o.d, self.d * o.n)
    }
    fn floor(self) -> i128 {
        self.n.div_euclid(self.d)
    }
    fn ceil(self) -> i128 {
        -(-self.n).div_euclid(self.d)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.d == 1 {
            write!(f, "{}", self.n)
        } else {
            write!(f, "{}/{}", self.n, self.d)
        }
    }
}

/// An argument of a function: a number, or a word (an actor, a quoted class).
#[derive(Clone, Debug)]
pub enum Arg {
    Num(Num),
    Word(String),
}

/// What the runner adds at run time: a function (or, with no arguments, a name) it knows.
pub type Runtime<'a> = dyn Fn(&str, &[Arg]) -> Option<Result<Num, String>> + 'a;

/// The market file and its derived figures.
pub struct Market {
    pub table: toml::Table,
    names: BTreeMap<String, Num>,
}

/// `"09:30-11:30"` as minutes of the day `[start, end)`.
pub fn session(text: &str) -> Result<(u16, u16), String> {
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("session {text:?}: expected HH:MM-HH:MM"))?;
    Ok((hhmm(a)?, hhmm(b)?))
}

/// `"09:30"` as a minute of the day.
pub fn hhmm(text: &str) -> Result<u16, String> {
    let (h, m) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected HH:MM"))?;
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| format!("{text:?}: hour"))?,
        m.parse().map_err(|_| format!("{text:?}: minute"))?,
    );
    if h > 23 || m > 59 {
        return Err(format!("{text:?} is not a time of day"));
    }
    Ok(h * 60 + m)
}

/// A minute of the day as `HH:MM`.
pub fn show_minute(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

impl Market {
    pub fn load(text: &str) -> Result<Market, String> {
        let table: toml::Table = text.parse().map_err(|e| format!("market file: {e}"))?;
        let mut m = Market {
            table,
            names: BTreeMap::new(),
        };
        let fen = Num::int(100);
        let tick = m.number("market.tick")?.mul(fen)?;
        let reference = m.number("market.opening_reference_price")?.mul(fen)?;
        let (listed, block) = (m.number("listed.band_pct")?, m.number("block.band_pct")?);
        m.names.insert("tick".into(), tick);
        m.names.insert("ref".into(), reference);
        m.names.insert("lot".into(), m.number("market.lot_t")?);
        m.names
            .insert("levels".into(), m.number("listed.click_levels")?);
        let (ll, lh) = m.band(listed, reference)?;
        let (bl, bh) = m.band(block, reference)?;
        for (name, v) in [
            ("listed_low", ll),
            ("listed_high", lh),
            ("block_low", bl),
            ("block_high", bh),
        ] {
            m.names.insert(name.into(), v);
        }
        for kind in ["listed", "block"] {
            let sessions = m
                .get(&format!("calendar.{kind}_sessions"))?
                .as_array()
                .ok_or_else(|| format!("calendar.{kind}_sessions is not a list"))?
                .clone();
            for (i, s) in sessions.iter().enumerate() {
                let (start, end) = session(s.as_str().unwrap_or_default())?;
                let n = i + 1;
                m.names
                    .insert(format!("{kind}_open_{n}"), Num::int(start.into()));
                m.names
                    .insert(format!("{kind}_close_{n}"), Num::int(end.into()));
            }
        }
        Ok(m)
    }

    /// A key of the file by dotted path.
    pub fn get(&self, path: &str) -> Result<&toml::Value, String> {
        let mut parts = path.split('.');
        let first = parts.next().unwrap_or_default();
        let mut v = self
            .table
            .get(first)
            .ok_or_else(|| format!("the market file has no {path}"))?;
        for p in parts {
            let next = match (v, p.parse::<usize>()) {
                (toml::Value::Array(a), Ok(i)) => a.get(i),
                _ => v.get(p),
            };
            v = next.ok_or_else(|| format!("the market file has no {path}"))?;
        }
        Ok(v)
    }

    /// A key of the file as a number (integers, and decimals written as strings).
    pub fn number(&self, path: &str) -> Result<Num, String> {
        match self.get(path)? {
            toml::Value::Integer(i) => Ok(Num::int((*i).into())),
            toml::Value::String(s) => Num::decimal(s).map_err(|e| format!("{path}: {e}")),
            other => Err(format!("{path} = {other} is not a number")),
        }
    }

    /// A key of the file as the file writes it, shortened for a table.
    pub fn show(&self, path: &str) -> String {
        match self.get(path) {
            Ok(toml::Value::String(s)) => s.clone(),
            Ok(toml::Value::Array(a)) if a.len() > 6 => {
                let first = a.first().map(|v| v.to_string()).unwrap_or_default();
                let last = a.last().map(|v| v.to_string()).unwrap_or_default();
                format!("[{first} … {last}] ({} items)", a.len())
            }
            Ok(v) => v.to_string(),
            Err(e) => e,
        }
    }

    /// The band of ±`pct` % around `close`, rounded inward to the tick (DOMAIN.md §4: the
    /// price within [close × 0.9, close × 1.1] rounded to 0.01).
    pub fn band(&self, pct: Num, close: Num) -> Result<(Num, Num), String> {
        let tick = self.names["tick"];
        let hundred = Num::int(100);
        let low = close.mul(hundred.sub(pct)?.div(hundred)?)?;
        let high = close.mul(hundred.add(pct)?.div(hundred)?)?;
        let low = Num::int(low.div(tick)?.ceil()).mul(tick)?;
        let high = Num::int(high.div(tick)?.floor()).mul(tick)?;
        Ok((if low.n <= 0 { tick } else { low }, high))
    }

    /// Evaluates `expr`; `runtime` answers the functions and names the file does not know.
    pub fn eval(&self, expr: &str, runtime: &Runtime) -> Result<Num, String> {
        let tokens = tokenize(expr)?;
        let mut p = Parser {
            tokens: &tokens,
            at: 0,
            market: self,
            runtime,
        };
        let v = p.expr()?;
        if p.at != tokens.len() {
            return Err(format!("{expr:?}: unexpected {:?}", tokens[p.at]));
        }
        Ok(v)
    }

    fn function(&self, name: &str, args: &[Arg]) -> Option<Result<Num, String>> {
        let nums = || -> Result<Vec<Num>, String> {
            args.iter()
                .map(|a| match a {
                    Arg::Num(n) => Ok(*n),
                    Arg::Word(w) => Err(format!("{name}: {w} is not a number")),
                })
                .collect()
        };
        let two = |f: &dyn Fn(Num, Num) -> Result<Num, String>| {
            let v = nums()?;
            match v[..] {
                [a, b] => f(a, b),
                _ => Err(format!("{name} takes two numbers")),
            }
        };
        Some(match name {
            "low" => two(&|pct, close| self.band(pct, close).map(|b| b.0)),
            "high" => two(&|pct, close| self.band(pct, close).map(|b| b.1)),
            "min" => two(&|a, b| Ok(if a.sub(b)?.n <= 0 { a } else { b })),
            "max" => two(&|a, b| Ok(if a.sub(b)?.n >= 0 { a } else { b })),
            "vwap" => (|| {
                let v = nums()?;
                if v.is_empty() || v.len() % 2 != 0 {
                    return Err("vwap takes pairs of price and quantity".into());
                }
                let (mut value, mut qty) = (Num::int(0), Num::int(0));
                for pq in v.chunks(2) {
                    value = value.add(pq[0].mul(pq[1])?)?;
                    qty = qty.add(pq[1])?;
                }
                let tick = self.names["tick"];
                let ticks = value.div(qty)?.div(tick)?.add(Num::new(1, 2)?)?.floor();
                Num::int(ticks).mul(tick)
            })(),
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Num(Num),
    Ident(String),
    Quoted(String),
    Op(char),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            out.push(Token::Num(Num::decimal(&s)?));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|c| *c == '\'')
                .ok_or_else(|| format!("{text:?}: unclosed quote"))?;
            out.push(Token::Quoted(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if "+-*/(),".contains(c) {
            out.push(Token::Op(c));
            i += 1;
        } else {
            return Err(format!("{text:?}: unexpected {c:?}"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    market: &'a Market,
    runtime: &'a Runtime<'a>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn eat(&mut self, op: char) -> bool {
        if self.peek() == Some(&Token::Op(op)) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn expr(&mut self) -> Result<Num, String> {
        let mut v = self.term()?;
        loop {
            if self.eat('+') {
                v = v.add(self.term()?)?;
            } else if self.eat('-') {
                v = v.sub(self.term()?)?;
            } else {
                return Ok(v);
            }
        }
    }
    fn term(&mut self) -> Result<Num, String> {
        let mut v = self.factor()?;
        loop {
            if self.eat('*') {
                v = v.mul(self.factor()?)?;
            } else if self.eat('/') {
                v = v.div(self.factor()?)?;
            } else {
                return Ok(v);
            }
        }
    }
    fn factor(&mut self) -> Result<Num, String> {
        match self.arg()? {
            Arg::Num(n) => Ok(n),
            Arg::Word(w) => Err(format!("unknown name {w:?}")),
        }
    }
    /// A factor, or a bare word (only meaningful as a function's argument).
    fn arg(&mut self) -> Result<Arg, String> {
        let token = self
            .peek()
            .cloned()
            .ok_or_else(|| "the expression ends too early".to_string())?;
        self.at += 1;
        match token {
            Token::Num(n) => Ok(Arg::Num(n)),
            Token::Quoted(s) => Ok(Arg::Word(s)),
            Token::Op('-') => Ok(Arg::Num(Num::int(0).sub(self.factor()?)?)),
            Token::Op('(') => {
                let v = self.expr()?;
                if !self.eat(')') {
                    return Err("missing )".into());
                }
                Ok(Arg::Num(v))
            }
            Token::Op(c) => Err(format!("unexpected {c:?}")),
            Token::Ident(name) => {
                if self.eat('(') {
                    let mut args = Vec::new();
                    if !self.eat(')') {
                        loop {
                            args.push(match self.arg()? {
                                Arg::Num(n) => Arg::Num(self.continue_expr(n)?),
                                w => w,
                            });
                            if self.eat(')') {
                                break;
                            }
                            if !self.eat(',') {
                                return Err(format!("{name}(…): expected , or )"));
                            }
                        }
                    }
                    let v = self
                        .market
                        .function(&name, &args)
                        .or_else(|| (self.runtime)(&name, &args))
                        .ok_or_else(|| format!("unknown function {name}"))?;
                    return v.map(Arg::Num);
                }
                if let Some(v) = self.market.names.get(&name) {
                    return Ok(Arg::Num(*v));
                }
                if name.contains('.') {
                    return self.market.number(&name).map(Arg::Num);
                }
                match (self.runtime)(&name, &[]) {
                    Some(v) => v.map(Arg::Num),
                    None => Ok(Arg::Word(name)),
                }
            }
        }
    }
    /// The rest of an expression whose first factor is `first` (a function's argument).
    fn continue_expr(&mut self, first: Num) -> Result<Num, String> {
        let mut v = first;
        loop {
            if self.eat('*') {
                v = v.mul(self.factor()?)?;
            } else if self.eat('/') {
                v = v.div(self.factor()?)?;
            } else {
                break;
            }
        }
        loop {
            if self.eat('+') {
                v = v.add(self.term()?)?;
            } else if self.eat('-') {
                v = v.sub(self.term()?)?;
            } else {
                return Ok(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market() -> Market {
        Market::load(include_str!("../../../../markets/cn-seee.toml")).unwrap()
    }

    fn eval(m: &Market, e: &str) -> Num {
        m.eval(e, &|_, _| None).unwrap()
    }

    #[test]
    fn figures_follow_the_file() {
        let m = market();
        assert_eq!(eval(&m, "ref"), Num::int(4800));
        assert_eq!(eval(&m, "listed_high + tick"), Num::int(5281));
        assert_eq!(eval(&m, "block_low"), Num::int(3360));
        assert_eq!(eval(&m, "high(listed.band_pct, 4875)"), Num::int(5362));
        assert_eq!(eval(&m, "low(listed.band_pct, 4875)"), Num::int(4388));
        assert_eq!(eval(&m, "vwap(4800, 100, 4801, 100)"), Num::int(4801));
        assert_eq!(eval(&m, "listed_close_1 - 1"), Num::int(689));
        assert_eq!(eval(&m, "ref + tick / 2").json(), serde_json::json!(4800.5));
        assert_eq!(eval(&m, "max(1, 2 * (3 - 1))"), Num::int(4));
    }
}
