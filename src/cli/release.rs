//! Releases on the command line: the release line of `status` (`upgrade --to-release` is
//! [`crate::api::Migrator::upgrade_to_release`]).

use serde_json::{Value, json};

use crate::core::graph::Graph;
use crate::core::release::Releases;
use crate::core::set::MigrationSet;
use crate::core::state::Position;
use crate::core::state::State;
use crate::error::Result;

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
