//! Deterministic simulation of the whole market with faults (issue 12, item 2).
//!
//! Goal: whatever the disk does, every acknowledged command is present after a restart, nothing
//! unacknowledged is half-applied, and every invariant of the market holds.
//!
//! Method: one seed drives everything. The market runs through the real store
//! (`ets_store::Store` as the CLI uses it, and `State` + `Writer` batches as the server's writer
//! uses them, with users of all six roles, tokens, sessions, account requests, four-eyes
//! instructions, trusted lists, idempotency keys and audit entries) over `ets-faultfs`, an
//! in-memory disk that tells written from durable bytes. The commands are the random
//! generator of `ets-market` (`tests/support/random.rs`: every command, valid and invalid, over
//! a world with the plan adopted, reports verified, allocation done, the exchange open), after
//! its setup script; their dates jump back and forth (before genesis, weekends, 9999-12-31) and
//! the audit clock jumps too. Faults, drawn from the seed: the process dies at any I/O operation
//! (before, during or after a write, a sync, a rename, an open), power is lost (dirty pages lost,
//! torn or reordered; directory changes lost), an fsync fails with EIO (Linux semantics: the
//! cache keeps bytes the disk may not have), the disk fills up, the page cache is evicted, and
//! at rest a bit flips or a file is cut.
//!
//! The reference model is the list of records that must survive: every record of an
//! acknowledged batch, and everything an earlier open recovered (it was served, so it must be
//! durable). After every (re)open the journal's records must be exactly those, optionally
//! followed by the whole of the one batch whose outcome was unknown; the replayed market must
//! equal the market the process had after exactly that prefix (and so do the access summary and
//! the audit count); replay has checked every invariant, and the live market is checked after
//! every step. Damage at rest must be refused with a journal error naming where (or, when it hit
//! only bytes that do not matter, open as above); then the file is restored and the run goes on.
//!
//! Seeds: `FAULT_SEEDS=N` runs seeds 0..N (default 300), `FAULT_SEEDS=A..B` seeds A..B,
//! `FAULT_SEED=S` only S; `FAULT_THREADS` (default: the available cores). A failing seed prints
//! `FAULT_SEED=<n>`, the reason and the timeline of faults and steps, and reproduces exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use ets_access::{
    AccessEvent, AccountRequest, Applicant, Audit, Instruction, InstructionStatus,
    PendingInstruction, RequestStatus, Role, SessionInfo, TokenInfo, Trusted, User,
};
use ets_faultfs::{Fault, FaultFs, Phase, Rng};
use ets_journal::{JournalError, JournalOptions};
use ets_market::{Envelope, Market};
use ets_store::{RECORD_VERSION, Record, State, Store, StoreError, Writer};
use ets_types::CompanyId;
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

#[path = "../../ets-market/tests/support/random.rs"]
mod random;

const DEFAULT_SEEDS: u64 = 300;

fn dir() -> PathBuf {
    PathBuf::from("/sim/market")
}

/// The seeds to run, from `FAULT_SEED` or `FAULT_SEEDS`.
fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("FAULT_SEED") {
        return vec![s.trim().parse().expect("FAULT_SEED=<u64>")];
    }
    match std::env::var("FAULT_SEEDS") {
        Ok(s) => match s.split_once("..") {
            Some((a, b)) => {
                let a: u64 = a.trim().parse().expect("FAULT_SEEDS=A..B");
                let b: u64 = b.trim().parse().expect("FAULT_SEEDS=A..B");
                (a..b).collect()
            }
            None => (0..s.trim().parse::<u64>().expect("FAULT_SEEDS=N")).collect(),
        },
        Err(_) => (0..DEFAULT_SEEDS).collect(),
    }
}

/// What one seed did, summed over the run for the report.
#[derive(Default, Debug, Clone)]
struct Stats {
    steps: u64,
    commands: u64,
    accepted: u64,
    refused: u64,
    requests: u64,
    access_events: u64,
    batches_acked: u64,
    records_acked: u64,
    crashes: u64,
    power_losses: u64,
    restarts: u64,
    sync_failures: u64,
    disk_full: u64,
    evictions: u64,
    in_doubt: u64,
    in_doubt_kept: u64,
    in_doubt_lost: u64,
    bit_flips: u64,
    truncations: u64,
    damage_refused: u64,
    damage_harmless: u64,
    reader_checks: u64,
    second_writer_refused: u64,
    opens: u64,
    clock_jumps: u64,
    /// Acknowledged records by command (`audit`: a refused or read request of the server).
    acked_by_command: BTreeMap<String, u64>,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        sum!(
            steps,
            commands,
            accepted,
            refused,
            requests,
            access_events,
            batches_acked,
            records_acked,
            crashes,
            power_losses,
            restarts,
            sync_failures,
            disk_full,
            evictions,
            in_doubt,
            in_doubt_kept,
            in_doubt_lost,
            bit_flips,
            truncations,
            damage_refused,
            damage_harmless,
            reader_checks,
            second_writer_refused,
            opens,
            clock_jumps
        );
        for (k, v) in &o.acked_by_command {
            *self.acked_by_command.entry(k.clone()).or_default() += v;
        }
    }

    fn acked(&mut self, payloads: &[Vec<u8>]) {
        self.records_acked += payloads.len() as u64;
        for p in payloads {
            let record: Record = serde_json::from_slice(p).expect("a record the simulator made");
            *self.acked_by_command.entry(record.command).or_default() += 1;
        }
    }
}

/// A batch whose outcome is unknown: its records and the process's state after it.
struct InDoubt {
    payloads: Vec<Vec<u8>>,
    snapshot: Snapshot,
    setup_commands: usize,
}

/// What the process had after a prefix of the journal, to compare a replay with.
#[derive(Clone)]
struct Snapshot {
    market: Market,
    access: ets_access::AccessSummary,
    audit_count: u64,
    /// The idempotency keys used so far, and the answer remembered for each.
    keys: Vec<(String, String)>,
    remembered: Vec<Option<(u16, String, String)>>,
}

impl Snapshot {
    fn of(state: &State, keys: &BTreeSet<(String, String)>) -> Snapshot {
        let keys: Vec<(String, String)> = keys.iter().cloned().collect();
        Snapshot {
            market: state.market.clone(),
            access: state
                .access
                .check_invariants(&state.market)
                .unwrap_or_else(|e| panic!("the live access state breaks an invariant: {e}")),
            audit_count: state.audit_count,
            remembered: remembered(state, &keys),
            keys,
        }
    }
}

