//! `ferry fixture`: a database exactly as a legacy version, a revision or a release left it.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};
use serde_json::json;

use super::{Cli, Output, database_url, open, runner};
use crate::core::graph::Graph;
use crate::core::release::{Releases, Requirement};
use crate::core::set::MigrationSet;
use crate::core::state::Position;
use crate::driver::url::DatabaseUrl;
use crate::driver::{self, OpenOptions, literal, quote};
use crate::error::{Error, Result};
use crate::fixture::{self, Built, Seed, TestDirs};

pub const AFTER_HELP: &str = "\
A revision or release on a revision is built the way an old installation got there: the legacy
chain (every step up to the cap) with its seeds, the baseline stamp, then each revision up to the target — so seed
files of legacy steps apply to revision fixtures too, and rows ride every step.

The database must be empty (a new or empty SQLite file, an empty PostgreSQL database, or with
--schema a schema, created when missing); anything else is refused with exit 3. When the build
fails, a SQLite file or a PostgreSQL schema that this command created is removed again.

Examples:
  ferry fixture --legacy 7 old.db                    legacy 7, seeded from ferry.toml [test] seeds
  ferry fixture --release 3.2 old.db                 the newest 3.2.x release
  ferry fixture --revision 0003 -d postgres://u@h/app --schema v41
  ferry fixture --legacy 12 --seed 3=users.sql --seed extra.sql old.db
                                                     users.sql after legacy step 3, extra.sql at the end";

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("point").required(true).args(["legacy", "revision", "release"])))]
pub struct FixtureArgs {
    /// The legacy version: a step number (0 = empty), or a superseded version above the cap
    #[arg(long, value_name = "N")]
    legacy: Option<i64>,
    /// A revision id or unique prefix (or `head`): the legacy chain, the baseline stamp, then
    /// the revisions up to it
    #[arg(long, value_name = "REV")]
    revision: Option<String>,
    /// A release from ferry.toml: a version or semver requirement, the newest match wins
    /// (a bare version means that version: 3.2 = =3.2 = any 3.2.x)
    #[arg(long, value_name = "X.Y.Z")]
    release: Option<String>,
    /// Directory of NNN.sql seed files, each run right after legacy step NNN (default: ferry.toml [test] seeds)
    #[arg(long, value_name = "DIR")]
    seeds: Option<PathBuf>,
    /// Also run FILE's SQL right after step AT (a legacy number or a revision id), or without
    /// AT after the last step; repeatable, run in the order given
    #[arg(long = "seed", value_name = "[AT=]FILE")]
    seed: Vec<String>,
    /// Where to write it: a SQLite file (default: --database); must not exist yet or be empty
    #[arg(value_name = "OUT")]
    out: Option<String>,
}

pub fn run(cli: &Cli, set: &MigrationSet, graph: &Graph, args: &FixtureArgs) -> Result<Output> {
    // Everything that can be refused is checked before a file or schema is created.
    let (target, release) = target(set, graph, args)?;
    let seeds = args
        .seed
        .iter()
        .map(|s| Seed::parse(s, graph))
        .collect::<Result<Vec<_>>>()?;
    fixture::check_seeds(set, graph, &target, &seeds)?;
    let url = database_url(cli, args.out.as_deref())?;
    let dirs = TestDirs::of(set, args.seeds.clone());
    if let Some(dir) = &args.seeds
        && !dir.is_dir()
    {
        return Err(Error::Usage(format!(
            "--seeds {}: no such directory",
            dir.display()
        )));
    }

    let created = Created::before(cli, &url)?;
    let built = build(cli, set, graph, &url, &target, &dirs, &seeds);
    let built = match built {
        Ok(b) => b,
        Err(e) => {
            let after = created.remove(&url);
            return Err(match e {
                Error::StepFailed {
                    step,
                    position,
                    source,
                    ..
                } => Error::FixtureFailed {
                    step,
                    source,
                    after: after.unwrap_or_else(|| {
                        format!(
                            "{} is left at {position}, partly built; empty it before building a fixture there again",
                            url.display()
                        )
                    }),
                },
                other => other,
            });
        }
    };

    let shown = target.describe(set);
    let release_text = release
        .as_ref()
        .map(|r| format!(" (release {r})"))
        .unwrap_or_default();
    let mut text = format!(
        "{}: built as {shown}{release_text} ({} steps",
        url.display(),
        built.report.steps.len()
    );
    if built.seeds.is_empty() {
        text.push_str(", no seed files)\n");
    } else {
        text.push_str(&format!(
            ", {} seed files: {})\n",
            built.seeds.len(),
            built.seeds.join(", ")
        ));
    }
    let (legacy_version, revisions) = match &target {
        Position::Legacy(n) => (Some(*n), None),
        Position::Revisions(_) => (None, Some(&built.report.heads)),
    };
    Ok(Output::ok(
        text,
        json!({
            "database": url.display(), "target": shown, "legacy_version": legacy_version,
            "revisions": revisions, "release": release, "steps": built.report.steps, "seeds": built.seeds,
        }),
    ))
}

