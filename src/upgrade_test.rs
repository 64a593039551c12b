//! `upgrade-test`: every old position the set knows (each legacy version, each superseded
//! one, releases on revisions) is built with its seed data in a scratch database, upgraded to
//! head, and compared with a fresh install; the revisions are walked down and up again.
//!
//! Cases run in scratch databases only (SQLite in memory, a throwaway database per case on a
//! PostgreSQL server), several at a time on threads, on the dialects the set supports.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::core::graph::Graph;
use crate::core::plan::{self, Plan, Step};
use crate::core::release::Release;
use crate::core::schema::{Schema, diff};
use crate::core::set::{Dialect, MigrationSet};
use crate::core::state::Position;
use crate::core::state::{MarkerReading, State};
use crate::driver::url::DatabaseUrl;
use crate::driver::{Driver, quote};
use crate::error::{Error, Result};
use crate::fixture::{self, TestDirs};
use crate::runner::{BackupPolicy, RunReport, Runner};
use crate::scratch::{self, Scratch, Site, Space};

/// One path the test walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Case {
    /// A fresh install upgraded to head: the reference every other case is compared with.
    Fresh,
    /// A database built at `target` with its seeds, upgraded to head. `releases` names the
    /// releases that sit there (for the report).
    From {
        target: Position,
        releases: Vec<String>,
    },
    /// A fresh install walked up one revision at a time, down to the baseline one at a time,
    /// and up again, the schema compared at every revision.
    RoundTrip,
}

impl Case {
    /// How the case is named in the report: `legacy 7 (3.3.0) → head`.
    pub fn path(&self, set: &MigrationSet) -> String {
        match self {
            Case::Fresh => "fresh install → head".into(),
            Case::From { target, releases } => {
                let named = if releases.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", releases.join(", "))
                };
                format!("{}{named} → head", target.describe(set))
            }
            Case::RoundTrip => format!("round trip head → {} → head", set.baseline_id()),
        }
    }
}

/// The result of one case on one dialect.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub dialect: &'static str,
    pub path: String,
    pub ok: bool,
    pub duration_ms: u128,
    /// Every problem found, the first one first (empty when the case passed).
    pub problems: Vec<String>,
    /// What the case saw that is intended and does not fail it: a table the chain drops, rows
    /// of a `[test] may_lose_rows` table a step prunes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Where releases sit: each position once, with the versions that sit there, oldest first.
pub fn release_points(releases: &[&Release]) -> Vec<(Position, Vec<String>)> {
    let mut points: Vec<(Position, Vec<String>)> = Vec::new();
    for r in releases {
        let target = r.position.clone();
        match points.iter_mut().find(|(t, _)| *t == target) {
            Some((_, versions)) => versions.push(r.version.to_string()),
            None => points.push((target, vec![r.version.to_string()])),
        }
    }
    points
}

/// Every legacy step number, a marker inside the first gap of the chain (when it has one), and
/// every superseded version (named with the releases that sit there), between the fresh
/// install and the round trip.
pub fn full_matrix(set: &MigrationSet, releases: &[(Position, Vec<String>)]) -> Vec<Case> {
    let steps = set.step_numbers();
    let gap = steps.windows(2).find(|w| w[1] > w[0] + 1).map(|w| w[0] + 1);
    let mut versions: Vec<u32> = steps.into_iter().chain(gap).collect();
    versions.sort_unstable();
    let legacy = versions.into_iter().chain(set.superseded.keys().copied());
    let mut cases = vec![Case::Fresh];
    for n in legacy {
        let target = Position::Legacy(n);
        cases.push(Case::From {
            releases: releases
                .iter()
                .find(|(t, _)| *t == target)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            target,
        });
    }
    cases.push(Case::RoundTrip);
    cases
}

/// One case per release position (see [`release_points`]), between the fresh install and the
/// round trip.
pub fn release_matrix(points: &[(Position, Vec<String>)]) -> Vec<Case> {
    let mut cases = vec![Case::Fresh];
    for (target, versions) in points {
        cases.push(Case::From {
            target: target.clone(),
            releases: versions.clone(),
        });
    }
    cases.push(Case::RoundTrip);
    cases
}

