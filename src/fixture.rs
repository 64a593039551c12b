//! Fixtures: databases built exactly as an old legacy version left them, for tests, release
//! pipelines and anyone who wants to watch the bridge work.

use std::path::{Path, PathBuf};

use crate::core::plan::{Plan, Step};
use crate::core::set::{Dialect, MigrationSet, Origin};
use crate::core::state::State;
use crate::error::{Error, Result};
use crate::runner::{RunReport, Runner, describe};

/// Where a set's test data lives: `[test]` of ferry.toml, relative to the set directory (the
/// current directory for the compiled-in set), unless given explicitly.
#[derive(Debug, Clone, Default)]
pub struct TestDirs {
    pub seeds: Option<PathBuf>,
    pub superseded: Option<PathBuf>,
}

impl TestDirs {
    pub fn of(set: &MigrationSet, seeds: Option<PathBuf>) -> TestDirs {
        let root = match &set.origin {
            Origin::Dir(d) => d.clone(),
            Origin::Embedded => PathBuf::from("."),
        };
        TestDirs {
            seeds: seeds.or_else(|| {
                set.config
                    .test
                    .seeds
                    .as_ref()
                    .map(|s| root.join(s))
                    .filter(|p| p.is_dir())
            }),
            superseded: set.config.test.superseded.as_ref().map(|s| root.join(s)),
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
/// the superseded version to write on top. Checked before the database is opened or created.
pub fn replay_target(set: &MigrationSet, n: i64) -> Result<(u32, Option<u32>)> {
    let cap = set.cap();
    let superseded = u32::try_from(n)
        .ok()
        .filter(|v| set.superseded.contains_key(v));
    match u32::try_from(n) {
        Ok(v) if v <= cap => Ok((v, None)),
        Ok(_) if superseded.is_some() => Ok((cap, superseded)),
        _ => Err(Error::Usage(format!(
            "--legacy {n}: a legacy version is 0..={cap} or a superseded version ({})",
            set.superseded
                .keys()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A point of the migration set a database can be built at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Legacy version N (0 = empty), or a superseded version above the cap.
    Legacy(i64),
    /// A fresh install upgraded to these revisions (one per head).
    Revisions(Vec<String>),
}

impl Target {
    /// Where a database in `state` stands; `None` for states without a defined schema.
    pub fn of_state(state: &State) -> Option<Target> {
        match state {
            State::Empty => Some(Target::Legacy(0)),
            State::Legacy { version } | State::Superseded { version, .. } => {
                Some(Target::Legacy(i64::from(*version)))
            }
            State::Managed { heads } => Some(Target::Revisions(heads.clone())),
            _ => None,
        }
    }
}

/// Builds `target` in an empty database (seed files run right after their legacy steps).
pub fn build(runner: &mut Runner<'_>, target: &Target, dirs: &TestDirs) -> Result<RunReport> {
    match target {
        Target::Legacy(n) => legacy(runner, *n, dirs),
        Target::Revisions(revisions) => {
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

/// Runs legacy step `number` (and its seed file) on a database at legacy `number - 1`.
pub fn extend_legacy(runner: &mut Runner<'_>, number: u32, dirs: &TestDirs) -> Result<RunReport> {
    runner.backup = crate::runner::BackupPolicy::Off;
    runner.locked(|r| {
        let state = if number == 1 {
            State::Empty
        } else {
            State::Legacy {
                version: number - 1,
            }
        };
        let found = r.detect()?;
        if found != state {
            return Err(Error::Refused {
                state: found.name(),
                reason: format!(
                    "legacy step {number} extends legacy {}, and this database is {}",
                    number - 1,
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
    if let Some(dir) = &dirs.seeds
        && let Some((path, sql)) = numbered_file(dir, number, r.driver.dialect())?
    {
        r.transaction(
            &format!("seed {}", path.display()),
            &format!("legacy {number}"),
            |d| d.execute(&sql),
        )?;
    }
    Ok(report)
}

/// Builds legacy version `n` (0..=cap, or a superseded version above the cap) in an empty
/// database, running each seed file right after its step.
pub fn legacy(runner: &mut Runner<'_>, n: i64, dirs: &TestDirs) -> Result<RunReport> {
    let set = runner.set;
    let (replay_to, superseded) = replay_target(set, n)?;
    // The database starts empty: there is nothing a backup could protect.
    runner.backup = crate::runner::BackupPolicy::Off;
    runner.locked(|r| {
        let before = r.detect()?;
        refuse_unless_empty(&before)?;
        let dialect = r.driver.dialect();
        let mut steps = Vec::new();
        let mut state = before.clone();
        for number in 1..=replay_to {
            steps.extend(replay_one(r, number, dirs, state)?.steps);
            state = State::Legacy { version: number };
        }
        if let Some(version) = superseded {
            let dir = dirs.superseded.as_ref().ok_or_else(|| {
                Error::Usage("ferry.toml has no [test] superseded directory with what pre-release builds ran".into())
            })?;
            let (path, sql) = numbered_file(dir, version, dialect)?.ok_or_else(|| {
                Error::Usage(format!("no {version:03}.sql (or {version:03}.{}.sql) in {}", dialect.name(), dir.display()))
            })?;
            let marker = crate::bookkeeping::marker_sql(set, dialect, version)?;
            r.transaction(&format!("pre-release legacy {version} ({})", path.display()), &describe(&state), |d| {
                d.execute(&sql)?;
                d.execute(&marker)
            })?;
        }
        Ok(RunReport {
            before,
            steps,
            heads: Vec::new(),
            backup: None,
        })
    })
}
