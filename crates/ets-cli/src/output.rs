//! Printing: the compliance table and its JSON form.

use std::io::Write;

use anyhow::Result;
use ets_compliance::{Ratio, Totals};
use ets_market::ComplianceReport;
use serde_json::json;

/// Tonnes (or any integer) with thousands separators: 4,512,345,678.
pub fn t(n: u64) -> String {
    ets_types::thousands(n)
}

/// A rate as a percentage with two decimals, e.g. 99.52 %.
pub fn pct(r: Ratio) -> String {
    format!(
        "{:.2} %",
        r.to_decimal(6) * rust_decimal::Decimal::ONE_HUNDRED
    )
}

fn rate_json(r: Ratio) -> serde_json::Value {
    let d = r.to_decimal(6).normalize().to_string();
    serde_json::from_str(&d).expect("a decimal is a JSON number")
}

fn totals_json(t: &Totals) -> serde_json::Value {
    json!({
        "name": t.name,
        "companies": t.companies,
        "allocated_t": t.allocated_t,
        "verified_t": t.verified_t,
        "obligation_t": t.obligation_t,
        "surrendered_t": t.surrendered_t,
        "offsets_used_t": t.offsets_used_t,
        "shortfall_t": t.shortfall_t,
        "complied": t.complied,
        "partly": t.partly,
        "not_at_all": t.not_at_all,
        "fines_cny": t.fines_cny,
        "completion_rate_volume": rate_json(t.completion_volume),
        "completion_rate_count": rate_json(t.completion_count),
    })
}

pub fn write_compliance_json(
    r: &ComplianceReport,
    province: Option<&str>,
    out: &mut impl Write,
) -> Result<()> {
    let provinces: Vec<_> = r
        .provinces
        .iter()
        .filter(|p| province.is_none_or(|want| p.name.eq_ignore_ascii_case(want)))
        .map(totals_json)
        .collect();
    let mut doc = json!({
        "plan": r.plan,
        "assessed_on": r.assessed_on.map(|d| d.to_string()),
        "national": totals_json(&r.national),
        "provinces": provinces,
        "pending_companies": r.pending.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "exempted_companies": r.exempted.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>(),
    });
    if let Some(want) = province {
        let companies: Vec<_> = r
            .companies
            .iter()
            .filter(|c| c.province.eq_ignore_ascii_case(want))
            .map(|c| serde_json::to_value(c).expect("results serialize"))
            .collect();
        doc["companies"] = serde_json::Value::Array(companies);
    }
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}

fn row(out: &mut impl Write, t: &Totals, mark: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<16}{:>6} {:>15} {:>15} {:>15} {:>15} {:>12} {:>12} {:>9} {:>9}{mark}",
        t.name,
        t.companies,
        self::t(t.allocated_t),
        self::t(t.verified_t),
        self::t(t.obligation_t),
        self::t(t.surrendered_t),
        self::t(t.offsets_used_t),
        self::t(t.shortfall_t),
        pct(t.completion_volume),
        pct(t.completion_count),
    )
}

pub fn print_compliance(
    r: &ComplianceReport,
    province: Option<&str>,
    out: &mut impl Write,
) -> Result<()> {
    match r.assessed_on {
        Some(d) => writeln!(out, "Compliance of plan {}: assessed on {d}", r.plan)?,
        None => writeln!(
            out,
            "Compliance of plan {}: cycle open, position as of now",
            r.plan
        )?,
    }
    if !r.exempted.is_empty() {
        writeln!(
            out,
            "({} companies exempted from the cycle: closed or deregistered)",
            r.exempted.len()
        )?;
    }
    if !r.pending.is_empty() {
        writeln!(
            out,
            "({} companies left out: no accepted report or final allocation yet)",
            r.pending.len()
        )?;
    }
    writeln!(
        out,
        "{:<16}{:>6} {:>15} {:>15} {:>15} {:>15} {:>12} {:>12} {:>9} {:>9}",
        "",
        "cos",
        "allocated t",
        "verified t",
        "obligation t",
        "surrendered t",
        "offsets t",
        "shortfall t",
        "volume",
        "count"
    )?;
    row(out, &r.national, "")?;
    let n = &r.national;
    for p in r
        .provinces
        .iter()
        .filter(|p| province.is_none_or(|want| p.name.eq_ignore_ascii_case(want)))
    {
        row(
            out,
            p,
            if p.name == "Shanxi" {
                "  <- Shanxi"
            } else {
                ""
            },
        )?;
    }
    writeln!(
        out,
        "status: {} complied, {} partly, {} not at all; fines {} CNY",
        t(n.complied),
        t(n.partly),
        t(n.not_at_all),
        t(n.fines_cny)
    )?;
    if let Some(want) = province {
        writeln!(
            out,
            "\n{:<10} {:>13} {:>13} {:>13} {:>11}  status",
            "company", "obligation t", "surrendered t", "shortfall t", "offsets t"
        )?;
        for c in r
            .companies
            .iter()
            .filter(|c| c.province.eq_ignore_ascii_case(want))
        {
            writeln!(
                out,
                "{:<10} {:>13} {:>13} {:>13} {:>11}  {:?}",
                c.company.as_str(),
                t(c.obligation_t),
                t(c.surrendered_t),
                t(c.shortfall_t),
                t(c.offsets_used_t),
                c.status
            )?;
        }
    }
    Ok(())
}

