//! Fuzzing on the stable toolchain: every file a person hands the market (companies, units,
//! reports and verifications as CSV and JSON, transfers, surrenders, allocation plans, market
//! rules) and the journal's command format, fed mutated copies of real files and random bytes.
//! Each input must be accepted or refused with a typed error that says where; no input may
//! panic, and an accepted plan or market file must survive its own checks when used.
//!
//! ```sh
//! cargo test -p ets-market --test fuzz                                   # CI: 1,500 inputs per target
//! FUZZ_ITERS=200000 cargo test --release -p ets-market --test fuzz -- --nocapture   # a campaign
//! FUZZ_SEED=42 FUZZ_ITERS=1 cargo test -p ets-market --test fuzz -- --nocapture     # one input
//! ```
//!
//! A failing input prints its target, seed and the input itself, and reproduces from the seed.
//! The mutations are those of coverage-guided fuzzers (bit flips, byte insertions and
//! deletions, splices of lines from the same file, interesting values: empty, huge, negative,
//! NaN, exponents, quotes, control and bidirectional characters), without the guidance.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ets_market::Envelope;
use ets_market::trading::config::MarketRules;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn file(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// splitmix64: a seeded generator with no dependency, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&str] = &[
    "",
    ",",
    "\"",
    "\"\"",
    "\n",
    "\r\n",
    "0",
    "-1",
    "-0",
    "1.5",
    "NaN",
    "inf",
    "1e400",
    "18446744073709551616",
    "9223372036854775808",
    "65535",
    "99999999999999999999999999999",
    "0.0000000000000000000000000001",
    "\u{0}",
    "\u{202e}",
    "\u{feff}",
    "山西",
    "=",
    "[",
    "]",
    "{",
    "}",
    "[[",
    "\"\"\"",
    "true",
    "null",
    "#",
];

/// One mutation of `seed_text` (a real file), or random bytes.
fn mutate(rng: &mut Rng, seed_text: &str) -> String {
    let mut b: Vec<u8> = seed_text.as_bytes().to_vec();
    if rng.below(20) == 0 {
        return String::from_utf8_lossy(
            &(0..rng.below(300))
                .map(|_| rng.next() as u8)
                .collect::<Vec<_>>(),
        )
        .into_owned();
    }
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(b.len() + 1);
        match rng.below(8) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.insert(at, rng.next() as u8),
            2 if !b.is_empty() => {
                let end = (at + rng.below(40)).min(b.len());
                b.drain(at.min(end)..end);
            }
            3 => {
                let s = INTERESTING[rng.below(INTERESTING.len())];
                b.splice(at..at, s.bytes());
            }
            4 => {
                // Replace a field (between separators) by an interesting value.
                let s = INTERESTING[rng.below(INTERESTING.len())];
                let end = b[at..]
                    .iter()
                    .position(|c| matches!(c, b',' | b'\n' | b'"' | b' '))
                    .map_or(b.len(), |k| at + k);
                b.splice(at..end, s.bytes());
            }
            5 => {
                // Duplicate a line somewhere else.
                let text = String::from_utf8_lossy(&b).into_owned();
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let line = lines[rng.below(lines.len())].to_string();
                    b.splice(at..at, format!("{line}\n").into_bytes());
                }
            }
            6 => {
                // A long run of one character.
                let c = b" ,9a\"\n"[rng.below(6)];
                b.splice(at..at, std::iter::repeat_n(c, rng.below(5000)));
            }
            _ => b.truncate(at),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

type Target = (&'static str, Vec<String>, fn(&str));

fn files(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| file(n)).collect()
}