/// Runs `cases` on every dialect in `on` (a scratch database at each site per case), `jobs`
/// cases at a time. The fresh install of each dialect runs first: it is the reference schema.
pub fn run(
    set: &MigrationSet,
    graph: &Graph,
    on: &[Site],
    cases: &[Case],
    dirs: &TestDirs,
    jobs: usize,
) -> Result<Vec<CaseResult>> {
    let heads: Vec<String> = graph
        .heads()
        .iter()
        .map(|&n| graph.id(n).to_string())
        .collect();
    let context = Context {
        set,
        graph,
        dirs,
        heads,
    };
    // Per dialect: its reference schema (None when the fresh install itself failed).
    let mut results: Vec<(usize, usize, CaseResult)> = Vec::new();
    let mut references = Vec::new();
    let mut spaces = Vec::new();
    for (d, site) in on.iter().enumerate() {
        // A server that cannot be reached is exit 6 for the whole run, not a failed case, and
        // one where no scratch database can be made exit 2.
        let space = Space::prepare(site, "upgrade-test")?;
        let started = Instant::now();
        let like = &site.live;
        let purpose = purpose(set, &Case::Fresh, like);
        let mut scratch = space.create(purpose.as_str())?;
        let fresh = context.fresh(&mut scratch, &purpose);
        drop(scratch);
        let (problems, reference) = match fresh {
            Ok((problems, schema)) => (problems, Some(schema)),
            Err(e) => (vec![format!("fresh install: {e}")], None),
        };
        if let Some(i) = cases.iter().position(|c| *c == Case::Fresh) {
            results.push((
                d,
                i,
                result(like, &cases[i], set, started, problems, Vec::new()),
            ));
        }
        references.push(reference);
        spaces.push(space);
    }
    let queue: Vec<(usize, usize)> = (0..on.len())
        .flat_map(|d| (0..cases.len()).map(move |i| (d, i)))
        .filter(|&(_, i)| cases[i] != Case::Fresh)
        .collect();
    let next = AtomicUsize::new(0);
    let done = Mutex::new(results);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(queue.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(d, i)) = queue.get(k) else { break };
                    let like = &on[d].live;
                    let started = Instant::now();
                    let mut notes = Vec::new();
                    let problems = match &references[d] {
                        None => vec![
                            "not run: the fresh install failed, so there is no schema to compare with"
                                .to_string(),
                        ],
                        Some(reference) => {
                            let purpose = purpose(set, &cases[i], like);
                            match spaces[d].create(purpose.as_str()) {
                                Err(e) => vec![e.to_string()],
                                Ok(mut scratch) => {
                                    let problems = context
                                        .case(&mut scratch, &purpose, &cases[i], reference, &mut notes)
                                        .unwrap_or_else(|e| vec![e.to_string()]);
                                    // Dropping a PostgreSQL database waits for a checkpoint:
                                    // it runs beside the next cases (the scope waits for it).
                                    if let Some(holder) = scratch.close() {
                                        scope.spawn(move || drop(holder));
                                    }
                                    problems
                                }
                            }
                        }
                    };
                    let r = result(like, &cases[i], set, started, problems, notes);
                    if let Ok(mut done) = done.lock() {
                        done.push((d, i, r));
                    }
                }
            });
        }
    });
    let mut results = done.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|&(d, i, _)| (d, i));
    Ok(results.into_iter().map(|(_, _, r)| r).collect())
}

/// How a case names itself in a failure inside its scratch database.
fn purpose(set: &MigrationSet, case: &Case, like: &DatabaseUrl) -> String {
    format!(
        "upgrade-test case {} ({})",
        case.path(set),
        like.dialect().name()
    )
}

fn result(
    like: &DatabaseUrl,
    case: &Case,
    set: &MigrationSet,
    started: Instant,
    problems: Vec<String>,
    notes: Vec<String>,
) -> CaseResult {
    CaseResult {
        dialect: like.dialect().name(),
        path: case.path(set),
        ok: problems.is_empty(),
        duration_ms: started.elapsed().as_millis(),
        problems,
        notes,
    }
}

