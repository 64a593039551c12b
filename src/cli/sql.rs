//! `plan --sql`, `plan --from`, `upgrade --sql`: what `upgrade` would run, from a database
//! (read only) or from a position given with `--from` (no database at all).

use serde_json::json;

use super::{Cli, Output, database_url, open, runner};
use crate::bookkeeping;
use crate::core::graph::Graph;
use crate::core::plan;
use crate::core::set::{Dialect, MigrationSet};
use crate::core::state::State;
use crate::driver::url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::render::{self, Request};
use crate::runner::describe;

/// `--dialect`: the SQL dialect of a script rendered without a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DialectArg {
    Sqlite,
    Postgres,
}

impl From<DialectArg> for Dialect {
    fn from(d: DialectArg) -> Dialect {
        match d {
            DialectArg::Sqlite => Dialect::Sqlite,
            DialectArg::Postgres => Dialect::Postgres,
        }
    }
}

/// What was asked: the SQL script or the step list, from where, for which dialect.
pub struct Ask<'a> {
    pub target: &'a str,
    pub sql: bool,
    pub from: Option<&'a str>,
    pub dialect: Option<DialectArg>,
    /// `upgrade --sql` refuses edited revisions as `upgrade` does, unless accepted; `plan`
    /// (like `plan` without `--sql`) does not look.
    pub check_edited: bool,
    pub accept_edited: &'a [String],
}

pub(super) fn run(cli: &Cli, set: &MigrationSet, graph: &Graph, ask: &Ask<'_>) -> Result<Output> {
    let (dialect, state, origin, accepted, database, mut db) = match ask.from {
        Some(from) => {
            let dialect = offline_dialect(cli, ask.dialect)?;
            let state = parse_from(set, graph, from)?;
            (
                dialect,
                state,
                format!("given with --from {from}; no database was read"),
                Vec::new(),
                None,
                None,
            )
        }
        None => {
            let url = database_url(cli, None)?;
            let dialect = url.dialect();
            if let Some(d) = ask.dialect
                && Dialect::from(d) != dialect
            {
                return Err(Error::Usage(format!(
                    "--dialect {} contradicts the database {}, which is {}; drop --dialect (it is for --from)",
                    Dialect::from(d).name(),
                    url.display(),
                    dialect.name()
                )));
            }
            let mut db = open(cli, &url, false)?;
            let mut r = runner(cli, set, graph, db.as_mut(), false);
            let (state, probe) = r.inspect()?;
            let accepted = if ask.check_edited {
                r.accepted_edits(&state, &probe, ask.accept_edited)?
            } else {
                Vec::new()
            };
            drop(r);
            (
                dialect,
                state,
                format!("read from {}", url.display()),
                accepted,
                Some(url.display()),
                Some(db),
            )
        }
    };
    bookkeeping::check_marker_dialect(set, dialect)?;
    let plan = plan::upgrade(set, graph, &state, ask.target)?;
    if !ask.sql {
        plan::check_runnable(set, &plan, dialect)?;
        let mut text = super::numbered_steps(set, &plan.steps);
        let handoff =
            super::handoff::left_out(set, "", "not part of this plan").map(|(note, json)| {
                text.push_str(&note);
                json
            });
        return Ok(Output::ok(
            text,
            json!({"database": database, "from": describe(&state), "dialect": dialect.name(), "state": state, "steps": plan.steps, "heads_after": plan.heads_after, "handoff": handoff}),
        ));
    }
    let rendering = render::render(
        set,
        graph,
        &Request {
            dialect,
            state: &state,
            plan: &plan,
            target: ask.target,
            origin: &origin,
            accepted: &accepted,
            schema: cli.schema.as_deref(),
        },
        match &mut db {
            Some(d) => Some(d.as_mut()),
            None => None,
        },
    )?;
    let mut json = serde_json::to_value(&rendering).map_err(|e| Error::Usage(e.to_string()))?;
    if let Some(o) = json.as_object_mut() {
        o.insert("database".into(), json!(database));
        o.insert("state".into(), json!(state));
        o.insert("target".into(), json!(ask.target));
    }
    let mut script = rendering.script;
    if let Some((note, handoff)) =
        super::handoff::left_out(set, "\n-- ", "a command, not SQL: not in this script")
    {
        script.push_str(&note);
        if let Some(o) = json.as_object_mut() {
            o.insert("handoff".into(), handoff);
        }
    }
    Ok(Output::ok(script, json))
}

