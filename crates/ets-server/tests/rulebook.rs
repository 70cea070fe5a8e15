//! The rulebook: boundary cases for every trading rule of DOMAIN.md §4, as data
//! (`tests/rulebook/cases.toml`), run through the HTTP API of the real server.
//!
//! A case names its rule and gives a scenario: the minute of the day and date on the server's
//! clock (the exchange takes the time from the server, never from the client), the steps that
//! set it up, the request under test, and the outcome expected just inside the rule and just
//! outside it (accepted, or refused with a stable `code` and its figures). Figures come from the
//! shipped market file (`markets/cn-seee.toml`, read as plain TOML; see `rulebook/expr.rs`), so
//! the suite follows the file.
//!
//! One set-up through the API (the regulator, companies and a trader as `common::setup` makes
//! them, with a third company), frozen; every side of every case runs on a fresh server forked
//! from that store, so cases do not see each other. The test prints a table of rule, case,
//! expected and got, and fails listing every mismatch. Cases marked `pending` are skipped with a
//! note. `every_rule_has_an_inside_and_an_outside_case` checks the data file's coverage of §4.
//!
//! Run: `cargo nextest run -p ets-server --test rulebook` (`--no-capture` shows the table);
//! `RULEBOOK_ONLY=listed.band` runs the cases whose rule starts with that text;
//! `RULEBOOK_PENDING=1` runs the pending sides too and says which pass now (they never fail the
//! test).

mod common;
#[path = "rulebook/expr.rs"]
mod expr;
#[path = "rulebook/steps.rs"]
mod steps;

use std::collections::BTreeMap;

use common::{Harness, Kind};
use ets_server::clock;
use expr::Market;
use serde::Deserialize;
use serde_json::{Value, json};
use steps::{CHECKS, Run, refusal, same, verb, when};

const CASES: &str = include_str!("rulebook/cases.toml");
const MARKET_FILE: &str = "../../markets/cn-seee.toml";

// ---------------------------------------------------------------------------------------------
// The data file

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Book {
    rows: Vec<Row>,
    rules: BTreeMap<String, Rule>,
    case: Vec<Case>,
}

/// A row of DOMAIN.md §4's table (or another section's rule) and the rules that cover it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    /// The section of DOMAIN.md: `4`, or another for rules outside the trading rules' table.
    section: String,
    row: String,
    rules: Vec<String>,
    /// What of the row has no case, and why.
    #[serde(default)]
    untested: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    /// The rule as DOMAIN.md states it.
    text: String,
    /// Its flag and source ([C] S33…).
    flag: String,
    /// The market file's keys that hold its value.
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    name: String,
    #[serde(default)]
    note: Option<String>,
    /// `YYYY-MM-DD HH:MM` (Beijing time) on the server's clock; the time may be `=expression`.
    at: String,
    /// Whether the trading day of `at` is opened before the steps (default yes).
    #[serde(default = "yes")]
    open_day: bool,
    #[serde(default)]
    given: Vec<toml::Table>,
    /// The request under test (each side may change its fields with `with`, or replace it).
    #[serde(default)]
    when: Option<toml::Table>,
    #[serde(default)]
    inside: Option<Side>,
    #[serde(default)]
    outside: Option<Side>,
    #[serde(default)]
    pending: Option<String>,
    /// Runs on the shipped file with `participants.admit_non_covered = true` (a later phase of
    /// the market, §1.3), for rules about participants other than covered companies.
    #[serde(default)]
    admitting: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Side {
    /// Steps after the case's own.
    #[serde(default)]
    given: Vec<toml::Table>,
    /// The time (or date and time) of the request under test, when not the case's.
    #[serde(default)]
    at: Option<String>,
    /// Fields replaced in the case's request.
    #[serde(default)]
    with: toml::Table,
    #[serde(default)]
    when: Option<toml::Table>,
    /// `accepted`, or the code of the refusal.
    expect: String,
    /// Figures of the refusal (a subset of its `params`).
    #[serde(default)]
    params: toml::Table,
    /// Steps and checks after the request.
    #[serde(default)]
    then: Vec<toml::Table>,
    #[serde(default)]
    pending: Option<String>,
}

fn book() -> Book {
    toml::from_str(CASES).unwrap_or_else(|e| panic!("tests/rulebook/cases.toml: {e}"))
}

fn market_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(MARKET_FILE);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Coverage