fn targets() -> Vec<Target> {
    fn errs(r: Result<impl Sized, ets_files::FileErrors>) {
        if let Err(e) = r {
            assert!(
                !e.0.is_empty() && e.0.len() <= ets_files::ERRORS_MAX,
                "one to {} errors",
                ets_files::ERRORS_MAX
            );
            // Every error names the file and a line or the whole file.
            let text = e.to_string();
            assert!(
                text.contains("in.csv") || text.contains("in.json"),
                "{text}"
            );
        }
    }
    let envelope = serde_json::to_string(&serde_json::json!({
        "date": "2021-07-16", "initiator": "SX0001", "reason": "r",
        "command": {"command": "transfer", "class": {"Cea": {"vintage": 2020}}, "quantity": 10,
                    "from": "SX0001", "to": "SX0002"}
    }))
    .unwrap();
    vec![
        ("companies.csv", files(&["examples/companies.csv"]), |t| {
            errs(ets_files::parse_companies_csv("in.csv", t))
        }),
        ("units.csv", files(&["examples/units.csv"]), |t| {
            errs(ets_files::parse_units_csv("in.csv", t))
        }),
        (
            "reports.csv",
            files(&["examples/reports-2018.csv", "examples/reports-2020.csv"]),
            |t| errs(ets_files::parse_reports_csv("in.csv", t)),
        ),
        (
            "verifications.csv",
            files(&["examples/verifications-2019.csv"]),
            |t| errs(ets_files::parse_verifications_csv("in.csv", t)),
        ),
        ("transfers.csv", files(&["examples/transfers.csv"]), |t| {
            errs(ets_files::parse_transfers_csv("in.csv", t))
        }),
        ("surrenders.csv", files(&["examples/surrenders.csv"]), |t| {
            errs(ets_files::parse_surrenders_csv("in.csv", t))
        }),
        ("reports.json", vec![reports_json()], |t| {
            errs(ets_files::parse_reports_json("in.json", t))
        }),
        ("verifications.json", vec![verifications_json()], |t| {
            errs(ets_files::parse_verifications_json("in.json", t))
        }),
        (
            "plan.toml",
            files(&[
                "policies/cn-power-2019-2020.toml",
                "policies/cn-power-2021-2022.toml",
            ]),
            |t| {
                if let Ok(plan) = ets_policy::Plan::from_toml_str(t, "in.toml") {
                    // An accepted plan is adopted by a market without a panic.
                    let mut m = ets_market::Market::new(ets_types::Date::new(2021, 1, 4).unwrap());
                    let _ = m.execute(&Envelope {
                        date: ets_types::Date::new(2021, 1, 4).unwrap(),
                        initiator: "MEE".into(),
                        key: None,
                        reason: "fuzz".into(),
                        command: ets_market::Command::AdoptPlan {
                            source: "in.toml".into(),
                            toml: t.to_string(),
                        },
                    });
                    let _ = plan;
                }
            },
        ),
        (
            "market.toml",
            vec![MarketRules::builtin_text().to_string()],
            |t| {
                if MarketRules::from_toml_str(t, "in.toml").is_ok() {
                    let mut m = ets_market::Market::new(ets_types::Date::new(2021, 1, 4).unwrap());
                    let _ = m.execute(&Envelope {
                        date: ets_types::Date::new(2021, 7, 15).unwrap(),
                        initiator: "SEEE".into(),
                        key: None,
                        reason: "fuzz".into(),
                        command: ets_market::Command::OpenExchange {
                            source: "in.toml".into(),
                            toml: t.to_string(),
                        },
                    });
                }
            },
        ),
        ("envelope.json", vec![envelope], |t| {
            if let Ok(env) = serde_json::from_str::<Envelope>(t) {
                let mut m = ets_market::Market::new(ets_types::Date::new(2021, 1, 4).unwrap());
                let _ = m.execute(&env);
            }
        }),
    ]
}

/// The CSV reports as the JSON format (the same figures).
fn reports_json() -> String {
    let reports =
        ets_files::parse_reports_csv("r.csv", &file("examples/reports-2019.csv")).unwrap();
    serde_json::to_string_pretty(&reports).unwrap()
}

fn verifications_json() -> String {
    let v = ets_files::parse_verifications_csv("v.csv", &file("examples/verifications-2019.csv"))
        .unwrap();
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn no_input_panics_any_parser() {
    let iters: u64 = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_500);
    let first: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Quiet panics: a failing input is reported below, with its seed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for (name, seeds, run) in targets() {
        for seed in first..first + iters {
            let mut rng = Rng(seed ^ name.len() as u64 * 0x1000_0000_0000);
            let input = mutate(&mut rng, &seeds[seed as usize % seeds.len()]);
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| run(&input))) {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!(
                    "{name}: FUZZ_SEED={seed} panicked: {msg}\ninput ({} bytes): {:?}",
                    input.len(),
                    input.chars().take(2000).collect::<String>()
                ));
                if failures.len() >= 5 {
                    break;
                }
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