/// The answers `state` remembers for `keys` (at any time: expiry is not what is checked).
fn remembered(state: &State, keys: &[(String, String)]) -> Vec<Option<(u16, String, String)>> {
    keys.iter()
        .map(|(who, key)| {
            state
                .remembered(who, key, i64::MIN / 2)
                .map(|r| (r.status, r.path.clone(), r.response.to_string()))
        })
        .collect()
}

/// The reference model: what must be in the journal.
struct Model {
    /// Every record that must survive, in order.
    confirmed: Vec<Vec<u8>>,
    snapshot: Snapshot,
    in_doubt: Option<InDoubt>,
    /// Setup commands among the confirmed records.
    setup_done: usize,
}

/// At-rest damage done at the last power loss, to undo once the store has refused it.
struct Damage {
    path: PathBuf,
    before: Vec<u8>,
    what: String,
}

/// The running process: the CLI's store, or the server's state and writer.
enum Proc {
    Cli(Store),
    Server(State, Writer),
}

impl Proc {
    fn state(&self) -> &State {
        match self {
            Proc::Cli(s) => s.state(),
            Proc::Server(s, _) => s,
        }
    }
}

/// The records a CLI step journaled, or the error of its commit (or its refusal) with the
/// records it tried to journal.
type StepResult = Result<Vec<Vec<u8>>, Box<(StoreError, Vec<Vec<u8>>)>>;

/// A failure of the simulation: the reason; the timeline is added by the caller.
#[derive(Debug)]
struct Failure(String);

type Outcome<T> = Result<T, Failure>;

fn fail<T>(reason: impl Into<String>) -> Outcome<T> {
    Err(Failure(reason.into()))
}

/// Whether an error comes from a fault the disk injected (so a retry after a restart is right).
fn injected(e: &StoreError) -> bool {
    let text = format!("{e} {:?}", e);
    text.contains("simulated")
}

/// Whether an open's error is the journal detecting damage, naming where.
fn detected_damage(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Journal(
            JournalError::Corrupt { .. }
                | JournalError::Truncated { .. }
                | JournalError::Tampered { .. }
                | JournalError::Anchor { .. }
        )
    )
}

const ROLE_USERS: [(&str, Role); 6] = [
    ("u-regulator", Role::Regulator),
    ("u-bureau", Role::Bureau),
    ("u-company", Role::Company),
    ("u-verifier", Role::Verifier),
    ("u-member", Role::Member),
    ("u-auditor", Role::Auditor),
];

