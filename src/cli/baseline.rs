//! `ferry baseline --write | --check`: the baseline generated from a replay of the legacy chain.

use serde_json::{Value, json};

use super::{Cli, Output};
use crate::author::baseline::{self, Counts};
use crate::core::graph::Graph;
use crate::core::set::{Dialect, MigrationSet, Origin};
use crate::driver::url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::scratch::Site;

pub(super) const AFTER_HELP: &str = "\
The baseline must be what the legacy chain leaves. --write replays the chain in an empty
scratch database per dialect (SQLite: in memory; PostgreSQL: a throwaway database on the
server -d names) and writes baseline/<dialect>.sql into the set directory: tables in
dependency order, indexes, views, the rows the chain inserts (in primary-key order), on
PostgreSQL types, sequences (with their current values) and functions, and the triggers
last. ferry's own tables and the legacy marker's row are left out.
--check builds the replay and a fresh install from the committed baseline, each in a scratch
database, and compares their schemas object by object and their rows: exit 0 equal, 1 naming
each difference.
Without -d postgres://… only SQLite is written or checked, and the output says PostgreSQL was
skipped.

Examples:
  ferry --migrations ./db baseline --write -d postgres://postgres@localhost/postgres
  ferry --migrations ./db baseline --check             SQLite only
  ferry baseline --check -d postgres://u@h/postgres    the compiled-in set, both dialects";

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["write", "check"])))]
pub(super) struct BaselineArgs {
    /// Replay the legacy chain and write baseline/<dialect>.sql (needs --migrations DIR)
    #[arg(long)]
    write: bool,
    /// Exit 0 when the committed baseline gives the replay's schema and rows, 1 naming each difference
    #[arg(long)]
    check: bool,
}

pub(super) fn run(
    cli: &Cli,
    set: &MigrationSet,
    graph: &Graph,
    args: &BaselineArgs,
) -> Result<Output> {
    let root = match (&set.origin, args.write) {
        (Origin::Dir(root), _) => Some(root.clone()),
        (Origin::Embedded, true) => {
            return Err(Error::Usage(
                "baseline --write writes into a migration set's directory, and this is the set compiled into ferry: \
                 pass --migrations DIR"
                    .into(),
            ));
        }
        (Origin::Embedded, false) => None,
    };
    let server = match cli.database.as_deref() {
        None => None,
        Some(text) => match DatabaseUrl::parse(text).map_err(Error::Usage)? {
            url @ DatabaseUrl::Postgres(_) => Some(url),
            other => {
                return Err(Error::Usage(format!(
                    "baseline: -d {} is not a PostgreSQL URL; -d names the PostgreSQL server whose scratch \
                     databases build the PostgreSQL baseline (SQLite always builds in memory)",
                    other.display()
                )));
            }
        },
    };
    // The dialects the set supports (those its baseline has files for).
    let dialects: Vec<Dialect> = if set.baselines.is_empty() {
        vec![Dialect::Sqlite, Dialect::Postgres]
    } else {
        set.baselines.keys().copied().collect()
    };
    let purpose = if args.write {
        "baseline --write"
    } else {
        "baseline --check"
    };
    let mut text = String::new();
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    let mut differ = false;
    for dialect in dialects {
        let file = format!("baseline/{}.sql", dialect.name());
        let site = match (dialect, &server) {
            (Dialect::Sqlite, _) => Site::from(&DatabaseUrl::SqliteMemory),
            (Dialect::Postgres, Some(url)) => Site::from(url),
            (Dialect::Postgres, None) => {
                text.push_str(&format!(
                    "{file}: skipped PostgreSQL (no server: pass -d postgres://… to {} it)\n",
                    if args.write { "write" } else { "check" }
                ));
                skipped.push(dialect.name());
                continue;
            }
        };
        if let Some(root) = &root
            && args.write
        {
            let dump = baseline::generate(set, graph, &site, purpose)?;
            let path = root.join(&file);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io(&path, e))?;
            }
            std::fs::write(&path, &dump.sql).map_err(|e| io(&path, e))?;
            text.push_str(&format!(
                "{file}: written from the replay of legacy {} ({})\n",
                set.steps_text(),
                summary(&dump.counts)
            ));
            results.push(json!({"dialect": dialect.name(), "file": path.display().to_string(), "counts": dump.counts}));
        } else {
            let checked = baseline::check(set, graph, &site, purpose)?;
            if checked.differences.is_empty() {
                text.push_str(&format!(
                    "{file}: a fresh install equals the replay of legacy {} ({})\n",
                    set.steps_text(),
                    summary(&checked.counts)
                ));
            } else {
                differ = true;
                text.push_str(&format!(
                    "{file}: {} difference(s) between the replay of legacy {} (expected) and a fresh install from {file}:\n",
                    checked.differences.len(),
                    set.steps_text()
                ));
                for d in &checked.differences {
                    text.push_str(&format!("  - {d}\n"));
                }
            }
            results.push(json!({
                "dialect": dialect.name(), "file": file, "equal": checked.differences.is_empty(),
                "differences": checked.differences, "counts": checked.counts,
            }));
        }
    }
    if differ {
        text.push_str(
            "The baseline is generated: run `ferry --migrations DIR baseline --write` to write it from the replay.\n",
        );
    }
    let key = if args.write { "written" } else { "checked" };
    let mut json = json!({ "skipped": skipped });
    if let Value::Object(o) = &mut json {
        o.insert(key.into(), Value::Array(results));
        if !args.write {
            o.insert("equal".into(), Value::Bool(!differ));
        }
    }
    Ok(Output {
        text,
        json,
        code: u8::from(differ),
    })
}

fn summary(c: &Counts) -> String {
    let mut parts = vec![
        format!("{} tables", c.tables),
        format!("{} indexes", c.indexes),
        format!("{} triggers", c.triggers),
        format!("{} views", c.views),
    ];
    if c.routines > 0 {
        parts.push(format!("{} functions and types", c.routines));
    }
    if c.sequences > 0 {
        parts.push(format!("{} sequences", c.sequences));
    }
    parts.push(format!("{} rows", c.rows));
    parts.join(", ")
}

fn io(path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}
