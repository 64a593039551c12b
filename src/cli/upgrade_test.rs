//! `ferry upgrade-test`: the release pipeline's proof that every old position still upgrades
//! to what a fresh install has.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::{Cli, Output};
use crate::core::graph::Graph;
use crate::core::release::{Releases, Requirement};
use crate::core::set::{MigrationSet, Origin};
use crate::driver::url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::fixture::TestDirs;
use crate::upgrade_test::{self, CaseResult};

pub const AFTER_HELP: &str = "\
For every legacy step (and a marker inside a gap), every superseded version ([test] superseded)
and a fresh install, upgrade-test builds the database with its seed data, upgrades it to head,
and checks: the schema equals a fresh install's, no table lost a seeded row or vanished, the
version table is at head, the legacy marker at the cap (or the superseded version). Then a
round trip: a fresh install goes up one revision at a time, down to the baseline one revision
at a time, and up again, its schema compared with the one recorded at each revision.

It builds its own databases and never touches an existing one, on the dialects the set
supports (those its baseline/ has): SQLite in memory; with --database postgres://… also
PostgreSQL, every case in a throwaway database on that server (the role needs CREATEDB, or
--scratch-url names a server or an empty database for them). A PostgreSQL-only set needs
--database. Exit 0 when every case passes, 1 when any fails (the path and its first problem
are named), 2 for bad input, 6 when the server is unreachable.

Examples:
  ferry upgrade-test                                    the whole matrix on SQLite
  ferry upgrade-test -d postgres://ci@localhost/ci      on SQLite and PostgreSQL
  ferry upgrade-test --releases '>=3.8'                 only the releases 3.8.0 and later
  ferry upgrade-test --migrations ./db --json           another project's set, as JSON";

#[derive(Debug, Args)]
pub struct UpgradeTestArgs {
    /// Test only the releases matching REQ (their legacy versions or revisions) instead of every
    /// legacy version; a bare version means that version (3.2 = any 3.2.x), or a semver
    /// requirement such as '>=3.8, <4'
    #[arg(long, value_name = "REQ")]
    releases: Option<String>,
    /// Directory of NNN.sql seed files, each run right after legacy step NNN (default:
    /// ferry.toml [test] seeds, relative to the set; the compiled-in set's are compiled in)
    #[arg(long, value_name = "DIR")]
    seeds: Option<PathBuf>,
    /// How many cases run at once (default: the number of CPUs)
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<usize>,
}

