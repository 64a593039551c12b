//! What a step wrote, as SQLite's authorizer reports it while each statement is prepared, and
//! from that the tables whose foreign keys the commit must check.
//!
//! The authorizer sees every statement before it runs, including the statements of every
//! trigger the statement can fire (they are compiled into it). A write names its table; DDL
//! names the table it creates, drops or alters. What it cannot name (the new name of a
//! `RENAME`) the schema diff at commit finds: every table whose definition appeared,
//! disappeared or changed since the last commit. Whenever a statement is of a kind this module
//! does not know to be harmless, the step falls back to the whole-database check.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::hooks::{AuthAction, AuthContext};

/// The foreign-key check a commit ran (the SQLite driver's `last_commit_check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForeignKeyCheck {
    /// No commit yet.
    NotRun,
    /// `PRAGMA foreign_key_check` over the whole database, and why.
    Whole(String),
    /// `PRAGMA foreign_key_check(table)` for each of these tables (none: the step changed no
    /// table's rows or definition).
    Tables(Vec<String>),
}

/// Pragmas that only read (the argument, when there is one, names a table or an index).
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
];

/// Settings a step may set to off (ferry's session restore does after every script): off,
/// none of them can let a row change without the authorizer seeing it.
const OFF_PRAGMAS: &[&str] = &[
    "foreign_keys",
    "query_only",
    "ignore_check_constraints",
    "legacy_alter_table",
    "recursive_triggers",
    "writable_schema",
    "defer_foreign_keys",
];

/// Pragmas whose value lives in the file header or the connection, never in a row.
const HEADER_PRAGMAS: &[&str] = &[
    "user_version",
    "application_id",
    "busy_timeout",
    "cache_size",
];

/// The writes recorded since the last commit or rollback.
#[derive(Debug, Default)]
pub struct Touched {
    /// Lower-cased names of the main schema's tables written, created, dropped or altered.
    tables: BTreeSet<String>,
    /// Set when only the whole-database check is sound: what could not be followed.
    whole: Option<String>,
}

fn is_schema_table(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "sqlite_master" | "sqlite_schema" | "sqlite_temp_master" | "sqlite_temp_schema"
    )
}

impl Touched {
    /// Whether nothing was recorded since the last reset.
    pub fn is_clean(&self) -> bool {
        self.tables.is_empty() && self.whole.is_none()
    }

    pub fn reset(&mut self) {
        self.tables.clear();
        self.whole = None;
    }

    /// The reason for a whole-database check, if one is needed.
    pub fn whole(&self) -> Option<&str> {
        self.whole.as_deref()
    }

    pub fn tables(&self) -> &BTreeSet<String> {
        &self.tables
    }

    /// Adds a table by name (the schema diff's findings).
    pub fn add(&mut self, table: &str) {
        self.tables.insert(table.to_ascii_lowercase());
    }

    fn fall_back(&mut self, why: String) {
        if self.whole.is_none() {
            self.whole = Some(why);
        }
    }

    /// A write to `table` of database `db` (from a statement or a trigger it fires).
    fn write(&mut self, db: Option<&str>, table: &str, what: &str) {
        match db {
            // The schema table is written only by DDL (followed through its own action code
            // and the schema diff) or under writable_schema (a pragma that falls back).
            Some("main") if is_schema_table(table) => {}
            Some("main") => self.add(table),
            // A temp table is never the parent of a main table's foreign key, and the whole
            // check covers the main schema only.
            Some("temp") => {}
            Some(other) => self.fall_back(format!("{what} {table} in database {other}")),
            None => self.fall_back(format!("{what} {table} in an unnamed database")),
        }
    }

