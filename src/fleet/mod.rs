//! Fleets: one operation (`status`, `upgrade`, `check`, `verify`) over many databases — SQLite
//! files, PostgreSQL databases, schemas of one PostgreSQL database — in parallel, each through
//! its own [`Migrator`] exactly as the single-database command runs it (its own lock, its own
//! verified backup, its own refusal). One target's failure never stops or harms another;
//! `fail_fast` only stops *starting* new ones.
//!
//! Which targets: [`targets_from_text`] (a `--targets` file), [`targets_from_glob`],
//! [`targets_from_schemas`]; [`Shard`] keeps the part of a fleet one machine runs.

mod targets;

pub use targets::{Shard, Target, targets_from_glob, targets_from_schemas, targets_from_text};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::{BackupPolicy, Migrator};
use crate::core::set::MigrationSet;
use crate::error::Error;
use crate::runner::describe;

/// What the fleet runs on each target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Status,
    /// Upgrade to this target (`head`, `heads`, a revision, …).
    Upgrade(String),
    Check,
    Verify,
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Status => "status",
            Operation::Upgrade(_) => "upgrade",
            Operation::Check => "check",
            Operation::Verify => "verify",
        }
    }
}

/// The options of a fleet run; those of the single-database command apply to every target.
#[derive(Debug, Clone)]
pub struct Options {
    /// Parallel workers (at least 1).
    pub jobs: usize,
    /// Stop starting new targets after the first one that does not succeed.
    pub fail_fast: bool,
    pub lock_timeout: Duration,
    pub backup: BackupPolicy,
    pub scratch_url: Option<String>,
}

/// Where one target ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Succeeded (upgraded, at head, equal, or `status` found nothing pending).
    Ok,
    /// Work is left (`check`/`status`: steps pending).
    Pending,
    /// The database's state is refused (exit 3); it was not touched.
    Refused,
    /// Anything else went wrong (a failed step, a lock, a connection, differences found by
    /// `verify`, …).
    Failed,
    /// Never started: `fail_fast` stopped the run first.
    NotStarted,
}

/// What happened to one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// The target's password-free identity (a line a `--targets` file accepts).
    pub target: String,
    pub ok: bool,
    /// The exit code the single-database command would have given (`None`: not started).
    pub exit: Option<u8>,
    pub outcome: Outcome,
    pub state_before: Option<String>,
    pub state_after: Option<String>,
    /// Steps run (`upgrade`) or pending (`status`, `check`).
    pub steps: usize,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// The counts of a whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub targets: usize,
    pub ok: usize,
    pub failed: usize,
    pub refused: usize,
    pub pending: usize,
    pub not_started: usize,
    pub duration_ms: u64,
    /// The highest exit code of any target (0: every target succeeded).
    pub exit: u8,
}

/// Every target's report, in the order of the targets, and the counts.
#[derive(Debug, Clone)]
pub struct FleetReport {
    pub targets: Vec<TargetReport>,
    pub summary: Summary,
}

impl FleetReport {
    /// The `n` slowest targets that ran, slowest first.
    pub fn slowest(&self, n: usize) -> Vec<&TargetReport> {
        let mut ran: Vec<&TargetReport> = self
            .targets
            .iter()
            .filter(|t| t.outcome != Outcome::NotStarted)
            .collect();
        ran.sort_by_key(|t| std::cmp::Reverse(t.duration_ms));
        ran.truncate(n);
        ran
    }
}

/// Runs `operation` on every target with `options.jobs` workers. `on_done` is called on the
/// calling thread as each target finishes (for progress and streamed reports), in the order
/// they finish.
pub fn run(
    set: &MigrationSet,
    targets: &[Target],
    operation: &Operation,
    options: &Options,
    mut on_done: impl FnMut(&TargetReport),
) -> FleetReport {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut reports: Vec<Option<TargetReport>> = vec![None; targets.len()];
    let workers = options.jobs.max(1).min(targets.len().max(1));
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, TargetReport)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(target) = targets.get(i) else { break };
                    let report = run_one(set, target, operation, options);
                    if options.fail_fast && !report.ok {
                        stop.store(true, Ordering::SeqCst);
                    }
                    if tx.send((i, report)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, report) in rx {
            on_done(&report);
            reports[i] = Some(report);
        }
    });
    let targets: Vec<TargetReport> = reports
        .into_iter()
        .zip(targets)
        .map(|(r, t)| r.unwrap_or_else(|| not_started(t)))
        .collect();
    let mut summary = Summary {
        targets: targets.len(),
        duration_ms: millis(started.elapsed()),
        ..Summary::default()
    };
    for t in &targets {
        match t.outcome {
            Outcome::Ok => summary.ok += 1,
            Outcome::Pending => summary.pending += 1,
            Outcome::Refused => summary.refused += 1,
            Outcome::Failed => summary.failed += 1,
            Outcome::NotStarted => summary.not_started += 1,
        }
        summary.exit = summary.exit.max(t.exit.unwrap_or(0));
    }
    FleetReport { targets, summary }
}