struct Context<'a> {
    set: &'a MigrationSet,
    graph: &'a Graph,
    dirs: &'a TestDirs,
    heads: Vec<String>,
}

impl Context<'_> {
    fn runner<'r>(&'r self, driver: &'r mut dyn Driver) -> Runner<'r> {
        let mut r = Runner::new(self.set, self.graph, driver);
        r.backup = BackupPolicy::Off;
        r
    }

    /// The fresh install: its problems and its schema at head.
    fn fresh(&self, scratch: &mut Scratch, purpose: &str) -> Result<(Vec<String>, Schema)> {
        self.runner(scratch.driver())
            .upgrade("heads")
            .map_err(scratch::failed(purpose))?;
        let marker = self
            .set
            .config
            .legacy
            .write_marker_on_fresh
            .then(|| i64::from(self.set.cap()));
        let problems = self.bookkeeping(scratch.driver(), marker)?;
        Ok((problems, scratch.snapshot(self.set)?))
    }

    fn case(
        &self,
        scratch: &mut Scratch,
        purpose: &str,
        case: &Case,
        reference: &Schema,
        notes: &mut Vec<String>,
    ) -> Result<Vec<String>> {
        match case {
            Case::Fresh => Ok(Vec::new()),
            Case::From { target, .. } => self.from(scratch, purpose, target, reference, notes),
            Case::RoundTrip => self.round_trip(scratch, purpose, reference),
        }
    }

    /// Builds `target` with its seeds, upgrades it to head, and checks the result.
    fn from(
        &self,
        scratch: &mut Scratch,
        purpose: &str,
        target: &Position,
        reference: &Schema,
        notes: &mut Vec<String>,
    ) -> Result<Vec<String>> {
        if let Err(e) =
            fixture::build_installed(&mut self.runner(scratch.driver()), target, self.dirs, &[])
        {
            let e = scratch::failed(purpose)(e);
            return Ok(vec![format!("building the fixture: {e}")]);
        }
        let before = row_counts(self.set, scratch.driver())?;
        let report = match self.runner(scratch.driver()).upgrade("heads") {
            Ok(report) => report,
            Err(e) => {
                let e = scratch::failed(purpose)(e);
                return Ok(vec![format!("upgrade: {e}")]);
            }
        };
        let mut problems = Vec::new();
        let schema = scratch.snapshot(self.set)?;
        problems.extend(schema_problem(
            "the schema differs from a fresh install",
            reference,
            &schema,
        ));
        let after = row_counts(self.set, scratch.driver())?;
        let pruned = &self.set.config.test.may_lose_rows;
        for (table, count) in &before {
            match after.get(table) {
                // The chain drops it, and a fresh install has none either: intended.
                None if !reference.tables.contains_key(table) => notes.push(format!(
                    "table {table} ({count} rows) was dropped by {}, as a fresh install has no such table",
                    self.dropped_by(scratch.dialect(), &report, table)
                )),
                None => problems.push(format!(
                    "table {table} vanished (it held {count} rows before the upgrade)"
                )),
                Some(now) if now < count && pruned.contains(table) => notes.push(format!(
                    "table {table} lost rows as [test] may_lose_rows allows: {count} before the upgrade, {now} after"
                )),
                Some(now) if now < count => problems.push(format!(
                    "table {table} lost rows: {count} before the upgrade, {now} after (if a step prunes them on purpose, \
                     list it in ferry.toml: [test] may_lose_rows = [\"{table}\"])"
                )),
                Some(_) => {}
            }
        }
        let marker = match target {
            Position::Legacy(n) if *n > self.set.cap() => i64::from(*n),
            _ => i64::from(self.set.cap()),
        };
        problems.extend(self.bookkeeping(scratch.driver(), Some(marker))?);
        Ok(problems)
    }

    /// The step of `report` whose script drops `table` (read from its SQL), for the report.
    fn dropped_by(&self, dialect: Dialect, report: &RunReport, table: &str) -> String {
        let name = table.to_ascii_lowercase();
        let drops = |sql: &str| {
            let sql = crate::core::schema::normalize_sql(sql)
                .to_ascii_lowercase()
                .replace('"', "");
            ["drop table ", "drop table if exists "].iter().any(|p| {
                sql.match_indices(p).any(|(at, _)| {
                    let word = sql[at + p.len()..]
                        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
                        .next()
                        .unwrap_or_default();
                    word.rsplit_once('.').map_or(word, |(_, t)| t) == name
                })
            })
        };
        report
            .steps
            .iter()
            .find(|s| {
                let sql = match &s.step {
                    Step::Legacy { number } => self
                        .set
                        .legacy
                        .iter()
                        .find(|l| l.number == *number)
                        .and_then(|l| l.up.get(dialect)),
                    Step::Up { revision } => {
                        self.set.revision(revision).and_then(|r| r.up.get(dialect))
                    }
                    _ => None,
                };
                sql.is_some_and(&drops)
            })
            .map_or_else(|| "the upgrade".to_string(), |s| s.label.clone())
    }

    /// The version table at head and the marker at `marker`.
    fn bookkeeping(&self, driver: &mut dyn Driver, marker: Option<i64>) -> Result<Vec<String>> {
        let (state, probe) = self.runner(driver).inspect()?;
        let mut problems = Vec::new();
        match &state {
            State::Managed { heads } if sorted(heads) == sorted(&self.heads) => {}
            other => problems.push(format!(
                "the version table is not at head {}: the database is {}",
                self.heads.join(", "),
                crate::runner::describe(other)
            )),
        }
        let expected = marker.map_or(MarkerReading::Absent, MarkerReading::Value);
        if probe.marker != expected {
            let show = |m: &MarkerReading| match m {
                MarkerReading::Absent => "absent".to_string(),
                MarkerReading::Value(v) => v.to_string(),
                MarkerReading::Invalid(why) => format!("unreadable ({why})"),
            };
            problems.push(format!(
                "the legacy marker is {}, expected {}",
                show(&probe.marker),
                show(&expected)
            ));
        }
        Ok(problems)
    }

    /// Fresh install at the baseline, then every revision up, recording the schema; every
    /// revision down, comparing with the schema recorded below it; every revision up again.
    fn round_trip(
        &self,
        scratch: &mut Scratch,
        purpose: &str,
        reference: &Schema,
    ) -> Result<Vec<String>> {
        let set = self.set;
        let mut state = State::Empty;
        let step = |scratch: &mut Scratch, state: &mut State, step: Step| -> Result<()> {
            let plan = Plan {
                steps: vec![step],
                heads_after: Vec::new(),
            };
            let before = state.clone();
            let report: RunReport = self
                .runner(scratch.driver())
                .locked(|r| r.execute(before, &plan))
                .map_err(scratch::failed(purpose))?;
            *state = State::Managed {
                heads: report.heads,
            };
            Ok(())
        };
        let fresh = plan::upgrade(set, self.graph, &State::Empty, "base")?;
        for s in fresh.steps {
            step(scratch, &mut state, s)?;
        }
        let order: Vec<String> = self
            .graph
            .order()
            .iter()
            .filter(|&&n| n != 0)
            .map(|&n| self.graph.id(n).to_string())
            .collect();
        // recorded[i]: the schema with the first i revisions applied.
        let mut recorded = vec![scratch.snapshot(set)?];
        for id in &order {
            let up = Step::Up {
                revision: id.clone(),
            };
            if let Err(e) = step(scratch, &mut state, up) {
                return Ok(vec![format!("upgrade {id}: {e}")]);
            }
            recorded.push(scratch.snapshot(set)?);
        }
        let mut problems = Vec::new();
        if let Some(top) = recorded.last() {
            problems.extend(schema_problem(
                "one revision at a time, head differs from a fresh install",
                reference,
                top,
            ));
        }
        for (i, id) in order.iter().enumerate().rev() {
            let down = Step::Down {
                revision: id.clone(),
            };
            if let Err(e) = step(scratch, &mut state, down) {
                problems.push(format!("downgrade {id}: {e}"));
                return Ok(problems);
            }
            let below = if i == 0 {
                set.baseline_id()
            } else {
                order[i - 1].as_str()
            };
            problems.extend(schema_problem(
                &format!(
                    "downgrade {id} does not undo its upgrade (the schema differs from {below}'s)"
                ),
                &recorded[i],
                &scratch.snapshot(set)?,
            ));
        }
        for (i, id) in order.iter().enumerate() {
            let up = Step::Up {
                revision: id.clone(),
            };
            if let Err(e) = step(scratch, &mut state, up) {
                problems.push(format!("upgrade {id} again after its downgrade: {e}"));
                return Ok(problems);
            }
            problems.extend(schema_problem(
                &format!("upgrade {id} again after its downgrade gives another schema"),
                &recorded[i + 1],
                &scratch.snapshot(set)?,
            ));
        }
        problems.extend(
            self.bookkeeping(
                scratch.driver(),
                set.config
                    .legacy
                    .write_marker_on_fresh
                    .then(|| i64::from(set.cap())),
            )?,
        );
        Ok(problems)
    }
}

