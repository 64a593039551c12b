//! What a step wrote, as SQLite's authorizer reports it while each statement is prepared, and
//! from that the tables whose foreign keys the commit must check.
//!
//! The authorizer sees every statement before it runs, including the statements of every
//! trigger the statement can fire (they are compiled into it). A write names its table (an
//! UPDATE each column it sets); DDL names the table it creates, drops or alters. What it cannot
//! name (the new name of a `RENAME`, a table rebuilt under its old name) the schema diff at commit
//! finds: every table whose definition or root page changed since the step began. From what was
//! done to each table, [`tables_to_check`] derives which tables' rows the step may have left
//! pointing nowhere (docs/safety.md gives the rules and why they are complete). Whenever a
//! statement is of a kind this module does not know to be harmless, the step falls back to the
//! whole-database check.

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

/// What a step did to one table, as the authorizer reported it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Anything may have changed: rows inserted (an `INSERT OR REPLACE` also deletes the rows it
    /// conflicts with, unreported), the table created or dropped. Its own foreign keys and its
    /// children's are checked.
    pub any: bool,
    /// Indexes of it dropped (lower-cased): its children are checked when one was unique (it
    /// may have been a parent key) or did not exist when the step began.
    pub dropped_indexes: BTreeSet<String>,
    /// Rows deleted: its children are checked (a delete cannot orphan the table's own rows).
    pub deleted: bool,
    /// The columns an UPDATE set, lower-cased.
    pub updated: BTreeSet<String>,
    /// An `ALTER TABLE` named it: ADD, RENAME or DROP COLUMN in place, or a RENAME TO.
    pub altered: bool,
}

/// The writes recorded since the last commit or rollback.
#[derive(Debug, Default)]
pub struct Touched {
    /// Lower-cased names of the main schema's tables, and what was done to each.
    tables: BTreeMap<String, Effect>,
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
    pub fn reset(&mut self) {
        self.tables.clear();
        self.whole = None;
    }

    /// The reason for a whole-database check, if one is needed.
    pub fn whole(&self) -> Option<&str> {
        self.whole.as_deref()
    }

    pub fn tables(&self) -> &BTreeMap<String, Effect> {
        &self.tables
    }

    fn fall_back(&mut self, why: String) {
        if self.whole.is_none() {
            self.whole = Some(why);
        }
    }

