//! `ferry history [--verbose] [--audit]` and `ferry current [--verbose]`, after Alembic's
//! commands of the same names.

use serde_json::{Value, json};

use super::{Cli, Output};
use crate::bookkeeping::HISTORY_TABLE;
use crate::core::graph::Graph;
use crate::core::set::{Dialect, MigrationSet, Sql, digest};
use crate::core::state::State;
use crate::driver::{self, literal};
use crate::error::{Error, Result};
use crate::runner::describe;

/// What a node of the graph is, in Alembic's words: head, branchpoint, mergepoint.
struct Shape {
    head: bool,
    branchpoint: bool,
    mergepoint: bool,
}

impl Shape {
    fn of(graph: &Graph, node: usize) -> Shape {
        let children = graph.children(node).len();
        Shape {
            head: children == 0,
            branchpoint: children > 1,
            mergepoint: graph.downs(node).len() > 1,
        }
    }

    fn tags(&self) -> String {
        [
            (self.head, " (head)"),
            (self.branchpoint, " (branchpoint)"),
            (self.mergepoint, " (mergepoint)"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, tag)| *tag)
        .collect()
    }
}

const BASELINE_MESSAGE: &str = "baseline: the schema of a fresh install";

/// The revisions, newest first, down to the baseline and the frozen legacy chain.
pub(super) fn history(
    cli: &Cli,
    set: &MigrationSet,
    graph: &Graph,
    audit: bool,
    verbose: bool,
) -> Result<Output> {
    let mut text = String::new();
    let mut entries = Vec::new();
    for &node in graph.order().iter().rev() {
        let id = graph.id(node);
        let downs: Vec<&str> = graph.downs(node).iter().map(|&d| graph.id(d)).collect();
        let revision = set.revision(id);
        let message = revision.map_or(BASELINE_MESSAGE, |r| r.message.as_str());
        let shape = Shape::of(graph, node);
        // The JSON entry only when it is printed: a large set's history is long.
        let mut entry = if cli.json {
            json!({"revision": id, "down": downs, "message": message, "head": shape.head})
        } else {
            Value::Null
        };
        if verbose {
            let transaction = revision.is_none_or(|r| r.transaction);
            let files = files(set, id);
            text.push_str(&format!("Rev: {id}{}\n", shape.tags()));
            text.push_str(&format!(
                "Parent: {}\n",
                if downs.is_empty() {
                    "<base>".to_string()
                } else {
                    downs.join(", ")
                }
            ));
            if shape.branchpoint {
                let mut children: Vec<&str> =
                    graph.children(node).iter().map(|&n| graph.id(n)).collect();
                children.sort_unstable();
                text.push_str(&format!("Branches into: {}\n", children.join(", ")));
            }
            if shape.mergepoint {
                text.push_str(&format!("Merges: {}\n", downs.join(", ")));
            }
            text.push_str(&format!(
                "Transaction: {}\n",
                if transaction {
                    "yes"
                } else {
                    "no (runs outside a transaction)"
                }
            ));
            text.push_str("Files:\n");
            for f in &files {
                text.push_str(&format!(
                    "  {:<8} {:<4}  {}  {}\n",
                    f.dialect, f.script, f.path, f.sha256
                ));
            }
            text.push_str(&format!("\n    {message}\n\n"));
            if let Value::Object(o) = &mut entry {
                o.insert("branchpoint".into(), json!(shape.branchpoint));
                o.insert("mergepoint".into(), json!(shape.mergepoint));
                o.insert("transaction".into(), json!(transaction));
                o.insert(
                    "files".into(),
                    files
                        .iter()
                        .map(|f| json!({"dialect": f.dialect, "script": f.script, "path": f.path, "sha256": f.sha256}))
                        .collect(),
                );
            }
        } else {
            let arrow = if downs.is_empty() {
                "<base>".to_string()
            } else {
                downs.join(", ")
            };
            let head = if shape.head { " (head)" } else { "" };
            text.push_str(&format!("{arrow} -> {id}{head}, {message}\n"));
        }
        if cli.json {
            entries.push(entry);
        }
    }
    text.push_str(&format!(
        "legacy 1..{} (frozen) -> {}\n",
        set.cap(),
        set.baseline_id()
    ));
    let mut object = serde_json::Map::new();
    object.insert("revisions".into(), Value::Array(entries)); // moved, not serialized again
    object.insert("legacy_cap".into(), json!(set.cap()));
    let mut out = Output::ok(text, Value::Object(object));
    if audit {
        let url = super::database_url(cli, None)?;
        let mut db = super::open(cli, &url, false)?;
        let (text, rows) = super::audit_trail(db.as_mut())?;
        out.text.push_str(&text);
        if let Value::Object(o) = &mut out.json {
            o.insert("audit".into(), rows);
        }
    }
    Ok(out)
}

/// One SQL file a revision (or the baseline) uses.
struct FileUse {
    dialect: &'static str,
    script: &'static str,
    path: String,
    /// Of the CRLF-normalized text, as `ferry_history` records it.
    sha256: String,
}

fn files(set: &MigrationSet, id: &str) -> Vec<FileUse> {
    let mut out = Vec::new();
    for dialect in Dialect::ALL {
        match set.revision(id) {
            None => {
                if let Some(text) = set.baselines.get(&dialect) {
                    out.push(FileUse {
                        dialect: dialect.name(),
                        script: "up",
                        path: format!("baseline/{}.sql", dialect.name()),
                        sha256: digest(text),
                    });
                }
            }
            Some(rev) => {
                for (sql, script) in [(&rev.up, "up"), (&rev.down, "down")] {
                    if let Some(f) = file_use(sql, script, dialect) {
                        out.push(f);
                    }
                }
            }
        }
    }
    out
}

