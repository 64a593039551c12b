//! ferry's own records, written once for every dialect through [`Driver`]: the legacy marker,
//! the Alembic version table, the `ferry_history` audit trail, and the probe that detection
//! reads. Identifiers come from the validated ferry.toml and are quoted in every statement.

use std::collections::BTreeMap;

use crate::core::set::{Dialect, Marker, MigrationSet};
use crate::core::state::{MarkerReading, Probe};
use crate::driver::{Driver, literal, quote};
use crate::error::{DbError, Error};

/// The audit trail's table.
pub const HISTORY_TABLE: &str = "ferry_history";

/// Where ferry's own records live: the dialect, and the schema that qualifies every name of
/// its tables (the marker's, the version table, `ferry_history`). A script may change the
/// session (`SET search_path`, `SET ROLE`, SQLite's `ATTACH` and temp tables): the
/// bookkeeping that commits with it still names the tables where the run started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Books {
    pub dialect: Dialect,
    /// The schema captured when ferry connected (`--schema`, else the connection's current
    /// schema; SQLite's `main`). `None` only in a script rendered without a database for a
    /// PostgreSQL schema nobody named: names are then left unqualified.
    pub schema: Option<String>,
}

impl Books {
    /// The records of the database behind `driver`.
    pub fn of(driver: &dyn Driver) -> Books {
        Books {
            dialect: driver.dialect(),
            schema: driver.managed_schema(),
        }
    }

    /// The records of a script rendered without a database: SQLite's are in `main`; a
    /// PostgreSQL script names the schema it was given, if any.
    pub fn offline(dialect: Dialect, schema: Option<&str>) -> Books {
        Books {
            dialect,
            schema: match dialect {
                Dialect::Sqlite => Some("main".to_string()),
                Dialect::Postgres => schema.map(str::to_string),
            },
        }
    }

    /// A table of ferry's (or the marker's), quoted and qualified.
    pub fn table(&self, name: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(name)),
            None => quote(name),
        }
    }
}

/// Tables a schema comparison leaves out: ferry's own and the legacy marker's.
pub fn skipped_tables(set: &MigrationSet) -> Vec<&str> {
    let mut skip = vec![HISTORY_TABLE, set.config.revisions.version_table.as_str()];
    skip.extend(set.config.legacy.marker.table());
    skip
}

/// Reads what detection needs, and nothing more.
pub fn probe(driver: &mut dyn Driver, set: &MigrationSet) -> Result<Probe, DbError> {
    let version_table = &set.config.revisions.version_table;
    let all = driver.tables()?;
    let has = |t: &str| all.iter().any(|x| x == t);
    let books = Books::of(driver);
    let versions = if has(version_table) {
        let rows = driver.query(&format!(
            "SELECT version_num FROM {}",
            books.table(version_table)
        ))?;
        Some(
            rows.into_iter()
                .map(|r| r.into_iter().next().flatten().unwrap_or_default())
                .collect(),
        )
    } else {
        None
    };
    let marker = read_marker(driver, set, &books, &has)?;
    let tables = all
        .iter()
        .filter(|t| *t != HISTORY_TABLE && *t != version_table)
        .cloned()
        .collect();
    Ok(Probe {
        tables,
        marker,
        versions,
        history: has(HISTORY_TABLE),
    })
}

fn read_marker(
    driver: &mut dyn Driver,
    set: &MigrationSet,
    books: &Books,
    has: &dyn Fn(&str) -> bool,
) -> Result<MarkerReading, DbError> {
    let rows = match &set.config.legacy.marker {
        Marker::KvTable {
            table,
            key_column,
            value_column,
            key,
            ..
        } => {
            if !has(table) {
                return Ok(MarkerReading::Absent);
            }
            driver.query(&format!(
                "SELECT CAST({} AS TEXT) FROM {} WHERE {} = {}",
                quote(value_column),
                books.table(table),
                quote(key_column),
                literal(key)
            ))?
        }
        Marker::SingleRow { table, column, .. } => {
            if !has(table) {
                return Ok(MarkerReading::Absent);
            }
            driver.query(&format!(
                "SELECT CAST({} AS TEXT) FROM {}",
                quote(column),
                books.table(table)
            ))?
        }
        Marker::UserVersion => {
            // SQLite only: `check_marker_dialect` refused any other dialect before the probe.
            let rows = driver.query("PRAGMA user_version")?;
            if rows
                .first()
                .and_then(|r| r.first().cloned().flatten())
                .as_deref()
                == Some("0")
            {
                return Ok(MarkerReading::Absent);
            }
            rows
        }
    };
    Ok(match rows.as_slice() {
        [] => MarkerReading::Absent,
        [row] => match row.first().cloned().flatten() {
            None => MarkerReading::Invalid("the marker value is NULL".into()),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) => MarkerReading::Value(n),
                Err(_) => {
                    MarkerReading::Invalid(format!("the marker value {v:?} is not an integer"))
                }
            },
        },
        many => MarkerReading::Invalid(format!("{} marker rows where one is expected", many.len())),
    })
}

