//! Runs plans through a driver: one lock for the whole detect → replay → stamp → upgrade run,
//! one transaction per step together with its bookkeeping, guards evaluated as the script runs.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bookkeeping::{self, Books, HistoryRow};
use crate::core::graph::Graph;
use crate::core::guard::{self, Segment};
use crate::core::plan::{self, Plan, Step};
use crate::core::set::{MigrationSet, digest};
use crate::core::state::{self, Probe, State};
use std::path::PathBuf;

use crate::driver::{Backup, Driver};
use crate::error::{DbError, Error, Result};
use crate::handoff::{HandoffReport, Invocation};
use crate::unversioned::{self, Assume, Assumed};

/// Progress of a run, for the progress bar.
pub enum Event<'a> {
    Planned {
        total: usize,
    },
    Started {
        index: usize,
        label: &'a str,
    },
    Finished {
        index: usize,
        label: &'a str,
        duration: Duration,
    },
}

/// What one executed step did.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    #[serde(flatten)]
    pub step: Step,
    pub label: String,
    pub duration_ms: u128,
    /// Guarded blocks that did not run, e.g. `if-missing column llm_models.context_length`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_guards: Vec<String>,
    /// A rehearsal did not run this step's script, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_rehearsed: Option<String>,
}

/// What a writing command did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub before: State,
    pub steps: Vec<StepReport>,
    pub heads: Vec<String>,
    /// The verified copy taken before the first write, if any.
    pub backup: Option<Backup>,
}

/// Where the backup before a run's first write goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BackupPolicy {
    /// Next to the database file.
    #[default]
    Beside,
    Into(PathBuf),
    Off,
}

pub struct Runner<'a> {
    pub set: &'a MigrationSet,
    pub graph: &'a Graph,
    pub driver: &'a mut dyn Driver,
    pub lock_timeout: Duration,
    pub backup: BackupPolicy,
    /// Applied revisions whose edited SQL the operator accepts (`--accept-edited`).
    pub accept_edited: Vec<String>,
    pub on_event: Box<dyn FnMut(Event<'_>) + 'a>,
    /// Where scratch databases are built (to identify an unversioned database, or check
    /// `assume_legacy`); `None`: none is built.
    pub scratch: Option<crate::scratch::Site>,
    /// `upgrade --assume-legacy N` / `--assume-revision REV` `[--force]`, for an unversioned
    /// database.
    pub assume: Option<Assume>,
    /// What `assume` checked and recorded, once `upgrade` has passed it.
    pub assumed: Option<Assumed>,
    /// The backup this run took, named in any failure after it.
    taken: Option<Backup>,
    /// Set by a rehearsal that cannot run non-transactional scripts: why they are not run.
    pub(crate) rehearsal: Option<&'static str>,
    /// The steps `execute` completed so far: after a failure, those before it.
    pub(crate) completed: Vec<StepReport>,
}

