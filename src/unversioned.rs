//! Unversioned databases (tables, but no marker and no version table): identifying the legacy
//! version whose schema they have, and `upgrade --assume-legacy N`, which records that version
//! once the schema is checked, under the run's lock.

use std::time::Instant;

use serde::Serialize;

use crate::bookkeeping::{self, HistoryRow};
use crate::core::graph::Graph;
use crate::core::identify::{self, Identification};
use crate::core::plan;
use crate::core::schema::{Difference, Schema, Scope, diff};
use crate::core::set::MigrationSet;
use crate::core::state::Position;
use crate::core::state::{State, unversioned_refusal};
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::fixture::TestDirs;
use crate::runner::{Runner, describe};
use crate::scratch::{self, Scratch, Site};

/// `upgrade --assume-legacy N [--force]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssumeLegacy {
    /// The legacy version the database is taken to be at (1..=cap).
    pub version: u32,
    /// Proceed even when the schema differs from legacy `version`'s.
    pub force: bool,
}

/// What `--assume-legacy` found and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assumed {
    pub version: u32,
    /// How the live schema differs from legacy `version`'s; empty unless forced.
    pub differences: Vec<Difference>,
    pub forced: bool,
    /// The `ferry_history` note.
    pub note: String,
}

/// The live schema as a comparison sees it (ferry's tables and the marker's left out): the
/// managed schema, and the other schemas and extensions `scope` names (those an expected
/// schema covers, so unrelated ones are no differences).
pub fn live_schema(set: &MigrationSet, driver: &mut dyn Driver, scope: &Scope) -> Result<Schema> {
    driver
        .snapshot_in(&bookkeeping::skipped_tables(set), scope)
        .map_err(Error::reading("reading the database's schema"))
}

/// What identification is called in messages.
pub const IDENTIFYING: &str = "identifying the unversioned database's legacy version";

/// Which legacy version's schema the database has: the whole chain is replayed once in a
/// scratch database at `site`, and each version compared with the live schema.
pub fn identify(
    set: &MigrationSet,
    graph: &Graph,
    site: &Site,
    driver: &mut dyn Driver,
) -> Result<Option<Identification>> {
    let legacy = scratch::legacy_schemas(set, graph, site, IDENTIFYING)?;
    let live = live_schema(set, driver, &Schema::scope_of_all(&legacy))?;
    Ok(identify::identify(&legacy, &live))
}

/// The refusal of an unversioned database, naming the legacy version it was identified as
/// when a scratch database can be built (the generic text otherwise).
pub(crate) fn refusal(runner: &mut Runner<'_>, state: &State) -> Error {
    let State::Unversioned { tables } = state else {
        return Error::Refused {
            state: state.name(),
            reason: state.refusal(runner.set).unwrap_or_default(),
        };
    };
    let mut unknown = String::new();
    let identified = runner.scratch.clone().and_then(|site| {
        match identify(runner.set, runner.graph, &site, runner.driver) {
            Ok(identified) => identified,
            Err(e) => {
                unknown = format!(" (its legacy version could not be identified: {e})");
                None
            }
        }
    });
    Error::Refused {
        state: state.name(),
        reason: format!(
            "{}{unknown}",
            unversioned_refusal(tables, identified.as_ref())
        ),
    }
}

/// Under the run's lock: checks that the unversioned database has legacy `assume.version`'s
/// schema (built in a scratch database) and records the marker with a `ferry_history` row in
/// one transaction. Refuses (exit 3, nothing written) on a difference unless forced; any
/// other state is a usage error (exit 2). `target` is checked before anything is written.
pub(crate) fn assume(
    r: &mut Runner<'_>,
    state: &State,
    assume: AssumeLegacy,
    target: &str,
) -> Result<Assumed> {
    let n = assume.version;
    let cap = r.set.cap();
    if !(1..=cap).contains(&n) {
        return Err(Error::Usage(format!(
            "--assume-legacy {n}: a legacy version is 1..={cap}"
        )));
    }
    if !matches!(state, State::Unversioned { .. }) {
        return Err(Error::Usage(format!(
            "--assume-legacy is for an unversioned database (tables, but no legacy marker and no version table), \
             and this one is {}: ferry knows where it stands, so run `ferry upgrade` without --assume-legacy",
            describe(state)
        )));
    }
    let assumed_state = State::Legacy { version: n };
    let plan = plan::upgrade(r.set, r.graph, &assumed_state, target)?;
    plan::check_runnable(r.set, &plan, r.driver.dialect())?;
    let site = r.scratch.clone().ok_or_else(|| {
        Error::Unsupported(
            "--assume-legacy compares the schema with one built in a scratch database, and this run has none".into(),
        )
    })?;

    let started = Instant::now();
    let started_at = bookkeeping::now_utc();
    let purpose = format!("--assume-legacy {n}: building legacy {n}'s schema");
    let expected = Scratch::beside(&site, &purpose)?.schema_of(
        r.set,
        r.graph,
        &Position::Legacy(n),
        &TestDirs::default(),
    )?;
    let live = live_schema(r.set, r.driver, &expected.scope())?;
    let differences = diff(&expected, &live);
    if !differences.is_empty() && !assume.force {
        return Err(Error::Refused {
            state: state.name(),
            reason: format!(
                "its schema differs from legacy {n}'s in {} place(s):\n{}\nNothing was changed. Repair the differences \
                 and run again, or pass --force with --assume-legacy {n} to proceed anyway (recorded in ferry_history)",
                differences.len(),
                list(&differences)
            ),
        });
    }
    let note = if differences.is_empty() {
        format!("--assume-legacy {n}: the schema matched legacy {n}'s exactly")
    } else {
        format!(
            "--assume-legacy {n} --force: the schema differed from legacy {n}'s in {} place(s): {}",
            differences.len(),
            differences
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let unfilled = bookkeeping::unfilled_marker_columns(r.driver, r.set)
        .map_err(Error::reading("reading the marker table's columns"))?;
    if !unfilled.is_empty() {
        return Err(bookkeeping::unfilled_marker_error(r.set, &unfilled));
    }
    r.take_backup()?;
    let books = bookkeeping::Books::of(r.driver);
    let mut sql = bookkeeping::marker_sql(r.set, &books, n)?;
    sql.push_str(&bookkeeping::history_sql(
        &books,
        &HistoryRow {
            kind: "assume-legacy",
            legacy_version: Some(n),
            revision: None,
            checksum: None,
            started_at,
            duration_ms: started.elapsed().as_millis(),
            success: true,
            note: Some(note.clone()),
        },
    ));
    r.transaction(&format!("assume legacy {n}"), &describe(state), |d| {
        d.execute(&sql)
    })?;
    Ok(Assumed {
        version: n,
        forced: !differences.is_empty(),
        differences,
        note,
    })
}

/// Differences, one per line, indented.
pub fn list(differences: &[Difference]) -> String {
    differences
        .iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}
