//! The demo's year on the exchange: from the opening on 16 July 2021 to the deadline, companies
//! in surplus list and sell what they want to sell, companies in deficit buy what they want to
//! buy, traders provide liquidity where the market file admits them (not in the first phase, which
//! the shipped file follows), and the approaching deadline brings the year-end rush.
//!
//! Nothing here writes a price or a volume: prices move from the day's balance of demand and
//! supply (with seeded noise), inside the exchange's own bands; volumes follow from what the
//! behaviour model asked each company to trade and from how much of it is left as the deadline
//! approaches. Every order goes through the exchange's checks, freezes and settlement.

use std::collections::BTreeMap;

use anyhow::Result;
use ets_market::trading::exchange::{OrderSide, Tif};
use ets_market::{Command, Envelope, Event, ExchangeCommand};
use ets_types::{Date, UnitClass};
use rand::{Rng, SeedableRng};

use super::Run;

const CLASSES: [UnitClass; 2] = [
    UnitClass::Cea { vintage: 2019 },
    UnitClass::Cea { vintage: 2020 },
];
/// Traders: institutions that buy when the market is long and sell into the year-end rush.
const TRADERS: [&str; 3] = ["TRADER-HAITONG", "TRADER-CITIC", "TRADER-SHENERGY"];
/// Funds a trader deposits, fen (100 million CNY).
const TRADER_FUNDS_FEN: u64 = 10_000_000_000;

struct Side {
    name: String,
    remaining: u64,
}

/// Trading days from `first` to `last`, inclusive.
fn trading_days(run: &Run, first: Date, last: Date) -> Vec<Date> {
    let ex = run.store.market().exchange().expect("the exchange is open");
    let mut days = Vec::new();
    let mut d = first;
    while d <= last {
        if ex.is_trading_day(d) {
            days.push(d);
        }
        d = ets_exchange::calendar::next_day(d).expect("dates before year 9999");
    }
    days
}

fn x(_: &Run, date: Date, who: &str, c: ExchangeCommand) -> Envelope {
    Envelope {
        date,
        initiator: who.to_string(),
        key: None,
        reason: "exchange".into(),
        command: Command::Exchange(c),
    }
}

/// Submits independent commands as one journal batch (one fsync); a refused order is simply not
/// traded. Returns, per command, its events (empty when refused).
fn batch(run: &mut Run, envs: Vec<Envelope>) -> Result<Vec<Vec<Event>>> {
    if envs.is_empty() {
        return Ok(Vec::new());
    }
    let results = run.store.submit_each(&envs)?;
    Ok(results.into_iter().map(|r| r.unwrap_or_default()).collect())
}

/// The vintage of which a holder can sell the most now.
fn sell_class(run: &Run, holder: &str) -> UnitClass {
    let m = run.store.market();
    let (Some(ex), Some(account)) = (m.exchange(), m.resolve_account(holder)) else {
        return CLASSES[0];
    };
    CLASSES
        .iter()
        .copied()
        .max_by_key(|v| {
            (
                ex.tradable(m.registry(), account, *v),
                std::cmp::Reverse(*v),
            )
        })
        .unwrap_or(CLASSES[0])
}

