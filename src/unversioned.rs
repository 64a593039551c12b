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

/// `upgrade --assume-legacy N [--force]` or `upgrade --assume-revision REV [--force]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assume {
    /// Where the database is taken to be: legacy N (a step number), or one revision (or the
    /// baseline).
    pub at: Position,
    /// Proceed even when the schema differs from that position's.
    pub force: bool,
}

impl Assume {
    /// The option that asked for it, for messages: `--assume-legacy 7`, `--assume-revision 0004_x`.
    pub fn option(&self) -> String {
        match &self.at {
            Position::Legacy(n) => format!("--assume-legacy {n}"),
            Position::Revisions(r) => format!("--assume-revision {}", r.join(",")),
        }
    }
}

/// What `--assume-legacy` / `--assume-revision` found and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assumed {
    /// The legacy version assumed, if that was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The revision assumed (and stamped), if that was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// How the live schema differs from the assumed position's; empty unless forced.
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
    let legacy = scratch::legacy_schemas_by_version(set, graph, site, IDENTIFYING)?;
    let revisions = scratch::revision_schemas(set, graph, site, IDENTIFYING)?;
    let live = live_schema(
        set,
        driver,
        &Schema::scope_of_all(
            legacy
                .iter()
                .map(|(_, s)| s)
                .chain(revisions.iter().map(|(_, s)| s)),
        ),
    )?;
    Ok(identify::identify_at(&legacy, &revisions, &live))
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

/// Under the run's lock: checks that the unversioned database has the schema of the assumed
/// position (built in a scratch database) and records it with a `ferry_history` row in one
/// transaction: the marker N for legacy N, the version table for a revision. Refuses (exit 3,
/// nothing written) on a difference unless forced; any other state is a usage error (exit 2).
/// `target` is checked before anything is written.
pub(crate) fn assume(
    r: &mut Runner<'_>,
    state: &State,
    assume: &Assume,
    target: &str,
) -> Result<Assumed> {
    let option = assume.option();
    let (assumed_state, kind) = match &assume.at {
        Position::Legacy(n) => {
            if r.set.step(*n).is_none() {
                return Err(Error::Usage(format!(
                    "--assume-legacy {n}: a legacy version is {} (the step numbers)",
                    r.set.steps_text()
                )));
            }
            (State::Legacy { version: *n }, "assume-legacy")
        }
        Position::Revisions(revisions) => {
            for rev in revisions {
                if rev != r.set.baseline_id() {
                    r.graph.lookup(rev)?;
                }
            }
            (
                State::Managed {
                    heads: revisions.clone(),
                },
                "assume-revision",
            )
        }
    };
    let at = assume.at.describe(r.set);
    if !matches!(state, State::Unversioned { .. }) {
        return Err(Error::Usage(format!(
            "{option} is for an unversioned database (tables, but no legacy marker and no version table), \
             and this one is {}: ferry knows where it stands, so run `ferry upgrade` without it",
            describe(state)
        )));
    }
    let plan = plan::upgrade(r.set, r.graph, &assumed_state, target)?;
    plan::check_runnable(r.set, &plan, r.driver.dialect())?;
    let site = r.scratch.clone().ok_or_else(|| {
        Error::Unsupported(format!(
            "{option} compares the schema with one built in a scratch database, and this run has none"
        ))
    })?;

    let started = Instant::now();
    let started_at = crate::driver::host::now_utc();
    let purpose = format!("{option}: building {at}'s schema");
    let expected = Scratch::beside(&site, &purpose)?.schema_of(
        r.set,
        r.graph,
        &assume.at,
        &TestDirs::default(),
    )?;
    let live = live_schema(r.set, r.driver, &expected.scope())?;
    let differences = diff(&expected, &live);
    if !differences.is_empty() && !assume.force {
        return Err(Error::Refused {
            state: state.name(),
            reason: format!(
                "its schema differs from {at}'s in {} place(s):\n{}\nNothing was changed. Repair the differences \
                 and run again, or pass --force with {option} to proceed anyway (recorded in ferry_history)",
                differences.len(),
                list(&differences)
            ),
        });
    }
    let note = if differences.is_empty() {
        format!("{option}: the schema matched {at}'s exactly")
    } else {
        format!(
            "{option} --force: the schema differed from {at}'s in {} place(s): {}",
            differences.len(),
            differences
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let books = bookkeeping::Books::of(r.driver);
    let (mut sql, version, revision) = match &assume.at {
        Position::Legacy(n) => {
            let unfilled = bookkeeping::unfilled_marker_columns(r.driver, r.set)
                .map_err(Error::reading("reading the marker table's columns"))?;
            if !unfilled.is_empty() {
                return Err(bookkeeping::unfilled_marker_error(r.set, &unfilled));
            }
            (bookkeeping::marker_sql(r.set, &books, *n)?, Some(*n), None)
        }
        Position::Revisions(revisions) => (
            bookkeeping::version_sql(r.set, &books, &[], revisions),
            None,
            Some(revisions.join(",")),
        ),
    };
    r.take_backup()?;
    sql.push_str(&bookkeeping::history_sql(
        &books,
        &HistoryRow {
            kind,
            legacy_version: version,
            revision: revision.as_deref(),
            checksum: None,
            started_at,
            duration_ms: started.elapsed().as_millis(),
            success: true,
            note: Some(note.clone()),
        },
    ));
    r.transaction(&format!("assume {at}"), &describe(state), |d| {
        d.execute(&sql)
    })?;
    Ok(Assumed {
        version,
        revision,
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