struct Sim {
    seed: u64,
    continuous: bool,
    /// The exchange's trading day as last seen open.
    trading_date: ets_types::Date,
    rng: Rng,
    runner: TestRunner,
    step: BoxedStrategy<Envelope>,
    fs: FaultFs,
    model: Model,
    proc: Option<Proc>,
    setup: Vec<Envelope>,
    /// Milliseconds since the epoch: the server's clock for audit entries, with jumps.
    clock_ms: i64,
    counter: u64,
    sessions: Vec<String>,
    keys: BTreeSet<(String, String)>,
    damage: Option<Damage>,
    /// Steps of the run, the last ones printed on failure.
    trail: Vec<String>,
    stats: Stats,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..16].copy_from_slice(b"faultsim");
        let runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        );
        let mut rng = Rng::new(seed);
        let continuous = rng.chance(1, 2);
        let setup = if continuous {
            random::setup_with(&random::continuous_market())
        } else {
            random::setup()
        };
        let genesis = Record::genesis(random::genesis());
        Sim {
            seed,
            continuous,
            trading_date: random::d("2021-07-16"),
            rng,
            runner,
            step: random::step().boxed(),
            fs: FaultFs::new(seed),
            model: Model {
                confirmed: Vec::new(),
                snapshot: Snapshot::of(
                    &State::new(Market::new(random::genesis())),
                    &BTreeSet::new(),
                ),
                in_doubt: Some(InDoubt {
                    payloads: vec![serde_json::to_vec(&genesis).unwrap()],
                    snapshot: Snapshot::of(
                        &State::new(Market::new(random::genesis())),
                        &BTreeSet::new(),
                    ),
                    setup_commands: 0,
                }),
                setup_done: 0,
            },
            proc: None,
            setup,
            // 2021-07-16 09:30 in Beijing.
            clock_ms: 1_626_399_000_000,
            counter: 0,
            sessions: Vec::new(),
            keys: BTreeSet::new(),
            damage: None,
            trail: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn note(&mut self, what: String) {
        self.fs.note(what.clone());
        self.trail.push(format!("op {}: {what}", self.fs.ops()));
    }

    fn trace(&mut self, what: String) {
        self.trail.push(format!("op {}: {what}", self.fs.ops()));
    }

    fn run(&mut self) -> Outcome<()> {
        let file = if self.continuous {
            "continuous matching"
        } else {
            "the shipped file (click-to-trade)"
        };
        self.note(format!("seed {}: market on {file}", self.seed));
        self.arm_next();
        self.reopen()?;
        let steps = self.rng.between(40, 110);
        let mut step = 0;
        while step < steps {
            if self.model.setup_done < self.setup.len() {
                self.setup_step()?;
            } else {
                step += 1;
                self.stats.steps += 1;
                self.random_step(step)?;
            }
            if self.fs.is_dead() {
                self.stats.crashes += 1;
                let power = self.rng.chance(1, 2);
                self.restart(power)?;
            } else {
                self.idle_events()?;
            }
        }
        // The end: a last power loss, and everything acknowledged must be there.
        self.fs.disarm();
        self.restart(true)
    }

    /// Draws the next fault (or none) and arms it.
    fn arm_next(&mut self) {
        let ops = self.fs.ops();
        match self.rng.below(100) {
            0..40 => {
                let at_op = ops + self.rng.between(1, 150);
                let phase = *self.rng.pick(&[Phase::Before, Phase::During, Phase::After]);
                self.fs.arm(Fault::Crash { at_op, phase });
                self.note(format!("armed: crash {phase:?} op {at_op}"));
            }
            40..60 => {
                let at_op = ops + self.rng.between(1, 150);
                self.fs.arm(Fault::SyncFails { at_op });
                self.note(format!("armed: EIO at the first sync from op {at_op}"));
            }
            60..72 => {
                let free = self.rng.below(6000);
                self.fs.fill_disk(free);
                self.stats.disk_full += 1;
                self.trace(format!("disk full, {free} bytes left"));
            }
            _ => {}
        }
    }

    /// Events between steps: idle power losses and restarts, a reader beside the writer, a
    /// second writer.
    fn idle_events(&mut self) -> Outcome<()> {
        match self.rng.below(200) {
            0..4 => {
                self.note("idle power loss".into());
                self.restart(true)
            }
            4..8 => {
                self.note("idle process restart".into());
                self.restart(false)
            }
            8..16 => self.reader_check(),
            16..19 => self.second_writer(),
            _ => Ok(()),
        }
    }

    /// A reader beside the writer replays the durable prefix: exactly what was acknowledged.
    fn reader_check(&mut self) -> Outcome<()> {
        self.fs.pause(true);
        let read = ets_store::read_in(&self.fs, &dir());
        self.fs.pause(false);
        let (state, report) = match read {
            Ok(r) => r,
            Err(e) => return fail(format!("a reader beside the writer failed: {e}")),
        };
        self.stats.reader_checks += 1;
        if report.durable_seq != self.model.confirmed.len() as u64 {
            return fail(format!(
                "a reader sees HEAD at seq {} but {} records are acknowledged",
                report.durable_seq,
                self.model.confirmed.len()
            ));
        }
        if state.market != self.model.snapshot.market {
            return fail("a reader's replay differs from the acknowledged market");
        }
        Ok(())
    }

    /// A second writer on the same journal is refused while the first is open.
    fn second_writer(&mut self) -> Outcome<()> {
        self.fs.pause(true);
        let second = Store::open_in(
            self.fs.storage(),
            &dir(),
            random::genesis(),
            JournalOptions::default(),
        );
        self.fs.pause(false);
        match second {
            Err(StoreError::Journal(JournalError::Locked { .. })) => {
                self.stats.second_writer_refused += 1;
                Ok(())
            }
            Err(e) => fail(format!("a second writer failed otherwise than Locked: {e}")),
            Ok(_) => fail("a second writer opened the journal beside the first"),
        }
    }

    /// Stops the process and starts it again, after a power loss or not.
    fn restart(&mut self, power_loss: bool) -> Outcome<()> {
        self.proc = None;
        if power_loss {
            self.stats.power_losses += 1;
            self.fs.power_loss();
            if self.rng.chance(1, 4) {
                self.damage_at_rest();
            }
        } else {
            self.stats.restarts += 1;
            self.fs.restart();
            if self.rng.chance(1, 3) {
                self.stats.evictions += 1;
                self.fs.evict();
            }
        }
        if self.rng.chance(1, 2) {
            self.fs.free_disk();
        }
        self.arm_next();
        self.reopen()
    }

    /// Flips a bit in, or cuts, the log or HEAD.
    fn damage_at_rest(&mut self) {
        let name = if self.rng.chance(3, 4) {
            "journal.log"
        } else {
            "HEAD"
        };
        let path = dir().join(name);
        let Some(before) = self.fs.durable(&path) else {
            return;
        };
        if before.is_empty() {
            return;
        }
        let what = if self.rng.chance(1, 2) {
            let Some((at, bit)) = self.fs.flip_bit(&path) else {
                return;
            };
            self.stats.bit_flips += 1;
            format!("bit {bit} of byte {at} of {name} flipped")
        } else {
            let len = self.rng.below(before.len() as u64);
            self.fs.truncate_at_rest(&path, len);
            self.stats.truncations += 1;
            format!("{name} cut from {} to {len} bytes", before.len())
        };
        self.trace(format!("at rest: {what}"));
        self.damage = Some(Damage { path, before, what });
    }

    /// Opens the store, retrying after injected faults, and checks what it recovered.
    fn reopen(&mut self) -> Outcome<()> {
        for attempt in 0..40 {
            if attempt >= 30 {
                // A run of faults during opens: stop injecting them.
                self.fs.disarm();
                self.fs.free_disk();
            }
            self.stats.opens += 1;
            let server = self.model.setup_done >= self.setup.len() && self.rng.chance(1, 2);
            let opened = catch_unwind(AssertUnwindSafe(|| {
                if server {
                    ets_store::open_in(
                        self.fs.storage(),
                        &dir(),
                        random::genesis(),
                        JournalOptions::default(),
                    )
                    .map(|(state, writer, _)| Proc::Server(state, writer))
                } else {
                    Store::open_in(
                        self.fs.storage(),
                        &dir(),
                        random::genesis(),
                        JournalOptions::default(),
                    )
                    .map(|(store, _)| Proc::Cli(store))
                }
            }))
            .map_err(|p| Failure(format!("open panicked: {}", panic_text(&p))))?;
            match opened {
                Ok(proc) => {
                    if self.fs.is_dead() {
                        // Died in its last step, after the open had done its work.
                        drop(proc);
                        self.stats.crashes += 1;
                        self.after_failed_open(true);
                        continue;
                    }
                    if let Some(d) = self.damage.take() {
                        self.stats.damage_harmless += 1;
                        self.trace(format!("opened despite damage ({}): checking", d.what));
                    }
                    self.proc = Some(proc);
                    return self.check_recovered();
                }
                Err(e) if self.fs.is_dead() => {
                    self.stats.crashes += 1;
                    self.trace(format!("open died: {e}"));
                    self.after_failed_open(true);
                }
                Err(e) if injected(&e) => {
                    if e.to_string().contains("EIO") || format!("{e:?}").contains("EIO") {
                        self.stats.sync_failures += 1;
                    }
                    self.trace(format!("open failed on an injected fault: {e:?}"));
                    self.after_failed_open(false);
                }
                Err(e) if self.damage.is_some() && detected_damage(&e) => {
                    let d = self.damage.take().expect("checked");
                    let text = e.to_string();
                    if !(text.contains("seq") || text.contains("offset") || text.contains("HEAD")) {
                        return fail(format!(
                            "damage ({}) refused without saying where: {text}",
                            d.what
                        ));
                    }
                    self.stats.damage_refused += 1;
                    self.trace(format!("refused as it must ({}): {text}", d.what));
                    self.fs.restore(&d.path, &d.before);
                }
                Err(e) => {
                    let damage = self
                        .damage
                        .as_ref()
                        .map_or(String::new(), |d| format!(" (damage at rest: {})", d.what));
                    return fail(format!("the store refused to open{damage}: {e}"));
                }
            }
        }
        fail("the store did not open in 40 attempts")
    }

    fn after_failed_open(&mut self, died: bool) {
        let power = died && self.rng.chance(1, 2);
        if power {
            self.stats.power_losses += 1;
            self.fs.power_loss();
        } else {
            self.stats.restarts += 1;
            self.fs.restart();
        }
        if self.rng.chance(1, 2) {
            self.fs.free_disk();
        }
        if self.rng.chance(1, 2) {
            self.arm_next();
        }
    }

    /// The check after every open: the journal holds exactly the confirmed records, then
    /// nothing or the whole in-doubt batch; the replay equals the process's state at that point.
    fn check_recovered(&mut self) -> Outcome<()> {
        self.fs.pause(true);
        let read = ets_journal::read_in(&self.fs, dir());
        self.fs.pause(false);
        let (report, records) = match read {
            Ok(r) => r,
            Err(e) => return fail(format!("reading the journal after an open failed: {e}")),
        };
        let payloads: Vec<Vec<u8>> = records.into_iter().map(|r| r.payload).collect();
        let confirmed = &self.model.confirmed;
        let n = confirmed.len();
        if payloads.len() < n {
            return fail(format!(
                "acknowledged records lost: the journal holds {} records, {n} were acknowledged",
                payloads.len()
            ));
        }
        if let Some(i) = (0..n).find(|&i| payloads[i] != confirmed[i]) {
            return fail(format!("acknowledged record seq {} changed", i + 1));
        }
        let rest = &payloads[n..];
        let (expected, setup) = if rest.is_empty() {
            if self.model.in_doubt.is_some() {
                self.stats.in_doubt_lost += 1;
            }
            (self.model.snapshot.clone(), self.model.setup_done)
        } else {
            match &self.model.in_doubt {
                Some(d) if d.payloads == rest => {
                    self.stats.in_doubt_kept += 1;
                    (d.snapshot.clone(), self.model.setup_done + d.setup_commands)
                }
                Some(d) => {
                    return fail(format!(
                        "after the {n} confirmed records the journal holds {} records, not the \
                         {} of the batch in doubt: a batch half applied, or foreign records",
                        rest.len(),
                        d.payloads.len()
                    ));
                }
                None => {
                    return fail(format!(
                        "the journal holds {} records past the {n} acknowledged, and no batch \
                         was in doubt",
                        rest.len()
                    ));
                }
            }
        };
        if report.head_seq != report.last_seq {
            return fail(format!(
                "HEAD is at seq {} after the open, the log at {}",
                report.head_seq, report.last_seq
            ));
        }
        let state = self.proc.as_ref().expect("open").state();
        if state.market != expected.market {
            return fail(format!(
                "the replayed market differs from the market after the {} records recovered",
                payloads.len()
            ));
        }
        let access = state
            .access
            .check_invariants(&state.market)
            .map_err(|e| Failure(format!("replayed access state: {e}")))?;
        if access != expected.access || state.audit_count != expected.audit_count {
            return fail(format!(
                "the replayed access state differs: {access:?}, {} audit entries; expected \
                 {:?}, {}",
                state.audit_count, expected.access, expected.audit_count
            ));
        }
        if let Err(e) = state.market.check_invariants() {
            return fail(format!("the replayed market breaks an invariant: {e}"));
        }
        let remembered = remembered(state, &expected.keys);
        if remembered != expected.remembered {
            return fail("the replayed idempotency answers differ from the process's");
        }
        let recovered = payloads.len();
        self.trace(format!("opened: {recovered} records, checked"));
        self.model.confirmed = payloads;
        self.model.snapshot = expected;
        self.model.setup_done = setup;
        self.model.in_doubt = None;
        Ok(())
    }

    /// The next setup command (the world of the random generator), through the CLI's store.
    fn setup_step(&mut self) -> Outcome<()> {
        let env = self.setup[self.model.setup_done].clone();
        let Some(Proc::Cli(store)) = &mut self.proc else {
            return fail("setup runs on the CLI's store");
        };
        let result = catch_unwind(AssertUnwindSafe(|| store.submit(&env))).map_err(|p| {
            Failure(format!(
                "setup {} panicked: {}",
                env.command.name(),
                panic_text(&p)
            ))
        })?;
        match result {
            Ok(events) => {
                let payload = command_payload(&env, &events);
                self.stats.acked(std::slice::from_ref(&payload));
                self.model.confirmed.push(payload);
                self.model.snapshot = Snapshot::of(store.state(), &self.keys);
                self.model.setup_done += 1;
                self.stats.batches_acked += 1;
                Ok(())
            }
            Err(StoreError::Rejected(e)) => fail(format!(
                "setup command {} ({}) refused: {e}",
                self.model.setup_done,
                env.command.name()
            )),
            Err(e) => {
                // Executed in memory, then the commit failed: in doubt.
                let events = store_events_after(store, &self.model.snapshot.market, &env);
                self.model.in_doubt = Some(InDoubt {
                    payloads: vec![command_payload(&env, &events)],
                    snapshot: Snapshot::of(store.state(), &self.keys),
                    setup_commands: 1,
                });
                self.stats.in_doubt += 1;
                self.trace(format!("setup commit failed: {e}"));
                self.after_commit_error(&e)
            }
        }
    }

    fn after_commit_error(&mut self, e: &StoreError) -> Outcome<()> {
        if self.fs.is_dead() {
            // The caller restarts it.
            return Ok(());
        }
        if !injected(e) && !matches!(e, StoreError::Poisoned) {
            return fail(format!("a commit failed without an injected fault: {e}"));
        }
        if format!("{e:?}").contains("EIO") {
            self.stats.sync_failures += 1;
        }
        // The writer is poisoned: the process restarts (the server exits, its supervisor
        // starts it again), which replays the journal.
        let power = self.rng.chance(1, 4);
        self.restart(power)
    }

    fn random_step(&mut self, step: u64) -> Outcome<()> {
        let server = matches!(self.proc, Some(Proc::Server(..)));
        if server {
            self.server_batch(step)
        } else {
            self.cli_step(step)
        }
    }

    /// The next command: from `ets-market`'s random generator (every command, mostly
    /// refused), or a lifecycle command likely to be accepted on `market` as it stands.
    fn draw(&mut self, market: &Market) -> Envelope {
        if self.rng.chance(2, 5) {
            return self.lifecycle(market);
        }
        self.step
            .new_tree(&mut self.runner)
            .expect("the generator draws")
            .current()
    }

    /// Trading days (orders, takes, block trades, closes and opens), transfers, surrenders and,
    /// late, the assessment of the cycle: commands that the market mostly accepts, so that the
    /// journal carries every kind of event and the exchange moves from day to day.
    fn lifecycle(&mut self, market: &Market) -> Envelope {
        use ets_market::trading::exchange::{OrderSide, Tif};
        use ets_market::{Command, ExchangeCommand as X};
        const CEA19: ets_types::UnitClass = ets_types::UnitClass::Cea { vintage: 2019 };
        let exchange = market.exchange();
        let open = exchange.and_then(|x| x.open_day());
        if let Some(day) = open {
            self.trading_date = day;
        }
        let next_id = exchange.map_or(1, |x| x.next_id());
        let mut holders = vec!["SX0001", "HB0001", "GD0001"];
        if self.continuous {
            holders.push("TRADER1");
        }
        let holder = (*self.rng.pick(&holders)).to_string();
        let other = (*self.rng.pick(&holders)).to_string();
        let listed = |rng: &mut Rng| -> u16 {
            if rng.chance(1, 2) {
                rng.between(570, 689) as u16
            } else {
                rng.between(780, 899) as u16
            }
        };
        let date = self.trading_date;
        let command = match (open, self.rng.below(40)) {
            (None, _) => {
                let mut day = next_day(date);
                while exchange.is_some_and(|x| !x.is_trading_day(day)) {
                    day = next_day(day);
                }
                return random::env(day, Command::Exchange(X::OpenDay));
            }
            (Some(_), 0..11) => X::Order {
                holder,
                class: CEA19,
                side: *self.rng.pick(&[OrderSide::Buy, OrderSide::Sell]),
                price: self.rng.between(4780, 4820) as i64,
                qty: self.rng.between(100, 3000),
                tif: *self.rng.pick(&[Tif::Day, Tif::Day, Tif::Ioc]),
                minute: listed(&mut self.rng),
            },
            (Some(_), 11..18) => X::Take {
                holder,
                order: next_id.saturating_sub(self.rng.between(1, 4)),
                qty: self.rng.between(100, 2000),
                minute: listed(&mut self.rng),
            },
            (Some(_), 18..20) => X::Cancel {
                holder,
                order: next_id.saturating_sub(self.rng.between(1, 4)),
            },
            (Some(_), 20..22) => X::Amend {
                holder,
                order: next_id.saturating_sub(self.rng.between(1, 4)),
                price: self.rng.between(4790, 4810) as i64,
                qty: self.rng.between(100, 1000),
                minute: listed(&mut self.rng),
            },
            (Some(_), 22..25) => X::ProposeBlock {
                holder,
                counterparty: other,
                class: CEA19,
                side: *self.rng.pick(&[OrderSide::Buy, OrderSide::Sell]),
                price: self.rng.between(4700, 4900) as i64,
                qty: self.rng.between(100_000, 120_000),
                minute: self.rng.between(780, 880) as u16,
            },
            (Some(_), 25..28) => X::AcceptBlock {
                holder,
                proposal: next_id.saturating_sub(self.rng.between(1, 3)),
                minute: self.rng.between(781, 899) as u16,
            },
            (Some(_), 28..29) => X::Deposit {
                holder,
                fen: self.rng.between(1_000_000, 100_000_000),
            },
            (Some(_), 29..32) => X::CloseDay,
            (Some(_), 32..34) => {
                return random::env(
                    date,
                    Command::Transfer {
                        class: CEA19,
                        quantity: self.rng.between(1, 5_000),
                        from: holder,
                        to: other,
                    },
                );
            }
            (Some(_), 34..36) => {
                return random::env(
                    date,
                    Command::Surrender {
                        plan: random::PLAN.into(),
                        company: CompanyId::parse(self.rng.pick::<&str>(&["SX0001", "HB0001"]))
                            .expect("id"),
                        class: CEA19,
                        quantity: self.rng.between(1, 50_000),
                    },
                );
            }
            (Some(_), _) => {
                // The rest of the allocation and compliance cycle, then its assessment.
                let plan = random::PLAN.to_string();
                let cid = |s: &str| CompanyId::parse(s).expect("id");
                let command = match self.rng.below(5) {
                    0 => Command::TrueUp {
                        plan,
                        company: cid("HB0001"),
                    },
                    1 => Command::PreAllocate {
                        plan,
                        company: cid("GD0001"),
                    },
                    2 => Command::TrueUp {
                        plan,
                        company: cid("GD0001"),
                    },
                    3 => Command::ExemptCompany {
                        plan,
                        company: cid("ZZ0001"),
                        reason: "closed".into(),
                    },
                    _ => Command::AssessCycle { plan },
                };
                return random::env(random::d("2022-01-04"), command);
            }
        };
        random::env(date, Command::Exchange(command))
    }

    /// One step of the CLI's path: one command, a file of them (all or nothing), or independent
    /// commands in one batch.
    fn cli_step(&mut self, step: u64) -> Outcome<()> {
        let kind = self.rng.below(10);
        let count = if kind < 7 {
            1
        } else {
            self.rng.between(2, 6) as usize
        };
        let market = self.model.snapshot.market.clone();
        let envs: Vec<Envelope> = (0..count).map(|_| self.draw(&market)).collect();
        self.stats.commands += count as u64;
        let Some(Proc::Cli(store)) = &mut self.proc else {
            unreachable!("cli step on the CLI's store")
        };
        let before = &self.model.snapshot.market;
        let names: Vec<&str> = envs.iter().map(|e| e.command.name()).collect();
        let trail = format!(
            "step {step}: cli {} {names:?}",
            ["submit", "submit_all", "submit_each"]
                [usize::from(kind >= 7) + usize::from(kind >= 9)]
        );
        let outcome = catch_unwind(AssertUnwindSafe(|| -> StepResult {
            if kind < 7 {
                match store.submit(&envs[0]) {
                    Ok(events) => Ok(payloads_of(&envs[..1], &[events])),
                    Err(StoreError::Rejected(e)) => {
                        Err(Box::new((StoreError::Rejected(e), Vec::new())))
                    }
                    Err(e) => {
                        let events = store_events_after(store, before, &envs[0]);
                        Err(Box::new((e, payloads_of(&envs[..1], &[events]))))
                    }
                }
            } else if kind < 9 {
                match store.submit_all(&envs) {
                    Ok(results) => Ok(payloads_of(&envs, &results)),
                    Err(e @ StoreError::RejectedAt { .. }) => Err(Box::new((e, Vec::new()))),
                    Err(e) => {
                        // All were accepted in memory; recompute their events from the market before.
                        let mut m = before.clone();
                        let results = m.execute_all(&envs).unwrap_or_default();
                        Err(Box::new((e, payloads_of(&envs, &results))))
                    }
                }
            } else {
                match store.submit_each(&envs) {
                    Ok(results) => {
                        let (envs, events): (Vec<Envelope>, Vec<Vec<ets_market::Event>>) = envs
                            .iter()
                            .zip(results)
                            .filter_map(|(e, r)| r.ok().map(|ev| (e.clone(), ev)))
                            .unzip();
                        Ok(payloads_of(&envs, &events))
                    }
                    Err(e) => {
                        let mut m = before.clone();
                        let (envs, events): (Vec<Envelope>, Vec<Vec<ets_market::Event>>) = envs
                            .iter()
                            .filter_map(|env| m.execute(env).ok().map(|ev| (env.clone(), ev)))
                            .unzip();
                        Err(Box::new((e, payloads_of(&envs, &events))))
                    }
                }
            }
        }))
        .map_err(|p| Failure(format!("{trail} panicked: {}", panic_text(&p))))?;
        self.trail.push(format!("op {}: {trail}", self.fs.ops()));
        let Some(Proc::Cli(store)) = &mut self.proc else {
            unreachable!()
        };
        match outcome {
            Ok(payloads) => {
                self.stats.accepted += payloads.len() as u64;
                self.stats.refused += (count - payloads.len()) as u64;
                if !payloads.is_empty() {
                    self.stats.batches_acked += 1;
                    self.stats.acked(&payloads);
                }
                self.model.confirmed.extend(payloads);
                self.model.snapshot = Snapshot::of(store.state(), &self.keys);
                if let Err(e) = store.market().check_invariants() {
                    return fail(format!("after {trail}: {e}"));
                }
                Ok(())
            }
            Err(failed)
                if matches!(
                    failed.0,
                    StoreError::Rejected(_) | StoreError::RejectedAt { .. }
                ) =>
            {
                self.stats.refused += count as u64;
                if *store.market() != self.model.snapshot.market {
                    return fail(format!("{trail}: a refusal changed the market"));
                }
                Ok(())
            }
            Err(failed) => {
                let (e, payloads) = *failed;
                self.model.in_doubt = Some(InDoubt {
                    payloads,
                    snapshot: Snapshot::of(store.state(), &self.keys),
                    setup_commands: 0,
                });
                self.stats.in_doubt += 1;
                self.trace(format!("commit failed: {e}"));
                self.after_commit_error(&e)
            }
        }
    }

    /// One batch of the server's writer: requests by users of every role (market commands,
    /// reads, access changes), one record each with its audit entry.
    fn server_batch(&mut self, step: u64) -> Outcome<()> {
        let count = self.rng.between(1, 6) as usize;
        let mut payloads = Vec::with_capacity(count);
        let mut names = Vec::new();
        let Some(Proc::Server(mut state, mut writer)) = self.proc.take() else {
            unreachable!("server batch on the server's state")
        };
        writer.begin(&state.market);
        for _ in 0..count {
            let record = self.request(&mut state)?;
            names.push(record.command.clone());
            payloads.push(serde_json::to_vec(&record).expect("records serialize"));
            writer.push(&mut state, record);
        }
        let trail = format!("step {step}: server batch {names:?}");
        let result = catch_unwind(AssertUnwindSafe(|| writer.commit(&state.market)))
            .map_err(|p| Failure(format!("{trail}: commit panicked: {}", panic_text(&p))))?;
        self.trail.push(format!("op {}: {trail}", self.fs.ops()));
        match result {
            Ok(()) => {
                self.stats.batches_acked += 1;
                self.stats.acked(&payloads);
                self.model.confirmed.extend(payloads);
                self.model.snapshot = Snapshot::of(&state, &self.keys);
                if let Err(e) = state.market.check_invariants() {
                    return fail(format!("after {trail}: {e}"));
                }
                self.proc = Some(Proc::Server(state, writer));
                Ok(())
            }
            Err(e) => {
                self.model.in_doubt = Some(InDoubt {
                    payloads,
                    snapshot: Snapshot::of(&state, &self.keys),
                    setup_commands: 0,
                });
                self.stats.in_doubt += 1;
                self.trace(format!("commit failed: {e}"));
                self.proc = Some(Proc::Server(state, writer));
                self.after_commit_error(&e)
            }
        }
    }

    /// Advances the server's clock, sometimes by a jump backwards or far forwards.
    fn tick(&mut self) -> i64 {
        match self.rng.below(60) {
            0 => {
                self.stats.clock_jumps += 1;
                self.clock_ms -= self.rng.between(1, 3 * 86_400_000) as i64;
            }
            1 => {
                self.stats.clock_jumps += 1;
                self.clock_ms += self.rng.between(1, 400 * 86_400_000) as i64;
            }
            _ => self.clock_ms += self.rng.between(1, 5_000) as i64,
        }
        self.clock_ms
    }

    fn audit(&mut self, who: &str, role: Option<Role>, path: &str, status: u16) -> Audit {
        let at = self.tick();
        Audit {
            at,
            who: who.to_string(),
            role,
            from: "10.0.0.1".into(),
            method: if status == 0 { "GET" } else { "POST" }.into(),
            path: path.into(),
            key: None,
            body_sha256: None,
            status: if status == 0 { 200 } else { status },
            code: None,
            response: None,
            count: None,
        }
    }

    fn record(command: &str, date: ets_types::Date, audit: Audit) -> Record {
        Record {
            v: RECORD_VERSION,
            command: command.into(),
            date,
            initiator: audit.who.clone(),
            key: None,
            reason: String::new(),
            events: Vec::new(),
            access: Vec::new(),
            audit: Some(audit),
        }
    }

    /// One request as the server's writer performs it: applied to `state`, returned as its
    /// record.
    fn request(&mut self, state: &mut State) -> Outcome<Record> {
        self.stats.requests += 1;
        let missing = ROLE_USERS
            .iter()
            .find(|(name, _)| state.access.user(name).is_none());
        if let Some(&(name, role)) = missing {
            return self.access_request(
                state,
                vec![AccessEvent::UserCreated {
                    user: role_user(name, role),
                }],
            );
        }
        let (who, role) = *self.rng.pick(&ROLE_USERS);
        match self.rng.below(100) {
            0..55 => self.command_request(state, who, role),
            55..65 => {
                let audit = self.audit(who, Some(role), "/api/holdings", 0);
                Ok(Self::record("audit", random::d("2021-07-16"), audit))
            }
            _ => {
                let events = self.access_events(state);
                self.access_request(state, events)
            }
        }
    }

    fn command_request(&mut self, state: &mut State, who: &str, role: Role) -> Outcome<Record> {
        let mut env = self.draw(&state.market);
        env.initiator = who.to_string();
        self.stats.commands += 1;
        let key = self.rng.chance(1, 5).then(|| {
            self.counter += 1;
            format!("key-{}", self.rng.below(12))
        });
        let mut audit = self.audit(who, Some(role), "/api/commands", 200);
        audit.key = key.clone();
        if let Some(k) = &key
            && let Some(r) = state.remembered(who, k, audit.at)
        {
            // A retry: answered from memory, executed at most once.
            audit.status = r.status;
            audit.code = Some("replayed".into());
            return Ok(Self::record("audit", env.date, audit));
        }
        let executed =
            catch_unwind(AssertUnwindSafe(|| state.market.execute(&env))).map_err(|p| {
                Failure(format!(
                    "{} panicked: {}",
                    env.command.name(),
                    panic_text(&p)
                ))
            })?;
        match executed {
            Ok(events) => {
                self.stats.accepted += 1;
                if let Some(k) = &key {
                    audit.response = Some(serde_json::json!({ "events": events.len() }));
                    self.keys.insert((who.to_string(), k.clone()));
                }
                Ok(Record {
                    v: RECORD_VERSION,
                    command: env.command.name().into(),
                    date: env.date,
                    initiator: who.into(),
                    key: None,
                    reason: env.reason,
                    events,
                    access: Vec::new(),
                    audit: Some(audit),
                })
            }
            Err(e) => {
                self.stats.refused += 1;
                audit.status = 422;
                audit.code = Some(e.code().to_string());
                if let Some(k) = &key {
                    audit.response = Some(serde_json::json!({ "code": e.code() }));
                    self.keys.insert((who.to_string(), k.clone()));
                }
                Ok(Self::record("audit", env.date, audit))
            }
        }
    }

    fn access_request(&mut self, state: &mut State, events: Vec<AccessEvent>) -> Outcome<Record> {
        for event in &events {
            if let Err(e) = state.access.apply(event) {
                return fail(format!(
                    "the simulator made an access event that does not apply: {e}"
                ));
            }
        }
        self.stats.access_events += events.len() as u64;
        let audit = self.audit("u-regulator", Some(Role::Regulator), "/api/admin", 200);
        let mut record = Self::record("access", random::d("2021-07-16"), audit);
        record.access = events;
        Ok(record)
    }

    /// Access changes that the state accepts (the server validates them before journaling).
    fn access_events(&mut self, state: &State) -> Vec<AccessEvent> {
        self.counter += 1;
        let n = self.counter;
        let at = self.clock_ms;
        let companies = ["SX0001", "HB0001", "GD0001"];
        let company = CompanyId::parse(self.rng.pick::<&str>(&companies)).expect("company id");
        match self.rng.below(9) {
            0 => {
                let (who, _) = *self.rng.pick(&ROLE_USERS);
                vec![AccessEvent::TokenIssued {
                    token_sha256: format!("{:064x}", n),
                    info: TokenInfo {
                        user: who.into(),
                        label: format!("token {n}"),
                        issued_at: at,
                    },
                }]
            }
            1 => {
                let (who, _) = *self.rng.pick(&ROLE_USERS);
                let digest = format!("{:064x}", n | 1 << 60);
                self.sessions.push(digest.clone());
                vec![AccessEvent::SessionOpened {
                    session_sha256: digest,
                    info: SessionInfo {
                        user: who.into(),
                        expires_at: at + 8 * 3_600_000,
                    },
                }]
            }
            2 if !self.sessions.is_empty() => {
                let i = self.rng.below(self.sessions.len() as u64) as usize;
                vec![AccessEvent::SessionClosed {
                    session_sha256: self.sessions.swap_remove(i),
                }]
            }
            3 => vec![AccessEvent::AccountRequested {
                request: AccountRequest {
                    id: state.access.next_request_id(),
                    applicant: Applicant::Holder {
                        holder: format!("APPLICANT{n}"),
                    },
                    documents: Vec::new(),
                    representatives: Vec::new(),
                    submitted_at: at,
                    status: RequestStatus::Pending,
                    decided_by: None,
                    reason: None,
                },
            }],
            4 if state.access.next_request_id() > 1 => vec![AccessEvent::AccountRequestDecided {
                id: self.rng.between(1, state.access.next_request_id() - 1),
                approved: self.rng.chance(1, 2),
                by: "u-regulator".into(),
                reason: Some("checked".into()),
            }],
            5 => {
                let account = state.market.resolve_account("TRADER1");
                let instruction = match account {
                    Some(account) if self.rng.chance(1, 2) => Instruction::Trust { account },
                    _ => Instruction::Command {
                        command: ets_market::Command::Transfer {
                            class: ets_types::UnitClass::Cea { vintage: 2019 },
                            quantity: 10,
                            from: "SX0001".into(),
                            to: "TRADER1".into(),
                        },
                    },
                };
                vec![AccessEvent::InstructionProposed {
                    instruction: PendingInstruction {
                        id: state.access.next_instruction_id(),
                        company: CompanyId::parse("SX0001").expect("id"),
                        instruction,
                        initiated_by: "u-company".into(),
                        initiated_at: at,
                        status: InstructionStatus::Pending,
                        decided_by: None,
                        outcome: None,
                    },
                }]
            }
            6 if state.access.next_instruction_id() > 1 => {
                vec![AccessEvent::InstructionDecided {
                    id: self.rng.between(1, state.access.next_instruction_id() - 1),
                    status: self
                        .rng
                        .pick(&[InstructionStatus::Executed, InstructionStatus::Rejected])
                        .clone(),
                    by: "u-regulator".into(),
                    outcome: None,
                }]
            }
            7 => match state
                .market
                .resolve_account(self.rng.pick::<&str>(&companies))
            {
                Some(account) if state.market.company(&company).is_some() => {
                    if self.rng.chance(1, 3) {
                        vec![AccessEvent::TrustedRemoved { company, account }]
                    } else {
                        vec![AccessEvent::TrustedAdded {
                            company,
                            entry: Trusted {
                                account,
                                added_at: at,
                                effective_at: at + 86_400_000,
                            },
                        }]
                    }
                }
                _ => Vec::new(),
            },
            _ => {
                let name = format!("extra-{n}");
                let role = *self.rng.pick(&Role::ALL);
                let mut events = vec![AccessEvent::UserCreated {
                    user: role_user(&name, role),
                }];
                if role == Role::Verifier || self.rng.chance(1, 2) {
                    events.push(AccessEvent::VerifierAssigned {
                        verifier: "u-verifier".into(),
                        company,
                    });
                }
                if self.rng.chance(1, 2) {
                    events.push(AccessEvent::UserDeactivated { name });
                }
                events
            }
        }
    }
}