    /// A write to `table` of database `db` (from a statement or a trigger it fires).
    fn write(
        &mut self,
        db: Option<&str>,
        table: &str,
        what: &str,
        effect: impl FnOnce(&mut Effect),
    ) {
        match db {
            // The schema table is written only by DDL (followed through its own action code
            // and the schema diff) or under writable_schema (a pragma that falls back).
            Some("main") if is_schema_table(table) => {}
            Some("main") => effect(self.tables.entry(table.to_ascii_lowercase()).or_default()),
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
        let any = |e: &mut Effect| e.any = true;
        match ctx.action {
            AuthAction::Insert { table_name } => self.write(db, table_name, "INSERT into", any),
            AuthAction::Update {
                table_name,
                column_name,
            } => self.write(db, table_name, "UPDATE of", |e| {
                e.updated.insert(column_name.to_ascii_lowercase());
            }),
            AuthAction::Delete { table_name } => {
                self.write(db, table_name, "DELETE from", |e| e.deleted = true)
            }
            AuthAction::CreateTable { table_name } => {
                self.write(db, table_name, "CREATE TABLE", any)
            }
            AuthAction::DropTable { table_name } => self.write(db, table_name, "DROP TABLE", any),
            AuthAction::AlterTable {
                database_name,
                table_name,
            } => self.write(Some(database_name), table_name, "ALTER TABLE", |e| {
                e.altered = true
            }),
            // A dropped unique index may leave a foreign key without its parent key.
            AuthAction::DropIndex {
                index_name,
                table_name,
            } => self.write(db, table_name, "DROP INDEX on", |e| {
                e.dropped_indexes.insert(index_name.to_ascii_lowercase());
            }),
            AuthAction::CreateVtable { table_name, .. }
            | AuthAction::DropVtable { table_name, .. } => {
                self.write(db, table_name, "virtual table", any)
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

/// The main schema's tables and indexes, read when a step begins and again at its commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// Lower-cased table name → definition.
    pub tables: BTreeMap<String, Definition>,
    /// Lower-cased index name → whether it is unique.
    pub indexes: BTreeMap<String, bool>,
}

/// A table's definition in `sqlite_master`: its SQL and its root page. ALTER TABLE ADD, RENAME
/// or DROP COLUMN keeps the root page; a rebuild, a rename onto the name or a swap of names
/// does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The name as stored.
    pub name: String,
    pub sql: String,
    pub root: i64,
}

/// One foreign key of a table: its parent (lower-cased), its own columns and the parent's
/// columns it names (`None`: the parent's primary key), lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub parent: String,
    pub from: Vec<String>,
    pub to: Vec<Option<String>>,
}

/// What the plan needs to know of a table an UPDATE or an ALTER TABLE touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// Every column, hidden and generated ones included, lower-cased.
    pub all: BTreeSet<String>,
    /// Whether a column is generated (its value follows other columns unreported).
    pub generated: bool,
    /// The primary key's and every unique index's columns; `None`: a unique index on an
    /// expression or the rowid, which any column may feed.
    pub keys: Option<BTreeSet<String>>,
}

/// The schema at commit, as the plan reads it.
pub trait Catalog {
    /// Every table with foreign keys (name as stored) and its foreign keys.
    fn foreign_keys(&self) -> &BTreeMap<String, Vec<ForeignKey>>;
    /// The columns of an existing table (lower-cased name); `None` when it does not exist.
    fn columns(&mut self, table: &str) -> Result<Option<Columns>, String>;
}

/// The tables to check with `PRAGMA foreign_key_check(table)`, sorted. Every table with foreign
/// keys whose own rows the step may have pointed elsewhere, and every child of a table whose
/// referenced rows or keys the step may have removed or changed:
/// - a table created, dropped, rebuilt or renamed (any table whose definition or root page
///   changed without an in-place ALTER explaining it), inserted into, or an index of it dropped:
///   the table and its children;
/// - rows deleted, or a unique index dropped: its children;
/// - an UPDATE: the table when it set one of the table's foreign-key columns, its children when
///   it set a primary-key, unique-index or referenced column; both when it set a column the table
///   does not have (the rowid) or the table has generated columns;
/// - an ALTER TABLE in place (same name, same root page: ADD, RENAME or DROP COLUMN, which keep
///   every row's values): the table (a column added with REFERENCES and a default), and its
///   children when a column they reference is gone.
pub fn tables_to_check(
    touched: &BTreeMap<String, Effect>,
    before: &Reading,
    after: &Reading,
    catalog: &mut dyn Catalog,
) -> Result<Vec<String>, String> {
    let (before_indexes, before, after) = (&before.indexes, &before.tables, &after.tables);
    let mut own: BTreeSet<String> = BTreeSet::new();
    let mut parents: BTreeSet<String> = BTreeSet::new();
    let in_place = |name: &str, effect: &Effect| {
        effect.altered
            && matches!((before.get(name), after.get(name)), (Some(b), Some(a)) if b.root == a.root)
    };
    for (name, effect) in touched {
        if effect.any || (effect.altered && !in_place(name, effect)) {
            own.insert(name.clone());
            parents.insert(name.clone());
            continue;
        }
        let unique_dropped = effect
            .dropped_indexes
            .iter()
            .any(|index| before_indexes.get(index).is_none_or(|unique| *unique));
        if effect.deleted || unique_dropped {
            parents.insert(name.clone());
        }
        if !effect.altered && effect.updated.is_empty() {
            continue;
        }
        let Some(columns) = catalog.columns(name)? else {
            own.insert(name.clone());
            parents.insert(name.clone());
            continue;
        };
        let referenced: BTreeSet<String> = catalog
            .foreign_keys()
            .values()
            .flatten()
            .filter(|fk| fk.parent == *name)
            .flat_map(|fk| fk.to.iter().flatten().cloned())
            .collect();
        let own_columns: BTreeSet<String> = catalog
            .foreign_keys()
            .iter()
            .filter(|(table, _)| table.to_ascii_lowercase() == *name)
            .flat_map(|(_, fks)| fks.iter().flat_map(|fk| fk.from.iter().cloned()))
            .collect();
        if effect.altered {
            own.insert(name.clone());
            if !referenced.iter().all(|c| columns.all.contains(c)) {
                parents.insert(name.clone());
            }
        }
        let unknown = effect.updated.iter().any(|c| !columns.all.contains(c));
        if columns.generated && !effect.updated.is_empty() || unknown {
            own.insert(name.clone());
            parents.insert(name.clone());
            continue;
        }
        if effect.updated.iter().any(|c| own_columns.contains(c)) {
            own.insert(name.clone());
        }
        let key = |c: &String| {
            referenced.contains(c) || columns.keys.as_ref().is_none_or(|k| k.contains(c))
        };
        if effect.updated.iter().any(key) {
            parents.insert(name.clone());
        }
    }
    // Definitions that changed with no in-place ALTER of that name to explain them: the new
    // name of a rename, a table moved to another root page.
    for name in schema_changes(before, after) {
        let explained = touched
            .get(&name)
            .is_some_and(|e| !e.any && in_place(&name, e));
        if !explained {
            own.insert(name.clone());
            parents.insert(name);
        }
    }
    let mut out: Vec<String> = catalog
        .foreign_keys()
        .iter()
        .filter(|(table, fks)| {
            !fks.is_empty()
                && (own.contains(&table.to_ascii_lowercase())
                    || fks.iter().any(|fk| parents.contains(&fk.parent)))
        })
        .map(|(table, _)| table.clone())
        .collect();
    out.sort();
    Ok(out)
}

/// The tables whose definition differs between two readings of the schema (names
/// lower-cased): created, dropped, renamed (both names), altered or moved to another root page.
pub fn schema_changes(
    before: &BTreeMap<String, Definition>,
    after: &BTreeMap<String, Definition>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (name, definition) in before {
        if after.get(name) != Some(definition) {
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

    fn fk(parent: &str, from: &str, to: Option<&str>) -> ForeignKey {
        ForeignKey {
            parent: parent.into(),
            from: vec![from.into()],
            to: vec![to.map(str::to_string)],
        }
    }

    /// parent(id PK, name UNIQUE, note) ← Child(parent_id) ← grandchild(child_id);
    /// other(elsewhere_id) → elsewhere.
    struct Fixture {
        fks: BTreeMap<String, Vec<ForeignKey>>,
        columns: BTreeMap<String, Columns>,
    }

    impl Catalog for Fixture {
        fn foreign_keys(&self) -> &BTreeMap<String, Vec<ForeignKey>> {
            &self.fks
        }
        fn columns(&mut self, table: &str) -> Result<Option<Columns>, String> {
            Ok(self.columns.get(table).cloned())
        }
    }

    fn fixture() -> Fixture {
        let columns = |all: &[&str], keys: Option<&[&str]>| Columns {
            all: set(all),
            generated: false,
            keys: keys.map(set),
        };
        Fixture {
            fks: [
                (
                    "Child".to_string(),
                    vec![fk("parent", "parent_id", Some("id"))],
                ),
                (
                    "grandchild".to_string(),
                    vec![fk("child", "child_id", None)],
                ),
                (
                    "other".to_string(),
                    vec![fk("elsewhere", "elsewhere_id", None)],
                ),
            ]
            .into_iter()
            .collect(),
            columns: [
                (
                    "parent".to_string(),
                    columns(&["id", "name", "note"], Some(&["id", "name"])),
                ),
                (
                    "child".to_string(),
                    columns(&["id", "parent_id", "note"], Some(&["id"])),
                ),
                ("lonely".to_string(), columns(&["x"], None)),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn definitions(tables: &[(&str, &str, i64)]) -> BTreeMap<String, Definition> {
        tables
            .iter()
            .map(|(name, sql, root)| {
                (
                    name.to_string(),
                    Definition {
                        name: name.to_string(),
                        sql: sql.to_string(),
                        root: *root,
                    },
                )
            })
            .collect()
    }

    fn reading(tables: &[(&str, &str, i64)]) -> Reading {
        Reading {
            tables: definitions(tables),
            indexes: [
                ("ix_plain".to_string(), false),
                ("ux_name".to_string(), true),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn plan(effects: &[(&str, Effect)]) -> Vec<String> {
        let schema = reading(&[("parent", "p", 2), ("child", "c", 3), ("lonely", "l", 4)]);
        let touched = effects
            .iter()
            .map(|(n, e)| (n.to_string(), e.clone()))
            .collect();
        tables_to_check(&touched, &schema, &schema, &mut fixture()).unwrap()
    }

    fn updated(columns: &[&str]) -> Effect {
        Effect {
            updated: set(columns),
            ..Effect::default()
        }
    }

    #[test]
    fn writes_check_the_table_its_children_or_both() {
        let any = Effect {
            any: true,
            ..Effect::default()
        };
        let deleted = Effect {
            deleted: true,
            ..Effect::default()
        };
        assert_eq!(plan(&[("parent", any.clone())]), vec!["Child"]);
        assert_eq!(plan(&[("child", any)]), vec!["Child", "grandchild"]);
        assert_eq!(plan(&[("child", deleted.clone())]), vec!["grandchild"]);
        assert_eq!(plan(&[("elsewhere", deleted)]), vec!["other"]);
        // An UPDATE of a column no key involves: nothing.
        assert!(plan(&[("parent", updated(&["note"]))]).is_empty());
        assert!(plan(&[("child", updated(&["note"]))]).is_empty());
        // Of a key a child references or a unique column (REPLACE may delete): the children.
        assert_eq!(plan(&[("parent", updated(&["id"]))]), vec!["Child"]);
        assert_eq!(plan(&[("parent", updated(&["name"]))]), vec!["Child"]);
        // Of a foreign-key column: the table itself.
        assert_eq!(plan(&[("child", updated(&["parent_id"]))]), vec!["Child"]);
        // Of a column the table does not have (the rowid): both.
        assert_eq!(
            plan(&[("child", updated(&["rowid"]))]),
            vec!["Child", "grandchild"]
        );
        // A dropped index: the children when it was unique or unknown when the step began.
        let dropped = |index: &str| Effect {
            dropped_indexes: set(&[index]),
            ..Effect::default()
        };
        assert!(plan(&[("parent", dropped("ix_plain"))]).is_empty());
        assert_eq!(plan(&[("parent", dropped("ux_name"))]), vec!["Child"]);
        assert_eq!(plan(&[("parent", dropped("ix_new"))]), vec!["Child"]);
    }

    #[test]
    fn generated_columns_make_any_update_a_key_update() {
        let mut f = fixture();
        f.columns.get_mut("child").unwrap().generated = true;
        let schema = reading(&[("child", "c", 3)]);
        let touched = [("child".to_string(), updated(&["note"]))]
            .into_iter()
            .collect();
        assert_eq!(
            tables_to_check(&touched, &schema, &schema, &mut f).unwrap(),
            vec!["Child", "grandchild"]
        );
    }

    #[test]
    fn an_alter_in_place_checks_the_table_a_rename_or_rebuild_also_its_children() {
        let altered = Effect {
            altered: true,
            ..Effect::default()
        };
        let touched: BTreeMap<String, Effect> = [("child".to_string(), altered.clone())]
            .into_iter()
            .collect();
        let before = reading(&[("child", "CREATE TABLE child (id)", 3)]);
        let added = reading(&[("child", "CREATE TABLE child (id, x)", 3)]);
        assert_eq!(
            tables_to_check(&touched, &before, &added, &mut fixture()).unwrap(),
            vec!["Child"]
        );
        // Same name, another root page: the rows are another table's.
        let moved = reading(&[("child", "CREATE TABLE child (id, x)", 9)]);
        assert_eq!(
            tables_to_check(&touched, &before, &moved, &mut fixture()).unwrap(),
            vec!["Child", "grandchild"]
        );
        // A column a child references is gone.
        let mut f = fixture();
        f.fks.insert(
            "grandchild".into(),
            vec![fk("child", "child_id", Some("code"))],
        );
        assert_eq!(
            tables_to_check(&touched, &before, &added, &mut f).unwrap(),
            vec!["Child", "grandchild"]
        );
        // A table's rename: the old name and the new one, with their children.
        let touched: BTreeMap<String, Effect> =
            [("parent".to_string(), altered)].into_iter().collect();
        let before = reading(&[("parent", "p", 2)]);
        let after = reading(&[("parents", "p2", 2)]);
        let mut f = fixture();
        f.fks
            .insert("Child".into(), vec![fk("parents", "parent_id", Some("id"))]);
        assert_eq!(
            tables_to_check(&touched, &before, &after, &mut f).unwrap(),
            vec!["Child"]
        );
    }

    #[test]
    fn a_rename_counts_both_names() {
        let before = definitions(&[
            ("a", "CREATE TABLE a (x)", 2),
            ("b", "CREATE TABLE b (y)", 3),
            ("c", "CREATE TABLE c (z)", 4),
        ]);
        let after = definitions(&[
            ("a2", "CREATE TABLE \"a2\" (x)", 2),
            ("b", "CREATE TABLE b (y, w)", 3),
            ("c", "CREATE TABLE c (z)", 5),
        ]);
        assert_eq!(schema_changes(&before, &after), set(&["a", "a2", "b", "c"]));
    }
}
