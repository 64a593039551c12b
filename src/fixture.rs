//! Fixtures: databases built exactly as an old legacy version left them, for tests, release
//! pipelines and anyone who wants to watch the bridge work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::core::graph::Graph;
use crate::core::plan::{Plan, Step};
use crate::core::set::{Dialect, MigrationSet, Origin, Text, test_dir_key};
use crate::core::state::{Position, State};
use crate::error::{Error, Result};
use crate::runner::{RunReport, Runner, describe};

/// Where a set's test data lives: `[test]` of ferry.toml — relative to the set directory, or
/// compiled in with an embedded set — unless given explicitly.
#[derive(Debug, Clone, Default)]
pub struct TestDirs {
    pub seeds: Option<TestDir>,
    pub superseded: Option<TestDir>,
}

/// A directory of numbered SQL files (`NNN.sql`, `NNN.<dialect>.sql`).
#[derive(Debug, Clone)]
pub enum TestDir {
    Disk(PathBuf),
    /// Compiled in with the set: the directory as ferry.toml names it, and its files (file
    /// name → contents).
    Embedded {
        dir: String,
        files: BTreeMap<String, Text>,
    },
}

impl TestDir {
    /// Whether there is such a directory (an embedded one exists once it has files).
    pub fn exists(&self) -> bool {
        match self {
            TestDir::Disk(p) => p.is_dir(),
            TestDir::Embedded { files, .. } => !files.is_empty(),
        }
    }

    /// The directory, for messages.
    pub fn display(&self) -> String {
        match self {
            TestDir::Disk(p) => p.display().to_string(),
            TestDir::Embedded { dir, .. } => format!("{dir} (compiled in)"),
        }
    }

    /// The directory as a path: on disk, or relative to the set root for a compiled-in one.
    pub fn location(&self) -> String {
        match self {
            TestDir::Disk(p) => p.display().to_string(),
            TestDir::Embedded { dir, .. } => dir.clone(),
        }
    }

    /// `NNN.<dialect>.sql`, else `NNN.sql`: (its path for messages, its SQL).
    pub fn numbered(&self, number: u32, dialect: Dialect) -> Result<Option<(String, String)>> {
        match self {
            TestDir::Disk(dir) => Ok(numbered_file(dir, number, dialect)?
                .map(|(path, sql)| (path.display().to_string(), sql))),
            TestDir::Embedded { dir, files } => Ok([
                format!("{number:03}.{}.sql", dialect.name()),
                format!("{number:03}.sql"),
            ]
            .into_iter()
            .find_map(|name| {
                files
                    .get(&name)
                    .map(|sql| (format!("{dir}/{name}"), sql.to_string()))
            })),
        }
    }
}

impl TestDirs {
    /// The set's `[test]` directories, `seeds` overriding its seeds: on disk relative to the
    /// set directory, or compiled in with an embedded set (never read from the current
    /// directory, so they work wherever the binary runs).
    pub fn of(set: &MigrationSet, seeds: Option<PathBuf>) -> TestDirs {
        let configured = |dir: &Option<String>| -> Option<TestDir> {
            let dir = dir.as_ref()?;
            Some(match &set.origin {
                Origin::Dir(root) => TestDir::Disk(root.join(dir)),
                Origin::Embedded => {
                    let key = test_dir_key(dir);
                    let files = set
                        .test_files
                        .iter()
                        .filter_map(|(path, text)| {
                            let name = path.strip_prefix(key.as_str())?.strip_prefix('/')?;
                            Some((name.to_string(), text.clone()))
                        })
                        .collect();
                    TestDir::Embedded {
                        dir: dir.clone(),
                        files,
                    }
                }
            })
        };
        TestDirs {
            seeds: seeds
                .map(TestDir::Disk)
                .or_else(|| configured(&set.config.test.seeds).filter(TestDir::exists)),
            superseded: configured(&set.config.test.superseded),
        }
    }
}