pub fn run(cli: &Cli, set: &MigrationSet, graph: &Graph, args: &UpgradeTestArgs) -> Result<Output> {
    // Only the option: a DATABASE_URL in a CI job's environment never sends it to a server.
    let server = match cli.database.as_deref().map(DatabaseUrl::parse) {
        None => None,
        Some(Err(e)) => return Err(Error::Usage(e)),
        Some(Ok(url @ DatabaseUrl::Postgres(_))) => Some(url),
        Some(Ok(url)) => {
            return Err(Error::Usage(format!(
                "upgrade-test builds its own databases (SQLite in memory) and never opens {}; \
                 give --database only a PostgreSQL URL, to also test on that server (in throwaway databases)",
                url.display()
            )));
        }
    };
    if cli.schema.is_some() {
        return Err(Error::Usage(
            "upgrade-test runs every case in a scratch database of its own; --schema does not apply"
                .into(),
        ));
    }
    if args.jobs == Some(0) {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    let server = match server {
        Some(url) => Some(super::scratch_site(cli, &url)?),
        None => None,
    };
    let (on, note) = upgrade_test::dialects(set, server.as_ref())?;
    let dirs = test_dirs(set, args.seeds.clone())?;
    let releases = Releases::of(set)?;
    let cases = match &args.releases {
        Some(text) => {
            let requirement = Requirement::parse(text)?;
            let matching = releases.matching_some(&requirement)?;
            upgrade_test::release_matrix(&upgrade_test::release_points(&matching))
        }
        None => {
            let all: Vec<_> = releases.all().iter().collect();
            upgrade_test::full_matrix(set, &upgrade_test::release_points(&all))
        }
    };
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let started = Instant::now();
    let results = upgrade_test::run(set, graph, &on, &cases, &dirs, jobs)?;
    let total = started.elapsed();
    let failed: Vec<&CaseResult> = results.iter().filter(|r| !r.ok).collect();

    let mut text = table(&results);
    let dialects: Vec<&str> = on.iter().map(|s| s.live.dialect().name()).collect();
    text.push_str(&format!(
        "\n{} cases on {}: {} passed, {} failed, in {:.1} s ({jobs} at a time)\n",
        results.len(),
        dialects.join(" and "),
        results.len() - failed.len(),
        failed.len(),
        total.as_secs_f64()
    ));
    if let Some(note) = &note {
        text.push_str(&format!("note: {note}\n"));
    }
    if dirs.seeds.is_none() {
        text.push_str("note: no seed data (ferry.toml has no [test] seeds and no --seeds was given): row checks compare empty tables\n");
    }
    for r in results.iter().filter(|r| !r.notes.is_empty()) {
        for note in &r.notes {
            text.push_str(&format!("note {} {}: {note}\n", r.dialect, r.path));
        }
    }
    for f in &failed {
        text.push_str(&format!(
            "FAILED {} {}: {}\n",
            f.dialect,
            f.path,
            f.problems.first().map_or("", String::as_str)
        ));
    }
    Ok(Output {
        text,
        json: json!({
            "dialects": dialects, "cases": results, "passed": results.len() - failed.len(),
            "failed": failed.len(), "all_passed": failed.is_empty(), "total_ms": total.as_millis(),
            "jobs": jobs, "note": note, "seeds": dirs.seeds.as_ref().map(|d| d.location()),
        }),
        code: u8::from(!failed.is_empty()),
    })
}

/// The seed and superseded directories; configured ones must exist, or the row checks and the
/// superseded cases would prove nothing.
fn test_dirs(set: &MigrationSet, seeds: Option<PathBuf>) -> Result<TestDirs> {
    let explicit = seeds.is_some();
    let dirs = TestDirs::of(set, seeds);
    let hint = match &set.origin {
        Origin::Embedded => {
            "the compiled-in set carries the [test] directories that existed when it was built: build it with them, or pass --migrations DIR"
        }
        Origin::Dir(_) => "they are relative to the set directory",
    };
    match (&dirs.seeds, &set.config.test.seeds) {
        (Some(dir), _) if explicit && !dir.exists() => {
            return Err(Error::Usage(format!(
                "--seeds {}: no such directory",
                dir.display()
            )));
        }
        (None, Some(configured)) => {
            return Err(Error::Usage(format!(
                "ferry.toml [test] seeds = {configured:?}, but there is no such directory; {hint} (or --seeds DIR)"
            )));
        }
        _ => {}
    }
    if !set.superseded.is_empty() && !dirs.superseded.as_ref().is_some_and(|d| d.exists()) {
        return Err(Error::Usage(format!(
            "the set has superseded versions ({}) but no [test] superseded directory with what pre-release builds ran{}; {hint}",
            set.superseded
                .keys()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            dirs.superseded
                .as_ref()
                .map(|d| format!(" (looked in {})", d.display()))
                .unwrap_or_default()
        )));
    }
    Ok(dirs)
}

fn table(results: &[CaseResult]) -> String {
    let width = results
        .iter()
        .map(|r| r.path.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = format!(
        "{:<8}  {:<width$}  {:<6}  {:>8}  first problem\n",
        "dialect", "path", "result", "time"
    );
    for r in results {
        text.push_str(&format!(
            "{:<8}  {:<width$}  {:<6}  {:>5} ms  {}\n",
            r.dialect,
            r.path,
            if r.ok { "ok" } else { "FAILED" },
            r.duration_ms,
            r.problems.first().map_or("", String::as_str)
        ));
    }
    text
}