/// The day after `date`.
fn next_day(date: ets_types::Date) -> ets_types::Date {
    let (y, m, d) = (date.year(), date.month(), date.day());
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let (y, m, d) = if d < days {
        (y, m, d + 1)
    } else if m < 12 {
        (y, m + 1, 1)
    } else {
        (y + 1, 1, 1)
    };
    ets_types::Date::new(y, m, d).expect("a valid date")
}

fn role_user(name: &str, role: Role) -> User {
    User {
        name: name.into(),
        display: name.into(),
        role,
        province: (role == Role::Bureau).then(|| "Shanxi".into()),
        company: (role == Role::Company).then(|| CompanyId::parse("SX0001").expect("id")),
        holder: (role == Role::Member).then(|| "TRADER1".into()),
        password: "$argon2id$v=19$m=19456,t=2,p=1$c2ltdWxhdGVk$c2ltdWxhdGVkaGFzaA".into(),
        active: true,
    }
}

/// The record the CLI's store journals for an accepted command.
fn command_payload(env: &Envelope, events: &[ets_market::Event]) -> Vec<u8> {
    let record = Record {
        v: RECORD_VERSION,
        command: env.command.name().into(),
        date: env.date,
        initiator: env.initiator.clone(),
        key: env.key.clone(),
        reason: env.reason.clone(),
        events: events.to_vec(),
        access: Vec::new(),
        audit: None,
    };
    serde_json::to_vec(&record).expect("records serialize")
}