fn sorted(list: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = list.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

/// `None` when equal; else `what: first difference (and N more)`.
fn schema_problem(what: &str, expected: &Schema, actual: &Schema) -> Option<String> {
    let differences = diff(expected, actual);
    let first = differences.first()?;
    let more = match differences.len() - 1 {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    };
    Some(format!("{what}: {first}{more}"))
}

/// Rows per table, ferry's own tables left out.
fn row_counts(set: &MigrationSet, driver: &mut dyn Driver) -> Result<BTreeMap<String, i64>> {
    let skip = [
        crate::bookkeeping::HISTORY_TABLE,
        set.config.revisions.version_table.as_str(),
    ];
    let mut counts = BTreeMap::new();
    let tables = driver
        .tables()
        .map_err(Error::reading("listing the tables"))?;
    for table in tables.into_iter().filter(|t| !skip.contains(&t.as_str())) {
        let rows = driver
            .query(&format!("SELECT COUNT(*) FROM {}", quote(&table)))
            .map_err(Error::reading(format!("counting the rows of {table}")))?;
        let n = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        counts.insert(table, n);
    }
    Ok(counts)
}

/// The dialects `upgrade-test` runs on: those the set supports (the dialects its `baseline/`
/// has), SQLite in memory and PostgreSQL on `server`. A set that supports PostgreSQL only needs
/// a server (exit 2 without one). Also returns a note on a server given and not used.
pub fn dialects(set: &MigrationSet, server: Option<&Site>) -> Result<(Vec<Site>, Option<String>)> {
    let supports = |d: Dialect| set.baselines.contains_key(&d);
    let mut on = Vec::new();
    let mut note = None;
    if supports(Dialect::Sqlite) {
        on.push(Site::from(&DatabaseUrl::SqliteMemory));
    }
    match server {
        Some(site) if supports(Dialect::Postgres) => on.push(site.clone()),
        Some(site) => {
            note = Some(format!(
                "the set supports SQLite only (baseline/ has no postgres.sql), so its cases ran on SQLite in memory; \
                 the PostgreSQL server of --database ({}) was not used",
                site.live.display()
            ));
        }
        None if on.is_empty() && supports(Dialect::Postgres) => {
            return Err(Error::Usage(
                "the set supports PostgreSQL only (baseline/ has postgres.sql and no sqlite.sql), so upgrade-test runs \
                 its cases on a PostgreSQL server: pass --database postgres://USER@HOST/DB naming one (each case gets \
                 a throwaway database there; that database itself is never touched)"
                    .into(),
            ));
        }
        None => {}
    }
    if on.is_empty() {
        return Err(Error::Usage(
            "the set has no baseline/ for any dialect (sqlite.sql, postgres.sql), so there is nothing to test".into(),
        ));
    }
    Ok((on, note))
}