impl<'a> Runner<'a> {
    /// A runner with the defaults: 60 s lock timeout, backups beside the file, no progress.
    pub fn new(set: &'a MigrationSet, graph: &'a Graph, driver: &'a mut dyn Driver) -> Runner<'a> {
        Runner {
            set,
            graph,
            driver,
            lock_timeout: Duration::from_secs(60),
            backup: BackupPolicy::default(),
            accept_edited: Vec::new(),
            on_event: Box::new(|_| {}),
            scratch: None,
            assume: None,
            assumed: None,
            taken: None,
            rehearsal: None,
            completed: Vec::new(),
        }
    }

    /// Reads the state. Writes nothing.
    pub fn detect(&mut self) -> Result<State> {
        Ok(self.inspect()?.0)
    }

    /// The state and the probe it was read from. Writes nothing.
    pub fn inspect(&mut self) -> Result<(State, Probe)> {
        bookkeeping::check_marker_dialect(self.set, self.driver.dialect())?;
        let probe = bookkeeping::probe(self.driver, self.set)
            .map_err(Error::reading("reading the database's version"))?;
        Ok((state::detect(self.set, self.graph, &probe), probe))
    }

    /// Bridges as needed, then applies revisions up to `target`.
    pub fn upgrade(&mut self, target: &str) -> Result<RunReport> {
        self.locked(|r| {
            let (state, probe) = r.inspect_for_upgrade(target)?;
            let plan = plan::upgrade(r.set, r.graph, &state, target)?;
            r.refuse_edited(&state, &probe)?;
            r.execute(state, &plan)
        })
    }

    /// The state `upgrade` starts from, under the lock: an unversioned database becomes
    /// legacy N (or revision REV) here when `--assume-legacy N` (`--assume-revision REV`)
    /// checks out, and is refused (identified) otherwise.
    fn inspect_for_upgrade(&mut self, target: &str) -> Result<(State, Probe)> {
        let (mut state, mut probe) = self.inspect()?;
        if let Some(assume) = self.assume.clone() {
            self.assumed = Some(unversioned::assume(self, &state, &assume, target)?);
            (state, probe) = self.inspect()?;
        }
        if matches!(state, State::Unversioned { .. }) {
            return Err(unversioned::refusal(self, &state));
        }
        Ok((state, probe))
    }

    /// With a `[handoff]`: bridges as needed (never ferry's own revisions: the plan of a set
    /// with a hand-off ends at the bridge), then runs the hand-off command while still holding
    /// the lock, so no second ferry bridges or hands off meanwhile. The external runner owns
    /// every revision after the baseline, so a database it took further (`ahead`) is handed
    /// off again rather than refused.
    pub fn hand_off(
        &mut self,
        target: &str,
        invocation: &Invocation,
    ) -> Result<(RunReport, HandoffReport)> {
        self.locked(|r| {
            let (state, probe) = r.inspect_for_upgrade(target)?;
            let plan = plan::upgrade(r.set, r.graph, &state, target)?;
            r.refuse_edited(&state, &probe)?;
            let report = r.execute(state, &plan)?;
            let position = if report.steps.is_empty() {
                describe(&report.before)
            } else {
                format!("revision {}", report.heads.join(", "))
            };
            // Dropping the progress callback clears its bar, which would otherwise keep
            // redrawing over the command's output.
            r.on_event = Box::new(|_| {});
            let shown = plan::shown(&invocation.command);
            r.driver.lock_progress(&format!("hand-off to {shown}"));
            let duration = invocation.run(&position)?;
            let after = bookkeeping::probe(r.driver, r.set).map_err(Error::reading(
                "reading the version table after the hand-off",
            ))?;
            let mut heads_after = after.versions.unwrap_or_default();
            heads_after.sort();
            Ok((
                report,
                HandoffReport {
                    command: shown,
                    status: 0,
                    duration_ms: duration.as_millis(),
                    heads_after,
                },
            ))
        })
    }

    /// Undoes revisions down to `target` (never below the baseline).
    pub fn downgrade(&mut self, target: &str) -> Result<RunReport> {
        self.locked(|r| {
            let (state, probe) = r.inspect()?;
            let plan = plan::downgrade(r.set, r.graph, &state, target)?;
            r.refuse_edited(&state, &probe)?;
            r.execute(state, &plan)
        })
    }

    /// Sets the version table to `target` without running any SQL.
    pub fn stamp(&mut self, target: &str) -> Result<RunReport> {
        self.locked(|r| {
            let (state, probe) = r.inspect()?;
            let before = probe.versions.clone().unwrap_or_default();
            let current: Vec<usize> = before.iter().filter_map(|v| r.graph.node(v)).collect();
            let nodes = r.graph.resolve(target, &current)?;
            let after: Vec<String> = nodes.iter().map(|&n| r.graph.id(n).to_string()).collect();
            let started = Instant::now();
            let started_at = crate::driver::host::now_utc();
            let books = Books::of(r.driver);
            let sql = bookkeeping::version_sql(r.set, &books, &before, &after);
            let label = format!("stamp {}", after.join(", "));
            let history = bookkeeping::history_sql(
                &books,
                &HistoryRow {
                    kind: "stamp",
                    legacy_version: None,
                    revision: after.first().map(String::as_str),
                    checksum: None,
                    started_at,
                    duration_ms: 0,
                    success: true,
                    note: Some(format!("stamped by hand from [{}]", before.join(", "))),
                },
            );
            r.transaction(&label, &describe(&state), |d| {
                d.execute(&sql)?;
                d.execute(&history)
            })?;
            Ok(RunReport {
                before: state,
                steps: vec![StepReport {
                    step: Step::Stamp {
                        revision: after.join(", "),
                    },
                    label,
                    duration_ms: started.elapsed().as_millis(),
                    skipped_guards: Vec::new(),
                    not_rehearsed: None,
                }],
                heads: after,
                backup: r.taken.clone(),
            })
        })
    }

    /// Applied revisions whose up SQL for this dialect differs from the checksum recorded
    /// when they ran: (revision, recorded, current). Reads only.
    pub fn edited(
        &mut self,
        state: &State,
        probe: &Probe,
    ) -> Result<Vec<(String, String, String)>> {
        let State::Managed { heads } = state else {
            return Ok(Vec::new());
        };
        if !probe.history {
            return Ok(Vec::new()); // nothing was recorded, so nothing can have changed since
        }
        let recorded = bookkeeping::applied_checksums(self.driver)
            .map_err(Error::reading("reading ferry_history"))?;
        let nodes: Vec<usize> = heads.iter().filter_map(|h| self.graph.node(h)).collect();
        let applied = self.graph.ancestors(&nodes);
        let dialect = self.driver.dialect();
        let mut edited = Vec::new();
        for &node in self.graph.order() {
            let id = self.graph.id(node);
            let (Some(rev), Some(before)) = (self.set.revision(id), recorded.get(id)) else {
                continue;
            };
            if let Some(now) = rev.up.get(dialect).map(digest)
                && applied[node]
                && &now != before
            {
                edited.push((id.to_string(), before.clone(), now));
            }
        }
        Ok(edited)
    }

    /// The edited applied revisions that `accept` names: (revision, recorded, current). Any
    /// other edited revision is an error naming it with both checksums. Reads only.
    pub(crate) fn accepted_edits(
        &mut self,
        state: &State,
        probe: &Probe,
        accept: &[String],
    ) -> Result<Vec<(String, String, String)>> {
        let (accepted, refused): (Vec<_>, Vec<_>) = self
            .edited(state, probe)?
            .into_iter()
            .partition(|(id, ..)| accept.contains(id));
        if !refused.is_empty() {
            return Err(Error::Edited {
                details: refused
                    .iter()
                    .map(|(id, before, now)| {
                        format!("  {id}: applied as {before}, its up SQL is now {now}")
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        Ok(accepted)
    }

    /// Refuses to run over edited revisions, unless each is accepted; records acceptances.
    pub(crate) fn refuse_edited(&mut self, state: &State, probe: &Probe) -> Result<()> {
        let accept = self.accept_edited.clone();
        let accepted = self.accepted_edits(state, probe, &accept)?;
        for (id, before, now) in accepted {
            let row = accept_edited_sql(&Books::of(self.driver), &id, &before, &now);
            self.transaction(&format!("accept edited {id}"), &describe(state), |d| {
                d.execute(&row)
            })?;
        }
        Ok(())
    }

    /// Takes the lock, prepares the connection, runs `work`, and always undoes both.
    pub(crate) fn locked<T>(&mut self, work: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let waited = self.lock_timeout;
        match self
            .driver
            .lock(waited)
            .map_err(Error::reading("taking the migration lock"))?
        {
            Ok(()) => {}
            Err(holder) => {
                return Err(Error::Locked {
                    holder,
                    waited_secs: waited.as_secs(),
                });
            }
        }
        let result = self
            .driver
            .start_run()
            .map_err(Error::reading("preparing the connection"))
            .and_then(|()| work(self));
        let finished = self.driver.finish_run();
        let unlocked = self.driver.unlock();
        let value = result?;
        finished.map_err(Error::reading("restoring the connection"))?;
        unlocked.map_err(Error::reading("releasing the migration lock"))?;
        Ok(value)
    }

    /// Runs every step of a plan, each in its own transaction with its bookkeeping.
    pub(crate) fn execute(&mut self, before: State, plan: &Plan) -> Result<RunReport> {
        plan::check_runnable(self.set, plan, self.driver.dialect())?;
        if !plan.steps.is_empty() && before != State::Empty {
            self.take_backup()?;
        }
        (self.on_event)(Event::Planned {
            total: plan.steps.len(),
        });
        let mut heads: Vec<String> = match &before {
            State::Managed { heads } => heads.clone(),
            _ => Vec::new(),
        };
        let mut position = describe(&before);
        self.completed.clear();
        for (index, step) in plan.steps.iter().enumerate() {
            let label = step.label(self.set);
            (self.on_event)(Event::Started {
                index,
                label: &label,
            });
            let started = Instant::now();
            let (skipped, new_heads, not_rehearsed) =
                self.run_step(step, &label, &heads, &position)?;
            let duration = started.elapsed();
            (self.on_event)(Event::Finished {
                index,
                label: &label,
                duration,
            });
            position = match step {
                Step::Legacy { number } => format!("legacy {number}"),
                _ => format!("revision {}", new_heads.join(", ")),
            };
            heads = new_heads;
            self.completed.push(StepReport {
                step: step.clone(),
                label,
                duration_ms: duration.as_millis(),
                skipped_guards: skipped,
                not_rehearsed,
            });
        }
        Ok(RunReport {
            before,
            steps: std::mem::take(&mut self.completed),
            heads,
            backup: self.taken.clone(),
        })
    }

    /// Takes the run's backup (per `backup`) unless it has one already: before its first write.
    pub(crate) fn take_backup(&mut self) -> Result<()> {
        if self.taken.is_some() {
            return Ok(());
        }
        let dir = match &self.backup {
            BackupPolicy::Off => return Ok(()),
            BackupPolicy::Beside => None,
            BackupPolicy::Into(d) => Some(d.as_path()),
        };
        self.taken = self.driver.backup(dir).map_err(|e| Error::Io {
            path: "backup".into(),
            message: format!(
                "{e}. To go on, pass --backup-dir DIR on a disk with room for a copy of the database, or --no-backup"
            ),
        })?;
        Ok(())
    }

    /// One step and its bookkeeping; returns the skipped guards, the heads after it, and why
    /// its script was not run (a rehearsal's non-transactional step).
    fn run_step(
        &mut self,
        step: &Step,
        label: &str,
        heads: &[String],
        position: &str,
    ) -> Result<(Vec<String>, Vec<String>, Option<String>)> {
        let books = Books::of(self.driver);
        let started_at = crate::driver::host::now_utc();
        let started = Instant::now();
        let work = step_work(self.set, self.graph, &books, step, heads)?;
        let history = |success: bool, note: Option<String>| {
            work.history_sql(
                &books,
                started_at.clone(),
                started.elapsed().as_millis(),
                success,
                note,
            )
        };
        let mut skipped = Vec::new();
        let mut not_run = None;
        let set = self.set;
        // A marker row this step must insert, checked once its script made the table.
        let writes_marker = match step {
            Step::Legacy { .. } => true,
            Step::Fresh => set.config.legacy.write_marker_on_fresh,
            _ => false,
        };
        let mut unfilled = Vec::new();
        let outcome = if work.transactional {
            self.transaction(label, position, |d| {
                if let Some(sql) = work.sql {
                    skipped = run_script(d, sql)?;
                    d.execute(&d.session_restore())?;
                }
                if writes_marker {
                    unfilled = bookkeeping::unfilled_marker_columns(d, set)?;
                    if !unfilled.is_empty() {
                        return Err(DbError::new("the marker row cannot be inserted"));
                    }
                }
                d.execute(&(work.books.clone() + &history(true, work.success_note())))
            })
        } else {
            // Outside a transaction (CREATE INDEX CONCURRENTLY); the bookkeeping then commits alone.
            let ran = match (work.sql, self.rehearsal) {
                (Some(_), Some(reason)) => {
                    not_run = Some(reason.to_string());
                    Ok(Vec::new())
                }
                (Some(sql), None) => {
                    let restore = self.driver.session_restore();
                    run_script(self.driver, sql)
                        .and_then(|skipped| self.driver.execute(&restore).map(|()| skipped))
                        .map_err(|source| Error::StepFailed {
                        step: format!("{label} (run outside a transaction: statements before the failing one stay applied)"),
                        position: position.to_string(),
                        source,
                        backup: self.taken.clone().map(Box::new),
                    })
                }
                (None, _) => Ok(Vec::new()),
            };
            match ran {
                Ok(s) => {
                    crash_point("after-script", label);
                    skipped = s;
                    let books = work.books.clone() + &history(true, work.success_note());
                    self.transaction(label, position, |d| d.execute(&books))
                }
                Err(e) => Err(e),
            }
        };
        if !unfilled.is_empty() {
            return Err(bookkeeping::unfilled_marker_error(set, &unfilled));
        }
        if let Err(e) = outcome {
            // Best effort: the failure itself goes into the audit trail, in its own transaction.
            let note = match &e {
                Error::StepFailed { source, .. } => Some(source.message.clone()),
                other => Some(other.to_string()),
            };
            let row = history(false, note);
            // A non-transactional script may have changed the session before it failed.
            let _ = self.driver.execute(&self.driver.session_restore());
            if self.driver.begin().is_ok() {
                if self.driver.execute(&row).is_ok() {
                    let _ = self.driver.commit();
                } else {
                    let _ = self.driver.rollback();
                }
            }
            return Err(e);
        }
        Ok((skipped, work.heads_after, not_run))
    }

    /// Runs `work` in a transaction; on any error rolls back and reports the step as failed.
    pub(crate) fn transaction(
        &mut self,
        label: &str,
        position: &str,
        work: impl FnOnce(&mut dyn Driver) -> Result<(), DbError>,
    ) -> Result<()> {
        let backup = self.taken.clone();
        let failed = |source: DbError| Error::StepFailed {
            step: label.to_string(),
            position: position.to_string(),
            source,
            backup: backup.clone().map(Box::new),
        };
        self.driver.lock_progress(label);
        self.driver.begin().map_err(failed)?;
        crash_point("after-begin", label);
        let result = work(self.driver).and_then(|()| {
            crash_point("before-commit", label);
            self.driver.commit()
        });
        if let Err(source) = result {
            let _ = self.driver.rollback();
            return Err(failed(source));
        }
        crash_point("after-commit", label);
        Ok(())
    }
}

/// Test support: `FERRY_CRASH_AT=POINT[:TEXT]` aborts the process (no destructor, no
/// rollback: as a power cut would) at POINT (`after-begin`, `before-commit`, `after-commit`,
/// `after-script` of a non-transactional revision) of the first step whose label contains TEXT.
fn crash_point(point: &str, label: &str) {
    if let Ok(spec) = std::env::var("FERRY_CRASH_AT") {
        let (at, text) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        if at == point && label.contains(text) {
            eprintln!("FERRY_CRASH_AT: stopping at {point} of {label}");
            std::process::abort();
        }
    }
}

/// Executes a script segment by segment, evaluating guards against the live database as it
/// goes; returns the guards whose blocks were skipped.
pub fn run_script(driver: &mut dyn Driver, sql: &str) -> Result<Vec<String>, DbError> {
    let script = guard::parse(sql).map_err(|e| DbError::new(format!("script: {e}")))?;
    let mut skipped = Vec::new();
    for segment in script.segments {
        match segment {
            Segment::Plain(text) => driver.execute(text)?,
            Segment::CopyIn {
                statement, data, ..
            } => driver.copy_in(statement, data)?,
            Segment::Guarded {
                condition, body, ..
            } => {
                let exists = driver.exists(&condition.object)?;
                if condition.holds(exists) {
                    driver.execute(body)?;
                } else {
                    skipped.push(condition.to_string());
                }
            }
        }
    }
    Ok(skipped)
}

/// What one step runs, built here once for the runner and for `upgrade --sql`: its script,
/// the bookkeeping that commits with it, and whether it runs inside a transaction.
#[derive(Debug, Clone)]
pub struct StepWork<'s> {
    /// The `ferry_history` kind: `fresh`, `legacy`, `stamp`, `upgrade`, `downgrade`.
    pub kind: &'static str,
    /// The step's own script (none for a stamp).
    pub sql: Option<&'s str>,
    /// Where the script comes from, relative to the set (for messages and comments).
    pub source: Option<String>,
    /// Marker and version-table statements, run in the same transaction as the script.
    pub books: String,
    pub legacy_version: Option<u32>,
    pub revision: Option<String>,
    /// The version table's rows after the step.
    pub heads_after: Vec<String>,
    pub transactional: bool,
}

impl StepWork<'_> {
    /// The `ferry_history` row of this step.
    pub fn history_sql(
        &self,
        books: &Books,
        started_at: String,
        duration_ms: u128,
        success: bool,
        note: Option<String>,
    ) -> String {
        bookkeeping::history_sql(
            books,
            &HistoryRow {
                kind: self.kind,
                legacy_version: self.legacy_version,
                revision: self.revision.as_deref(),
                checksum: self.sql.map(digest),
                started_at,
                duration_ms,
                success,
                note,
            },
        )
    }

    /// The note a successful step's history row carries.
    pub fn success_note(&self) -> Option<String> {
        (!self.transactional).then(|| "ran outside a transaction".to_string())
    }
}

/// The work of `step` when the version table holds `heads`.
pub fn step_work<'s>(
    set: &'s MigrationSet,
    graph: &Graph,
    books: &Books,
    step: &Step,
    heads: &[String],
) -> Result<StepWork<'s>> {
    let dialect = books.dialect;
    let baseline = set.baseline_id().to_string();
    Ok(match step {
        Step::Fresh => {
            let mut statements = String::new();
            if set.config.legacy.write_marker_on_fresh {
                statements.push_str(&bookkeeping::marker_sql(set, books, set.cap())?);
            }
            let after = vec![baseline.clone()];
            statements.push_str(&bookkeeping::version_sql(set, books, heads, &after));
            StepWork {
                kind: "fresh",
                sql: set.baselines.get(&dialect).map(|t| t.as_ref()),
                source: Some(format!("baseline/{}.sql", dialect.name())),
                books: statements,
                legacy_version: None,
                revision: Some(baseline),
                heads_after: after,
                transactional: true,
            }
        }
        Step::Legacy { number } => {
            let legacy = set.step(*number).ok_or_else(|| {
                Error::Unsupported(format!(
                    "legacy step {number} is not in the set (its steps are {})",
                    set.steps_text()
                ))
            })?;
            StepWork {
                kind: "legacy",
                sql: legacy.up.get(dialect),
                source: Some(legacy.up.path("up", dialect)),
                books: bookkeeping::marker_sql(set, books, *number)?,
                legacy_version: Some(*number),
                revision: None,
                heads_after: heads.to_vec(),
                transactional: true,
            }
        }
        Step::Stamp { revision } => {
            let after = vec![revision.clone()];
            StepWork {
                kind: "stamp",
                sql: None,
                source: None,
                books: bookkeeping::version_sql(set, books, heads, &after),
                legacy_version: None,
                revision: Some(revision.clone()),
                heads_after: after,
                transactional: true,
            }
        }
        Step::Up { revision } | Step::Down { revision } => {
            let rev = set.revision(revision).ok_or_else(|| {
                Error::Unsupported(format!("revision {revision} is not in the set"))
            })?;
            let node = graph.node(revision).ok_or_else(|| {
                Error::Unsupported(format!("revision {revision} is not in the graph"))
            })?;
            let current: Vec<usize> = heads.iter().filter_map(|h| graph.node(h)).collect();
            let (kind, sql, stem, after) = if matches!(step, Step::Up { .. }) {
                (
                    "upgrade",
                    &rev.up,
                    "up",
                    graph.heads_after_up(&current, node),
                )
            } else {
                (
                    "downgrade",
                    &rev.down,
                    "down",
                    graph.heads_after_down(&current, node),
                )
            };
            let after: Vec<String> = after.iter().map(|&n| graph.id(n).to_string()).collect();
            StepWork {
                kind,
                sql: sql.get(dialect),
                source: Some(sql.path(stem, dialect)),
                books: bookkeeping::version_sql(set, books, heads, &after),
                legacy_version: None,
                revision: Some(revision.clone()),
                heads_after: after,
                transactional: rev.transaction,
            }
        }
    })
}

/// The `ferry_history` row recording that an edited revision was accepted.
pub fn accept_edited_sql(books: &Books, id: &str, before: &str, now: &str) -> String {
    bookkeeping::history_sql(
        books,
        &HistoryRow {
            kind: "accept-edited",
            legacy_version: None,
            revision: Some(id),
            checksum: Some(now.to_string()),
            started_at: crate::driver::host::now_utc(),
            duration_ms: 0,
            success: true,
            note: Some(format!(
                "edited revision accepted with --accept-edited (applied as {before})"
            )),
        },
    )
}

/// Where a database stands, in words, for messages.
pub fn describe(state: &State) -> String {
    match state {
        State::Empty => "empty (nothing applied)".into(),
        State::Legacy { version } => format!("legacy {version}"),
        State::Superseded { version, .. } => format!("legacy {version} (superseded)"),
        State::FutureLegacy { version } => format!("legacy {version}"),
        State::Managed { heads } => format!("revision {}", heads.join(", ")),
        other => other.name().to_string(),
    }
}
