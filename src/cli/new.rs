//! `ferry new` and `ferry merge`: scaffold revision directories in a set (`--migrations DIR`);
//! `ferry new --autogenerate`: a revision written from a development database.

use serde_json::json;

use super::{Cli, Output, database_url, scratch_site};
use crate::author::autogenerate as autogen;
use crate::core::graph::Graph;
use crate::core::set::{Dialect, MigrationSet};
use crate::driver::url::DatabaseUrl;
use crate::error::{Error, Result};
use crate::scaffold::{self, Scaffold};
use crate::scratch::Site;

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

/// `ferry new MESSAGE --autogenerate -d DEV [--dialect-db URL] [--sql]`.
pub(super) fn autogenerate(
    cli: &Cli,
    set: &MigrationSet,
    graph: &Graph,
    message: &str,
    transaction: bool,
    dialect_db: Option<&str>,
    sql: bool,
) -> Result<Output> {
    let dev_text = cli
        .database
        .clone()
        .or_else(|| std::env::var("FERRY_DATABASE_URL").ok())
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or_else(|| {
            Error::Usage(
                "--autogenerate compares the set's head with your development database: pass it with -d DEV_URL \
                 (e.g. -d sqlite:dev.db or -d postgres://user@localhost/app_dev)"
                    .into(),
            )
        })?;
    let dev_url = database_url(cli, Some(&dev_text))?;
    let mut targets = vec![(dev_url.clone(), scratch_site(cli, &dev_url)?, "DEV")];
    if let Some(text) = dialect_db {
        let url =
            DatabaseUrl::parse(text).map_err(|e| Error::Usage(format!("--dialect-db: {e}")))?;
        if url.dialect() == dev_url.dialect() {
            let other = Dialect::ALL
                .into_iter()
                .find(|d| *d != dev_url.dialect())
                .unwrap_or(Dialect::Postgres);
            return Err(Error::Usage(format!(
                "--dialect-db {} is a {} database, like -d {}: it names a development database of the other dialect ({}), \
                 whose files are written beside DEV's",
                url.display(),
                url.dialect().name(),
                dev_url.display(),
                other.name()
            )));
        }
        let site = Site::from(&url);
        targets.push((url, site, "--dialect-db"));
    }
    let planned = scaffold::plan_revision(set, graph, message)?;

    let mut generated = Vec::new();
    for (url, site, role) in &targets {
        if let Some(path) = url.missing_file() {
            return Err(Error::Open {
                target: url.display(),
                message: format!(
                    "{} does not exist: {role} is the development database whose schema the revision is written from",
                    path.display()
                ),
            });
        }
        let mut db = super::open(cli, url, false)?;
        let g = autogen::generate(set, graph, site, db.as_mut())?;
        generated.push((url.display(), *role, g));
    }
    if generated.iter().all(|(_, _, g)| g.differences.is_empty()) {
        let names: Vec<String> = generated.iter().map(|(u, _, _)| u.clone()).collect();
        return Ok(Output {
            text: format!(
                "no difference between the head ({}) and DEV ({}): nothing written\n",
                planned.down,
                names.join(", ")
            ),
            json: json!({"revision": null, "differences": [], "written": false}),
            code: 1,
        });
    }

    let mut files: Vec<(String, String)> = Vec::new();
    let mut text = String::new();
    let mut reviews = Vec::new();
    let mut differences = serde_json::Map::new();
    for (url, role, g) in &generated {
        let d = g.dialect.name();
        let intro = |stem: &str| {
            let what = if stem == "up" {
                format!(
                    "Upgrade, {d} only: turns the schema of the head ({}) into that of the development database\n\
                     -- it was generated from ({url}) by `ferry new --autogenerate`.",
                    planned.down
                )
            } else {
                format!(
                    "Downgrade, {d} only: turns the schema back into that of {}.",
                    planned.down
                )
            };
            format!(
                "-- {}: {}\n-- {what}\n-- Review it before committing: `{}` lines mark what may lose data or needs a decision.\n\n",
                planned.id,
                planned.message,
                autogen::REVIEW
            )
        };
        let body = |sql: &str| {
            if sql.is_empty() {
                "-- ferry:empty\n".to_string()
            } else {
                sql.to_string()
            }
        };
        files.push((format!("up.{d}.sql"), intro("up") + &body(&g.up)));
        files.push((format!("down.{d}.sql"), intro("down") + &body(&g.down)));
        if g.differences.is_empty() {
            text.push_str(&format!(
                "{d}: no difference between the head and {role} ({url}): its files do nothing (-- ferry:empty); was that database changed too?\n"
            ));
        } else {
            text.push_str(&format!(
                "{d}: {} difference(s) from the head in {role} ({url}):\n",
                g.differences.len()
            ));
            for diff in &g.differences {
                text.push_str(&format!("  {}\n", shown(diff)));
            }
        }
        reviews.extend(g.reviews.iter().map(|r| format!("{d}: {r}")));
        differences.insert(d.to_string(), json!(g.differences));
    }
    let left: Vec<Dialect> = Dialect::ALL
        .into_iter()
        .filter(|d| !generated.iter().any(|(_, _, g)| g.dialect == *d))
        .filter(|d| set.baselines.is_empty() || set.baselines.contains_key(d))
        .collect();

    let (directory, written) = if sql {
        let dir = planned.root.join("revisions").join(&planned.id);
        let mut printed = String::new();
        for (name, body) in &files {
            printed.push_str(&format!(
                "-- ==> {} <==\n{body}\n",
                dir.join(name).display()
            ));
        }
        text = format!("{printed}{text}(--sql: nothing written)\n");
        (dir, Vec::new())
    } else {
        let made = scaffold::write_planned(set, &planned, transaction, files.clone())?;
        text = format!(
            "created {} (down: {}): {}\n{text}",
            made.directory.display(),
            made.down.join(", "),
            made.files.join(", ")
        );
        (made.directory, made.files)
    };
    if !reviews.is_empty() {
        text.push_str(&format!(
            "review before committing, above all the {} `-- review:` line(s):\n",
            reviews.len()
        ));
        for r in &reviews {
            text.push_str(&format!("  {r}\n"));
        }
    }
    for d in &left {
        text.push_str(&format!(
            "the {0} files (up.{0}.sql, down.{0}.sql) are left to write: `ferry lint` refuses the set until they exist \
             (or generate them with --dialect-db and a {0} development database)\n",
            d.name()
        ));
    }
    Ok(Output::ok(
        text,
        json!({
            "revision": planned.id,
            "directory": directory.display().to_string(),
            "down": [planned.down],
            "message": planned.message,
            "written": !sql,
            "files": if sql { files.iter().map(|(n, b)| json!({"name": n, "text": b})).collect::<Vec<_>>() }
                     else { written.iter().map(|n| json!({"name": n})).collect() },
            "differences": differences,
            "reviews": reviews,
            "left_to_write": left.iter().map(|d| d.name()).collect::<Vec<_>>(),
        }),
    ))
}

/// A difference as the revision sees it: `+` what DEV adds, `-` what it drops, `~` a change.
fn shown(d: &crate::core::schema::Difference) -> String {
    match (d.change, &d.expected, &d.actual) {
        ("extra", _, Some(a)) => format!("+ {} ({a})", d.object),
        ("extra", _, None) => format!("+ {}", d.object),
        ("missing", Some(e), _) => format!("- {} ({e})", d.object),
        ("missing", None, _) => format!("- {}", d.object),
        (_, Some(e), Some(a)) => format!("~ {}: {e} → {a}", d.object),
        _ => format!("~ {}", d.object),
    }
}
