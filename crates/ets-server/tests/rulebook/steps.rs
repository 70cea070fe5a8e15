//! Steps and checks of the rulebook's cases: each step is one request to the API as an actor
//! would make it (or a move of the server's clock), each check one reading of the API.

use std::collections::BTreeMap;

use ets_server::clock;
use ets_types::Date;
use serde_json::{Value, json};

use super::common::Harness;
use super::expr::{self, Arg, Market, Num};
use super::{Actor, Cast};

/// A step's request: the path, the caller's token, the body, and the name to give its id.
struct Request {
    path: String,
    token: String,
    body: Value,
    name: Option<String>,
}

pub(super) struct Run<'a> {
    pub(super) h: Harness,
    pub(super) cast: &'a Cast,
    pub(super) market: &'a Market,
    /// Ids of named orders, proposals and auctions.
    pub(super) ids: BTreeMap<String, u64>,
    pub(super) date: Date,
    pub(super) minute: u16,
    /// The answer to the request under test.
    pub(super) answer: Value,
}

/// Splits `YYYY-MM-DD HH:MM` (either part optional after the first) into date and minute.
pub(super) fn when(market: &Market, text: &str, date: Date) -> Result<(Date, u16), String> {
    let text = text.trim();
    let (date, time) = match text.split_once(' ') {
        Some((d, t)) if Date::parse(d).is_ok() => (Date::parse(d).unwrap(), t.trim()),
        _ if Date::parse(text).is_ok() => (Date::parse(text).unwrap(), "09:00"),
        _ => (date, text),
    };
    let minute = match time.strip_prefix('=') {
        Some(e) => {
            let v = market.eval(e, &|_, _| None)?;
            v.as_int()
                .and_then(|m| u16::try_from(m).ok())
                .filter(|m| *m < 24 * 60)
                .ok_or_else(|| format!("{text:?}: {v} is not a minute of the day"))?
        }
        None => expr::hhmm(time)?,
    };
    Ok((date, minute))
}