/// The dialect of a script rendered without a database: `--dialect`, else the scheme of
/// `--database` (never opened), else an error that says what to pass.
fn offline_dialect(cli: &Cli, arg: Option<DialectArg>) -> Result<Dialect> {
    let given = cli
        .database
        .clone()
        .or_else(|| std::env::var("FERRY_DATABASE_URL").ok())
        .or_else(|| std::env::var("DATABASE_URL").ok());
    let from_url = match &given {
        Some(text) => Some(DatabaseUrl::parse(text).map_err(Error::Usage)?.dialect()),
        None => None,
    };
    match (arg.map(Dialect::from), from_url) {
        (Some(a), Some(u)) if a != u => Err(Error::Usage(format!(
            "--dialect {} contradicts the database URL, which is {}; give one of them",
            a.name(),
            u.name()
        ))),
        (Some(d), _) | (None, Some(d)) => Ok(d),
        (None, None) => Err(Error::Usage(
            "--from renders without a database, so ferry needs the SQL dialect: pass --dialect sqlite or --dialect postgres (or a --database URL, which is not opened)".into(),
        )),
    }
}

/// `--from`: `empty`, `legacy:N`, or revision(s) — ids, unique prefixes, `base`, `head`,
/// REV+N…, several heads separated by commas.
pub fn parse_from(set: &MigrationSet, graph: &Graph, from: &str) -> Result<State> {
    let from = from.trim();
    if from == "empty" {
        return Ok(State::Empty);
    }
    if let Some(n) = from.strip_prefix("legacy:") {
        let version: u32 = n.trim().parse().map_err(|_| {
            Error::Usage(format!(
                "--from {from}: {n:?} is not a legacy version; write legacy:N with N in 0..={}",
                set.cap()
            ))
        })?;
        if version > 0 && version < set.floor() {
            return Err(Error::Usage(format!(
                "--from {from}: legacy {version} is older than legacy {}, the oldest version this migration set bridges \
                 (its steps are {}); ferry refuses such a database",
                set.floor(),
                set.steps_text()
            )));
        }
        if version <= set.cap() {
            return Ok(State::Legacy { version });
        }
        return match set.superseded.get(&version) {
            Some(revision) => Ok(State::Superseded {
                version,
                revision: revision.clone(),
            }),
            None => Err(Error::Usage(format!(
                "--from {from}: legacy {version} is above the cap {} and not superseded (legacy.superseded in ferry.toml); ferry refuses such a database",
                set.cap()
            ))),
        };
    }
    let mut nodes = Vec::new();
    for part in from.split(',') {
        let found = graph.resolve(part, &[]).map_err(|e| {
            Error::Usage(format!(
                "--from {from}: {e} (write empty, legacy:N, or revision id(s))"
            ))
        })?;
        nodes.extend(found);
    }
    nodes.sort_unstable();
    nodes.dedup();
    for &a in &nodes {
        let below = graph.ancestors(&[a]);
        if let Some(&b) = nodes.iter().find(|&&b| b != a && below[b]) {
            return Err(Error::Usage(format!(
                "--from {from}: {} descends from {}; a database holds one row per head, so name only {}",
                graph.id(a),
                graph.id(b),
                graph.id(a)
            )));
        }
    }
    let mut heads: Vec<String> = nodes.iter().map(|&n| graph.id(n).to_string()).collect();
    heads.sort();
    Ok(State::Managed { heads })
}
