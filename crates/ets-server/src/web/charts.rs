//! Charts as inline SVG, drawn here: a price line over volume bars, and horizontal bars of
//! completion rates. Coordinates are integers; prices stay in fen until they are labelled.
//!
//! Every SVG element is written with an end tag (`{}` in maud): inside HTML, a `<rect>` without
//! one would swallow the elements after it.

use maud::{Markup, html};

use super::{group, percent, yuan};

/// One point of the price chart: a day (or today so far).
#[derive(Clone, Debug)]
pub struct Point {
    /// The x-axis label (e.g. `07-16`).
    pub label: String,
    /// Closing price (or the last price today), fen.
    pub price: i64,
    pub volume: u64,
    /// Today, still trading.
    pub provisional: bool,
}

/// Labels of a chart in the page's language.
pub struct Labels<'a> {
    pub title: &'a str,
    pub price: &'a str,
    pub volume: &'a str,
    pub empty: &'a str,
}

const W: i64 = 760;
const LEFT: i64 = 70;
const RIGHT: i64 = 16;
const TOP: i64 = 28;
const PRICE_H: i64 = 170;
const GAP: i64 = 18;
const VOL_H: i64 = 60;

/// Closing prices as a line over daily volumes as bars.
pub fn price_volume(points: &[Point], labels: &Labels<'_>) -> Markup {
    let h = TOP + PRICE_H + GAP + VOL_H + 30;
    let plot_w = W - LEFT - RIGHT;
    if points.is_empty() {
        return html! {
            svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} 80")) width="100%" role="img" aria-label=(labels.title) {
                title { (labels.title) }
                rect x="0" y="0" width=(W) height="80" fill="#f8fafc" rx="6" {}
                text x=(W / 2) y="45" text-anchor="middle" fill="#64748b" font-size="14" { (labels.empty) }
            }
        };
    }
    let n = points.len() as i64;
    let lo_raw = points.iter().map(|p| p.price).min().unwrap_or(0);
    let hi_raw = points.iter().map(|p| p.price).max().unwrap_or(0);
    let pad = ((hi_raw - lo_raw) / 8).max(50);
    let lo = (lo_raw - pad).max(0);
    let hi = hi_raw + pad;
    let y = |p: i64| TOP + (hi - p) * PRICE_H / (hi - lo).max(1);
    let x = |i: i64| LEFT + (2 * i + 1) * plot_w / (2 * n);
    let vmax = points.iter().map(|p| p.volume).max().unwrap_or(0).max(1);
    let vol_top = TOP + PRICE_H + GAP;
    let bar_w = (plot_w / n * 6 / 10).clamp(1, 36);
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{},{}", x(i as i64), y(p.price)))
        .collect();
    let grid: Vec<i64> = (0..=4).map(|k| lo + (hi - lo) * k / 4).collect();
    // First, last, and a few between, so that labels do not overlap.
    let every = (n / 6).max(1);
    let shown = |i: i64| i == 0 || i == n - 1 || (i % every == 0 && n - 1 - i > every / 2);
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {h}")) width="100%" role="img" aria-label=(labels.title) {
            title { (labels.title) }
            text x=(LEFT) y="16" font-size="12" fill="#2563eb" { "— " (labels.price) }
            text x=(LEFT + 200) y="16" font-size="12" fill="#64748b" { "▮ " (labels.volume) }
            @for g in &grid {
                line x1=(LEFT) x2=(W - RIGHT) y1=(y(*g)) y2=(y(*g)) stroke="#e2e8f0" stroke-width="1" {}
                text x=(LEFT - 6) y=(y(*g) + 4) text-anchor="end" font-size="11" fill="#64748b" { (yuan(*g)) }
            }
            line x1=(LEFT) x2=(W - RIGHT) y1=(vol_top + VOL_H) y2=(vol_top + VOL_H) stroke="#cbd5e1" stroke-width="1" {}
            text x=(LEFT - 6) y=(vol_top + 10) text-anchor="end" font-size="11" fill="#64748b" { (group(vmax)) }
            @for (i, p) in points.iter().enumerate() {
                @let bh = (i64::try_from(u128::from(p.volume) * VOL_H as u128 / u128::from(vmax)).unwrap_or(VOL_H)).max(if p.volume > 0 { 1 } else { 0 });
                rect x=(x(i as i64) - bar_w / 2) y=(vol_top + VOL_H - bh) width=(bar_w) height=(bh)
                    fill=(if p.provisional { "#cbd5e1" } else { "#94a3b8" }) {
                    title { (p.label) ": " (group(p.volume)) " t" }
                }
            }
            @if points.len() > 1 {
                polyline points=(line.join(" ")) fill="none" stroke="#2563eb" stroke-width="2" stroke-linejoin="round" {}
            }
            @for (i, p) in points.iter().enumerate() {
                circle cx=(x(i as i64)) cy=(y(p.price)) r="3"
                    fill=(if p.provisional { "#fff" } else { "#2563eb" }) stroke="#2563eb" stroke-width="1.5" {
                    title { (p.label) ": " (yuan(p.price)) }
                }
            }
            @for (i, p) in points.iter().enumerate() {
                @if shown(i as i64) {
                    text x=(x(i as i64)) y=(h - 10) text-anchor="middle" font-size="11" fill="#64748b" { (p.label) }
                }
            }
        }
    }
}