/// `NNN.<dialect>.sql`, else `NNN.sql`, in `dir`.
pub fn numbered_file(
    dir: &Path,
    number: u32,
    dialect: Dialect,
) -> Result<Option<(PathBuf, String)>> {
    for name in [
        format!("{number:03}.{}.sql", dialect.name()),
        format!("{number:03}.sql"),
    ] {
        let path = dir.join(name);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            return Ok(Some((path, text)));
        }
    }
    Ok(None)
}

/// What building legacy `n` replays: the chain up to (n, or the cap for a superseded n), and
/// the superseded version to write on top. `n` is 0 (empty), a step number or a superseded
/// version. Checked before the database is opened or created.
pub fn replay_target(set: &MigrationSet, n: i64) -> Result<(u32, Option<u32>)> {
    let cap = set.cap();
    let superseded = u32::try_from(n)
        .ok()
        .filter(|v| set.superseded.contains_key(v));
    match u32::try_from(n) {
        Ok(v) if v == 0 || set.step(v).is_some() => Ok((v, None)),
        Ok(_) if superseded.is_some() => Ok((cap, superseded)),
        _ => {
            let contiguous = set.floor() == 1 && set.legacy.len() as u64 == u64::from(cap);
            let steps = if contiguous {
                format!("0..={cap}")
            } else {
                format!("0 (empty) or a step number ({})", set.steps_text())
            };
            Err(Error::Usage(format!(
                "--legacy {n}: a legacy version is {steps} or a superseded version ({})",
                set.superseded
                    .keys()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// The legacy step that runs right before step `number`: `None` when it is the first.
fn step_before(set: &MigrationSet, number: u32) -> Option<u32> {
    set.legacy
        .iter()
        .map(|s| s.number)
        .take_while(|&n| n < number)
        .last()
}

/// Builds `target` in an empty database (seed files run right after their legacy steps).
pub fn build(runner: &mut Runner<'_>, target: &Position, dirs: &TestDirs) -> Result<RunReport> {
    match target {
        Position::Legacy(_) => Ok(build_installed(runner, target, dirs, &[])?.report),
        Position::Revisions(revisions) => {
            for r in revisions {
                runner.graph.lookup(r)?;
            }
            runner.backup = crate::runner::BackupPolicy::Off;
            runner.locked(|r| {
                let before = r.detect()?;
                refuse_unless_empty(&before)?;
                let mut steps = Vec::new();
                for revision in revisions {
                    let state = r.detect()?;
                    let plan = crate::core::plan::upgrade(r.set, r.graph, &state, revision)?;
                    steps.extend(r.execute(state, &plan)?.steps);
                }
                let heads = match r.detect()? {
                    State::Managed { heads } => heads,
                    _ => Vec::new(),
                };
                Ok(RunReport {
                    before,
                    steps,
                    heads,
                    backup: None,
                })
            })
        }
    }
}

fn refuse_unless_empty(state: &State) -> Result<()> {
    if *state == State::Empty {
        return Ok(());
    }
    Err(Error::Refused {
        state: state.name(),
        reason: format!(
            "a fixture is built in an empty database only, and this one is {}",
            describe(state)
        ),
    })
}

/// Runs legacy step `number` (and its seed file) on a database at the step before it (empty
/// for the first step).
pub fn extend_legacy(runner: &mut Runner<'_>, number: u32, dirs: &TestDirs) -> Result<RunReport> {
    runner.backup = crate::runner::BackupPolicy::Off;
    let before = step_before(runner.set, number);
    runner.locked(|r| {
        let state = match before {
            None => State::Empty,
            Some(version) => State::Legacy { version },
        };
        let found = r.detect()?;
        if found != state {
            return Err(Error::Refused {
                state: found.name(),
                reason: format!(
                    "legacy step {number} extends {}, and this database is {}",
                    describe(&state),
                    describe(&found)
                ),
            });
        }
        replay_one(r, number, dirs, state)
    })
}

/// One legacy step and then its seed file, each in its own transaction.
fn replay_one(r: &mut Runner<'_>, number: u32, dirs: &TestDirs, state: State) -> Result<RunReport> {
    let plan = Plan {
        steps: vec![Step::Legacy { number }],
        heads_after: Vec::new(),
    };
    let report = r.execute(state, &plan)?;
    dir_seed(r, number, dirs)?;
    Ok(report)
}

/// Runs `NNN.sql` (or `NNN.<dialect>.sql`) of the seeds directory, if there is one; returns
/// its path.
fn dir_seed(r: &mut Runner<'_>, number: u32, dirs: &TestDirs) -> Result<Option<String>> {
    let Some(dir) = &dirs.seeds else {
        return Ok(None);
    };
    let Some((shown, sql)) = dir.numbered(number, r.driver.dialect())? else {
        return Ok(None);
    };
    r.transaction(&format!("seed {shown}"), &format!("legacy {number}"), |d| {
        d.execute(&sql)
    })?;
    Ok(Some(shown))
}

/// Builds legacy version `n` (0, a step number, or a superseded version above the cap) in an empty
/// database, running each seed file right after its step.
pub fn legacy(runner: &mut Runner<'_>, n: i64, dirs: &TestDirs) -> Result<RunReport> {
    let (to, superseded) = replay_target(runner.set, n)?;
    let position = Position::Legacy(superseded.unwrap_or(to));
    Ok(build_installed(runner, &position, dirs, &[])?.report)
}

/// Where on a fixture's way a `--seed` file runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedPoint {
    /// Right after legacy step N (or the pre-release step of superseded version N).
    Legacy(u32),
    /// Right after revision R is applied (for the baseline: right after its stamp).
    Revision(String),
    /// After the last step.
    End,
}

/// A seed file given on the command line (`--seed [AT=]FILE`).
#[derive(Debug, Clone)]
pub struct Seed {
    pub at: SeedPoint,
    pub path: PathBuf,
    pub sql: String,
}

impl Seed {
    /// Parses `[AT=]FILE` (AT: a legacy step number, or a revision id or unique prefix) and
    /// reads FILE. A FILE whose own name holds `=` is taken whole when it exists.
    pub fn parse(spec: &str, graph: &Graph) -> Result<Seed> {
        let usage = |m: String| Error::Usage(format!("--seed {spec}: {m}"));
        let (at, file) = if Path::new(spec).is_file() {
            (SeedPoint::End, spec)
        } else if let Some((at, file)) = spec.split_once('=') {
            let at = at.trim();
            let numeric = !at.is_empty() && at.bytes().all(|b| b.is_ascii_digit());
            let prefixed: Vec<usize> = (0..graph.len())
                .filter(|&n| graph.id(n).starts_with(at))
                .collect();
            if numeric && !prefixed.is_empty() && graph.node(at).is_none() {
                return Err(usage(format!(
                    "{at} could be legacy step {} or revision {}: write the legacy number without leading zeros, or the revision's full id",
                    at.trim_start_matches('0'),
                    graph.names(&prefixed)
                )));
            }
            let point = if numeric && graph.node(at).is_none() {
                match at.parse::<u32>() {
                    Ok(n) if n >= 1 => SeedPoint::Legacy(n),
                    _ => {
                        return Err(usage(format!(
                            "{at} is not a legacy step; steps are numbered from 1 (a seed with no AT= runs after the last step)"
                        )));
                    }
                }
            } else {
                let node = graph.lookup(at).map_err(|e| {
                    usage(format!(
                        "AT must be a legacy step number or a revision id: {e}"
                    ))
                })?;
                SeedPoint::Revision(graph.id(node).to_string())
            };
            (point, file)
        } else {
            (SeedPoint::End, spec)
        };
        let path = PathBuf::from(file);
        let sql = std::fs::read_to_string(&path).map_err(|e| {
            usage(format!(
                "cannot read {}: {e} (write --seed FILE, or --seed AT=FILE with AT a legacy number or a revision id)",
                path.display()
            ))
        })?;
        Ok(Seed { at, path, sql })
    }
}

/// Checks, before any database is opened, that every seed's point lies on the way to `target`.
pub fn check_seeds(
    set: &MigrationSet,
    graph: &Graph,
    target: &Position,
    seeds: &[Seed],
) -> Result<()> {
    let (last_legacy, superseded, revisions) = way(set, graph, target)?;
    let on_way = graph.ancestors(&revisions);
    for seed in seeds {
        let fits = match &seed.at {
            SeedPoint::End => true,
            SeedPoint::Legacy(k) => {
                (*k <= last_legacy && set.step(*k).is_some()) || Some(*k) == superseded
            }
            SeedPoint::Revision(r) => {
                !revisions.is_empty() && graph.node(r).is_some_and(|n| on_way[n])
            }
        };
        if !fits {
            let at = match &seed.at {
                SeedPoint::Legacy(k) => format!("legacy step {k}"),
                SeedPoint::Revision(r) => format!("revision {r}"),
                SeedPoint::End => String::new(),
            };
            let through: Vec<u32> = set
                .step_numbers()
                .into_iter()
                .take_while(|&n| n <= last_legacy)
                .collect();
            let steps = crate::core::set::compact_versions(&through);
            let runs = match (revisions.is_empty(), superseded) {
                (true, None) => format!("legacy steps {steps}"),
                (true, Some(v)) => format!("legacy steps {steps} and pre-release {v}"),
                (false, _) => format!(
                    "legacy steps {steps}, the stamp of {} and revisions up to {}",
                    set.baseline_id(),
                    graph.names(&revisions)
                ),
            };
            return Err(Error::Usage(format!(
                "--seed {}: {at} is not on the way to {} (the fixture runs {runs})",
                seed.path.display(),
                target.describe(set)
            )));
        }
    }
    Ok(())
}

/// What building `target` runs: the legacy steps up to N, a superseded version on top, and the
/// revision nodes it ends at (none for a legacy target). N may lie inside a gap of the chain
/// (a release or a test case there): the steps below it run, then the marker is set to N.
fn way(
    set: &MigrationSet,
    graph: &Graph,
    target: &Position,
) -> Result<(u32, Option<u32>, Vec<usize>)> {
    match target {
        Position::Legacy(n) if (set.floor()..=set.cap()).contains(n) => Ok((*n, None, Vec::new())),
        Position::Legacy(n) if *n > 0 && *n < set.floor() => Err(Error::Refused {
            state: "legacy",
            reason: crate::core::state::too_old(set, *n),
        }),
        Position::Legacy(n) => {
            let (to, superseded) = replay_target(set, i64::from(*n))?;
            Ok((to, superseded, Vec::new()))
        }
        Position::Revisions(revisions) => {
            let nodes = revisions
                .iter()
                .map(|r| graph.lookup(r))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((set.cap(), None, nodes))
        }
    }
}

/// A fixture built by [`build_installed`]: what ran, and the seed files, in order.
#[derive(Debug, Clone)]
pub struct Built {
    pub report: RunReport,
    pub seeds: Vec<String>,
}

/// Builds `target` in an empty database the way an old installation got there: the legacy
/// chain (each step followed by its seeds), then — for a revision target — the baseline stamp
/// and the revisions up to it one at a time, so seed data rides the whole way. (`build` instead
/// reaches revisions by a fresh install: the schema is the same, but no legacy seed applies.)
pub fn build_installed(
    runner: &mut Runner<'_>,
    target: &Position,
    dirs: &TestDirs,
    seeds: &[Seed],
) -> Result<Built> {
    let set = runner.set;
    let graph = runner.graph;
    let (replay_to, superseded, revisions) = way(set, graph, target)?;
    check_seeds(set, graph, target, seeds)?;
    // The database starts empty: there is nothing a backup could protect.
    runner.backup = crate::runner::BackupPolicy::Off;
    runner.locked(|r| {
        let before = r.detect()?;
        refuse_unless_empty(&before)?;
        let dialect = r.driver.dialect();
        let mut ran = Vec::new();
        let mut steps = Vec::new();
        let mut state = before.clone();
        for number in set.step_numbers().into_iter().take_while(|&n| n <= replay_to) {
            let plan = Plan {
                steps: vec![Step::Legacy { number }],
                heads_after: Vec::new(),
            };
            steps.extend(r.execute(state, &plan)?.steps);
            state = State::Legacy { version: number };
            ran.extend(dir_seed(r, number, dirs)?);
            ran.extend(run_seeds(r, seeds, &SeedPoint::Legacy(number), &state)?);
        }
        if replay_to > 0 && set.step(replay_to).is_none() {
            // A version inside a gap of the chain: no step leaves it, a build that was abandoned did.
            let marker = crate::bookkeeping::marker_sql(set, &crate::bookkeeping::Books::of(r.driver), replay_to)?;
            r.transaction(&format!("legacy marker {replay_to} (inside a gap of the chain)"), &describe(&state), |d| {
                d.execute(&marker)
            })?;
            state = State::Legacy { version: replay_to };
        }
        if let Some(version) = superseded {
            let dir = dirs.superseded.as_ref().ok_or_else(|| {
                Error::Usage("ferry.toml has no [test] superseded directory with what pre-release builds ran".into())
            })?;
            let (path, sql) = dir.numbered(version, dialect)?.ok_or_else(|| {
                Error::Usage(format!("no {version:03}.sql (or {version:03}.{}.sql) in {}", dialect.name(), dir.display()))
            })?;
            let marker = crate::bookkeeping::marker_sql(set, &crate::bookkeeping::Books::of(r.driver), version)?;
            r.transaction(&format!("pre-release legacy {version} ({})", path), &describe(&state), |d| {
                d.execute(&sql)?;
                d.execute(&marker)
            })?;
            state = State::Superseded {
                version,
                revision: set.superseded.get(&version).cloned().unwrap_or_default(),
            };
            ran.extend(dir_seed(r, version, dirs)?);
            ran.extend(run_seeds(r, seeds, &SeedPoint::Legacy(version), &state)?);
        }
        let mut heads = Vec::new();
        if !revisions.is_empty() {
            let baseline = set.baseline_id().to_string();
            let plan = Plan {
                steps: vec![Step::Stamp {
                    revision: baseline.clone(),
                }],
                heads_after: vec![baseline.clone()],
            };
            let report = r.execute(state, &plan)?;
            steps.extend(report.steps);
            heads = report.heads;
            state = State::Managed {
                heads: heads.clone(),
            };
            ran.extend(run_seeds(r, seeds, &SeedPoint::Revision(baseline), &state)?);
            for node in graph.upgrade_path(&[0], &revisions) {
                let id = graph.id(node).to_string();
                let plan = Plan {
                    steps: vec![Step::Up {
                        revision: id.clone(),
                    }],
                    heads_after: Vec::new(),
                };
                let report = r.execute(state, &plan)?;
                steps.extend(report.steps);
                heads = report.heads;
                state = State::Managed {
                    heads: heads.clone(),
                };
                ran.extend(run_seeds(r, seeds, &SeedPoint::Revision(id), &state)?);
            }
        }
        ran.extend(run_seeds(r, seeds, &SeedPoint::End, &state)?);
        Ok(Built {
            report: RunReport {
                before,
                steps,
                heads,
                backup: None,
            },
            seeds: ran,
        })
    })
}

/// Runs the seeds given for `point`, in the order given, each in its own transaction.
fn run_seeds(
    r: &mut Runner<'_>,
    seeds: &[Seed],
    point: &SeedPoint,
    state: &State,
) -> Result<Vec<String>> {
    let mut ran = Vec::new();
    for seed in seeds.iter().filter(|s| &s.at == point) {
        let shown = seed.path.display().to_string();
        r.transaction(&format!("seed {shown}"), &describe(state), |d| {
            d.execute(&seed.sql)
        })?;
        ran.push(shown);
    }
    Ok(ran)
}
