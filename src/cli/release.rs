//! Releases on the command line: `upgrade --to-release` and the release line of `status`.

use serde_json::{Value, json};

use crate::core::graph::Graph;
use crate::core::release::{Releases, Requirement};
use crate::core::set::MigrationSet;
use crate::core::state::Position;
use crate::core::state::State;
use crate::error::Result;
use crate::runner::{RunReport, Runner};

/// `upgrade --to-release REQ`: the newest matching release's revision, never a legacy version
/// and never below where the database stands.
pub fn upgrade(r: &mut Runner<'_>, requirement: &str) -> Result<RunReport> {
    let requirement = Requirement::parse(requirement)?;
    let releases = Releases::of(r.set)?;
    // Checked against the state read now; the upgrade reads it again under the lock.
    let current = Position::of_state(&r.detect()?);
    let (_, revision) = releases.upgrade_target(r.graph, &requirement, current.as_ref())?;
    r.upgrade(&revision)
}

/// Refuses a requirement that no database could be upgraded by: unparsable, matching no
/// release, or naming a release on a legacy version.
pub fn check(set: &MigrationSet, graph: &Graph, requirement: &str) -> Result<()> {
    let requirement = Requirement::parse(requirement)?;
    Releases::of(set)?.upgrade_target(graph, &requirement, None)?;
    Ok(())
}

/// The release(s) whose schema a database in `state` has, or the nearest ones around it:
/// the text for `status` and its JSON. `None` when the set lists no releases or the state
/// has no position.
pub fn status(set: &MigrationSet, graph: &Graph, state: &State) -> Result<(Option<String>, Value)> {
    let releases = Releases::of(set)?;
    let Some(position) = Position::of_state(state).filter(|_| !releases.is_empty()) else {
        return Ok((None, Value::Null));
    };
    let around = releases.around(graph, &position);
    let list = |l: &[&crate::core::release::Release]| -> Vec<String> {
        l.iter().map(|r| r.version.to_string()).collect()
    };
    Ok((
        Some(around.describe()),
        json!({"at": list(&around.at), "before": list(&around.before), "after": list(&around.after)}),
    ))
}