/// The rows of DOMAIN.md §4's table, when the shared folder is at hand (`ETS_SHARED`, default
/// the folder beside the workspace).
fn domain_rows() -> Option<Vec<String>> {
    let shared = std::env::var("ETS_SHARED")
        .unwrap_or_else(|_| format!("{}/../../../shared", env!("CARGO_MANIFEST_DIR")));
    let text = std::fs::read_to_string(format!("{shared}/DOMAIN.md")).ok()?;
    let start = text.find("\n## 4.")?;
    let rest = &text[start + 1..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |e| e + 1);
    let rows = rest[..end]
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| Item"))
        .filter_map(|l| l.split('|').nth(1).map(|c| c.trim().to_string()))
        .collect();
    Some(rows)
}

#[test]
fn every_rule_has_an_inside_and_an_outside_case() {
    let b = book();
    let mut problems = Vec::new();
    for row in &b.rows {
        if row.rules.is_empty() {
            problems.push(format!("§4 row {:?} has no rule", row.row));
        }
        for r in &row.rules {
            if !b.rules.contains_key(r) {
                problems.push(format!("§4 row {:?} names unknown rule {r}", row.row));
            }
        }
    }
    for id in b.rules.keys() {
        if !b.rows.iter().any(|row| row.rules.contains(id)) {
            problems.push(format!("rule {id} belongs to no row"));
        }
        let sides = |f: fn(&Case) -> &Option<Side>| {
            b.case
                .iter()
                .filter(|c| &c.rule == id && f(c).is_some())
                .count()
        };
        if sides(|c| &c.inside) == 0 {
            problems.push(format!("rule {id} has no inside case"));
        }
        if sides(|c| &c.outside) == 0 {
            problems.push(format!("rule {id} has no outside case"));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for c in &b.case {
        if !b.rules.contains_key(&c.rule) {
            problems.push(format!("case {} names unknown rule {}", c.name, c.rule));
        }
        if !names.insert(case_id(c)) {
            problems.push(format!("two cases are named {}", case_id(c)));
        }
        if c.inside.is_none() && c.outside.is_none() {
            problems.push(format!("case {} has neither side", case_id(c)));
        }
    }
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rulebook.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_default();
    for id in b.rules.keys() {
        if !doc.contains(&format!("`{id}`")) {
            problems.push(format!("docs/rulebook.md does not mention rule `{id}`"));
        }
    }
    match domain_rows() {
        Some(rows) => {
            for r in rows {
                if !b.rows.iter().any(|s| s.section == "4" && s.row == r) {
                    problems.push(format!("DOMAIN.md §4 row {r:?} is not in the rulebook"));
                }
            }
        }
        None => eprintln!("note: DOMAIN.md not found (ETS_SHARED); its rows were not compared"),
    }
    assert!(
        problems.is_empty(),
        "the rulebook does not cover §4:\n  {}",
        problems.join("\n  ")
    );
}

/// A case's name: its rule, then what it tries (`listed.band.upper_edge`).
fn case_id(c: &Case) -> String {
    format!("{}.{}", c.rule, c.name)
}

// ---------------------------------------------------------------------------------------------
// The cast

/// Who acts in the cases: a name of the data file, its holder id and token.
#[derive(Clone)]
struct Actor {
    holder: String,
    token: String,
    account: String,
}

struct Cast {
    regulator: String,
    actors: BTreeMap<String, Actor>,
}

/// The set-up every case starts from: `common::setup` (companies SX0001 and HB0001 with their
/// 2019 and 2020 pre-allocations, trader-1 funded with 10,000,000.00 CNY, the exchange under the
/// shipped market file), a third company SX0002 with no allocation, and the day closed.
async fn set_up(h: &Harness, admitting: bool) -> Cast {
    let m = if admitting {
        common::setup_market(h, &common::admitting_market()).await
    } else {
        common::setup_market(h, ets_market::trading::config::MarketRules::builtin_text()).await
    };
    let (s, v) = h
        .post(
            "/api/account-requests",
            None,
            common::request_json(common::company_json("SX0002", "Shanxi"), &["c3-a", "c3-b"]),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    let v = h
        .ok(
            &format!("/api/account-requests/{id}/approve"),
            &m.regulator,
            json!({}),
        )
        .await;
    let c3_account = v["account"].as_str().unwrap().to_string();
    let c3 = h.token("c3-a").await;
    h.ok("/api/exchange/days/close", &m.regulator, json!({}))
        .await;
    let actor = |holder: &str, token: &str, account: &str| Actor {
        holder: holder.into(),
        token: token.into(),
        account: account.into(),
    };
    Cast {
        actors: BTreeMap::from([
            ("sx".into(), actor("SX0001", &m.rep_a, &m.sx_account)),
            ("hb".into(), actor("HB0001", &m.hb_a, &m.hb_account)),
            ("c3".into(), actor("SX0002", &c3, &c3_account)),
            ("t1".into(), actor("trader-1", &m.member, &m.trader_account)),
        ]),
        regulator: m.regulator,
    }
}

// ---------------------------------------------------------------------------------------------
// Running a side of a case

/// One side of one case, ready to run.
struct Plan<'a> {
    case: &'a Case,
    side_name: &'static str,
    side: &'a Side,
}

impl Plan<'_> {
    fn id(&self) -> String {
        format!("{}.{}", case_id(self.case), self.side_name)
    }
    fn pending(&self) -> Option<&str> {
        self.side
            .pending
            .as_deref()
            .or(self.case.pending.as_deref())
    }
    fn request(&self) -> Result<toml::Table, String> {
        let mut t = self
            .side
            .when
            .clone()
            .or_else(|| self.case.when.clone())
            .ok_or("no request: the case and its side have no `when`")?;
        for (k, v) in &self.side.with {
            t.insert(k.clone(), v.clone());
        }
        Ok(t)
    }
}

/// What happened, as the table shows it.
struct Got {
    /// When the request under test was made (server's clock), once known.
    at: String,
    shown: String,
    ok: bool,
}

/// Runs one side of a case on a fresh server forked from `base`.
async fn run(base: &Harness, cast: &Cast, market: &Market, plan: &Plan<'_>) -> Got {
    let mut at = String::new();
    match try_run(base, cast, market, plan, &mut at).await {
        Ok(got) => got,
        Err(e) => Got {
            at,
            shown: format!("error: {e}"),
            ok: false,
        },
    }
}

async fn try_run(
    base: &Harness,
    cast: &Cast,
    market: &Market,
    plan: &Plan<'_>,
    at: &mut String,
) -> Result<Got, String> {
    let start = clock::parse_beijing(common::START).unwrap();
    let (date, minute) = when(market, &plan.case.at, clock::beijing(start).0)?;
    let mut r = Run {
        h: base.fork(clock::instant(date, minute)),
        cast,
        market,
        ids: BTreeMap::new(),
        date,
        minute,
        answer: Value::Null,
    };
    if plan.case.open_day {
        let reg = cast.regulator.clone();
        r.expect_ok("/api/exchange/days/open", &reg, json!({}))
            .await
            .map_err(|e| format!("opening {date}: {e}"))?;
    }
    for step in plan.case.given.iter().chain(&plan.side.given) {
        r.setup(step).await?;
    }
    if let Some(at) = &plan.side.at {
        let (d, m) = when(market, at, r.date)?;
        r.set_clock(d, m);
    }
    *at = format!("{} {}", r.date, expr::show_minute(r.minute));
    let request = plan.request()?;
    let (status, answer) = r
        .perform(&request)
        .await?
        .ok_or("the request under test is a clock move")?;
    r.answer = answer.clone();
    let got = if status < 300 {
        "accepted".to_string()
    } else {
        answer["code"].as_str().unwrap_or("?").to_string()
    };
    let mut problems = Vec::new();
    if got != plan.side.expect {
        problems.push(if status < 300 {
            "accepted".to_string()
        } else {
            refusal(&answer)
        });
    } else if status >= 300 && !plan.side.params.is_empty() {
        let want = r
            .value(&toml::Value::Table(plan.side.params.clone()))
            .await?;
        for (k, w) in want.as_object().into_iter().flatten() {
            if !same(&answer["params"][k], w) {
                problems.push(format!(
                    "params.{k} = {}, expected {w}",
                    answer["params"][k]
                ));
            }
        }
    }
    if problems.is_empty() {
        for item in &plan.side.then {
            let result = if verb(item, &[CHECKS]).is_ok() {
                r.check(item).await
            } else {
                r.setup(item).await
            };
            if let Err(e) = result {
                problems.push(e);
            }
        }
    }
    Ok(Got {
        at: at.clone(),
        ok: problems.is_empty(),
        shown: if problems.is_empty() {
            got
        } else {
            problems.join("; ")
        },
    })
}

/// Every case of the rulebook through the HTTP API; one table, every mismatch listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rulebook() {
    let b = book();
    let market = Market::load(&market_text()).unwrap();
    assert_eq!(
        market_text(),
        ets_market::trading::config::MarketRules::builtin_text(),
        "the server's built-in cn-seee is the shipped market file"
    );
    let only = std::env::var("RULEBOOK_ONLY").ok();
    let run_pending = std::env::var("RULEBOOK_PENDING").is_ok_and(|v| v == "1");
    let selected = |rule: &str| only.as_ref().is_none_or(|o| rule.starts_with(o.as_str()));
    // One set-up per market the selected cases need: the shipped file, and (for rules about
    // participants other than covered companies) the same file admitting them.
    let mut bases = BTreeMap::new();
    for admitting in [false, true] {
        if b.case
            .iter()
            .any(|c| selected(&c.rule) && c.admitting == admitting)
        {
            let name = if admitting {
                "rulebook-admitting"
            } else {
                "rulebook"
            };
            let base = Harness::new(Kind::Embedded, name).unwrap();
            let cast = set_up(&base, admitting).await;
            base.freeze();
            bases.insert(admitting, (base, cast));
        }
    }
    let rules: Vec<Vec<String>> = b
        .rules
        .iter()
        .filter(|(id, _)| selected(id))
        .map(|(id, r)| {
            let values: Vec<String> = r
                .values
                .iter()
                .map(|k| format!("{k} = {}", market.show(k)))
                .collect();
            vec![
                id.clone(),
                r.flag.clone(),
                values.join(", "),
                r.text.clone(),
            ]
        })
        .collect();
    print_table(&["rule", "flag", "market file", "DOMAIN.md"], &rules);
    println!();
    let mut rows = Vec::new();
    let (mut ran, mut failed, mut pending) = (0, Vec::new(), Vec::new());
    for case in b.case.iter().filter(|c| selected(&c.rule)) {
        for (side_name, side) in [("inside", &case.inside), ("outside", &case.outside)] {
            let Some(side) = side else { continue };
            let (base, cast) = &bases[&case.admitting];
            let plan = Plan {
                case,
                side_name,
                side,
            };
            let (at, shown) = match plan.pending() {
                Some(reason) if !run_pending => {
                    pending.push(format!("{}: {reason}", plan.id()));
                    (String::new(), "… pending".to_string())
                }
                Some(reason) => {
                    let got = run(base, cast, &market, &plan).await;
                    let verdict = if got.ok {
                        "passes now: enable it"
                    } else {
                        "still fails"
                    };
                    pending.push(format!("{}: {verdict} ({reason})", plan.id()));
                    (got.at, format!("… pending: {}", got.shown))
                }
                None => {
                    ran += 1;
                    let got = run(base, cast, &market, &plan).await;
                    if !got.ok {
                        failed.push(format!(
                            "{} ({}): expected {}, got {}{}",
                            plan.id(),
                            b.rules[&case.rule].text,
                            side.expect,
                            got.shown,
                            case.note
                                .as_ref()
                                .map_or(String::new(), |n| format!("\n      note: {n}"))
                        ));
                    }
                    let mark = if got.ok { "ok" } else { "FAIL" };
                    (got.at, format!("{mark} {}", got.shown))
                }
            };
            rows.push(vec![
                case.rule.clone(),
                format!("{}.{side_name}", case.name),
                at,
                side.expect.clone(),
                shown,
            ]);
        }
    }
    print_table(
        &["rule", "case", "at (server clock)", "expected", "got"],
        &rows,
    );
    for row in b.rows.iter().filter(|r| r.untested.is_some()) {
        println!(
            "untested in §{} {}: {}",
            row.section,
            row.row,
            row.untested.as_deref().unwrap_or_default()
        );
    }
    for p in &pending {
        println!("pending: {p}");
    }
    assert!(
        failed.is_empty(),
        "{} of {ran} rulebook cases failed:\n  {}",
        failed.len(),
        failed.join("\n  ")
    );
}

/// A table in Markdown's pipe syntax (cells cut at 60 characters for the widths only).
fn print_table(head: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count().min(60));
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", parts.join(" | "));
    };
    line(head.to_vec());
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(rule.iter().map(String::as_str).collect());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