    /// Records one authorizer report.
    pub fn record(&mut self, ctx: &AuthContext<'_>) {
        let db = ctx.database_name;
        match ctx.action {
            AuthAction::Insert { table_name } => self.write(db, table_name, "INSERT into"),
            AuthAction::Update { table_name, .. } => self.write(db, table_name, "UPDATE of"),
            AuthAction::Delete { table_name } => self.write(db, table_name, "DELETE from"),
            AuthAction::CreateTable { table_name } => self.write(db, table_name, "CREATE TABLE"),
            AuthAction::DropTable { table_name } => self.write(db, table_name, "DROP TABLE"),
            AuthAction::AlterTable {
                database_name,
                table_name,
            } => self.write(Some(database_name), table_name, "ALTER TABLE"),
            // A dropped unique index may leave a foreign key without its parent key.
            AuthAction::DropIndex { table_name, .. } => self.write(db, table_name, "DROP INDEX on"),
            AuthAction::CreateVtable { table_name, .. }
            | AuthAction::DropVtable { table_name, .. } => {
                self.write(db, table_name, "virtual table")
            }
            AuthAction::Pragma {
                pragma_name,
                pragma_value,
            } => {
                let name = pragma_name.to_ascii_lowercase();
                let off = pragma_value.is_some_and(|v| {
                    matches!(
                        v.to_ascii_lowercase().as_str(),
                        "0" | "off" | "false" | "no"
                    )
                });
                let harmless = pragma_value.is_none()
                    || READ_PRAGMAS.contains(&name.as_str())
                    || HEADER_PRAGMAS.contains(&name.as_str())
                    || (off && OFF_PRAGMAS.contains(&name.as_str()));
                if !harmless {
                    self.fall_back(format!(
                        "PRAGMA {pragma_name} = {}",
                        pragma_value.unwrap_or_default()
                    ));
                }
            }
            // Reads, and objects that hold no rows of their own.
            AuthAction::Read { .. }
            | AuthAction::Select
            | AuthAction::Function { .. }
            | AuthAction::Recursive
            | AuthAction::Transaction { .. }
            | AuthAction::Savepoint { .. }
            | AuthAction::Reindex { .. }
            | AuthAction::Analyze { .. }
            | AuthAction::CreateIndex { .. }
            | AuthAction::CreateTempIndex { .. }
            | AuthAction::DropTempIndex { .. }
            | AuthAction::CreateTrigger { .. }
            | AuthAction::CreateTempTrigger { .. }
            | AuthAction::DropTrigger { .. }
            | AuthAction::DropTempTrigger { .. }
            | AuthAction::CreateView { .. }
            | AuthAction::CreateTempView { .. }
            | AuthAction::DropView { .. }
            | AuthAction::DropTempView { .. }
            | AuthAction::CreateTempTable { .. }
            | AuthAction::DropTempTable { .. } => {}
            AuthAction::Attach { .. } => self.fall_back("ATTACH".into()),
            AuthAction::Detach { .. } => self.fall_back("DETACH".into()),
            AuthAction::Unknown { code, .. } => self.fall_back(format!(
                "an authorizer action code {code} ferry does not know"
            )),
            _ => self.fall_back("an authorizer action ferry does not know".into()),
        }
    }
}

/// The tables to check with `PRAGMA foreign_key_check(table)`, sorted: every touched table that
/// exists and has foreign keys of its own, and every table with a foreign key that references a
/// touched table. `foreign_keys` maps each existing table to the (lower-cased) parents its
/// foreign keys name; `touched` is lower-cased.
pub fn tables_to_check(
    touched: &BTreeSet<String>,
    foreign_keys: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut out: Vec<String> = foreign_keys
        .iter()
        .filter(|(table, parents)| {
            !parents.is_empty()
                && (touched.contains(&table.to_ascii_lowercase())
                    || parents.iter().any(|p| touched.contains(p)))
        })
        .map(|(table, _)| table.clone())
        .collect();
    out.sort();
    out
}

/// The tables whose definition differs between two readings of the schema (name → SQL, names
/// lower-cased): created, dropped, renamed (both names) or altered.
pub fn schema_changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (name, sql) in before {
        if after.get(name) != Some(sql) {
            out.insert(name.clone());
        }
    }
    for name in after.keys() {
        if !before.contains_key(name) {
            out.insert(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn children_of_touched_parents_and_touched_children_are_checked() {
        let fks: BTreeMap<String, BTreeSet<String>> = [
            ("Child".to_string(), set(&["parent"])),
            ("grandchild".to_string(), set(&["child"])),
            ("parent".to_string(), set(&[])),
            ("other".to_string(), set(&["elsewhere"])),
        ]
        .into_iter()
        .collect();
        assert_eq!(tables_to_check(&set(&["parent"]), &fks), vec!["Child"]);
        assert_eq!(
            tables_to_check(&set(&["child"]), &fks),
            vec!["Child", "grandchild"]
        );
        assert!(tables_to_check(&set(&["unrelated"]), &fks).is_empty());
        assert_eq!(tables_to_check(&set(&["elsewhere"]), &fks), vec!["other"]);
    }

    #[test]
    fn a_rename_counts_both_names() {
        let before: BTreeMap<String, String> = [
            ("a".to_string(), "CREATE TABLE a (x)".to_string()),
            ("b".to_string(), "CREATE TABLE b (y)".to_string()),
            ("c".to_string(), "CREATE TABLE c (z)".to_string()),
        ]
        .into_iter()
        .collect();
        let after: BTreeMap<String, String> = [
            ("a2".to_string(), "CREATE TABLE \"a2\" (x)".to_string()),
            ("b".to_string(), "CREATE TABLE b (y, w)".to_string()),
            ("c".to_string(), "CREATE TABLE c (z)".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(schema_changes(&before, &after), set(&["a", "a2", "b"]));
    }
}
