//! `ferry verify` (the live schema against the one the set gives at its position), what
//! `status` says about an unversioned database, and `upgrade --assume-legacy N [--force]`.

use serde_json::{Value, json};

use super::{Cli, Output, database_url};
use crate::api::{Migrator, Verification, Verified};
use crate::core::graph::Graph;
use crate::core::identify::{Candidate, Identification};
use crate::core::set::MigrationSet;
use crate::core::state::{Position, State};
use crate::driver::url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::unversioned::{self, Assume, Assumed};

/// `ferry verify`: reads the live database only; the expected schema is built in a scratch one.
pub(super) fn verify(mut migrator: Migrator) -> Result<Output> {
    let verification = match migrator.verify_or_identify()? {
        Verified::Compared(v) => v,
        Verified::Unversioned {
            database,
            state,
            identified,
            refusal,
        } => {
            return Ok(unversioned_output(
                &database,
                &state,
                identified.as_ref(),
                &refusal,
            ));
        }
    };
    let Verification {
        database,
        state,
        position,
        differences,
        tables,
        indexes,
        triggers,
        views,
    } = verification;
    let text = if differences.is_empty() {
        format!(
            "{database}: the schema is the one the migration set gives at {position} ({tables} tables, {indexes} indexes, {triggers} triggers, {views} views)\n",
        )
    } else {
        format!(
            "{database}: {} difference(s) from the schema the migration set gives at {position}:\n{}\n",
            differences.len(),
            unversioned::list(&differences)
        )
    };
    Ok(Output {
        text,
        json: json!({
            "database": database, "state": state, "position": position,
            "equal": differences.is_empty(), "differences": differences,
        }),
        code: u8::from(!differences.is_empty()),
    })
}

/// An unversioned database has no position to verify: it is identified instead, and refused
/// (exit 3) like every state without a position.
fn unversioned_output(
    database: &str,
    state: &State,
    identified: Option<&Identification>,
    refusal: &str,
) -> Output {
    let mut text = format!("database:   {database}\nstate:      unversioned\n");
    identification_text(&mut text, identified.ok_or("no legacy version"));
    text.push_str(&format!("refused:    {refusal}\n"));
    Output {
        text,
        json: json!({
            "ok": false, "database": database, "state": state,
            "identified": identification_json(identified),
            "error": {"code": 3, "kind": "refused", "message": format!("the database is unversioned: {refusal}")},
        }),
        code: 3,
    }
}

/// The `identified:` lines of `status` and `verify`.
pub(super) fn identification_text(text: &mut String, identified: Result<&Identification, &str>) {
    let id = match identified {
        Ok(id) => id,
        Err(why) => {
            text.push_str(&format!("identified: unknown ({why})\n"));
            return;
        }
    };
    if id.exact {
        let same = if id.versions.len() + id.revisions.len() > 1 {
            " (the identical schema: the steps between them change only data)"
        } else {
            ""
        };
        text.push_str(&format!("identified: {}, exact match{same}\n", id.names()));
    } else {
        text.push_str(&format!(
            "identified: no exact match; nearest {} with {} difference(s):\n{}\n",
            id.names(),
            id.differences.len(),
            unversioned::list(&id.differences)
        ));
    }
    if !id.runners_up.is_empty() {
        let others: Vec<String> = id
            .runners_up
            .iter()
            .map(
                |Candidate {
                     versions,
                     revisions,
                     differences,
                 }| {
                    format!(
                        "{} ({differences})",
                        crate::core::identify::positions(versions, revisions)
                    )
                },
            )
            .collect();
        text.push_str(&format!(
            "            next nearest (differences): {}\n",
            others.join(", ")
        ));
    }
}

/// The `identified` object of `status --json` and `verify --json`.
pub(super) fn identification_json(identified: Option<&Identification>) -> Value {
    match identified {
        None => Value::Null,
        Some(id) => json!({
            "versions": id.versions,
            "revisions": id.revisions,
            "match": if id.exact { "exact" } else { "nearest" },
            "exact": id.exact,
            "differences": id.differences,
            "runners_up": id.runners_up,
            "known_tables": id.known_tables,
        }),
    }
}

/// Checks `--assume-legacy N` / `--assume-revision REV` before the database is opened (or a
/// SQLite file created).
pub(super) fn assume_option(
    cli: &Cli,
    set: &MigrationSet,
    graph: &Graph,
    version: Option<u32>,
    revision: Option<&str>,
    force: bool,
) -> Result<Option<Assume>> {
    let (at, option) = match (version, revision) {
        (None, None) if force => {
            return Err(Error::Usage(
                "--force goes with --assume-legacy N or --assume-revision REV: it proceeds although the schema differs"
                    .into(),
            ));
        }
        (None, None) => return Ok(None),
        (Some(version), _) => {
            if set.step(version).is_none() {
                return Err(Error::Usage(format!(
                    "--assume-legacy {version}: a legacy version is {} (a step number; `ferry status` names the one whose schema the database has)",
                    set.steps_text()
                )));
            }
            (Position::Legacy(version), "--assume-legacy")
        }
        (None, Some(revision)) => {
            let id = if revision == set.baseline_id() {
                revision.to_string()
            } else {
                graph.id(graph.lookup(revision)?).to_string()
            };
            (Position::Revisions(vec![id]), "--assume-revision")
        }
    };
    if let DatabaseUrl::SqliteFile(path, _) = database_url(cli, None)?
        && !path.exists()
    {
        return Err(Error::Usage(format!(
            "{option} is for an existing unversioned database, and {} does not exist",
            path.display()
        )));
    }
    Ok(Some(Assume { at, force }))
}

/// Adds what `--assume-legacy` / `--assume-revision` did to an upgrade's output.
pub(super) fn with_assumed(mut out: Output, assumed: Option<Assumed>) -> Output {
    let Some(a) = assumed else { return out };
    let mut line = match (&a.version, &a.revision) {
        (Some(n), _) => format!("assumed:  legacy {n}"),
        (None, Some(rev)) => format!("assumed:  revision {rev}"),
        (None, None) => "assumed:".to_string(),
    };
    if a.forced {
        line.push_str(&format!(
            " despite {} difference(s) (--force, recorded in ferry_history):\n{}\n",
            a.differences.len(),
            unversioned::list(&a.differences)
        ));
    } else {
        line.push_str(" (the schema matched exactly; recorded in ferry_history)\n");
    }
    out.text.insert_str(0, &line);
    if let Value::Object(o) = &mut out.json {
        o.insert("assumed".into(), json!(a));
    }
    out
}
