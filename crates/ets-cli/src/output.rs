//! Printing: the compliance table and its JSON form.

use std::io::Write;

use anyhow::Result;
use ets_compliance::{Ratio, Totals};
use ets_market::ComplianceReport;
use serde_json::json;

/// Tonnes (or any integer) with thousands separators: 4,512,345,678.
pub fn t(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