/// One bar of a completion chart.
#[derive(Clone, Debug)]
pub struct Bar {
    pub label: String,
    pub num: u64,
    pub den: u64,
    /// Drawn as the total (the nation).
    pub total: bool,
}

const ROW: i64 = 26;
const LABEL_W: i64 = 130;
const BAR_W: i64 = 520;

/// A rate in tenths of a percent, rounded down (exact integers: 984 is 98.4 %).
fn rate_tenths(b: &Bar) -> u64 {
    if b.den == 0 {
        return 0;
    }
    u64::try_from(u128::from(b.num.min(b.den)) * 1000 / u128::from(b.den)).unwrap_or(1000)
}

/// Where the rate axis starts, in tenths of a percent: 0 when some rate is low, else a round
/// value a little below the lowest rate, so that 98.4 % and 100 % do not look alike (the page
/// says the axis does not start at zero).
pub fn axis_start(bars: &[Bar]) -> u64 {
    let Some(min) = bars.iter().filter(|b| b.den > 0).map(rate_tenths).min() else {
        return 0;
    };
    if min >= 1000 {
        return 0;
    }
    // A quarter of the distance to 100 % as margin below the lowest rate.
    let floor = min.saturating_sub((1000 - min).div_ceil(4));
    [990, 980, 950, 900, 800, 500]
        .into_iter()
        .find(|s| *s <= floor)
        .unwrap_or(0)
}

/// Tenths of a percent as `98.5%`.
pub fn tenths(t: u64) -> String {
    format!("{}.{}%", t / 10, t % 10)
}

/// Horizontal bars of rates, on an axis from [`axis_start`] to 100 %, labelled at five ticks.
pub fn completion_bars(bars: &[Bar], title: &str, empty: &str) -> Markup {
    if bars.is_empty() {
        return html! {
            svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} 60")) width="100%" role="img" aria-label=(title) {
                title { (title) }
                text x=(W / 2) y="35" text-anchor="middle" fill="#64748b" font-size="14" { (empty) }
            }
        };
    }
    let h = 24 + ROW * bars.len() as i64 + 8;
    let x0 = LABEL_W;
    let start = axis_start(bars);
    let span = 1000 - start;
    // A bar's width on the axis: the part of its rate above the start.
    let width = |b: &Bar| -> i64 {
        if b.den == 0 {
            return 0;
        }
        // In millionths of the whole, so that the rate is not rounded before it is scaled.
        let rate = u128::from(b.num.min(b.den)) * 1_000_000 / u128::from(b.den);
        let above = rate.saturating_sub(u128::from(start) * 1000);
        i64::try_from(above * BAR_W as u128 / (u128::from(span) * 1000)).unwrap_or(BAR_W)
    };
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {h}")) width="100%" role="img" aria-label=(title) {
            title { (title) }
            @for k in 0..=4i64 {
                line x1=(x0 + BAR_W * k / 4) x2=(x0 + BAR_W * k / 4) y1="18" y2=(h - 6) stroke="#e2e8f0" stroke-width="1" {}
                text x=(x0 + BAR_W * k / 4) y="13" text-anchor="middle" font-size="11" fill="#64748b" { (tenths(start + span * k as u64 / 4)) }
            }
            @for (i, b) in bars.iter().enumerate() {
                @let top = 24 + ROW * i as i64;
                @let full = b.den > 0 && b.num >= b.den;
                @let w = width(b);
                text x=(x0 - 8) y=(top + 15) text-anchor="end" font-size="12"
                    font-weight=(if b.total { "700" } else { "400" }) fill="#1f2937" { (b.label) }
                rect x=(x0) y=(top + 3) width=(BAR_W) height=(ROW - 8) fill="#f1f5f9" rx="3" {}
                rect x=(x0) y=(top + 3) width=(w) height=(ROW - 8) rx="3"
                    fill=(if full { "#059669" } else if b.total { "#0f3d2e" } else { "#3b82f6" }) {
                    title { (b.label) ": " (percent(b.num, b.den)) }
                }
                text x=(x0 + BAR_W + 8) y=(top + 15) font-size="12" fill="#1f2937" { (percent(b.num, b.den)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(num: u64, den: u64) -> Bar {
        Bar {
            label: String::new(),
            num,
            den,
            total: false,
        }
    }

    /// 98.4 % and 100 % look different: the axis starts at 98 %, not at zero.
    #[test]
    fn the_axis_starts_near_the_lowest_rate() {
        assert_eq!(axis_start(&[bar(984, 1000), bar(1, 1)]), 980);
        assert_eq!(axis_start(&[bar(1, 2), bar(1, 1)]), 0);
        assert_eq!(axis_start(&[bar(93, 100)]), 900);
        assert_eq!(axis_start(&[bar(1, 1)]), 0);
        assert_eq!(axis_start(&[]), 0);
        let svg = completion_bars(&[bar(984, 1000), bar(1, 1)], "t", "e").into_string();
        assert!(svg.contains(">98.0%<") && svg.contains(">100.0%<"), "{svg}");
        // 98.4 % is a fifth of the axis from 98 % to 100 %.
        assert!(svg.contains(&format!("width=\"{}\"", BAR_W / 5)), "{svg}");
    }
}
