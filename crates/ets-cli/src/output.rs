//! Printing: the compliance table and its JSON form.

use std::io::Write;

use anyhow::Result;
use ets_compliance::{CompanyResult, Ratio, Status, Totals};
use ets_market::{ComplianceReport, Market};
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

/// Which companies and provinces a compliance report shows: `--province` (resolved to its
/// English name) and `--status`.
#[derive(Clone, Copy, Default)]
pub struct CompanyFilter {
    pub province: Option<&'static str>,
    pub status: Option<Status>,
}

impl CompanyFilter {
    pub fn keeps(&self, c: &CompanyResult) -> bool {
        self.keeps_province(&c.province) && self.status.is_none_or(|s| c.status == s)
    }
    pub fn keeps_province(&self, name: &str) -> bool {
        self.province.is_none_or(|p| p == name)
    }
    /// Whether companies are listed (a filter was given).
    fn lists(&self) -> bool {
        self.province.is_some() || self.status.is_some()
    }
}

/// The JSON report: totals as [`ets_market::exports::totals_row`] makes them and, when a
/// filter is given, the companies it selects as [`ets_market::exports::company_row`] makes
/// them (names, province, fines). docs/reports.md describes every field.
pub fn write_compliance_json(
    m: &Market,
    r: &ComplianceReport,
    filter: &CompanyFilter,
    out: &mut impl Write,
) -> Result<()> {
    use ets_market::exports::{company_row, totals_row};
    let provinces: Vec<_> = r
        .provinces
        .iter()
        .filter(|p| filter.keeps_province(&p.name))
        .map(totals_row)
        .collect();
    let mut doc = json!({
        "plan": r.plan,
        "assessed_on": r.assessed_on.map(|d| d.to_string()),
        "national": totals_row(&r.national),
        "provinces": provinces,
        "pending_companies": r.pending.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "exempted_companies": r.exempted.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>(),
    });
    if filter.lists() {
        let companies: Vec<_> = r
            .companies
            .iter()
            .filter(|c| filter.keeps(c))
            .map(|c| company_row(m, c))
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

fn status_line(out: &mut impl Write, label: &str, t: &Totals) -> std::io::Result<()> {
    writeln!(
        out,
        "{label}: {} complied, {} partly, {} not at all; fines {} CNY",
        self::t(t.complied),
        self::t(t.partly),
        self::t(t.not_at_all),
        self::t(t.fines_cny)
    )
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Complied => "complied",
        Status::Partly => "partly",
        Status::NotAtAll => "not at all",
    }
}

pub fn print_compliance(
    m: &Market,
    r: &ComplianceReport,
    filter: &CompanyFilter,
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
    for p in r
        .provinces
        .iter()
        .filter(|p| filter.keeps_province(&p.name))
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
    // The status line of what is shown: the province's when one is asked for.
    match filter
        .province
        .and_then(|want| r.provinces.iter().find(|p| p.name == want))
    {
        Some(p) => {
            status_line(out, &format!("status in {}", p.name), p)?;
            status_line(out, "status nationally", &r.national)?;
        }
        None => status_line(out, "status", &r.national)?,
    }
    if filter.lists() {
        let listed: Vec<&CompanyResult> = r.companies.iter().filter(|c| filter.keeps(c)).collect();
        writeln!(
            out,
            "\n{} {}{}{}:",
            listed.len(),
            if listed.len() == 1 {
                "company"
            } else {
                "companies"
            },
            filter
                .province
                .map_or(String::new(), |p| format!(" in {p}")),
            filter
                .status
                .map_or(String::new(), |s| format!(", status {}", status_word(s)))
        )?;
        writeln!(
            out,
            "{:<10} {:<28} {:>13} {:>13} {:>13} {:>11} {:<11} {:>12}",
            "company",
            "name",
            "obligation t",
            "surrendered t",
            "shortfall t",
            "offsets t",
            "status",
            "fine CNY"
        )?;
        for c in listed {
            let name = m.company(&c.company).map_or("", |co| co.name.as_str());
            writeln!(
                out,
                "{:<10} {:<28} {:>13} {:>13} {:>13} {:>11} {:<11} {:>12}",
                c.company.as_str(),
                name.chars().take(28).collect::<String>(),
                t(c.obligation_t),
                t(c.surrendered_t),
                t(c.shortfall_t),
                t(c.offsets_used_t),
                status_word(c.status),
                t(c.penalty.map_or(0, |p| p.fine_cny))
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
