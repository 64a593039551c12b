//! The generated baseline: `baseline/<dialect>.sql` written from a replay of the legacy chain in
//! a scratch database, and checked against one.
//!
//! The dump is deterministic and readable: (PostgreSQL: schemas, extensions, enum and domain
//! types, sequences, functions) tables in dependency order (a table after those its foreign
//! keys reference), indexes, views, the rows the chain itself inserts (every row of every table,
//! in primary-key order), (PostgreSQL: the sequences' current values) and the triggers last, so
//! none fires on those rows. ferry's own tables are left out, and so is the legacy marker's row:
//! ferry writes it on a fresh install when `write_marker_on_fresh` says so. The marker's table
//! itself is the chain's and stays, with its other rows.
//!
//! DDL comes from the database's own catalog: SQLite's `sqlite_master.sql` as SQLite stored it;
//! on PostgreSQL the drivers' snapshot (columns with `format_type`, defaults, identity,
//! `pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_triggerdef`), with the column order, the
//! views' and functions' own text and the sequences' values read beside it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::bookkeeping::HISTORY_TABLE;
use crate::core::graph::Graph;
use crate::core::schema::{self, Difference, Schema, Scope};
use crate::core::set::{Dialect, Marker, MigrationSet};
use crate::core::state::Position;
use crate::driver::{Driver, literal};
use crate::error::{Error, Result};
use crate::fixture::{self, TestDirs};
use crate::runner::{BackupPolicy, Runner};
use crate::scratch::{self, Scratch, Site};

use super::catalog::{
    Col, cell, ident, owned_by_identity, postgres_column_definition, postgres_columns,
    postgres_functions, postgres_views, query, references, sqlite_columns, sqlite_objects,
    table_name, table_order,
};

/// How many rows one INSERT statement of the dump carries.
const ROWS_PER_INSERT: usize = 100;

/// What a dump holds, for the command's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub tables: usize,
    pub indexes: usize,
    pub triggers: usize,
    pub views: usize,
    pub routines: usize,
    pub sequences: usize,
    pub rows: usize,
}

/// A generated baseline script and what it holds.
#[derive(Debug, Clone)]
pub struct Dump {
    pub sql: String,
    pub counts: Counts,
}

/// `baseline --check` for one dialect: every difference between the replay (expected) and a
/// fresh install from the committed baseline (actual), schema first, then rows.
#[derive(Debug, Clone)]
pub struct Checked {
    pub differences: Vec<Difference>,
    pub counts: Counts,
}

/// ferry's own tables, never dumped or compared. The marker's table is the chain's own.
pub fn own_tables(set: &MigrationSet) -> Vec<&str> {
    vec![HISTORY_TABLE, set.config.revisions.version_table.as_str()]
}

/// Replays the legacy chain (without seeds) in a new scratch database at `site`.
pub fn replay(set: &MigrationSet, graph: &Graph, site: &Site, purpose: &str) -> Result<Scratch> {
    build(
        set,
        graph,
        site,
        &Position::Legacy(set.cap()),
        &format!("{purpose}: replaying the legacy chain"),
    )
}

/// A fresh install from the set's baseline (and what ferry writes beside it) in a new scratch
/// database at `site`.
pub fn fresh_install(
    set: &MigrationSet,
    graph: &Graph,
    site: &Site,
    purpose: &str,
) -> Result<Scratch> {
    build(
        set,
        graph,
        site,
        &Position::Revisions(vec![set.baseline_id().to_string()]),
        &format!(
            "{purpose}: a fresh install from baseline/{}.sql",
            site.live.dialect().name()
        ),
    )
}

fn build(
    set: &MigrationSet,
    graph: &Graph,
    site: &Site,
    target: &Position,
    purpose: &str,
) -> Result<Scratch> {
    let mut scratch = Scratch::beside(site, purpose)?;
    {
        let mut runner = Runner::new(set, graph, scratch.driver());
        runner.backup = BackupPolicy::Off;
        fixture::build(&mut runner, target, &TestDirs::default())
            .map_err(scratch::failed(purpose))?;
    }
    Ok(scratch)
}

/// The replay's baseline script, generated in a scratch database at `site`.
pub fn generate(set: &MigrationSet, graph: &Graph, site: &Site, purpose: &str) -> Result<Dump> {
    let mut scratch = replay(set, graph, site, purpose)?;
    dump(set, scratch.driver())
}

