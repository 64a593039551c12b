//! `upgrade --rehearse`: run the upgrade, time it, undo it.

use serde_json::json;

use super::{Cli, Output, database_url, open, runner};
use crate::core::graph::Graph;
use crate::core::set::MigrationSet;
use crate::error::Result;
use crate::rehearse;
use crate::runner::describe;

pub(super) fn run(
    cli: &Cli,
    set: &MigrationSet,
    graph: &Graph,
    target: &str,
    accept_edited: &[String],
) -> Result<Output> {
    let url = database_url(cli, None)?;
    // Never created: a missing SQLite file is rehearsed as the fresh install it would get.
    let mut db = open(cli, &url, false)?;
    let mut r = runner(cli, set, graph, db.as_mut(), true);
    r.accept_edited = accept_edited.to_vec();
    let report = rehearse::rehearse(&mut r, target)?;
    let mut text = String::new();
    for s in &report.steps {
        let mut notes = Vec::new();
        if !s.skipped_guards.is_empty() {
            notes.push(format!("skipped: {}", s.skipped_guards.join("; ")));
        }
        if let Some(why) = &s.not_rehearsed {
            notes.push(format!("NOT REHEARSED: {why}"));
        }
        text.push_str(&format!(
            "  {:<48} {:>7} ms{}\n",
            s.label,
            s.duration_ms,
            if notes.is_empty() {
                String::new()
            } else {
                format!("  [{}]", notes.join("] ["))
            }
        ));
    }
    let untouched = format!(
        "{} is untouched, still at {} (rehearsed {})",
        url.display(),
        describe(&report.before),
        report.method
    );
    let (code, error) = match &report.failed {
        None => {
            text.push_str(&format!(
                "rehearsal passed: {} step(s) in {} ms → revision {}\n{untouched}\n",
                report.steps.len(),
                report.total_ms,
                report.heads_after.join(", ")
            ));
            let skipped = report.not_rehearsed();
            if !skipped.is_empty() {
                text.push_str(&format!(
                    "{} step(s) not rehearsed (see above): the real upgrade runs them outside a transaction\n",
                    skipped.len()
                ));
            }
            (0, None)
        }
        Some(f) => {
            let message = format!(
                "rehearsal: {} failed after {} ms: {}{}\n{untouched}",
                f.step,
                f.duration_ms,
                f.error,
                f.statement
                    .as_deref()
                    .map(|s| format!("\n  in statement: {s}"))
                    .unwrap_or_default()
            );
            text.push_str(&format!("  {:<48} FAILED\n", f.step));
            if !cli.json {
                eprintln!("error: {message}");
            }
            (
                4,
                Some(json!({"code": 4, "kind": "step_failed", "message": message})),
            )
        }
    };
    let mut json = json!({
        "database": url.display(), "rehearsal": true, "method": report.method, "before": report.before,
        "steps": report.steps, "heads_after": report.heads_after, "failed": report.failed,
        "total_ms": report.total_ms, "untouched": true,
    });
    if let Some((note, handoff)) = super::handoff::left_out(set, "", "not rehearsed") {
        text.push_str(&note);
        if let Some(o) = json.as_object_mut() {
            o.insert("handoff".into(), handoff);
        }
    }
    if let (Some(error), Some(o)) = (error, json.as_object_mut()) {
        o.insert("ok".into(), json!(false));
        o.insert("error".into(), error);
    }
    Ok(Output { text, json, code })
}