/// The point to build, and the release it was chosen by.
fn target(
    set: &MigrationSet,
    graph: &Graph,
    args: &FixtureArgs,
) -> Result<(Position, Option<String>)> {
    if let Some(n) = args.legacy {
        let (to, superseded) = fixture::replay_target(set, n)?;
        return Ok((Position::Legacy(superseded.unwrap_or(to)), None));
    }
    if let Some(spec) = &args.revision {
        let nodes = graph.resolve(spec, &[])?;
        let ids = nodes.iter().map(|&n| graph.id(n).to_string()).collect();
        return Ok((Position::Revisions(ids), None));
    }
    let text = args.release.as_deref().unwrap_or_default();
    let requirement = Requirement::parse(text)?;
    let releases = Releases::of(set)?;
    let release = releases.newest(&requirement)?;
    Ok((release.position.clone(), Some(release.version.to_string())))
}

fn build(
    cli: &Cli,
    set: &MigrationSet,
    graph: &Graph,
    url: &DatabaseUrl,
    target: &Position,
    dirs: &TestDirs,
    seeds: &[Seed],
) -> Result<Built> {
    let mut db = open(cli, url, true)?;
    let mut runner = runner(cli, set, graph, db.as_mut(), false);
    fixture::build_installed(&mut runner, target, dirs, seeds)
}

/// What this command creates, to remove it again when the build fails.
enum Created {
    Nothing,
    File(PathBuf),
    Schema(Box<dyn driver::Driver>, String),
}

impl Created {
    fn before(cli: &Cli, url: &DatabaseUrl) -> Result<Created> {
        match (url, &cli.schema) {
            (DatabaseUrl::SqliteFile(path, _), _) if !path.exists() => {
                Ok(Created::File(path.clone()))
            }
            (DatabaseUrl::Postgres(_), Some(schema)) => {
                let mut db = open_plain(url)?;
                let rows = db
                    .query(&format!(
                        "SELECT 1 FROM pg_namespace WHERE nspname = {}",
                        literal(schema)
                    ))
                    .map_err(Error::reading("looking for the schema"))?;
                Ok(if rows.is_empty() {
                    Created::Schema(db, schema.clone())
                } else {
                    Created::Nothing
                })
            }
            _ => Ok(Created::Nothing),
        }
    }

    /// Removes what was created; says so, or `None` when nothing was.
    fn remove(self, url: &DatabaseUrl) -> Option<String> {
        match self {
            Created::Nothing => None,
            Created::File(path) => {
                for suffix in ["", "-journal", "-wal", "-shm"] {
                    let mut name = path.as_os_str().to_owned();
                    name.push(suffix);
                    let _ = std::fs::remove_file(Path::new(&name));
                }
                Some(format!(
                    "{} was created by this command and is removed again",
                    url.display()
                ))
            }
            Created::Schema(mut db, schema) => {
                let dropped =
                    db.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(&schema)));
                Some(match dropped {
                    Ok(()) => format!(
                        "the schema {schema} was created by this command and is dropped again"
                    ),
                    Err(e) => format!(
                        "the schema {schema} was created by this command, and dropping it failed: {e}"
                    ),
                })
            }
        }
    }
}

fn open_plain(url: &DatabaseUrl) -> Result<Box<dyn driver::Driver>> {
    driver::open(
        url,
        &OpenOptions {
            create: false,
            schema: None,
            busy_timeout: std::time::Duration::from_secs(5),
        },
    )
}
