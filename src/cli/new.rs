//! `ferry new` and `ferry merge`: scaffold revision directories in a set (`--migrations DIR`).

use serde_json::json;

use super::Output;
use crate::core::graph::Graph;
use crate::core::set::MigrationSet;
use crate::error::Result;
use crate::scaffold::{self, Scaffold};

pub(super) fn new(
    set: &MigrationSet,
    graph: &Graph,
    message: &str,
    per_dialect: bool,
    transaction: bool,
) -> Result<Output> {
    let made = scaffold::new_revision(set, graph, message, per_dialect, transaction)?;
    Ok(output(
        &made,
        "write its SQL in the up and down files (a file that does nothing on purpose holds the line `-- ferry:empty`: lint refuses an empty one)",
    ))
}

pub(super) fn merge(set: &MigrationSet, graph: &Graph, message: &str) -> Result<Output> {
    let made = scaffold::merge_revision(set, graph, message)?;
    Ok(output(&made, "the set has one head again"))
}

fn output(made: &Scaffold, next: &str) -> Output {
    Output::ok(
        format!(
            "created {} (down: {}): {}\n{next}; `ferry lint` checks the set\n",
            made.directory.display(),
            made.down.join(", "),
            made.files.join(", ")
        ),
        json!({
            "revision": made.revision,
            "directory": made.directory.display().to_string(),
            "down": made.down,
            "message": made.message,
            "transaction": made.transaction,
            "files": made.files,
        }),
    )
}
