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
use crate::driver::{Driver, Rows, literal};
use crate::error::{Error, Result};
use crate::fixture::{self, TestDirs};
use crate::runner::{BackupPolicy, Runner};
use crate::scratch::{self, Scratch, Site};

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

/// A column as a dump writes it.
#[derive(Debug, Clone)]
struct Col {
    name: String,
    /// The name as SQL (quoted where it must be).
    ident: String,
    data_type: String,
    /// Generated: never inserted.
    generated: bool,
    /// `GENERATED ALWAYS AS IDENTITY`: inserted with OVERRIDING SYSTEM VALUE.
    identity_always: bool,
}

impl Col {
    fn plain(dialect: Dialect, name: &str, data_type: &str) -> Col {
        Col {
            name: name.to_string(),
            ident: ident(dialect, name),
            data_type: data_type.to_string(),
            generated: false,
            identity_always: false,
        }
    }
}

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
    let order = table_order(&schema, db)?;
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

/// Tables in dependency order: each after the tables its foreign keys reference (a cycle is
/// broken at the first table by name), otherwise by name.
fn table_order(schema: &Schema, db: &mut dyn Driver) -> Result<Vec<String>> {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in schema.tables.keys() {
        let targets = match db.dialect() {
            Dialect::Sqlite => db
                .query(&format!(
                    "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list({})",
                    literal(name)
                ))
                .map_err(Error::reading(format!(
                    "reading the foreign keys of {name}"
                )))?
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .collect(),
            Dialect::Postgres => foreign_targets(&schema.tables[name].constraints),
        };
        deps.insert(
            name.clone(),
            targets
                .into_iter()
                .filter(|t| t != name && schema.tables.contains_key(t))
                .collect(),
        );
    }
    let mut placed: Vec<String> = Vec::new();
    let mut left: Vec<String> = schema.tables.keys().cloned().collect();
    while !left.is_empty() {
        let ready = left
            .iter()
            .position(|t| deps[t].iter().all(|d| placed.contains(d)))
            .unwrap_or(0);
        placed.push(left.remove(ready));
    }
    Ok(placed)
}

/// The tables the foreign keys among `constraints` reference (PostgreSQL definitions).
fn foreign_targets(constraints: &BTreeMap<String, String>) -> BTreeSet<String> {
    constraints.values().filter_map(|d| references(d)).collect()
}

/// `FOREIGN KEY (a) REFERENCES users(id) …` → `users`.
fn references(definition: &str) -> Option<String> {
    let rest = definition.split_once("REFERENCES ")?.1;
    let name = rest[..rest.find('(')?].trim();
    Some(name.replace('"', ""))
}

fn sqlite_columns(db: &mut dyn Driver, schema: &Schema) -> Result<BTreeMap<String, Vec<Col>>> {
    let mut all = BTreeMap::new();
    for (table, shape) in &schema.tables {
        let rows = db
            .query(&format!(
                "SELECT name, hidden FROM pragma_table_xinfo({}) ORDER BY cid",
                literal(table)
            ))
            .map_err(Error::reading(format!("reading the columns of {table}")))?;
        let cols = rows
            .into_iter()
            .map(|r| {
                let name = cell(&r, 0);
                let hidden = cell(&r, 1);
                Col {
                    ident: ident(Dialect::Sqlite, &name),
                    data_type: shape
                        .columns
                        .get(&name)
                        .map(|c| c.data_type.clone())
                        .unwrap_or_default(),
                    generated: hidden != "0" && !hidden.is_empty(),
                    identity_always: false,
                    name,
                }
            })
            .collect();
        all.insert(table.clone(), cols);
    }
    Ok(all)
}