/// A price in fen as CNY with two decimals.
pub fn cny(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

/// The daily figures as `GET /api/market/days` serves them (the same document, fields as
/// docs/exchange.md describes them: prices in fen per tonne, turnover in fen).
pub fn write_market_json(
    ex: &ets_market::trading::exchange::Exchange,
    out: &mut impl Write,
) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, &ex.daily_figures(None))?;
    writeln!(out)?;
    Ok(())
}

/// The price path by month and the totals of the market's trading: volume and turnover of
/// listed, block and one-way trades and in total (the fields of docs/exchange.md, Daily figures).
pub fn print_market(
    ex: &ets_market::trading::exchange::Exchange,
    out: &mut impl Write,
) -> Result<()> {
    let days = ex.market_days();
    if days.is_empty() {
        writeln!(out, "no trading day closed yet")?;
        return Ok(());
    }
    let sum = |m: &[ets_market::trading::exchange::MarketDay],
               f: fn(&ets_market::trading::exchange::DayFigures) -> u64| {
        m.iter().fold(0u64, |a, d| a.saturating_add(f(&d.figures)))
    };
    let volume = sum(&days, |f| f.volume_t);
    let turnover = sum(&days, |f| f.turnover_fen);
    writeln!(
        out,
        "Market {}: {} trading days, {} to {}",
        ex.rules.id,
        days.len(),
        days[0].date,
        days[days.len() - 1].date
    )?;
    writeln!(
        out,
        "volume {} t (listed {} t, block {} t, one-way {} t), turnover {} CNY, average {} CNY/t",
        t(volume),
        t(sum(&days, |f| f.listed_volume_t)),
        t(sum(&days, |f| f.block_volume_t)),
        t(sum(&days, |f| f.one_way_volume_t)),
        t(turnover / 100),
        cny((turnover / volume.max(1)) as i64)
    )?;
    writeln!(
        out,
        "turnover: listed {} CNY, block {} CNY, one-way {} CNY",
        t(sum(&days, |f| f.listed_turnover_fen) / 100),
        t(sum(&days, |f| f.block_turnover_fen) / 100),
        t(sum(&days, |f| f.one_way_turnover_fen) / 100),
    )?;
    let lo = days.iter().map(|d| d.figures.close).min().unwrap_or(0);
    let hi = days.iter().map(|d| d.figures.close).max().unwrap_or(0);
    writeln!(
        out,
        "first open {} CNY/t, last close {} CNY/t, closes between {} and {}",
        cny(days[0].figures.open),
        cny(days[days.len() - 1].figures.close),
        cny(lo),
        cny(hi)
    )?;
    writeln!(
        out,
        "{:<8} {:>5} {:>8} {:>8} {:>8} {:>8} {:>12} {:>12} {:>12} {:>12} {:>16}",
        "month",
        "days",
        "open",
        "high",
        "low",
        "close",
        "listed t",
        "block t",
        "one-way t",
        "volume t",
        "turnover CNY"
    )?;
    let mut i = 0;
    while i < days.len() {
        let month = (days[i].date.year(), days[i].date.month());
        let j = days[i..]
            .iter()
            .position(|d| (d.date.year(), d.date.month()) != month)
            .map_or(days.len(), |k| i + k);
        let m = &days[i..j];
        writeln!(
            out,
            "{:04}-{:02}  {:>5} {:>8} {:>8} {:>8} {:>8} {:>12} {:>12} {:>12} {:>12} {:>16}",
            month.0,
            month.1,
            m.len(),
            cny(m[0].figures.open),
            cny(m.iter().map(|d| d.figures.high).max().unwrap_or(0)),
            cny(m.iter().map(|d| d.figures.low).min().unwrap_or(0)),
            cny(m[m.len() - 1].figures.close),
            t(sum(m, |f| f.listed_volume_t)),
            t(sum(m, |f| f.block_volume_t)),
            t(sum(m, |f| f.one_way_volume_t)),
            t(sum(m, |f| f.volume_t)),
            t(sum(m, |f| f.turnover_fen) / 100)
        )?;
        i = j;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::t(0), "0");
        assert_eq!(super::t(999), "999");
        assert_eq!(super::t(1000), "1,000");
        assert_eq!(super::t(4_512_345_678), "4,512,345,678");
    }
}

/// One release of the day's close, as a line: what held it and what it let go.
pub fn release(r: &ets_market::trading::exchange::Release) -> String {
    use ets_market::trading::exchange::Held;
    let what = match r.held {
        Held::ListedOrder => "listed order",
        Held::BlockProposal => "block proposal",
        Held::OneWayAuction => "one-way auction",
        Held::OneWayBid => "one-way bid",
        Held::Settled => "settled order",
    };
    let mut parts = Vec::new();
    if r.fen > 0 {
        parts.push(format!(
            "{} CNY",
            cny(i64::try_from(r.fen).unwrap_or(i64::MAX))
        ));
    }
    if let Some((class, qty)) = r.units {
        parts.push(format!("{} t of {class}", t(qty)));
    }
    format!(
        "released at the close: {what} {} of {}: {}",
        r.id,
        r.account,
        parts.join(" and ")
    )
}