fn not_started(target: &Target) -> TargetReport {
    TargetReport {
        target: target.identity(),
        ok: false,
        exit: None,
        outcome: Outcome::NotStarted,
        state_before: None,
        state_after: None,
        steps: 0,
        duration_ms: 0,
        error: Some("not started: --fail-fast stopped the run after a failure".into()),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What one target's operation found, before timing.
struct Found {
    exit: u8,
    outcome: Outcome,
    state_before: Option<String>,
    state_after: Option<String>,
    steps: usize,
    error: Option<String>,
}

impl Found {
    fn ok(before: String, after: Option<String>, steps: usize) -> Found {
        Found {
            exit: 0,
            outcome: Outcome::Ok,
            state_before: Some(before),
            state_after: after,
            steps,
            error: None,
        }
    }

    fn error(e: &Error) -> Found {
        let (outcome, state) = match e {
            Error::Refused { state, .. } => (Outcome::Refused, Some(state.to_string())),
            _ => (Outcome::Failed, None),
        };
        let after = match e {
            Error::StepFailed { position, .. } => Some(position.clone()),
            _ => state.clone(),
        };
        Found {
            exit: e.exit_code(),
            outcome,
            state_before: state,
            state_after: after,
            steps: 0,
            error: Some(e.to_string()),
        }
    }
}

/// One target, exactly as the single-database command runs it. A panic is caught and
/// reported as that target's failure, so it cannot take the others down.
fn run_one(
    set: &MigrationSet,
    target: &Target,
    operation: &Operation,
    options: &Options,
) -> TargetReport {
    let started = Instant::now();
    let found = catch_unwind(AssertUnwindSafe(|| {
        operate(set, target, operation, options).unwrap_or_else(|e| Found::error(&e))
    }))
    .unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown".into());
        Found {
            exit: 4,
            outcome: Outcome::Failed,
            state_before: None,
            state_after: None,
            steps: 0,
            error: Some(format!(
                "ferry failed unexpectedly on this target: {message}"
            )),
        }
    });
    TargetReport {
        target: target.identity(),
        ok: found.exit == 0,
        exit: Some(found.exit),
        outcome: found.outcome,
        state_before: found.state_before,
        state_after: found.state_after,
        steps: found.steps,
        duration_ms: millis(started.elapsed()),
        error: found.error,
    }
}

fn operate(
    set: &MigrationSet,
    target: &Target,
    operation: &Operation,
    options: &Options,
) -> Result<Found, Error> {
    let mut migrator = Migrator::new(set.clone())
        .database(&target.url)
        .lock_timeout(options.lock_timeout)
        .backup(options.backup.clone());
    if let Some(schema) = &target.schema {
        migrator = migrator.schema(schema.clone());
    }
    if let Some(url) = &options.scratch_url {
        migrator = migrator.scratch_url(url);
    }
    // The fleet's report owns stdout: a hand-off command's output goes to stderr.
    migrator.handoff_stdout_to_stderr = true;
    Ok(match operation {
        Operation::Upgrade(to) => {
            let report = migrator.upgrade_to(to)?;
            Found::ok(
                describe(&report.before),
                Some(if report.heads.is_empty() {
                    describe(&report.before)
                } else {
                    format!("revision {}", report.heads.join(", "))
                }),
                report.steps.len(),
            )
        }
        Operation::Status => {
            let status = migrator.status()?;
            let before = describe(&status.state);
            let exit = if matches!(status.state, crate::State::Inconsistent { .. }) {
                3
            } else {
                0
            };
            let (outcome, error) = match (&status.refusal, &status.plan_error) {
                (Some(r), _) => (
                    Outcome::Refused,
                    Some(format!("the database is {}: {r}", status.state.name())),
                ),
                (None, Some(e)) => (Outcome::Failed, Some(e.clone())),
                (None, None) if status.pending.is_empty() => (Outcome::Ok, None),
                (None, None) => (Outcome::Pending, None),
            };
            Found {
                exit,
                outcome,
                state_before: Some(before),
                state_after: None,
                steps: status.pending.len(),
                error,
            }
        }
        Operation::Check => {
            let check = migrator.check()?;
            let before = describe(&check.state);
            if check.at_head() {
                Found::ok(before, None, 0)
            } else {
                Found {
                    exit: 1,
                    outcome: Outcome::Pending,
                    state_before: Some(before),
                    state_after: None,
                    steps: check.pending.len(),
                    error: Some(format!(
                        "{} step(s) pending: {}",
                        check.pending.len(),
                        check.pending_labels.join(", ")
                    )),
                }
            }
        }
        Operation::Verify => {
            let v = migrator.verify()?;
            let before = describe(&v.state);
            if v.equal() {
                Found::ok(before, None, 0)
            } else {
                Found {
                    exit: 1,
                    outcome: Outcome::Failed,
                    state_before: Some(before),
                    state_after: None,
                    steps: 0,
                    error: Some(format!(
                        "the live schema differs from {}: {}",
                        v.position,
                        v.differences
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )),
                }
            }
        }
    })
}