/// Compares a fresh install from the committed baseline with the replay, both built in scratch
/// databases at `site`.
pub fn check(set: &MigrationSet, graph: &Graph, site: &Site, purpose: &str) -> Result<Checked> {
    let mut replayed = replay(set, graph, site, purpose)?;
    let mut fresh = fresh_install(set, graph, site, purpose)?;
    let (expected_db, actual_db) = (replayed.driver(), fresh.driver());
    let expected = snapshot(set, expected_db)?;
    let actual = snapshot(set, actual_db)?;
    let mut differences = schema::diff(&expected, &actual);
    let mut counts = counts_of(&expected);
    for (table, shape) in &expected.tables {
        let Some(other) = actual.tables.get(table) else {
            continue;
        };
        // The columns both have, by name: column order and missing columns are schema matters.
        let columns: Vec<Col> = shape
            .columns
            .iter()
            .filter(|(name, _)| other.columns.contains_key(*name))
            .map(|(name, c)| Col::plain(expected_db.dialect(), name, &c.data_type))
            .collect();
        let want = rows_of(set, expected_db, &expected, table, &columns, false)?;
        let have = rows_of(set, actual_db, &actual, table, &columns, false)?;
        counts.rows += want.len();
        row_differences(table, &columns, &want, &have, &mut differences);
    }
    Ok(Checked {
        differences,
        counts,
    })
}

/// The schema as the baseline covers it: everything but ferry's own tables.
fn snapshot(set: &MigrationSet, db: &mut dyn Driver) -> Result<Schema> {
    db.snapshot_in(&own_tables(set), &Scope::everything())
        .map_err(Error::reading("reading the scratch database's schema"))
}

fn counts_of(schema: &Schema) -> Counts {
    Counts {
        tables: schema.tables.len(),
        indexes: schema.indexes.len(),
        triggers: schema.triggers.len(),
        views: schema.views.len(),
        routines: schema.routines.len(),
        sequences: schema.sequences.len(),
        rows: 0,
    }
}

