//! `ferry verify` (the live schema against the one the set gives at its position), what
//! `status` says about an unversioned database, and `upgrade --assume-legacy N [--force]`.

use serde_json::{Value, json};

use super::Output;
use crate::api::{Migrator, Verification, Verified};
use crate::core::identify::{Candidate, Identification};
use crate::core::state::State;
use crate::error::Result;
use crate::unversioned::{self, Assumed};

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
        let same = if id.versions.len() > 1 {
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
                     differences,
                 }| {
                    format!("{} ({differences})", crate::core::identify::names(versions))
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
            "match": if id.exact { "exact" } else { "nearest" },
            "exact": id.exact,
            "differences": id.differences,
            "runners_up": id.runners_up,
            "known_tables": id.known_tables,
        }),
    }
}

/// Adds what `--assume-legacy` did to an upgrade's output.
pub(super) fn with_assumed(mut out: Output, assumed: Option<Assumed>) -> Output {
    let Some(a) = assumed else { return out };
    let mut line = format!("assumed:  legacy {}", a.version);
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