/// The records of accepted commands that caused events (the CLI journals no others).
fn payloads_of(envs: &[Envelope], events: &[Vec<ets_market::Event>]) -> Vec<Vec<u8>> {
    envs.iter()
        .zip(events)
        .filter(|(_, e)| !e.is_empty())
        .map(|(env, e)| command_payload(env, e))
        .collect()
}

/// The events `env` caused on `before` (the store has applied them, but a failed commit does not
/// return them).
fn store_events_after(_store: &Store, before: &Market, env: &Envelope) -> Vec<ets_market::Event> {
    before.clone().execute(env).unwrap_or_default()
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs one seed; on failure returns the report to print.
fn run_seed(seed: u64) -> Result<Stats, String> {
    let mut sim = Sim::new(seed);
    let outcome = catch_unwind(AssertUnwindSafe(|| sim.run()))
        .unwrap_or_else(|p| Err(Failure(format!("panicked: {}", panic_text(&p)))));
    match outcome {
        Ok(()) => Ok(sim.stats),
        Err(Failure(reason)) => {
            let events = sim.fs.events();
            let trail = &sim.trail[sim.trail.len().saturating_sub(40)..];
            Err(format!(
                "FAULT_SEED={seed}\nreason: {reason}\nfault schedule (op = I/O operation of the \
                 simulated disk):\n  {}\nlast steps:\n  {}\nreproduce: FAULT_SEED={seed} cargo \
                 test -p ets-store --test fault_sim\n",
                events.join("\n  "),
                trail.join("\n  ")
            ))
        }
    }
}

#[test]
fn the_market_survives_every_fault_of_the_disk() {
    let seeds = seeds();
    let threads = std::env::var("FAULT_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, seeds.len().max(1));
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let total = Mutex::new(Stats::default());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    match run_seed(seed) {
                        Ok(stats) => total.lock().unwrap().add(&stats),
                        Err(report) => {
                            eprintln!("{report}");
                            failures.lock().unwrap().push(seed);
                        }
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(1000) {
                        eprintln!("{n} seeds done in {:.0?}", started.elapsed());
                    }
                }
            });
        }
    });
    let total = total.into_inner().unwrap();
    let mut failures = failures.into_inner().unwrap();
    failures.sort_unstable();
    eprintln!(
        "fault simulation: {} seeds ({}..={}) in {:.1?} on {threads} threads, {} failed\n{total:#?}",
        seeds.len(),
        seeds.first().copied().unwrap_or(0),
        seeds.last().copied().unwrap_or(0),
        started.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "failing seeds (rerun one with FAULT_SEED=<n>): {failures:?}"
    );
}

/// A seed replays exactly: the same faults at the same operations, the same journal.
#[test]
fn a_seed_reproduces() {
    let run = |seed| {
        let mut sim = Sim::new(seed);
        sim.run().map_err(|f| f.0).unwrap();
        (sim.fs.events(), sim.fs.durable(&dir().join("journal.log")))
    };
    assert_eq!(run(7), run(7));
}