fn file_use(sql: &Sql, script: &'static str, dialect: Dialect) -> Option<FileUse> {
    sql.get(dialect).map(|text| FileUse {
        dialect: dialect.name(),
        script,
        path: sql.path(script, dialect),
        sha256: digest(text),
    })
}

/// The revision(s) in the version table; with `verbose`, each with its message, down
/// revisions and when, by which ferry, on which host it was applied (from `ferry_history`).
pub(super) fn current(
    cli: &Cli,
    set: &MigrationSet,
    graph: &Graph,
    verbose: bool,
) -> Result<Output> {
    let url = super::database_url(cli, None)?;
    let mut db = super::open(cli, &url, false)?;
    let (state, probe) = super::runner(cli, set, graph, db.as_mut(), false).inspect()?;
    let rows: Vec<String> = match &state {
        State::Managed { heads } => heads.clone(),
        State::Ahead { .. } => {
            let mut rows = probe.versions.clone().unwrap_or_default();
            rows.sort();
            rows
        }
        _ => Vec::new(),
    };
    let unknown: Vec<String> = match &state {
        State::Ahead { unknown } => unknown.clone(),
        _ => Vec::new(),
    };
    let mut text = String::new();
    let mut entries = Vec::new();
    if rows.is_empty() {
        text.push_str(&format!("no revision ({})\n", describe(&state)));
    }
    for id in &rows {
        let node = graph.node(id);
        let tag = match node {
            Some(n) if Shape::of(graph, n).head => " (head)",
            Some(_) => "",
            None => " (not in this migration set)",
        };
        if !verbose {
            text.push_str(&format!("{id}{tag}\n"));
            continue;
        }
        let downs: Vec<&str> = node.map_or_else(Vec::new, |n| {
            graph.downs(n).iter().map(|&d| graph.id(d)).collect()
        });
        let message = match (node, set.revision(id)) {
            (Some(_), Some(r)) => r.message.clone(),
            (Some(_), None) => BASELINE_MESSAGE.to_string(),
            (None, _) => match &set.config.handoff {
                Some(h) => format!(
                    "applied by the external runner `{}` ([handoff]); ferry's set ends before it",
                    crate::core::plan::shown(&h.command)
                ),
                None => "unknown to this migration set: applied by a newer release or another tool"
                    .to_string(),
            },
        };
        let applied = if probe.history {
            applied(db.as_mut(), id)?
        } else {
            None
        };
        text.push_str(&format!("Rev: {id}{tag}\n"));
        if node.is_some() {
            text.push_str(&format!(
                "Parent: {}\n",
                if downs.is_empty() {
                    "<base>".to_string()
                } else {
                    downs.join(", ")
                }
            ));
        }
        match &applied {
            Some(a) => text.push_str(&format!(
                "Applied: {} ({}, {} ms) by ferry {} on {} as {}\n",
                a.finished_at,
                a.kind,
                a.duration_ms,
                a.ferry_version,
                a.host.as_deref().unwrap_or("an unknown host"),
                a.os_user.as_deref().unwrap_or("an unknown user"),
            )),
            None => text.push_str(
                "Applied: not recorded in ferry_history (another tool, such as Alembic, wrote it)\n",
            ),
        }
        text.push_str(&format!("\n    {message}\n\n"));
        entries.push(json!({
            "revision": id, "down": downs, "message": message, "head": tag == " (head)",
            "known": node.is_some(),
            "applied": applied.as_ref().map(|a| json!({
                "kind": a.kind, "started_at": a.started_at, "finished_at": a.finished_at,
                "duration_ms": a.duration_ms, "ferry_version": a.ferry_version, "host": a.host, "os_user": a.os_user,
            })),
        }));
    }
    let mut json = json!({"database": url.display(), "state": state, "current": rows});
    if let Value::Object(o) = &mut json {
        if !unknown.is_empty() {
            o.insert("unknown".into(), json!(unknown));
        }
        if verbose {
            o.insert("revisions".into(), Value::Array(entries));
        }
    }
    Ok(Output::ok(text, json))
}

/// The newest successful `ferry_history` row that put `revision` into the version table.
struct Applied {
    kind: String,
    started_at: String,
    finished_at: String,
    duration_ms: String,
    ferry_version: String,
    host: Option<String>,
    os_user: Option<String>,
}

fn applied(db: &mut dyn driver::Driver, revision: &str) -> Result<Option<Applied>> {
    let history = crate::bookkeeping::Books::of(db).table(HISTORY_TABLE);
    let rows = db
        .query(&format!(
            "SELECT kind, started_at, finished_at, CAST(duration_ms AS TEXT), ferry_version, host, os_user \
             FROM {history} WHERE success AND revision = {} AND kind IN ('fresh', 'stamp', 'upgrade') \
             ORDER BY id DESC LIMIT 1",
            literal(revision)
        ))
        .map_err(Error::reading("reading ferry_history"))?;
    Ok(rows.into_iter().next().map(|row| {
        let get = |i: usize| row.get(i).cloned().flatten();
        Applied {
            kind: get(0).unwrap_or_default(),
            started_at: get(1).unwrap_or_default(),
            finished_at: get(2).unwrap_or_default(),
            duration_ms: get(3).unwrap_or_default(),
            ferry_version: get(4).unwrap_or_default(),
            host: get(5),
            os_user: get(6),
        }
    }))
}