/// Runs the exchange from the opening to the deadline, or to the close of the `--until` day:
/// the days after it are left untraded, and the days before it trade as in the full year (the
/// urgency of each day is a share of the whole year's). `sellers` and `buyers` are companies
/// with the tonnes they want to sell or buy.
pub fn run_year(
    run: &mut Run,
    sellers: Vec<(String, u64)>,
    buyers: Vec<(String, u64)>,
    seed: u64,
    business: Vec<Envelope>,
) -> Result<()> {
    let d = |s: &str| Date::parse(s).expect("valid");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x4558_4348);
    let text = ets_market::trading::config::MarketRules::builtin_text();
    let rules = ets_market::trading::config::MarketRules::from_toml_str(text, "cn-seee.toml")?;
    // Traders join only when the market file admits holders other than covered companies
    // (DOMAIN.md §1.3: not in the first phase, which the demo's year is).
    let traders: Vec<&str> = if rules.admit_non_covered {
        TRADERS.to_vec()
    } else {
        Vec::new()
    };
    let mut setup = vec![run.env(
        "2021-07-15",
        "SEEE",
        "national market trading rules",
        Command::OpenExchange {
            source: "cn-seee.toml (shipped)".into(),
            toml: text.to_string(),
        },
    )];
    for &t in &traders {
        setup.push(run.env(
            "2021-07-15",
            "SEEE",
            "trading account opened",
            Command::RegisterHolder { holder: t.into() },
        ));
    }
    run.phase("open the exchange", setup)?;
    // Buyers pay in what their gap would cost at a high price; traders their capital.
    let mut deposits = Vec::new();
    for (b, need) in &buyers {
        deposits.push(x(
            run,
            d("2021-07-15"),
            b,
            ExchangeCommand::Deposit {
                holder: b.clone(),
                fen: need * 8_000,
            },
        ));
    }
    for &t in &traders {
        deposits.push(x(
            run,
            d("2021-07-15"),
            t,
            ExchangeCommand::Deposit {
                holder: t.into(),
                fen: TRADER_FUNDS_FEN,
            },
        ));
    }
    for (s, _) in &sellers {
        deposits.push(x(
            run,
            d("2021-07-15"),
            s,
            ExchangeCommand::Deposit {
                holder: s.clone(),
                fen: 100,
            },
        ));
    }
    run.phase("deposits", deposits)?;

    let days = trading_days(run, d("2021-07-16"), d("2021-12-31"));
    let n = days.len() as f64;
    // Urgency grows as the deadline nears: buyers most of all (the year-end rush), sellers less.
    let buy_w: Vec<f64> = (0..days.len())
        .map(|i| 1.0 + 30.0 * (i as f64 / n).powi(6))
        .collect();
    let sell_w: Vec<f64> = (0..days.len())
        .map(|i| 1.0 + 4.0 * (i as f64 / n).powi(2))
        .collect();
    let (buy_total, sell_total): (f64, f64) = (buy_w.iter().sum(), sell_w.iter().sum());
    let (mut buy_rest, mut sell_rest) = (buy_total, sell_total);
    let mut buyers: Vec<Side> = buyers
        .into_iter()
        .map(|(name, remaining)| Side { name, remaining })
        .collect();
    let mut sellers: Vec<Side> = sellers
        .into_iter()
        .map(|(name, remaining)| Side { name, remaining })
        .collect();
    let mut trader_pos: BTreeMap<&str, u64> = traders.iter().map(|t| (*t, 0)).collect();

    let traded = days.iter().filter(|d| run.due(**d)).count();
    let mut done_business = 0;
    let bar = run.bar(&format!("exchange, {traded} trading days"), traded as u64);
    for (i, &day) in days.iter().enumerate() {
        if !run.due(day) {
            break;
        }
        // The day's other business (exemptions, bilateral purchases of credits), before its open.
        let today: Vec<Envelope> = business
            .iter()
            .take_while(|e| e.date <= day)
            .skip(done_business)
            .cloned()
            .collect();
        done_business += today.len();
        if !today.is_empty() {
            run.store
                .submit_all(&today)
                .map_err(|e| anyhow::anyhow!("the business of {day}: {e}"))?;
        }
        let last_days = days.len() - i;
        let today_share = |w: f64, rest: f64| {
            if last_days == 1 {
                1.0
            } else {
                (w / rest).min(1.0)
            }
        };
        let bshare = today_share(buy_w[i], buy_rest);
        let sshare = today_share(sell_w[i], sell_rest);
        buy_rest -= buy_w[i];
        sell_rest -= sell_w[i];
        let mut need: Vec<u64> = buyers
            .iter()
            .map(|b| (b.remaining as f64 * bshare).ceil() as u64)
            .collect();
        let offer: Vec<u64> = sellers
            .iter()
            .map(|s| (s.remaining as f64 * sshare).ceil() as u64)
            .collect();
        let demand: u64 = need.iter().sum();
        let supply: u64 = offer.iter().sum();
        let ex = run.store.market().exchange().expect("open");
        let prev = ex.prev_close(CLASSES[i % 2]).expect("a traded vintage");
        let reference = ex.rules.opening_reference_fen as f64;
        // The day's price: the previous close moved by how urgent buyers are against sellers
        // today (each side's share of what it still wants to trade), pulled back towards the
        // opening reference, with seeded noise.
        let (b, s) = (buy_w[i] / buy_total, sell_w[i] / sell_total);
        let pressure = (b - s) / (b + s);
        let noise: f64 = rng.random_range(-0.012..0.012);
        let step =
            (0.025 * pressure + 0.05 * (reference / prev as f64).ln() + noise).clamp(-0.09, 0.09);
        let _ = (demand, supply);
        let price = |premium: f64| ((prev as f64 * (1.0 + step + premium)).round() as i64).max(1);

        let mut open = vec![x(run, day, "SEEE", ExchangeCommand::OpenDay)];
        // Listed orders in the morning: each seller lists part of today's offer, traders sell
        // into the rush in the last weeks.
        for (k, s) in sellers.iter().enumerate() {
            let q = offer[k].min(99_999);
            if q == 0 {
                continue;
            }
            let p = price(0.002 * (k % 5) as f64);
            open.push(x(
                run,
                day,
                &s.name,
                ExchangeCommand::Order {
                    holder: s.name.clone(),
                    class: sell_class(run, &s.name),
                    side: OrderSide::Sell,
                    price: p,
                    qty: q,
                    tif: Tif::Day,
                    minute: 570 + (k % 60) as u16,
                },
            ));
        }
        if last_days <= 15 {
            for &t in &traders {
                let q = trader_pos[t].min(99_999);
                if q > 0 {
                    open.push(x(
                        run,
                        day,
                        t,
                        ExchangeCommand::Order {
                            holder: t.into(),
                            class: sell_class(run, t),
                            side: OrderSide::Sell,
                            price: price(0.01),
                            qty: q,
                            tif: Tif::Day,
                            minute: 600,
                        },
                    ));
                }
            }
        }
        // Block trades in the afternoon: a buyer with a large gap agrees a block of at least
        // 100,000 t with a seller that still has as much to sell, more often as the deadline
        // nears.
        let mut proposals = Vec::new();
        let mut reserved = vec![0u64; sellers.len()];
        let mut s_idx = 0;
        for (k, nb) in need.iter_mut().enumerate() {
            let chunk = buyers[k].remaining.min((*nb).max(100_000));
            let willing = rng.random_range(0.0..1.0) < (25.0 * bshare).powi(3).min(1.0);
            if chunk < 100_000 || !willing {
                continue;
            }
            let free = |j: usize| sellers[j].remaining.saturating_sub(offer[j] + reserved[j]);
            while s_idx < sellers.len() && free(s_idx) < chunk {
                s_idx += 1;
            }
            if s_idx == sellers.len() {
                break;
            }
            // A buyer does not agree a block its position limit would refuse at acceptance
            // (the proposal would stay open, its units frozen).
            let m = run.store.market();
            let class = sell_class(run, &sellers[s_idx].name);
            let within_limit = m.resolve_account(&buyers[k].name).is_some_and(|a| {
                m.registry().holding(a, class).saturating_add(chunk) <= m.position_limit(a, class)
            });
            if !within_limit {
                continue;
            }
            proposals.push((k, s_idx, chunk));
            reserved[s_idx] += chunk;
            *nb = nb.saturating_sub(chunk);
        }
        let first_proposal = open.len();
        for &(b, s, q) in &proposals {
            open.push(x(
                run,
                day,
                &sellers[s].name,
                ExchangeCommand::ProposeBlock {
                    holder: sellers[s].name.clone(),
                    counterparty: buyers[b].name.clone(),
                    class: sell_class(run, &sellers[s].name),
                    side: OrderSide::Sell,
                    price: price(-0.01),
                    qty: q,
                    minute: 790,
                },
            ));
        }
        let results = batch(run, open)?;
        // The buyer accepts each block proposal the exchange took.
        let mut take = Vec::new();
        for (k, &(b, _, _)) in proposals.iter().enumerate() {
            let accepted = results[first_proposal + k].iter().find_map(|e| match e {
                Event::Exchange {
                    input: ets_market::trading::exchange::ExchangeInput::ProposeBlock { id, .. },
                    ..
                } => Some(*id),
                _ => None,
            });
            if let Some(proposal) = accepted {
                take.push(x(
                    run,
                    day,
                    &buyers[b].name,
                    ExchangeCommand::AcceptBlock {
                        holder: buyers[b].name.clone(),
                        proposal,
                        minute: 800,
                    },
                ));
            }
        }
        // Buyers take the best listed orders (click-to-trade), cheapest first.
        let ex = run.store.market().exchange().expect("open");
        let mut book: Vec<(u64, String, i64, u64)> = Vec::new();
        for v in CLASSES {
            for (id, account, p, q) in ex.best_orders(v, OrderSide::Sell, 5) {
                book.push((id, format!("CN-{:06}", account.0), p, q));
            }
        }
        book.sort_by_key(|o| (o.2, o.0));
        let mut o = 0;
        for (b, nb) in need.iter_mut().enumerate() {
            while *nb > 0 && o < book.len() {
                let q = (*nb).min(book[o].3).min(99_999);
                take.push(x(
                    run,
                    day,
                    &buyers[b].name,
                    ExchangeCommand::Take {
                        holder: buyers[b].name.clone(),
                        order: book[o].0,
                        qty: q,
                        minute: 630 + (b % 60) as u16,
                    },
                ));
                *nb -= q;
                book[o].3 -= q;
                if book[o].3 == 0 {
                    o += 1;
                }
            }
        }
        // When the market is long, traders buy what is left cheap (up to their cap).
        if supply > demand && last_days > 20 {
            for &t in &traders {
                while o < book.len() && trader_pos[t] < 600_000 {
                    let q = book[o].3.min(99_999).min(600_000 - trader_pos[t]);
                    take.push(x(
                        run,
                        day,
                        t,
                        ExchangeCommand::Take {
                            holder: t.into(),
                            order: book[o].0,
                            qty: q,
                            minute: 700,
                        },
                    ));
                    *trader_pos.get_mut(t).expect("trader") += q;
                    book[o].3 -= q;
                    if book[o].3 == 0 {
                        o += 1;
                    }
                }
            }
        }
        let events: Vec<Event> = batch(run, take)?.into_iter().flatten().collect();
        // Count what actually traded against each side's remaining wish.
        let m = run.store.market();
        for e in &events {
            if let Event::Exchange { trades, .. } = e {
                for t in trades {
                    let buyer = m.company_of_account(t.buyer).map(|c| c.to_string());
                    let seller = m.company_of_account(t.seller).map(|c| c.to_string());
                    if let Some(b) = buyer.and_then(|b| buyers.iter_mut().find(|x| x.name == b)) {
                        b.remaining = b.remaining.saturating_sub(t.qty);
                    }
                    if let Some(s) = seller.and_then(|s| sellers.iter_mut().find(|x| x.name == s)) {
                        s.remaining = s.remaining.saturating_sub(t.qty);
                    }
                }
            }
        }
        for &t in &traders {
            // Positions reflect holdings (what a trader bought and has not yet sold).
            let account = m.resolve_account(t).expect("registered trader");
            *trader_pos.get_mut(t).expect("trader") = CLASSES
                .iter()
                .map(|v| m.registry().holding(account, *v))
                .sum();
        }
        batch(run, vec![x(run, day, "SEEE", ExchangeCommand::CloseDay)])?;
        bar.inc(1);
    }
    bar.finish();
    Ok(())
}