fn postgres_columns(db: &mut dyn Driver, schema: &Schema) -> Result<BTreeMap<String, Vec<Col>>> {
    let rows = db
        .query(
            "SELECT CASE WHEN n.nspname = current_schema() THEN c.relname::text \
               ELSE n.nspname || '.' || c.relname END, a.attname::text, quote_ident(a.attname), \
               a.attgenerated::text, a.attidentity::text \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY 1, a.attnum",
        )
        .map_err(Error::reading("reading the column order"))?;
    let mut all: BTreeMap<String, Vec<Col>> = BTreeMap::new();
    for r in rows {
        let table = cell(&r, 0);
        let Some(shape) = schema.tables.get(&table) else {
            continue;
        };
        let name = cell(&r, 1);
        let data_type = shape
            .columns
            .get(&name)
            .map(|c| c.data_type.clone())
            .unwrap_or_default();
        all.entry(table).or_default().push(Col {
            ident: cell(&r, 2),
            data_type,
            generated: !cell(&r, 3).is_empty(),
            identity_always: cell(&r, 4) == "a",
            name,
        });
    }
    Ok(all)
}

fn cell(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

fn query(db: &mut dyn Driver, sql: &str, what: &str) -> Result<Rows> {
    db.query(sql)
        .map_err(Error::reading(format!("reading {what}")))
}

fn sqlite_ddl(
    db: &mut dyn Driver,
    schema: &Schema,
    order: &[String],
    rows: &str,
    out: &mut String,
) -> Result<()> {
    let objects = query(
        db,
        "SELECT type, name, tbl_name, sql FROM sqlite_master \
         WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
        "the schema's statements",
    )?;
    let mut tables = BTreeMap::new();
    let (mut indexes, mut views, mut triggers) = (Vec::new(), Vec::new(), Vec::new());
    for r in &objects {
        let (kind, name, table, sql) = (cell(r, 0), cell(r, 1), cell(r, 2), cell(r, 3));
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
        let statement = format!("{};\n", sql.trim_end().trim_end_matches(';'));
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
    let managed = query(db, "SELECT current_schema()", "the current schema")?
        .first()
        .map(|r| cell(r, 0))
        .unwrap_or_default();

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
            let identity = owner.rsplit_once('.').is_some_and(|(t, c)| {
                schema
                    .tables
                    .get(t)
                    .and_then(|t| t.columns.get(c))
                    .and_then(|c| c.default.as_deref())
                    .is_some_and(|d| d.contains("AS IDENTITY"))
            });
            if identity {
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

    let own_text: BTreeMap<String, String> = query(
        db,
        "SELECT p.proname::text || '(' || pg_get_function_identity_arguments(p.oid) || ')', \
           pg_get_functiondef(p.oid) \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = current_schema() AND p.prokind IN ('f', 'p')",
        "the functions",
    )?
    .into_iter()
    .map(|r| (cell(&r, 0), cell(&r, 1)))
    .collect();
    let functions = schema
        .routines
        .iter()
        .filter(|(key, _)| !key.starts_with("type "))
        .map(|(key, normalized)| match own_text.get(key) {
            Some(text) => {
                let body = text.find('$').unwrap_or(text.len());
                let (head, body) = text.split_at(body);
                format!(
                    "{}{};",
                    crate::driver::postgres::unqualify(head, &managed),
                    body.trim_end()
                )
            }
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
            let mut line = format!("{} {}", col.ident, c.data_type);
            match c.default.as_deref() {
                Some(d) if d.starts_with("GENERATED ") => line.push_str(&format!(" {d}")),
                Some(d) => line.push_str(&format!(" DEFAULT {d}")),
                None => {}
            }
            if c.not_null {
                line.push_str(" NOT NULL");
            }
            lines.push(line);
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

    let mut views = Vec::new();
    let mut seen = BTreeSet::new();
    for r in query(
        db,
        "SELECT c.relname::text, c.relkind::text, pg_get_viewdef(c.oid, true) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm') ORDER BY c.oid",
        "the views",
    )? {
        let name = cell(&r, 0);
        if !schema.views.contains_key(&name) {
            continue;
        }
        let kind = if cell(&r, 1) == "m" {
            "MATERIALIZED VIEW"
        } else {
            "VIEW"
        };
        let body = cell(&r, 2);
        views.push(format!(
            "CREATE {kind} {} AS\n{};",
            table_name(dialect, &name),
            body.trim_end().trim_end_matches(';')
        ));
        seen.insert(name);
    }
    for (name, def) in &schema.views {
        if seen.contains(name) {
            continue;
        }
        let (kind, def) = match def.strip_prefix("MATERIALIZED VIEW AS ") {
            Some(d) => ("MATERIALIZED VIEW", d),
            None => ("VIEW", def.as_str()),
        };
        views.push(format!(
            "CREATE {kind} {} AS {def};",
            table_name(dialect, name)
        ));
    }
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

// ---------------------------------------------------------------------------------------
// Names

/// Words that cannot stand as a bare name in one of the dialects: quoted, to be safe.
const RESERVED: &[&str] = &[
    "abort",
    "action",
    "add",
    "after",
    "all",
    "alter",
    "always",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "attach",
    "authorization",
    "autoincrement",
    "before",
    "begin",
    "between",
    "binary",
    "both",
    "by",
    "cascade",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "commit",
    "concurrently",
    "conflict",
    "constraint",
    "create",
    "cross",
    "current",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "database",
    "default",
    "deferrable",
    "deferred",
    "delete",
    "desc",
    "detach",
    "distinct",
    "do",
    "drop",
    "each",
    "else",
    "end",
    "escape",
    "except",
    "exclude",
    "exclusive",
    "exists",
    "explain",
    "fail",
    "false",
    "fetch",
    "filter",
    "first",
    "following",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "generated",
    "glob",
    "grant",
    "group",
    "groups",
    "having",
    "if",
    "ignore",
    "ilike",
    "immediate",
    "in",
    "index",
    "indexed",
    "initially",
    "inner",
    "insert",
    "instead",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "last",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "match",
    "materialized",
    "natural",
    "no",
    "not",
    "nothing",
    "notnull",
    "null",
    "nulls",
    "of",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "others",
    "outer",
    "over",
    "overlaps",
    "partition",
    "placing",
    "plan",
    "pragma",
    "preceding",
    "primary",
    "query",
    "raise",
    "range",
    "recursive",
    "references",
    "regexp",
    "reindex",
    "release",
    "rename",
    "replace",
    "restrict",
    "returning",
    "right",
    "rollback",
    "row",
    "rows",
    "savepoint",
    "select",
    "session_user",
    "set",
    "similar",
    "some",
    "symmetric",
    "table",
    "tablesample",
    "temp",
    "temporary",
    "then",
    "ties",
    "to",
    "trailing",
    "transaction",
    "trigger",
    "true",
    "unbounded",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "vacuum",
    "values",
    "variadic",
    "verbose",
    "view",
    "virtual",
    "when",
    "where",
    "window",
    "with",
    "without",
];

/// A name as SQL: bare when it is a plain lower-case word, else double-quoted.
fn ident(_dialect: Dialect, name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !RESERVED.contains(&name) {
        name.to_string()
    } else {
        crate::driver::quote(name)
    }
}

/// A table key of the snapshot as SQL: `name`, or `schema.name` for another schema's
/// (PostgreSQL).
fn table_name(dialect: Dialect, key: &str) -> String {
    match (dialect, key.split_once('.')) {
        (Dialect::Postgres, Some((space, name))) => {
            format!("{}.{}", ident(dialect, space), ident(dialect, name))
        }
        _ => ident(dialect, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_only_where_they_must_be() {
        assert_eq!(ident(Dialect::Sqlite, "users"), "users");
        assert_eq!(ident(Dialect::Sqlite, "order"), "\"order\"");
        assert_eq!(ident(Dialect::Postgres, "Users"), "\"Users\"");
        assert_eq!(ident(Dialect::Postgres, "a b"), "\"a b\"");
        assert_eq!(table_name(Dialect::Postgres, "tools.t"), "tools.t");
        assert_eq!(table_name(Dialect::Sqlite, "t.x"), "\"t.x\"");
    }

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
    fn a_foreign_key_names_its_table() {
        assert_eq!(
            references("FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE"),
            Some("users".into())
        );
        assert_eq!(references("UNIQUE (a)"), None);
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