fn take_str(t: &mut toml::Table, key: &str) -> Result<String, String> {
    match t.remove(key) {
        Some(toml::Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{key} = {other} should be text")),
        None => Err(format!("missing {key}")),
    }
}

fn take_opt(t: &mut toml::Table, key: &str) -> Option<toml::Value> {
    t.remove(key)
}

/// The verb of a step: its one key naming what to do.
const STEPS: &[&str] = &[
    "at",
    "open_day",
    "close_day",
    "next_day",
    "deposit",
    "withdraw",
    "transfer",
    "order",
    "take",
    "amend",
    "cancel",
    "block",
    "accept",
    "announce",
    "bid",
    "close_auction",
    "post",
];
pub(super) const CHECKS: &[&str] = &[
    "held", "tradable", "funds", "bar", "trades", "book", "orders", "get",
];

pub(super) fn verb(t: &toml::Table, allowed: &[&[&str]]) -> Result<String, String> {
    let mut found: Vec<&String> = t
        .keys()
        .filter(|k| allowed.iter().any(|list| list.contains(&k.as_str())))
        .collect();
    // `order` is a verb, and the field naming the order of a take, amend or cancel.
    if found.len() == 2 {
        found.retain(|k| k.as_str() != "order");
    }
    match found[..] {
        [one] => Ok(one.clone()),
        [] => Err(format!("no verb in {t}")),
        _ => Err(format!("several verbs in {t}")),
    }
}

impl Run<'_> {
    fn actor(&self, name: &str) -> Result<&Actor, String> {
        self.cast
            .actors
            .get(name)
            .ok_or_else(|| format!("unknown actor {name:?}"))
    }

    fn token(&self, name: &str) -> Result<String, String> {
        if name == "regulator" {
            return Ok(self.cast.regulator.clone());
        }
        Ok(self.actor(name)?.token.clone())
    }

    pub(super) fn set_clock(&mut self, date: Date, minute: u16) {
        self.date = date;
        self.minute = minute;
        self.h.clock.set(clock::instant(date, minute));
    }

    /// Every actor's account as the regulator sees it, for the run-time functions.
    async fn accounts(&self) -> Result<BTreeMap<String, Value>, String> {
        let mut out = BTreeMap::new();
        for (name, a) in &self.cast.actors {
            let (s, v) = self
                .h
                .get(
                    &format!("/api/accounts/{}", a.account),
                    Some(&self.cast.regulator),
                )
                .await;
            if s != 200 {
                return Err(format!("GET account of {name}: {s} {v}"));
            }
            out.insert(name.clone(), v);
        }
        Ok(out)
    }

    /// A value of the data file as JSON, `=expressions` evaluated.
    pub(super) async fn value(&self, v: &toml::Value) -> Result<Value, String> {
        let mut needs_accounts = false;
        scan(v, &mut |s| {
            needs_accounts |= ["held(", "tradable(", "available(", "frozen("]
                .iter()
                .any(|f| s.contains(f));
        });
        let accounts = if needs_accounts {
            self.accounts().await?
        } else {
            BTreeMap::new()
        };
        let runtime = |name: &str, args: &[Arg]| -> Option<Result<Num, String>> {
            let word = |i: usize| match args.get(i) {
                Some(Arg::Word(w)) => Ok(w.clone()),
                _ => Err(format!("{name}: argument {} should be a name", i + 1)),
            };
            let account = |i: usize| -> Result<&Value, String> {
                let w = word(i)?;
                accounts
                    .get(&w)
                    .ok_or_else(|| format!("unknown actor {w:?}"))
            };
            let holding = |field: &str| -> Result<Num, String> {
                let (a, class) = (account(0)?, word(1)?);
                let q = a["holdings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["class"] == class.as_str())
                    .map_or(0, |x| x[field].as_u64().unwrap_or(0));
                Ok(Num::int(q.into()))
            };
            let funds = |field: &str| -> Result<Num, String> {
                let a = account(0)?;
                Ok(Num::int(a["funds"][field].as_u64().unwrap_or(0).into()))
            };
            Some(match name {
                "held" => holding("quantity_t"),
                "tradable" => holding("tradable_t"),
                "available" => funds("available_fen"),
                "frozen" => funds("frozen_fen"),
                _ => return None,
            })
        };
        to_json(v, &|s| self.market.eval(s, &runtime))
    }

    /// An id: a name given to an earlier order, proposal or auction, or a number.
    fn id(&self, v: &toml::Value) -> Result<u64, String> {
        match v {
            toml::Value::Integer(i) => u64::try_from(*i).map_err(|_| format!("id {i}")),
            toml::Value::String(s) => self
                .ids
                .get(s)
                .copied()
                .ok_or_else(|| format!("no order, proposal or auction named {s:?} yet")),
            other => Err(format!("id {other}")),
        }
    }

    /// Fills `{name}` in a path with named ids.
    fn path(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("{template}: unclosed {{"))?;
            out.push_str(&rest[..start]);
            let name = &rest[start + 1..start + end];
            out.push_str(&self.id(&toml::Value::String(name.into()))?.to_string());
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Builds a step's request (`None` for a move of the clock or of the day, done here).
    async fn request(&mut self, step: &toml::Table) -> Result<Option<Request>, String> {
        let mut t = step.clone();
        let verb = verb(&t, &[STEPS])?;
        let name = match take_opt(&mut t, "name") {
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => return Err(format!("name = {other}")),
            None => None,
        };
        let extra = match take_opt(&mut t, "extra") {
            Some(v) => Some(self.value(&v).await?),
            None => None,
        };
        // The remaining fields, evaluated, for the body.
        let field = |t: &mut toml::Table, key: &str| -> Result<toml::Value, String> {
            t.remove(key)
                .ok_or_else(|| format!("{verb}: missing {key}"))
        };
        let (path, caller, mut body) = match verb.as_str() {
            "at" => {
                let text = take_str(&mut t, "at")?;
                let (d, m) = when(self.market, &text, self.date)?;
                self.set_clock(d, m);
                return done(t);
            }
            "next_day" => {
                let date = take_str(&mut t, "next_day")?;
                let (d, m) = when(self.market, &date, self.date)?;
                let (m, regulator) = (
                    if date.contains(' ') { m } else { self.minute },
                    self.cast.regulator.clone(),
                );
                self.expect_ok("/api/exchange/days/close", &regulator, json!({}))
                    .await?;
                self.set_clock(d, m);
                self.expect_ok("/api/exchange/days/open", &regulator, json!({}))
                    .await?;
                return done(t);
            }
            "open_day" | "close_day" => {
                t.remove(&verb);
                (
                    format!("/api/exchange/days/{}", &verb[..verb.len() - 4]),
                    self.cast.regulator.clone(),
                    json!({}),
                )
            }
            "deposit" | "withdraw" => {
                let who = take_str(&mut t, &verb)?;
                let fen = self.value(&field(&mut t, "fen")?).await?;
                let path = if verb == "deposit" {
                    "/api/funds/deposits"
                } else {
                    "/api/funds/withdrawals"
                };
                (
                    path.to_string(),
                    self.cast.regulator.clone(),
                    json!({"holder": self.actor(&who)?.holder, "fen": fen}),
                )
            }
            "transfer" => {
                let qty = self.value(&field(&mut t, "transfer")?).await?;
                let (from, to) = (take_str(&mut t, "from")?, take_str(&mut t, "to")?);
                let class = take_str(&mut t, "class")?;
                (
                    "/api/commands".into(),
                    self.cast.regulator.clone(),
                    json!({"command": "transfer", "class": class, "quantity": qty, "reason": "rulebook set-up",
                           "from": self.actor(&from)?.holder, "to": self.actor(&to)?.holder}),
                )
            }
            "order" => {
                let who = take_str(&mut t, "order")?;
                let mut body = json!({"holder": self.actor(&who)?.holder});
                for key in ["side", "class", "price", "qty"] {
                    body[key] = self.value(&field(&mut t, key)?).await?;
                }
                if let Some(tif) = take_opt(&mut t, "tif") {
                    body["tif"] = self.value(&tif).await?;
                }
                ("/api/orders".into(), self.token(&who)?, body)
            }
            "take" | "amend" | "cancel" => {
                let who = take_str(&mut t, &verb)?;
                let order = self.id(&field(&mut t, "order")?)?;
                let mut body = json!({"holder": self.actor(&who)?.holder});
                let keys: &[&str] = match verb.as_str() {
                    "take" => &["qty"],
                    "amend" => &["price", "qty"],
                    _ => &[],
                };
                for key in keys {
                    body[*key] = self.value(&field(&mut t, key)?).await?;
                }
                (
                    format!("/api/orders/{order}/{verb}"),
                    self.token(&who)?,
                    body,
                )
            }
            "block" => {
                let who = take_str(&mut t, "block")?;
                let to = take_str(&mut t, "to")?;
                let mut body = json!({"holder": self.actor(&who)?.holder,
                                      "counterparty": self.actor(&to)?.holder});
                for key in ["side", "class", "price", "qty"] {
                    body[key] = self.value(&field(&mut t, key)?).await?;
                }
                ("/api/blocks".into(), self.token(&who)?, body)
            }
            "accept" => {
                let who = take_str(&mut t, "accept")?;
                let proposal = self.id(&field(&mut t, "proposal")?)?;
                (
                    format!("/api/blocks/{proposal}/accept"),
                    self.token(&who)?,
                    json!({"holder": self.actor(&who)?.holder}),
                )
            }
            "announce" => {
                let who = take_str(&mut t, "announce")?;
                let mut body = json!({"holder": self.actor(&who)?.holder, "pay_as_bid": false});
                for key in ["side", "class", "qty", "limit"] {
                    body[key] = self.value(&field(&mut t, key)?).await?;
                }
                if let Some(v) = take_opt(&mut t, "pay_as_bid") {
                    body["pay_as_bid"] = self.value(&v).await?;
                }
                for (key, out) in [("open", "open_minute"), ("close", "close_minute")] {
                    let text = take_str(&mut t, key)?;
                    body[out] = json!(when(self.market, &text, self.date)?.1);
                }
                ("/api/auctions".into(), self.token(&who)?, body)
            }
            "bid" => {
                let who = take_str(&mut t, "bid")?;
                let auction = self.id(&field(&mut t, "auction")?)?;
                let mut body = json!({"holder": self.actor(&who)?.holder});
                for key in ["price", "qty"] {
                    body[key] = self.value(&field(&mut t, key)?).await?;
                }
                (
                    format!("/api/auctions/{auction}/bids"),
                    self.token(&who)?,
                    body,
                )
            }
            "close_auction" => {
                let auction = self.id(&field(&mut t, "close_auction")?)?;
                (
                    format!("/api/auctions/{auction}/close"),
                    self.cast.regulator.clone(),
                    json!({}),
                )
            }
            "post" => {
                let path = self.path(&take_str(&mut t, "post")?)?;
                let by = take_str(&mut t, "by")?;
                let body = match take_opt(&mut t, "body") {
                    Some(b) => self.value(&b).await?,
                    None => json!({}),
                };
                (path, self.token(&by)?, body)
            }
            other => return Err(format!("unknown step {other}")),
        };
        if !t.is_empty() {
            return Err(format!("{verb}: unknown fields {t}"));
        }
        if let Some(Value::Object(extra)) = extra {
            body.as_object_mut().unwrap().extend(extra);
        }
        return Ok(Some(Request {
            path,
            token: caller,
            body,
            name,
        }));

        fn done(t: toml::Table) -> Result<Option<Request>, String> {
            if !t.is_empty() {
                return Err(format!("unknown fields {t}"));
            }
            Ok(None)
        }
    }

    pub(super) async fn expect_ok(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> Result<Value, String> {
        let (s, v) = self.h.post(path, Some(token), body).await;
        if s >= 300 {
            return Err(format!("POST {path}: {}", refusal(&v)));
        }
        Ok(v)
    }

    /// Performs a step: its answer (`None` for clock and day moves).
    pub(super) async fn perform(
        &mut self,
        step: &toml::Table,
    ) -> Result<Option<(u16, Value)>, String> {
        let Some(Request {
            path,
            token,
            body,
            name,
        }) = self.request(step).await?
        else {
            return Ok(None);
        };
        let (s, v) = self.h.post(&path, Some(&token), body).await;
        if s < 300
            && let Some(name) = name
        {
            let id = v["id"]
                .as_u64()
                .ok_or_else(|| format!("POST {path} answered no id to name {name}: {v}"))?;
            self.ids.insert(name, id);
        }
        Ok(Some((s, v)))
    }

    /// A set-up step, which must succeed.
    pub(super) async fn setup(&mut self, step: &toml::Table) -> Result<(), String> {
        if let Some((s, v)) = self.perform(step).await?
            && s >= 300
        {
            return Err(format!("set-up step {step} refused: {}", refusal(&v)));
        }
        Ok(())
    }

    /// A check after the request: `Err` says what differs.
    pub(super) async fn check(&mut self, c: &toml::Table) -> Result<(), String> {
        let mut t = c.clone();
        let verb = verb(&t, &[CHECKS])?;
        let want = |t: &mut toml::Table, key: &str| -> Result<toml::Value, String> {
            t.remove(key)
                .ok_or_else(|| format!("{verb}: missing {key}"))
        };
        let reg = self.cast.regulator.clone();
        let mut differences = Vec::new();
        let mut compare = |what: &str, got: &Value, want: &Value| {
            if !same(got, want) {
                differences.push(format!("{what} is {got}, expected {want}"));
            }
        };
        match verb.as_str() {
            "held" | "tradable" => {
                let who = take_str(&mut t, &verb)?;
                let class = take_str(&mut t, "class")?;
                let qty = self.value(&want(&mut t, "qty")?).await?;
                let a = self.actor(&who)?.account.clone();
                let (_, v) = self.h.get(&format!("/api/accounts/{a}"), Some(&reg)).await;
                let field = if verb == "held" {
                    "quantity_t"
                } else {
                    "tradable_t"
                };
                let got = v["holdings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["class"] == class.as_str())
                    .map_or(json!(0), |x| x[field].clone());
                compare(&format!("{who}'s {verb} {class}"), &got, &qty);
            }
            "funds" => {
                let who = take_str(&mut t, "funds")?;
                let a = self.actor(&who)?.account.clone();
                let (_, v) = self.h.get(&format!("/api/accounts/{a}"), Some(&reg)).await;
                for key in ["available_fen", "frozen_fen"] {
                    if let Some(w) = t.remove(key) {
                        let w = self.value(&w).await?;
                        compare(&format!("{who}'s {key}"), &v["funds"][key], &w);
                    }
                }
            }
            "bar" => {
                let class = take_str(&mut t, "bar")?;
                let date = take_str(&mut t, "date")?;
                let (_, v) = self
                    .h
                    .get(&format!("/api/market/days?class={class}"), None)
                    .await;
                let bar = v["days"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|b| b["date"] == date.as_str())
                    .cloned()
                    .ok_or_else(|| format!("no {class} bar of {date}: {v}"))?;
                for (key, w) in std::mem::take(&mut t) {
                    let w = self.value(&w).await?;
                    compare(&format!("{class} {date} {key}"), &bar[&key], &w);
                }
            }
            "trades" => {
                let list = match want(&mut t, "trades")? {
                    toml::Value::Array(a) => a,
                    other => return Err(format!("trades = {other}: expected a list")),
                };
                let got = self.answer["trades"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if got.len() != list.len() {
                    differences.push(format!(
                        "{} trades, expected {}: {}",
                        got.len(),
                        list.len(),
                        self.answer["trades"]
                    ));
                } else {
                    for (i, (g, w)) in got.iter().zip(&list).enumerate() {
                        let w = self.value(w).await?;
                        for (key, wv) in w.as_object().into_iter().flatten() {
                            let gv = match key.as_str() {
                                // A party as the actor's name, when the account is its.
                                "buyer" | "seller" => {
                                    let name = wv.as_str().unwrap_or_default();
                                    let account = &self.actor(name)?.account;
                                    if same_account(account, &g[key]) {
                                        json!(name)
                                    } else {
                                        json!(format!("account {}", g[key]))
                                    }
                                }
                                _ => g[key].clone(),
                            };
                            compare(&format!("trade {i} {key}"), &gv, wv);
                        }
                    }
                }
            }
            "book" => {
                let class = take_str(&mut t, "book")?;
                let (_, v) = self
                    .h
                    .get(&format!("/api/market/book?class={class}&levels=50"), None)
                    .await;
                for side in ["bids", "asks"] {
                    if let Some(w) = t.remove(side) {
                        let w = self.value(&w).await?;
                        let prices: Vec<Value> = v[side]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|l| l["price"].clone())
                            .collect();
                        compare(&format!("{class} {side}' prices"), &json!(prices), &w);
                    }
                }
            }
            "orders" => {
                let who = take_str(&mut t, "orders")?;
                let count = self.value(&want(&mut t, "count")?).await?;
                let a = self.actor(&who)?.account.clone();
                let (_, v) = self.h.get(&format!("/api/accounts/{a}"), Some(&reg)).await;
                let n = v["open_orders"].as_array().map_or(0, Vec::len);
                compare(&format!("{who}'s open orders"), &json!(n), &count);
                if let Some(w) = t.remove("open_qty") {
                    let w = self.value(&w).await?;
                    let open: Vec<Value> = v["open_orders"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|o| o["open_qty"].clone())
                        .collect();
                    compare(&format!("{who}'s open quantities"), &json!(open), &w);
                }
            }
            "get" => {
                let path = self.path(&take_str(&mut t, "get")?)?;
                let by = match take_opt(&mut t, "by") {
                    Some(toml::Value::String(s)) => Some(self.token(&s)?),
                    _ => None,
                };
                let pointer = take_str(&mut t, "pointer")?;
                let w = self.value(&want(&mut t, "equals")?).await?;
                let (s, v) = self.h.get(&path, by.as_deref()).await;
                if s != 200 {
                    return Err(format!("GET {path}: {s} {}", refusal(&v)));
                }
                let got = v.pointer(&pointer).cloned().unwrap_or(Value::Null);
                compare(&format!("GET {path} {pointer}"), &got, &w);
            }
            other => return Err(format!("unknown check {other}")),
        }
        if !t.is_empty() {
            return Err(format!("{verb}: unknown fields {t}"));
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(differences.join("; "))
        }
    }
}

/// Whether an account in an answer (a trade names it by number: CN-000005 is 5) is `account`.
fn same_account(account: &str, got: &Value) -> bool {
    let number = account
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse::<u64>()
        .ok();
    match got {
        Value::Number(n) => n.as_u64().is_some() && n.as_u64() == number,
        _ => got.as_str() == Some(account),
    }
}

/// Applies `f` to every text in a value.
fn scan(v: &toml::Value, f: &mut dyn FnMut(&str)) {
    match v {
        toml::Value::String(s) => f(s),
        toml::Value::Array(a) => a.iter().for_each(|x| scan(x, f)),
        toml::Value::Table(t) => t.values().for_each(|x| scan(x, f)),
        _ => {}
    }
}

/// A data-file value as JSON; texts starting with `=` are evaluated.
pub(super) fn to_json(
    v: &toml::Value,
    eval: &dyn Fn(&str) -> Result<Num, String>,
) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => match s.strip_prefix('=') {
            Some(e) => eval(e).map_err(|err| format!("={e}: {err}"))?.json(),
            None => json!(s),
        },
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| to_json(x, eval))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, x)| Ok((k.clone(), to_json(x, eval)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Numbers compare by value, the rest as JSON.
pub(super) fn same(got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        (Some(a), Some(b)) if got.is_number() && want.is_number() => a == b,
        _ => got == want,
    }
}

/// A refusal as `code {params}`.
pub(super) fn refusal(v: &Value) -> String {
    match v["code"].as_str() {
        Some(code) => format!("{code} {}", v["params"]),
        None => v.to_string(),
    }
}