/// The checksum each revision was last applied (or accepted) with, from `ferry_history`
/// (which must exist: see [`Probe::history`]).
pub fn applied_checksums(driver: &mut dyn Driver) -> Result<BTreeMap<String, String>, DbError> {
    let history = Books::of(driver).table(HISTORY_TABLE);
    let rows = driver.query(&format!(
        "SELECT revision, checksum FROM {history} WHERE success AND kind IN ('upgrade', 'accept-edited') \
         AND revision IS NOT NULL AND checksum IS NOT NULL ORDER BY id"
    ))?;
    // Later rows win: a re-applied or accepted revision carries its newest checksum.
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut r = r.into_iter();
            Some((r.next()??, r.next()??))
        })
        .collect())
}

/// The refusal (exit 2) for a marker row ferry cannot insert: the columns to add to `insert`.
pub fn unfilled_marker_error(set: &MigrationSet, columns: &[String]) -> Error {
    let table = set.config.legacy.marker.table().unwrap_or_default();
    let example = columns
        .iter()
        .map(|c| format!("{c} = \"…\""))
        .collect::<Vec<_>>()
        .join(", ");
    Error::Unsupported(format!(
        "ferry must insert the legacy marker row into {table}, whose column(s) {} are NOT NULL without a default; \
         say what to fill them with in ferry.toml: marker = {{ …, insert = {{ {example} }} }} (SQL literals). \
         Nothing of this step was written",
        columns.join(", ")
    ))
}

/// The marker kind `user-version` (SQLite's `PRAGMA user_version`) exists on SQLite only.
pub fn check_marker_dialect(set: &MigrationSet, dialect: Dialect) -> Result<(), Error> {
    if set.config.legacy.marker == Marker::UserVersion && dialect != Dialect::Sqlite {
        return Err(Error::Unsupported(format!(
            "ferry.toml's marker kind user-version (PRAGMA user_version) exists on SQLite only, and this database is {}; use kind kv-table or single-row",
            dialect.name()
        )));
    }
    Ok(())
}

/// Statements that set the legacy marker to `value`, creating its table when missing.
pub fn marker_sql(set: &MigrationSet, books: &Books, value: u32) -> Result<String, Error> {
    let v = literal(&value.to_string());
    Ok(match &set.config.legacy.marker {
        Marker::KvTable {
            table,
            key_column,
            value_column,
            key,
            insert,
        } => {
            let (names, values) = insert_columns(insert);
            let (t, k, c, key) = (
                books.table(table),
                quote(key_column),
                quote(value_column),
                literal(key),
            );
            format!(
                "CREATE TABLE IF NOT EXISTS {t} ({k} VARCHAR(255) NOT NULL PRIMARY KEY, {c} TEXT);\n\
                 UPDATE {t} SET {c} = {v} WHERE {k} = {key};\n\
                 INSERT INTO {t} ({k}, {c}{names}) SELECT {key}, {v}{values} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {k} = {key});\n"
            )
        }
        Marker::SingleRow {
            table,
            column,
            insert,
        } => {
            let (names, values) = insert_columns(insert);
            let (t, c) = (books.table(table), quote(column));
            format!(
                "CREATE TABLE IF NOT EXISTS {t} ({c} INTEGER NOT NULL);\n\
                 UPDATE {t} SET {c} = {v};\n\
                 INSERT INTO {t} ({c}{names}) SELECT {v}{values} WHERE NOT EXISTS (SELECT 1 FROM {t});\n"
            )
        }
        Marker::UserVersion => {
            check_marker_dialect(set, books.dialect)?;
            format!("PRAGMA user_version = {value};\n")
        }
    })
}

/// `, "a", "b"` and `, 'x', false`: the configured extra columns of an inserted marker row.
fn insert_columns(insert: &BTreeMap<String, String>) -> (String, String) {
    insert.iter().fold(
        (String::new(), String::new()),
        |(mut names, mut values), (column, value)| {
            names.push_str(&format!(", {}", quote(column)));
            values.push_str(&format!(", {value}"));
            (names, values)
        },
    )
}

