//! Runs plans through a driver: one lock for the whole detect → replay → stamp → upgrade run,
//! one transaction per step together with its bookkeeping, guards evaluated as the script runs.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bookkeeping::{self, HistoryRow};
use crate::core::graph::Graph;
use crate::core::guard::{self, Segment};
use crate::core::plan::{self, Plan, Step};
use crate::core::set::{MigrationSet, digest};
use crate::core::state::{self, Probe, State};
use std::path::PathBuf;

use crate::driver::url::DatabaseUrl;
use crate::driver::{Backup, Driver};
use crate::error::{DbError, Error, Result};
use crate::handoff::{HandoffReport, Invocation};
use crate::unversioned::{self, AssumeLegacy, Assumed};

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
    /// The database's URL, beside which scratch databases are built (to identify an
    /// unversioned database, or check `assume_legacy`); `None`: none is built.
    pub scratch: Option<DatabaseUrl>,
    /// `upgrade --assume-legacy N [--force]`, for an unversioned database.
    pub assume_legacy: Option<AssumeLegacy>,
    /// What `assume_legacy` checked and recorded, once `upgrade` has passed it.
    pub assumed: Option<Assumed>,
    /// The backup this run took, named in any failure after it.
    taken: Option<Backup>,
}

/// Who holds a lock: written where other processes can read it.
pub fn holder_description() -> String {
    format!(
        "ferry {} pid {} on {} since {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        bookkeeping::hostname().unwrap_or_else(|| "an unknown host".into()),
        bookkeeping::now_utc()
    )
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
            assume_legacy: None,
            assumed: None,
            taken: None,
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
    /// legacy N here when `--assume-legacy N` checks out, and is refused (identified) otherwise.
    fn inspect_for_upgrade(&mut self, target: &str) -> Result<(State, Probe)> {
        let (mut state, mut probe) = self.inspect()?;
        if let Some(assume) = self.assume_legacy {
            self.assumed = Some(unversioned::assume(self, &state, assume, target)?);
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
            let started_at = bookkeeping::now_utc();
            let sql = bookkeeping::version_sql(r.set, &before, &after);
            let label = format!("stamp {}", after.join(", "));
            let history = bookkeeping::history_sql(
                r.driver,
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

    /// Refuses to run over edited revisions, unless each is accepted; records acceptances.
    fn refuse_edited(&mut self, state: &State, probe: &Probe) -> Result<()> {
        let edited = self.edited(state, probe)?;
        let (accepted, refused): (Vec<_>, Vec<_>) = edited
            .into_iter()
            .partition(|(id, ..)| self.accept_edited.contains(id));
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
        for (id, before, now) in accepted {
            let row = bookkeeping::history_sql(
                self.driver,
                &HistoryRow {
                    kind: "accept-edited",
                    legacy_version: None,
                    revision: Some(&id),
                    checksum: Some(now),
                    started_at: bookkeeping::now_utc(),
                    duration_ms: 0,
                    success: true,
                    note: Some(format!(
                        "edited revision accepted with --accept-edited (applied as {before})"
                    )),
                },
            );
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
        let mut reports = Vec::with_capacity(plan.steps.len());
        for (index, step) in plan.steps.iter().enumerate() {
            let label = step.label(self.set);
            (self.on_event)(Event::Started {
                index,
                label: &label,
            });
            let started = Instant::now();
            let (skipped, new_heads) = self.run_step(step, &label, &heads, &position)?;
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
            reports.push(StepReport {
                step: step.clone(),
                label,
                duration_ms: duration.as_millis(),
                skipped_guards: skipped,
            });
        }
        Ok(RunReport {
            before,
            steps: reports,
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
            message: format!("{e} (pass --backup-dir DIR to write it elsewhere, or --no-backup)"),
        })?;
        Ok(())
    }

    /// One step and its bookkeeping; returns the skipped guards and the heads after it.
    fn run_step(
        &mut self,
        step: &Step,
        label: &str,
        heads: &[String],
        position: &str,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let set = self.set;
        let dialect = self.driver.dialect();
        let baseline = set.baseline_id().to_string();
        let started_at = bookkeeping::now_utc();
        let started = Instant::now();
        // (kind, SQL, bookkeeping, legacy number, revision, heads after, in a transaction)
        let (kind, sql, mut books, number, revision, after, transactional): (
            _,
            Option<&str>,
            String,
            _,
            _,
            Vec<String>,
            bool,
        ) = match step {
            Step::Fresh => {
                let mut books = String::new();
                if set.config.legacy.write_marker_on_fresh {
                    books.push_str(&bookkeeping::marker_sql(set, dialect, set.cap())?);
                }
                let after = vec![baseline.clone()];
                books.push_str(&bookkeeping::version_sql(set, heads, &after));
                let sql = set.baselines.get(&dialect).map(|t| t.as_ref());
                (
                    "fresh",
                    sql,
                    books,
                    None,
                    Some(baseline.clone()),
                    after,
                    true,
                )
            }
            Step::Legacy { number } => {
                let sql = set.legacy[*number as usize - 1].up.get(dialect);
                let books = bookkeeping::marker_sql(set, dialect, *number)?;
                (
                    "legacy",
                    sql,
                    books,
                    Some(*number),
                    None,
                    heads.to_vec(),
                    true,
                )
            }
            Step::Stamp { revision } => {
                let after = vec![revision.clone()];
                let books = bookkeeping::version_sql(set, heads, &after);
                (
                    "stamp",
                    None,
                    books,
                    None,
                    Some(revision.clone()),
                    after,
                    true,
                )
            }
            Step::Up { revision } | Step::Down { revision } => {
                let rev = set.revision(revision).ok_or_else(|| {
                    Error::Unsupported(format!("revision {revision} is not in the set"))
                })?;
                let node = self.graph.node(revision).ok_or_else(|| {
                    Error::Unsupported(format!("revision {revision} is not in the graph"))
                })?;
                let current: Vec<usize> = heads.iter().filter_map(|h| self.graph.node(h)).collect();
                let (kind, sql, after) = if matches!(step, Step::Up { .. }) {
                    (
                        "upgrade",
                        rev.up.get(dialect),
                        self.graph.heads_after_up(&current, node),
                    )
                } else {
                    (
                        "downgrade",
                        rev.down.get(dialect),
                        self.graph.heads_after_down(&current, node),
                    )
                };
                let after: Vec<String> = after
                    .iter()
                    .map(|&n| self.graph.id(n).to_string())
                    .collect();
                let books = bookkeeping::version_sql(set, heads, &after);
                (
                    kind,
                    sql,
                    books,
                    None,
                    Some(revision.clone()),
                    after,
                    rev.transaction,
                )
            }
        };
        let checksum = sql.map(digest);
        let history = |success: bool, note: Option<String>, driver: &dyn Driver| {
            bookkeeping::history_sql(
                driver,
                &HistoryRow {
                    kind,
                    legacy_version: number,
                    revision: revision.as_deref(),
                    checksum: checksum.clone(),
                    started_at: started_at.clone(),
                    duration_ms: started.elapsed().as_millis(),
                    success,
                    note,
                },
            )
        };
        let mut skipped = Vec::new();
        let outcome = if transactional {
            self.transaction(label, position, |d| {
                if let Some(sql) = sql {
                    skipped = run_script(d, sql)?;
                }
                books.push_str(&history(true, None, &*d));
                d.execute(&books)
            })
        } else {
            // Outside a transaction (CREATE INDEX CONCURRENTLY); the bookkeeping then commits alone.
            let ran = match sql {
                Some(sql) => run_script(self.driver, sql).map_err(|source| Error::StepFailed {
                    step: format!("{label} (run outside a transaction: statements before the failing one stay applied)"),
                    position: position.to_string(),
                    source,
                    backup: self.taken.clone().map(Box::new),
                }),
                None => Ok(Vec::new()),
            };
            match ran {
                Ok(s) => {
                    crash_point("after-script", label);
                    skipped = s;
                    books.push_str(&history(
                        true,
                        Some("ran outside a transaction".into()),
                        &*self.driver,
                    ));
                    self.transaction(label, position, |d| d.execute(&books))
                }
                Err(e) => Err(e),
            }
        };
        if let Err(e) = outcome {
            // Best effort: the failure itself goes into the audit trail, in its own transaction.
            let note = match &e {
                Error::StepFailed { source, .. } => Some(source.message.clone()),
                other => Some(other.to_string()),
            };
            let row = history(false, note, &*self.driver);
            if self.driver.begin().is_ok() {
                if self.driver.execute(&row).is_ok() {
                    let _ = self.driver.commit();
                } else {
                    let _ = self.driver.rollback();
                }
            }
            return Err(e);
        }
        Ok((skipped, after))
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
    let script = guard::parse(sql).map_err(|e| DbError::new(format!("guard directive: {e}")))?;
    let mut skipped = Vec::new();
    for segment in script.segments {
        match segment {
            Segment::Plain(text) => driver.execute(text)?,
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
