//! `ferry upgrade` for a set with `[handoff]`, and what `status`, `check` and `plan` add for it.

use serde_json::{Value, json};

use super::{Cli, Command, Output};
use crate::api::UpgradeReport;
use crate::core::plan::shown;
use crate::core::set::MigrationSet;
use crate::core::state::State;
use crate::error::Error;
use crate::handoff::HandoffReport;
use crate::runner::describe;

/// What `ferry upgrade` of a set with a `[handoff]` prints: the bridge, then the command.
pub(super) fn upgraded(report: &UpgradeReport, handoff: &HandoffReport) -> Output {
    let mut text = super::step_lines(&report.steps);
    if report.steps.is_empty() {
        text.push_str(&format!(
            "{}: bridge: nothing to do, at {}\n",
            report.database,
            describe(&report.before)
        ));
    } else {
        text.push_str(&format!(
            "{}: bridge: {} → revision {} ({} steps)\n",
            report.database,
            describe(&report.before),
            report.heads.join(", "),
            report.steps.len()
        ));
    }
    text.push_str(&handoff_line(handoff));
    if let Some(b) = &report.backup {
        text.push_str(&format!("backup:  {} (verified)\n", b.path.display()));
    }
    let out = Output::ok(
        text,
        json!({"database": report.database, "before": report.before, "steps": report.steps, "heads": handoff.heads_after,
               "bridge_heads": report.heads, "backup": report.backup, "handoff": handoff}),
    );
    super::verify::with_assumed(out, report.assumed.clone())
}

fn handoff_line(h: &HandoffReport) -> String {
    format!(
        "hand-off: `{}` exited 0 ({} ms); the version table holds {}\n",
        h.command,
        h.duration_ms,
        if h.heads_after.is_empty() {
            "nothing".to_string()
        } else {
            h.heads_after.join(", ")
        }
    )
}

/// What `status`, `check` and `plan` add for a set with a hand-off: who runs the revisions
/// after the bridge, and (for `ahead`) that `upgrade` hands off again rather than refusing.
pub(super) fn annotate(cli: &Cli, set: &MigrationSet, state: &State, out: &mut Output) {
    let Some(handoff) = &set.config.handoff else {
        return;
    };
    let command = shown(&handoff.command);
    let owned: Vec<String> = match state {
        State::Ahead { unknown } => unknown.clone(),
        _ => Vec::new(),
    };
    let note = if owned.is_empty() {
        format!(
            "after the bridge, `ferry upgrade` hands off to `{command}`, which runs the revisions after the baseline"
        )
    } else {
        format!(
            "the version table holds {}, which the external runner applied (ferry's set does not know it); \
             `ferry upgrade` hands off to `{command}` again",
            owned.join(", ")
        )
    };
    match &cli.command {
        Command::Status => out.text.push_str(&format!("handoff:   {note}\n")),
        Command::Check => {
            if out.code == 0 {
                // ferry's own part is done; only the external runner knows about the rest.
                out.text = format!(
                    "{}: bridged ({}); the revisions after the baseline belong to `{command}`: ask it what is pending\n",
                    super::database_url(cli, None)
                        .map_or_else(|_| "database".into(), |u| u.display()),
                    describe(state)
                );
            }
        }
        Command::Plan { .. } => {
            if out.text == "nothing to do\n" {
                out.text.clear();
            }
            out.text
                .push_str(&format!("then: hand off to `{command}`\n"));
        }
        _ => return,
    }
    if let Value::Object(o) = &mut out.json {
        o.insert(
            "handoff".into(),
            json!({"command": command, "owned_by_runner": owned, "note": note}),
        );
    }
}

/// The error a `--json` object carries extra fields for (the hand-off's command and status).
pub(super) fn error_detail(e: &Error, object: &mut Value) {
    if let (Some((key, value)), Some(error)) = (
        e.detail(),
        object.get_mut("error").and_then(Value::as_object_mut),
    ) {
        error.insert(key.into(), value);
    }
}

/// For a set with a hand-off, what `upgrade --sql`, `plan --from` and `--rehearse` cannot
/// contain: the external command runs after the bridge and is not SQL. The sentence to add
/// after `prefix`, and the JSON that says so.
pub(super) fn left_out(set: &MigrationSet, prefix: &str, what: &str) -> Option<(String, Value)> {
    let command = shown(&set.config.handoff.as_ref()?.command);
    Some((
        format!(
            "{prefix}then ferry hands off to `{command}` ([handoff] in ferry.toml), which is {what}\n"
        ),
        json!({"command": command, "included": false}),
    ))
}