/// The columns a new marker row would leave empty although it may not: the marker table's
/// NOT NULL columns without a default that neither ferry's own columns nor `insert` cover.
/// Empty for a table that does not exist or a marker that is not a table.
pub fn unfilled_marker_columns(
    driver: &mut dyn Driver,
    set: &MigrationSet,
) -> Result<Vec<String>, DbError> {
    let marker = &set.config.legacy.marker;
    let (Some(table), Some(insert)) = (marker.table(), marker.insert()) else {
        return Ok(Vec::new());
    };
    let own = marker.own_columns();
    let missing: Vec<String> = driver
        .required_columns(table)?
        .into_iter()
        .filter(|c| !own.contains(&c.as_str()) && !insert.contains_key(c))
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    // Only an absent row is inserted; an existing one only has ferry's column updated.
    let row = match marker {
        Marker::KvTable {
            key_column, key, ..
        } => format!(
            "SELECT 1 FROM {} WHERE {} = {}",
            Books::of(driver).table(table),
            quote(key_column),
            literal(key)
        ),
        _ => format!("SELECT 1 FROM {}", Books::of(driver).table(table)),
    };
    Ok(if driver.query(&row)?.is_empty() {
        missing
    } else {
        Vec::new()
    })
}

/// Statements that change the version table's rows from `before` to `after` (Alembic's shape).
pub fn version_sql(
    set: &MigrationSet,
    books: &Books,
    before: &[String],
    after: &[String],
) -> String {
    let t = &set.config.revisions.version_table;
    let table = books.table(t);
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {table} (version_num VARCHAR(32) NOT NULL, CONSTRAINT {} PRIMARY KEY (version_num));\n",
        quote(&format!("{t}_pkc"))
    );
    for gone in before.iter().filter(|b| !after.contains(b)) {
        sql.push_str(&format!(
            "DELETE FROM {table} WHERE version_num = {};\n",
            literal(gone)
        ));
    }
    for new in after.iter().filter(|a| !before.contains(a)) {
        sql.push_str(&format!(
            "INSERT INTO {table} (version_num) VALUES ({});\n",
            literal(new)
        ));
    }
    sql
}

/// One row of `ferry_history`.
#[derive(Debug, Clone)]
pub struct HistoryRow<'a> {
    /// `fresh`, `legacy`, `stamp`, `upgrade`, `downgrade`.
    pub kind: &'a str,
    pub legacy_version: Option<u32>,
    pub revision: Option<&'a str>,
    pub checksum: Option<String>,
    pub started_at: String,
    pub duration_ms: u128,
    pub success: bool,
    pub note: Option<String>,
}

/// Statements that create `ferry_history` if needed and record one row.
pub fn history_sql(books: &Books, row: &HistoryRow<'_>) -> String {
    let opt = |v: Option<String>| v.map_or("NULL".to_string(), |s| literal(&s));
    let history = books.table(HISTORY_TABLE);
    format!(
        "CREATE TABLE IF NOT EXISTS {history} (\n  id {},\n  kind VARCHAR(16) NOT NULL,\n  legacy_version INTEGER,\n  \
         revision VARCHAR(32),\n  checksum VARCHAR(71),\n  started_at VARCHAR(32) NOT NULL,\n  finished_at VARCHAR(32) NOT NULL,\n  \
         duration_ms BIGINT NOT NULL,\n  success BOOLEAN NOT NULL,\n  ferry_version VARCHAR(32) NOT NULL,\n  host VARCHAR(255),\n  \
         os_user VARCHAR(255),\n  note TEXT\n);\n\
         INSERT INTO {history} (kind, legacy_version, revision, checksum, started_at, finished_at, duration_ms, success, \
         ferry_version, host, os_user, note) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});\n",
        crate::driver::framing(books.dialect).serial_primary_key,
        literal(row.kind),
        row.legacy_version
            .map_or("NULL".to_string(), |n| n.to_string()),
        opt(row.revision.map(str::to_string)),
        opt(row.checksum.clone()),
        literal(&row.started_at),
        literal(&crate::driver::host::now_utc()),
        row.duration_ms,
        if row.success { "TRUE" } else { "FALSE" },
        literal(env!("CARGO_PKG_VERSION")),
        opt(crate::driver::host::hostname()),
        opt(std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .ok()),
        opt(row.note.clone()),
    )
}