/// Rows only one side has, each named with its values (a multiset difference).
fn row_differences(
    table: &str,
    columns: &[Col],
    want: &[String],
    have: &[String],
    out: &mut Vec<Difference>,
) {
    let names = columns
        .iter()
        .map(|c| c.ident.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let count = |rows: &[String]| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for r in rows {
            *m.entry(r.clone()).or_default() += 1;
        }
        m
    };
    let (w, h) = (count(want), count(have));
    let mut push = |row: &str, change: &'static str| {
        let shown = format!("({names}) = {row}");
        out.push(Difference {
            object: format!("row of {table}"),
            change,
            expected: (change == "missing").then(|| shown.clone()),
            actual: (change == "extra").then_some(shown),
        });
    };
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for row in want {
        let n = seen.entry(row).or_default();
        *n += 1;
        if *n > h.get(row).copied().unwrap_or(0) {
            push(row, "missing");
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for row in have {
        let n = seen.entry(row).or_default();
        *n += 1;
        if *n > w.get(row).copied().unwrap_or(0) {
            push(row, "extra");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rows

/// Every row of `table` (the marker's row left out), each as `(v1, v2, …)` of SQL literals
/// over `columns`, in primary-key order (without one, in the order of the values). `readable`:
/// numbers and booleans bare on PostgreSQL, as the dump writes them.
fn rows_of(
    set: &MigrationSet,
    db: &mut dyn Driver,
    schema: &Schema,
    table: &str,
    columns: &[Col],
    readable: bool,
) -> Result<Vec<String>> {
    let dialect = db.dialect();
    let columns: Vec<&Col> = columns.iter().filter(|c| !c.generated).collect();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let mut filter = String::new();
    if set.config.legacy.marker.table() == Some(table) {
        match &set.config.legacy.marker {
            Marker::SingleRow { .. } => return Ok(Vec::new()),
            Marker::KvTable {
                key_column, key, ..
            } => {
                let op = match dialect {
                    Dialect::Sqlite => "IS NOT",
                    Dialect::Postgres => "IS DISTINCT FROM",
                };
                filter = format!(
                    " WHERE {} {op} {}",
                    ident(dialect, key_column),
                    literal(key)
                );
            }
            Marker::UserVersion => {}
        }
    }
    let quote_fn = match dialect {
        Dialect::Sqlite => "quote",
        Dialect::Postgres => "quote_nullable",
    };
    let select = columns
        .iter()
        .map(|c| format!("{quote_fn}({})", c.ident))
        .collect::<Vec<_>>()
        .join(", ");
    let order = match primary_key(db, schema, table)? {
        Some(pk) => pk,
        None => (1..=columns.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let sql = format!(
        "SELECT {select} FROM {}{filter} ORDER BY {order}",
        table_name(dialect, table)
    );
    let rows = db
        .query(&sql)
        .map_err(Error::reading(format!("reading the rows of {table}")))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let values: Vec<String> = row
                .into_iter()
                .zip(&columns)
                .map(|(v, c)| {
                    let v = v.unwrap_or_else(|| "NULL".into());
                    if readable && dialect == Dialect::Postgres {
                        bare(&v, &c.data_type)
                    } else {
                        v
                    }
                })
                .collect();
            format!("({})", values.join(", "))
        })
        .collect())
}

/// A PostgreSQL literal of a number or boolean column without its quotes.
fn bare(value: &str, data_type: &str) -> String {
    let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) else {
        return value.to_string();
    };
    let numeric = ["smallint", "integer", "bigint", "real", "double precision"]
        .contains(&data_type)
        || data_type.starts_with("numeric");
    if data_type == "boolean" {
        return match inner {
            "t" | "true" => "TRUE".into(),
            "f" | "false" => "FALSE".into(),
            _ => value.to_string(),
        };
    }
    let is_number = !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && inner.bytes().any(|b| b.is_ascii_digit());
    if numeric && is_number {
        inner.to_string()
    } else {
        value.to_string()
    }
}

/// The primary key's columns as an ORDER BY list, if the table has one.
fn primary_key(db: &mut dyn Driver, schema: &Schema, table: &str) -> Result<Option<String>> {
    match db.dialect() {
        Dialect::Sqlite => {
            let rows = db
                .query(&format!(
                    "SELECT name FROM pragma_table_info({}) WHERE pk > 0 ORDER BY pk",
                    literal(table)
                ))
                .map_err(Error::reading(format!(
                    "reading the primary key of {table}"
                )))?;
            let names: Vec<String> = rows
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .map(|n| ident(Dialect::Sqlite, &n))
                .collect();
            Ok((!names.is_empty()).then(|| names.join(", ")))
        }
        Dialect::Postgres => Ok(schema.tables.get(table).and_then(|t| {
            t.constraints.values().find_map(|def| {
                let rest = def.strip_prefix("PRIMARY KEY (")?;
                Some(rest[..rest.find(')')?].to_string())
            })
        })),
    }
}

/// The INSERT statements of a table's rows.
fn inserts(out: &mut String, dialect: Dialect, table: &str, columns: &[Col], rows: &[String]) {
    let inserted: Vec<&Col> = columns.iter().filter(|c| !c.generated).collect();
    let names = inserted
        .iter()
        .map(|c| c.ident.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let overriding = if dialect == Dialect::Postgres && inserted.iter().any(|c| c.identity_always) {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        out.push_str(&format!(
            "INSERT INTO {} ({names}){overriding} VALUES\n    {};\n\n",
            table_name(dialect, table),
            chunk.join(",\n    ")
        ));
    }
}

// ---------------------------------------------------------------------------------------
// The dump

/// The baseline script of the database `db` (the replay).
pub fn dump(set: &MigrationSet, db: &mut dyn Driver) -> Result<Dump> {
    let schema = snapshot(set, db)?;
    let dialect = db.dialect();
    let mut counts = counts_of(&schema);
    let mut out = header(set, dialect);
    let columns = match dialect {
        Dialect::Sqlite => sqlite_columns(db, &schema)?,
        Dialect::Postgres => postgres_columns(db, &schema)?,
    };
    let order = table_order(&schema);
    let rows_section = {
        let mut text = String::new();
        for table in &order {
            let cols = columns.get(table).cloned().unwrap_or_default();
            let rows = rows_of(set, db, &schema, table, &cols, true)?;
            counts.rows += rows.len();
            inserts(&mut text, dialect, table, &cols, &rows);
        }
        text
    };
    match dialect {
        Dialect::Sqlite => sqlite_ddl(db, &schema, &order, &rows_section, &mut out)?,
        Dialect::Postgres => postgres_ddl(db, &schema, &order, &columns, &rows_section, &mut out)?,
    }
    Ok(Dump {
        sql: format!("{}\n", out.trim_end()),
        counts,
    })
}

fn header(set: &MigrationSet, dialect: Dialect) -> String {
    let shown = match dialect {
        Dialect::Sqlite => "SQLite",
        Dialect::Postgres => "PostgreSQL",
    };
    let marker = match (
        set.config.legacy.marker.table(),
        set.config.legacy.write_marker_on_fresh,
    ) {
        (None, _) => String::new(),
        (Some(t), true) => format!(
            "\n-- The legacy marker's row in {t} is left out: ferry writes it on a fresh install."
        ),
        (Some(t), false) => format!("\n-- The legacy marker's row in {t} is left out."),
    };
    format!(
        "-- Baseline revision {} ({shown}), generated by `ferry baseline --write` from a replay of\n\
         -- the legacy chain ({}): every object and row it leaves, ferry's own tables left out.{marker}\n\
         -- Regenerate it rather than edit it; `ferry baseline --check` compares it with the replay.\n\n",
        set.baseline_id(),
        set.steps_text()
    )
}

fn section(out: &mut String, title: &str) {
    let line = format!("-- {title} ");
    out.push_str(&format!("{line:-<79}\n\n"));
}

fn sqlite_ddl(
    db: &mut dyn Driver,
    schema: &Schema,
    order: &[String],
    rows: &str,
    out: &mut String,
) -> Result<()> {
    let objects = sqlite_objects(db)?;
    let mut tables = BTreeMap::new();
    let (mut indexes, mut views, mut triggers) = (Vec::new(), Vec::new(), Vec::new());
    for o in objects {
        let (kind, name, table, sql) = (o.kind, o.name, o.table, o.sql);
        let known = match kind.as_str() {
            "table" => schema.tables.contains_key(&name),
            "index" => schema.indexes.contains_key(&name),
            "view" => schema.views.contains_key(&name),
            "trigger" => schema
                .triggers
                .keys()
                .any(|k| k == &name || k.strip_prefix(&name).is_some_and(|r| r.starts_with(' '))),
            _ => false,
        };
        // ferry's own tables (and their indexes and triggers) are not in the snapshot.
        if !known {
            continue;
        }
        let statement = format!("{sql}\n");
        match kind.as_str() {
            "table" => {
                tables.insert(name, statement);
            }
            "index" => indexes.push((table, name, statement)),
            "view" => views.push(statement),
            _ => triggers.push((table, name, statement)),
        }
    }
    let position = |t: &str| order.iter().position(|o| o == t).unwrap_or(usize::MAX);
    indexes.sort_by(|a, b| (position(&a.0), &a.1).cmp(&(position(&b.0), &b.1)));
    triggers.sort_by(|a, b| (position(&a.0), &a.1).cmp(&(position(&b.0), &b.1)));
    section(out, "Tables");
    for t in order {
        if let Some(s) = tables.get(t) {
            out.push_str(s);
            out.push('\n');
        }
    }
    emit(out, "Indexes", indexes.into_iter().map(|(_, _, s)| s));
    emit(out, "Views", views);
    if !rows.is_empty() {
        section(out, "Reference rows");
        out.push_str(rows);
    }
    emit(
        out,
        "Triggers (after the rows, so none fires on them)",
        triggers.into_iter().map(|(_, _, s)| s),
    );
    Ok(())
}

/// A section of statements, each followed by a blank line; nothing when there are none.
fn emit(out: &mut String, title: &str, statements: impl IntoIterator<Item = String>) {
    let statements: Vec<String> = statements.into_iter().collect();
    if statements.is_empty() {
        return;
    }
    section(out, title);
    for s in statements {
        out.push_str(&s);
        if !s.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
}

fn postgres_ddl(
    db: &mut dyn Driver,
    schema: &Schema,
    order: &[String],
    columns: &BTreeMap<String, Vec<Col>>,
    rows: &str,
    out: &mut String,
) -> Result<()> {
    let dialect = Dialect::Postgres;
    emit(
        out,
        "Schemas and extensions",
        schema
            .schemas
            .iter()
            .map(|s| format!("CREATE SCHEMA {};", ident(dialect, s)))
            .chain(schema.extensions.iter().map(|(name, e)| {
                let at = e
                    .schema
                    .as_ref()
                    .map(|s| format!(" SCHEMA {}", ident(dialect, s)))
                    .unwrap_or_default();
                format!(
                    "CREATE EXTENSION {}{at} VERSION {};",
                    ident(dialect, name),
                    literal(&e.version)
                )
            })),
    );

    let types = schema.routines.iter().filter_map(|(key, def)| {
        let name = key.strip_prefix("type ")?;
        let name = table_name(dialect, name);
        Some(match def.strip_prefix("DOMAIN ") {
            Some(rest) => format!("CREATE DOMAIN {name} AS {rest};"),
            None => format!("CREATE TYPE {name} AS {def};"),
        })
    });
    emit(out, "Types", types);

    // Sequences an identity column does not make itself; owned ones get their owner below.
    let mut owners = Vec::new();
    let mut sequences = Vec::new();
    for (name, def) in &schema.sequences {
        let (def, owner) = match def.split_once(" OWNED BY ") {
            Some((d, o)) => (d, Some(o)),
            None => (def.as_str(), None),
        };
        if let Some(owner) = owner {
            if owned_by_identity(schema, owner) {
                continue;
            }
            owners.push(format!(
                "ALTER SEQUENCE {} OWNED BY {owner};",
                table_name(dialect, name)
            ));
        }
        sequences.push(format!(
            "CREATE SEQUENCE {} {def};",
            table_name(dialect, name)
        ));
    }
    emit(out, "Sequences", sequences);

    let own_text = postgres_functions(db)?;
    let functions = schema
        .routines
        .iter()
        .filter(|(key, _)| !key.starts_with("type "))
        .map(|(key, normalized)| match own_text.get(key) {
            Some(text) => text.clone(),
            None => format!("{normalized};"),
        });
    emit(out, "Functions", functions);

    section(out, "Tables");
    let mut created: BTreeSet<&str> = BTreeSet::new();
    let mut deferred = Vec::new();
    for table in order {
        let Some(shape) = schema.tables.get(table) else {
            continue;
        };
        let name = table_name(dialect, table);
        let mut lines: Vec<String> = Vec::new();
        let listed = columns.get(table).cloned().unwrap_or_default();
        for col in &listed {
            let Some(c) = shape.columns.get(&col.name) else {
                continue;
            };
            lines.push(postgres_column_definition(&col.ident, c));
        }
        let rank = |d: &str| {
            if d.starts_with("PRIMARY KEY") {
                0
            } else if d.starts_with("FOREIGN KEY") {
                2
            } else {
                1
            }
        };
        let mut constraints: Vec<(&String, &String)> = shape.constraints.iter().collect();
        constraints.sort_by_key(|(n, d)| (rank(d), n.as_str()));
        for (cname, def) in constraints {
            let target = references(def);
            let later = target
                .as_deref()
                .is_some_and(|t| t != table && !created.contains(t));
            let clause = format!("CONSTRAINT {} {def}", ident(dialect, cname));
            if later {
                deferred.push(format!("ALTER TABLE {name} ADD {clause};"));
            } else {
                lines.push(clause);
            }
        }
        out.push_str(&format!(
            "CREATE TABLE {name} (\n    {}\n);\n\n",
            lines.join(",\n    ")
        ));
        created.insert(table);
    }
    emit(out, "Foreign keys to tables created after theirs", deferred);
    emit(out, "Sequence owners", owners);
    emit(
        out,
        "Indexes",
        schema.indexes.values().map(|d| format!("{d};")),
    );

    let views = postgres_views(db, schema)?.into_iter().map(|(_, v)| v);
    emit(out, "Views", views);

    if !rows.is_empty() {
        section(out, "Reference rows");
        out.push_str(rows);
    }

    let values = query(
        db,
        "SELECT CASE WHEN schemaname = current_schema() THEN sequencename::text \
           ELSE schemaname || '.' || sequencename END, last_value::text \
         FROM pg_sequences WHERE last_value IS NOT NULL ORDER BY 1",
        "the sequences' values",
    )?
    .into_iter()
    .filter(|r| schema.sequences.contains_key(&cell(r, 0)))
    .map(|r| {
        format!(
            "SELECT setval({}, {});",
            literal(&table_name(dialect, &cell(&r, 0))),
            cell(&r, 1)
        )
    });
    emit(out, "Sequence values", values);
    emit(
        out,
        "Triggers (after the rows, so none fires on them)",
        schema.triggers.values().map(|d| format!("{d};")),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_and_booleans_lose_their_quotes() {
        assert_eq!(bare("'12'", "integer"), "12");
        assert_eq!(bare("'2.5'", "double precision"), "2.5");
        assert_eq!(bare("'NaN'", "double precision"), "'NaN'");
        assert_eq!(bare("'t'", "boolean"), "TRUE");
        assert_eq!(bare("'false'", "boolean"), "FALSE");
        assert_eq!(bare("'12'", "text"), "'12'");
        assert_eq!(bare("NULL", "integer"), "NULL");
    }

    #[test]
    fn rows_only_one_side_has_are_named_once_per_copy() {
        let cols = vec![Col::plain(Dialect::Sqlite, "id", "INTEGER")];
        let mut out = Vec::new();
        row_differences(
            "t",
            &cols,
            &["(1)".into(), "(2)".into(), "(2)".into()],
            &["(2)".into(), "(3)".into()],
            &mut out,
        );
        let shown: Vec<String> = out.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "row of t is missing (expected (id) = (1))",
                "row of t is missing (expected (id) = (2))",
                "row of t is extra ((id) = (3))",
            ]
        );
    }
}
