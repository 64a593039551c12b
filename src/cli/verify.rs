//! `ferry verify` (the live schema against the one the set gives at its position), what
//! `status` says about an unversioned database, and `upgrade --assume-legacy N [--force]`.

use serde_json::{Value, json};

use super::{Cli, Output, database_url, open, runner};
use crate::core::graph::Graph;
use crate::core::identify::{Candidate, Identification};
use crate::core::schema::diff;
use crate::core::set::MigrationSet;
use crate::core::state::Position;
use crate::core::state::{State, unversioned_refusal};
use crate::driver::url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::fixture::TestDirs;
use crate::runner::describe;
use crate::scratch::Scratch;
use crate::unversioned::{self, AssumeLegacy, Assumed};

/// `ferry verify`: reads the live database only; the expected schema is built in a scratch one.
pub(super) fn verify(cli: &Cli, set: &MigrationSet, graph: &Graph) -> Result<Output> {
    let url = database_url(cli, None)?;
    let mut db = open(cli, &url, false)?;
    let (state, _) = runner(cli, set, graph, db.as_mut(), false).inspect()?;
    let Some(target) = Position::of_state(&state) else {
        if let State::Unversioned { tables } = &state {
            return unversioned_output(set, graph, &url, db.as_mut(), tables, &state);
        }
        return Err(Error::Refused {
            state: state.name(),
            reason: format!(
                "{} There is no position to verify against",
                state.refusal(set).unwrap_or_default()
            ),
        });
    };
    // Seeds only add rows; a superseded version needs what pre-release builds ran.
    let dirs = TestDirs {
        seeds: None,
        superseded: TestDirs::of(set, None).superseded,
    };
    let expected = Scratch::beside(&url)?.schema_of(set, graph, &target, &dirs)?;
    let live = unversioned::live_schema(set, db.as_mut())?;
    let differences = diff(&expected, &live);
    let position = describe(&state);
    let text = if differences.is_empty() {
        format!(
            "{}: the schema is the one the migration set gives at {position} ({} tables, {} indexes, {} triggers, {} views)\n",
            url.display(),
            live.tables.len(),
            live.indexes.len(),
            live.triggers.len(),
            live.views.len()
        )
    } else {
        format!(
            "{}: {} difference(s) from the schema the migration set gives at {position}:\n{}\n",
            url.display(),
            differences.len(),
            unversioned::list(&differences)
        )
    };
    Ok(Output {
        text,
        json: json!({
            "database": url.display(), "state": state, "position": position,
            "equal": differences.is_empty(), "differences": differences,
        }),
        code: u8::from(!differences.is_empty()),
    })
}

/// An unversioned database has no position to verify: it is identified instead, and refused
/// (exit 3) like every state without a position.
fn unversioned_output(
    set: &MigrationSet,
    graph: &Graph,
    url: &DatabaseUrl,
    db: &mut dyn crate::driver::Driver,
    tables: &[String],
    state: &State,
) -> Result<Output> {
    let identified = unversioned::identify(set, graph, url, db)?;
    let refusal = unversioned_refusal(tables, identified.as_ref());
    let mut text = format!("database:   {}\nstate:      unversioned\n", url.display());
    identification_text(&mut text, identified.as_ref().ok_or("no legacy version"));
    text.push_str(&format!("refused:    {refusal}\n"));
    Ok(Output {
        text,
        json: json!({
            "ok": false, "database": url.display(), "state": state,
            "identified": identification_json(identified.as_ref()),
            "error": {"code": 3, "kind": "refused", "message": format!("the database is unversioned: {refusal}")},
        }),
        code: 3,
    })
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

/// Checks `--assume-legacy N` before the database is opened (or a SQLite file created).
pub(super) fn assume_option(
    cli: &Cli,
    set: &MigrationSet,
    version: Option<u32>,
    force: bool,
) -> Result<Option<AssumeLegacy>> {
    let Some(version) = version else {
        return Ok(None);
    };
    if set.step(version).is_none() {
        return Err(Error::Usage(format!(
            "--assume-legacy {version}: a legacy version is {} (a step number; `ferry status` names the one whose schema the database has)",
            set.steps_text()
        )));
    }
    if let DatabaseUrl::SqliteFile(path, _) = database_url(cli, None)?
        && !path.exists()
    {
        return Err(Error::Usage(format!(
            "--assume-legacy is for an existing unversioned database, and {} does not exist",
            path.display()
        )));
    }
    Ok(Some(AssumeLegacy { version, force }))
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
