//! `ferry new MESSAGE --autogenerate -d DEV`: a revision's SQL written from the difference
//! between the set's head (built in a scratch database beside DEV, as `verify` builds a
//! position) and the development database DEV.
//!
//! The drivers' snapshots decide what differs ([`crate::core::schema::diff`], ferry's own tables
//! and the legacy marker's left out); the catalogs (`author::catalog`) say how each object is
//! created. The up script turns the head's schema into DEV's and the down script turns it back:
//! both come from one function, `transition`, run in each direction.
//!
//! Order: what depends on an object is dropped before it and created after it — triggers,
//! views and indexes are dropped first, then foreign keys and tables (children first); types,
//! sequences and functions are created before tables, tables in dependency order (a parent
//! before its children), then columns and constraints, indexes, views and triggers; what is
//! no longer there is dropped last.
//!
//! SQLite: a table change `ALTER TABLE` cannot make (anything but adding plain columns) becomes
//! the table rebuild SQLite documents: the new table under a temporary name, the rows of the
//! columns both have copied, the old table dropped, the new one renamed, its indexes and
//! triggers created again; views and triggers that name the table are dropped before and
//! created after. ferry runs SQLite steps with foreign keys off and checks them before commit,
//! so a rebuilt parent's cascading children keep their rows.
//!
//! Changes that may lose data carry a `-- review:` line above them: a dropped table or column, a
//! type that may not hold every value, a column that becomes NOT NULL; a dropped column beside
//! an added one of the same type is named as a possible rename, with the statement to use.

use std::collections::{BTreeMap, BTreeSet};

use crate::bookkeeping::skipped_tables;
use crate::core::graph::Graph;
use crate::core::schema::{self, Column, Difference, Schema, Table, skip_quoted_or_comment};
use crate::core::set::{Dialect, MigrationSet};
use crate::core::state::Position;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::fixture::TestDirs;
use crate::scaffold;
use crate::scratch::{Scratch, Site};

use super::catalog::{
    Col, SqliteObject, ident, owned_by_identity, postgres_column_definition, postgres_columns,
    postgres_functions, postgres_views, sqlite_objects, table_name, table_order,
};

/// Where a `-- review:` comment begins.
pub const REVIEW: &str = "-- review:";

/// The generated SQL of one dialect.
#[derive(Debug, Clone)]
pub struct Generated {
    pub dialect: Dialect,
    /// The statements that turn the head's schema into DEV's (no header).
    pub up: String,
    /// The statements that turn DEV's schema back into the head's (no header).
    pub down: String,
    /// What differs, from the head (expected) to DEV (actual).
    pub differences: Vec<Difference>,
    /// The `-- review:` remarks of the up script, without the prefix.
    pub reviews: Vec<String>,
}

/// The head's schema built in a scratch database at `site`, compared with DEV (`dev`, opened
/// from `site.live`): the SQL of both directions, with no statement when nothing differs.
pub fn generate(
    set: &MigrationSet,
    graph: &Graph,
    site: &Site,
    dev: &mut dyn Driver,
) -> Result<Generated> {
    let head_id = scaffold::single_head(graph)?;
    let purpose = format!("new --autogenerate: building the head ({head_id})");
    let mut scratch = Scratch::beside(site, &purpose)?;
    let expected = scratch.schema_of(
        set,
        graph,
        &Position::Revisions(vec![head_id]),
        &TestDirs::default(),
    )?;
    let actual = dev
        .snapshot_in(&skipped_tables(set), &expected.scope())
        .map_err(Error::reading("reading the development database's schema"))?;
    let differences = schema::diff(&expected, &actual);
    let dialect = dev.dialect();
    if differences.is_empty() {
        return Ok(Generated {
            dialect,
            up: String::new(),
            down: String::new(),
            differences,
            reviews: Vec::new(),
        });
    }
    let head_side = Side::read(scratch.driver(), &expected)?;
    let dev_side = Side::read(dev, &actual)?;
    let up = transition(&head_side, &dev_side);
    let down = transition(&dev_side, &head_side);
    Ok(Generated {
        dialect,
        reviews: up.reviews.clone(),
        up: up.text(),
        down: down.text(),
        differences,
    })
}

// ---------------------------------------------------------------------------------------
// One side of the comparison: its snapshot and how to create its objects

struct Side<'a> {
    schema: &'a Schema,
    dialect: Dialect,
    /// SQLite: the statements SQLite stored, in the order they were made.
    objects: Vec<SqliteObject>,
    /// PostgreSQL: each table's columns in their order.
    columns: BTreeMap<String, Vec<Col>>,
    /// PostgreSQL: the functions' own text.
    functions: BTreeMap<String, String>,
    /// Views in the order they were made, each with its CREATE statement.
    views: Vec<(String, String)>,
    /// Tables in dependency order.
    order: Vec<String>,
}

impl<'a> Side<'a> {
    fn read(db: &mut dyn Driver, schema: &'a Schema) -> Result<Side<'a>> {
        let dialect = db.dialect();
        let mut side = Side {
            schema,
            dialect,
            objects: Vec::new(),
            columns: BTreeMap::new(),
            functions: BTreeMap::new(),
            views: Vec::new(),
            order: table_order(schema),
        };
        match dialect {
            Dialect::Sqlite => {
                side.objects = sqlite_objects(db)?;
                side.views = side
                    .objects
                    .iter()
                    .filter(|o| o.kind == "view" && schema.views.contains_key(&o.name))
                    .map(|o| (o.name.clone(), o.sql.clone()))
                    .collect();
            }
            Dialect::Postgres => {
                side.columns = postgres_columns(db, schema)?;
                side.functions = postgres_functions(db)?;
                side.views = postgres_views(db, schema)?;
            }
        }
        Ok(side)
    }

    fn object(&self, kind: &str, name: &str) -> Option<&SqliteObject> {
        self.objects
            .iter()
            .find(|o| o.kind == kind && o.name == name)
    }

    /// The table an index belongs to.
    fn index_table(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => self
                .object("index", name)
                .map(|o| o.table.clone())
                .unwrap_or_default(),
            Dialect::Postgres => self
                .schema
                .indexes
                .get(name)
                .and_then(|d| {
                    let rest = d.split_once(" ON ")?.1;
                    let rest = rest.strip_prefix("ONLY ").unwrap_or(rest);
                    Some(rest.split_whitespace().next()?.replace('"', ""))
                })
                .unwrap_or_default(),
        }
    }

    fn index_sql(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => self
                .object("index", name)
                .map(|o| o.sql.clone())
                .unwrap_or_default(),
            Dialect::Postgres => format!(
                "{};",
                self.schema.indexes.get(name).cloned().unwrap_or_default()
            ),
        }
    }

    /// The table a trigger (by its snapshot key) belongs to.
    fn trigger_table(&self, key: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => self
                .object("trigger", key)
                .map(|o| o.table.clone())
                .unwrap_or_default(),
            Dialect::Postgres => key
                .split_once(" on ")
                .map(|(_, t)| t.to_string())
                .unwrap_or_default(),
        }
    }

    fn trigger_sql(&self, key: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => self
                .object("trigger", key)
                .map(|o| o.sql.clone())
                .unwrap_or_default(),
            Dialect::Postgres => format!(
                "{};",
                self.schema.triggers.get(key).cloned().unwrap_or_default()
            ),
        }
    }

    fn drop_trigger(&self, key: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("DROP TRIGGER {};", ident(self.dialect, key)),
            Dialect::Postgres => {
                let (name, table) = key.split_once(" on ").unwrap_or((key, ""));
                format!(
                    "DROP TRIGGER {} ON {};",
                    ident(self.dialect, name),
                    table_name(self.dialect, table)
                )
            }
        }
    }

    fn view_sql(&self, name: &str) -> String {
        self.views
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    fn drop_view(&self, name: &str) -> String {
        let materialized = self
            .schema
            .views
            .get(name)
            .is_some_and(|d| d.starts_with("MATERIALIZED VIEW AS "));
        let kind = if materialized {
            "MATERIALIZED VIEW"
        } else {
            "VIEW"
        };
        format!("DROP {kind} {};", table_name(self.dialect, name))
    }

    /// The text a view's or trigger's dependencies are looked for in.
    fn body_of_view(&self, name: &str) -> String {
        self.view_sql(name)
    }

    fn body_of_trigger(&self, key: &str) -> String {
        self.trigger_sql(key)
    }
}

// ---------------------------------------------------------------------------------------
// A script being written

#[derive(Default)]
struct Script {
    out: Vec<String>,
    reviews: Vec<String>,
}

impl Script {
    fn push(&mut self, statement: impl Into<String>) {
        self.out.push(statement.into());
    }

    fn review(&mut self, remark: impl Into<String>) {
        let remark = remark.into();
        self.out.push(format!("{REVIEW} {remark}"));
        self.reviews.push(remark);
    }

    fn comment(&mut self, text: &str) {
        self.out.push(format!("-- {text}"));
    }

    fn blank(&mut self) {
        if self.out.last().is_some_and(|l| !l.is_empty()) {
            self.out.push(String::new());
        }
    }

    fn text(&self) -> String {
        let mut text = self.out.join("\n");
        text = text.trim().to_string();
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }
}

// ---------------------------------------------------------------------------------------
// The transition from one schema to another

/// Keys of `to` that are new or changed from `from`.
fn new_or_changed<V: PartialEq>(
    from: &BTreeMap<String, V>,
    to: &BTreeMap<String, V>,
) -> BTreeSet<String> {
    to.iter()
        .filter(|(k, v)| from.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Keys of `from` that are gone or changed in `to`.
fn gone_or_changed<V: PartialEq>(
    from: &BTreeMap<String, V>,
    to: &BTreeMap<String, V>,
) -> BTreeSet<String> {
    new_or_changed(to, from)
}

/// What becomes of a table both sides have (SQLite).
enum SqlitePlan {
    /// Only plain columns are added: `ALTER TABLE … ADD COLUMN` with these definitions.
    AddColumns(Vec<String>),
    Rebuild,
}

/// The statements that turn `from`'s schema into `to`'s.
fn transition(from: &Side, to: &Side) -> Script {
    let (f, t) = (from.schema, to.schema);
    let dialect = to.dialect;
    let mut s = Script::default();

    let gone_tables: BTreeSet<String> = f
        .tables
        .keys()
        .filter(|k| !t.tables.contains_key(*k))
        .cloned()
        .collect();
    let changed_tables: BTreeSet<String> = f
        .tables
        .iter()
        .filter(|(k, v)| t.tables.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k.clone())
        .collect();
    let sqlite_plans: BTreeMap<String, SqlitePlan> = match dialect {
        Dialect::Sqlite => changed_tables
            .iter()
            .map(|name| {
                let plan = to
                    .object("table", name)
                    .and_then(|o| sqlite_added_columns(&f.tables[name], &t.tables[name], &o.sql))
                    .map_or(SqlitePlan::Rebuild, SqlitePlan::AddColumns);
                (name.clone(), plan)
            })
            .collect(),
        Dialect::Postgres => BTreeMap::new(),
    };
    let rebuilt: BTreeSet<String> = sqlite_plans
        .iter()
        .filter(|(_, p)| matches!(p, SqlitePlan::Rebuild))
        .map(|(k, _)| k.clone())
        .collect();
    // Tables whose views and triggers elsewhere must go while they change: SQLite's rebuilt
    // and dropped tables; PostgreSQL's dropped tables and those whose columns change.
    let mut touched: BTreeSet<String> = gone_tables.union(&rebuilt).cloned().collect();
    if dialect == Dialect::Postgres {
        touched.extend(
            changed_tables
                .iter()
                .filter(|k| f.tables[*k].columns != t.tables[*k].columns)
                .cloned(),
        );
    }

    // Views: the gone and changed, those naming a touched table, and those naming a view that
    // goes (repeatedly).
    let mut drop_views = gone_or_changed(&f.views, &t.views);
    for name in f.views.keys() {
        if touched
            .iter()
            .any(|tb| mentions(&from.body_of_view(name), tb))
        {
            drop_views.insert(name.clone());
        }
    }
    loop {
        let more: Vec<String> = f
            .views
            .keys()
            .filter(|v| !drop_views.contains(*v))
            .filter(|v| {
                drop_views
                    .iter()
                    .any(|d| mentions(&from.body_of_view(v), d))
            })
            .cloned()
            .collect();
        if more.is_empty() {
            break;
        }
        drop_views.extend(more);
    }
    let mut create_views = new_or_changed(&f.views, &t.views);
    create_views.extend(
        drop_views
            .iter()
            .filter(|v| t.views.contains_key(*v))
            .cloned(),
    );

    // Triggers: the gone and changed; on SQLite also those of a rebuilt table and those naming
    // a touched table or a view that goes.
    let mut drop_triggers = gone_or_changed(&f.triggers, &t.triggers);
    if dialect == Dialect::Sqlite {
        for key in f.triggers.keys() {
            let body = from.body_of_trigger(key);
            let on = from.trigger_table(key);
            if (rebuilt.contains(&on) && !gone_tables.contains(&on))
                || touched
                    .iter()
                    .chain(drop_views.iter())
                    .any(|x| *x != on && mentions(&body, x))
            {
                drop_triggers.insert(key.clone());
            }
        }
    }
    // Those on a dropped table go with it.
    drop_triggers.retain(|k| !gone_tables.contains(&from.trigger_table(k)));
    let mut create_triggers = new_or_changed(&f.triggers, &t.triggers);
    create_triggers.extend(
        drop_triggers
            .iter()
            .filter(|k| t.triggers.contains_key(*k))
            .cloned(),
    );

    // Indexes: the gone and changed (not those of a dropped table: they go with it); on SQLite
    // also those of a rebuilt table.
    let mut drop_indexes = gone_or_changed(&f.indexes, &t.indexes);
    if dialect == Dialect::Sqlite {
        drop_indexes.extend(
            f.indexes
                .keys()
                .filter(|k| rebuilt.contains(&from.index_table(k)))
                .cloned(),
        );
    }
    drop_indexes.retain(|k| !gone_tables.contains(&from.index_table(k)));
    let mut create_indexes = new_or_changed(&f.indexes, &t.indexes);
    create_indexes.extend(
        drop_indexes
            .iter()
            .filter(|k| t.indexes.contains_key(*k))
            .cloned(),
    );

    // 1. What depends on other objects goes first.
    for key in &drop_triggers {
        s.push(from.drop_trigger(key));
    }
    for (name, _) in from.views.iter().rev() {
        if drop_views.contains(name) {
            s.push(from.drop_view(name));
        }
    }
    for name in &drop_indexes {
        s.push(format!("DROP INDEX {};", table_name(dialect, name)));
    }
    s.blank();

    match dialect {
        Dialect::Sqlite => sqlite_tables(from, to, &gone_tables, &sqlite_plans, &mut s),
        Dialect::Postgres => postgres_tables(from, to, &gone_tables, &changed_tables, &mut s),
    }
    s.blank();

    // Indexes, views and triggers, as `to` made them.
    let ordered_indexes: Vec<String> = match dialect {
        Dialect::Sqlite => to
            .objects
            .iter()
            .filter(|o| o.kind == "index" && create_indexes.contains(&o.name))
            .map(|o| o.name.clone())
            .collect(),
        Dialect::Postgres => create_indexes.iter().cloned().collect(),
    };
    for name in ordered_indexes {
        s.push(to.index_sql(&name));
    }
    s.blank();
    for (name, sql) in &to.views {
        if create_views.contains(name) {
            s.push(sql.clone());
        }
    }
    s.blank();
    let ordered_triggers: Vec<String> = match dialect {
        Dialect::Sqlite => to
            .objects
            .iter()
            .filter(|o| o.kind == "trigger" && create_triggers.contains(&o.name))
            .map(|o| o.name.clone())
            .collect(),
        Dialect::Postgres => create_triggers.iter().cloned().collect(),
    };
    for key in ordered_triggers {
        s.push(to.trigger_sql(&key));
    }
    s.blank();

    if dialect == Dialect::Postgres {
        postgres_drop_last(from, to, &mut s);
    }
    s
}

// ---------------------------------------------------------------------------------------
// SQLite tables

fn sqlite_tables(
    from: &Side,
    to: &Side,
    gone: &BTreeSet<String>,
    plans: &BTreeMap<String, SqlitePlan>,
    s: &mut Script,
) {
    let dialect = Dialect::Sqlite;
    for name in from.order.iter().rev() {
        if gone.contains(name) {
            s.review(format!(
                "drops table {name} and every row in it (its indexes and triggers go with it)"
            ));
            s.push(format!("DROP TABLE {};", ident(dialect, name)));
        }
    }
    s.blank();
    for name in &to.order {
        if !from.schema.tables.contains_key(name)
            && let Some(o) = to.object("table", name)
        {
            s.push(o.sql.clone());
        }
    }
    s.blank();
    for name in &to.order {
        let Some(plan) = plans.get(name) else {
            continue;
        };
        let (old, new) = (&from.schema.tables[name], &to.schema.tables[name]);
        match plan {
            SqlitePlan::AddColumns(defs) => {
                for def in defs {
                    s.push(format!(
                        "ALTER TABLE {} ADD COLUMN {def};",
                        ident(dialect, name)
                    ));
                }
            }
            SqlitePlan::Rebuild => {
                column_reviews(dialect, name, old, new, s);
                let Some(create) = to.object("table", name) else {
                    continue;
                };
                let temporary = format!("ferry_new_{name}");
                let Some(body) = create.sql.find('(').map(|at| &create.sql[at..]) else {
                    continue;
                };
                let common: Vec<String> = new
                    .columns
                    .keys()
                    .filter(|c| old.columns.contains_key(*c))
                    .map(|c| ident(dialect, c))
                    .collect();
                s.comment(&format!(
                    "{name}: a change SQLite's ALTER TABLE cannot make; the table is rebuilt as SQLite documents \
                     (new table, rows copied, old one dropped, new one renamed; its indexes and triggers follow)"
                ));
                s.push(format!(
                    "CREATE TABLE {} {body}",
                    ident(dialect, &temporary)
                ));
                if !common.is_empty() {
                    let list = common.join(", ");
                    s.push(format!(
                        "INSERT INTO {} ({list}) SELECT {list} FROM {};",
                        ident(dialect, &temporary),
                        ident(dialect, name)
                    ));
                }
                s.push(format!("DROP TABLE {};", ident(dialect, name)));
                s.push(format!(
                    "ALTER TABLE {} RENAME TO {};",
                    ident(dialect, &temporary),
                    ident(dialect, name)
                ));
                s.blank();
            }
        }
    }
}

/// The column definitions to add when `to` is `from` plus plain columns `ALTER TABLE … ADD
/// COLUMN` can add (nullable or with a constant default, no key, not generated); `None` when
/// the table must be rebuilt.
fn sqlite_added_columns(from: &Table, to: &Table, to_sql: &str) -> Option<Vec<String>> {
    if from
        .columns
        .iter()
        .any(|(c, def)| to.columns.get(c) != Some(def))
        || from
            .constraints
            .iter()
            .any(|(k, d)| to.constraints.get(k) != Some(d))
    {
        return None;
    }
    let added: Vec<&String> = to
        .columns
        .keys()
        .filter(|c| !from.columns.contains_key(*c))
        .collect();
    if added.is_empty() {
        return None;
    }
    // New constraints may only be foreign keys of added columns.
    for (key, def) in &to.constraints {
        if from.constraints.contains_key(key) {
            continue;
        }
        let columns = def
            .strip_prefix("FOREIGN KEY (")
            .and_then(|r| r.split_once(')'))
            .map(|(cols, _)| cols)?;
        if columns
            .split(',')
            .any(|c| !added.iter().any(|a| a.as_str() == c.trim()))
        {
            return None;
        }
    }
    let definitions = sqlite_column_definitions(to_sql);
    let mut out = Vec::new();
    for name in added {
        let def = definitions.get(name)?;
        let column = &to.columns[name];
        let upper = def.to_ascii_uppercase();
        let words: Vec<&str> = upper
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .collect();
        if words
            .iter()
            .any(|w| matches!(*w, "PRIMARY" | "UNIQUE" | "GENERATED" | "AS"))
        {
            return None;
        }
        match column.default.as_deref() {
            None if column.not_null => return None,
            Some(d) if d.starts_with('(') || d.to_ascii_uppercase().starts_with("CURRENT_") => {
                return None;
            }
            _ => {}
        }
        out.push(def.clone());
    }
    Some(out)
}

/// The column definitions of a `CREATE TABLE` statement, by column name, as written (comments
/// left out); table constraints are skipped.
fn sqlite_column_definitions(create: &str) -> BTreeMap<String, String> {
    let bytes = create.as_bytes();
    let mut out = BTreeMap::new();
    let Some(open) = create.find('(') else {
        return out;
    };
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    let (mut depth, mut i) = (0usize, open + 1);
    while i < bytes.len() {
        if let Some(end) = skip_quoted_or_comment(bytes, i) {
            let chunk = &create[i..end];
            if !(chunk.starts_with("--") || chunk.starts_with("/*")) {
                current.push_str(chunk);
            } else {
                current.push(' ');
            }
            i = end;
            continue;
        }
        let c = bytes[i];
        match c {
            b'(' => depth += 1,
            b')' if depth == 0 => {
                pieces.push(std::mem::take(&mut current));
                break;
            }
            b')' => depth -= 1,
            b',' if depth == 0 => {
                pieces.push(std::mem::take(&mut current));
                i += 1;
                continue;
            }
            _ => {}
        }
        // Multi-byte characters: copy the whole character.
        let len = create[i..].chars().next().map_or(1, char::len_utf8);
        current.push_str(&create[i..i + len]);
        i += len;
    }
    for piece in pieces {
        let piece = piece.split_whitespace().collect::<Vec<_>>().join(" ");
        let first = piece
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if matches!(
            first.as_str(),
            "CONSTRAINT" | "PRIMARY" | "UNIQUE" | "CHECK" | "FOREIGN" | ""
        ) {
            continue;
        }
        let name = match piece.chars().next() {
            Some(q @ ('"' | '`' | '[')) => {
                let close = if q == '[' { ']' } else { q };
                piece[1..]
                    .find(close)
                    .map(|end| piece[1..1 + end].to_string())
                    .unwrap_or_default()
            }
            _ => piece.split_whitespace().next().unwrap_or("").to_string(),
        };
        out.insert(name, piece);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Remarks on columns

/// `-- review:` lines for a table's dropped columns (with a possible rename) and for columns
/// whose type may not hold every value or that become NOT NULL.
fn column_reviews(dialect: Dialect, table: &str, old: &Table, new: &Table, s: &mut Script) {
    let dropped: Vec<(&String, &Column)> = old
        .columns
        .iter()
        .filter(|(c, _)| !new.columns.contains_key(*c))
        .collect();
    let added: Vec<(&String, &Column)> = new
        .columns
        .iter()
        .filter(|(c, _)| !old.columns.contains_key(*c))
        .collect();
    for (name, column) in &dropped {
        s.review(format!("drops column {table}.{name} and its values"));
        for (other, _) in added
            .iter()
            .filter(|(_, a)| a.data_type.eq_ignore_ascii_case(&column.data_type))
        {
            s.review(format!(
                "{table}.{name} is dropped and {table}.{other} ({}) added: if this is a rename, use instead \
                 `ALTER TABLE {} RENAME COLUMN {} TO {};` (it keeps the values)",
                column.data_type,
                table_name(dialect, table),
                ident(dialect, name),
                ident(dialect, other)
            ));
        }
    }
    for (name, column) in &new.columns {
        let Some(before) = old.columns.get(name) else {
            if column.not_null && column.default.is_none() {
                s.review(format!(
                    "{table}.{name} is NOT NULL without a default: existing rows of {table} make this fail"
                ));
            }
            continue;
        };
        if narrows(&before.data_type, &column.data_type) {
            s.review(format!(
                "changes the type of {table}.{name} from {} to {}, which may not hold every value",
                before.data_type, column.data_type
            ));
        }
        if column.not_null && !before.not_null {
            s.review(format!(
                "{table}.{name} becomes NOT NULL: rows holding NULL make this fail"
            ));
        }
    }
}

/// Whether a column type change may not keep every value (anything that is not a known
/// widening).
fn narrows(from: &str, to: &str) -> bool {
    let (a, b) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
    if a == b || b == "text" {
        return false;
    }
    let rank = |t: &str| match t {
        "smallint" | "int2" => Some(1),
        "integer" | "int" | "int4" => Some(2),
        "bigint" | "int8" => Some(3),
        "numeric" => Some(4),
        _ => None,
    };
    if let (Some(x), Some(y)) = (rank(&a), rank(&b)) {
        return y < x;
    }
    if a == "real" && b == "double precision" {
        return false;
    }
    // varchar(n) → varchar(m ≥ n) or text; numeric(p, s) → numeric(q ≥ p, s).
    let sized = |t: &str| -> Option<(String, Vec<u32>)> {
        let (base, rest) = t.split_once('(')?;
        let sizes = rest
            .trim_end_matches(')')
            .split(',')
            .map(|n| n.trim().parse().ok())
            .collect::<Option<Vec<u32>>>()?;
        Some((base.trim().to_string(), sizes))
    };
    match (sized(&a), sized(&b)) {
        (Some((x, s)), Some((y, t))) if x == y => {
            !(s.len() == t.len() && t[0] >= s[0] && s.get(1) == t.get(1))
        }
        (Some((x, _)), None) if (x == "character varying" || x == "varchar") && b == x => false,
        (Some((x, _)), None) if x == "numeric" && b == "numeric" => false,
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL tables, types, sequences and functions

fn postgres_tables(
    from: &Side,
    to: &Side,
    gone: &BTreeSet<String>,
    changed: &BTreeSet<String>,
    s: &mut Script,
) {
    let dialect = Dialect::Postgres;
    let (f, t) = (from.schema, to.schema);
    let is_fk = |d: &str| d.starts_with("FOREIGN KEY");

    // Constraints that go or change on tables both have: foreign keys first (they may lean on
    // a unique key that goes).
    let mut dropped_constraints = Vec::new();
    for name in changed {
        let (old, new) = (&f.tables[name], &t.tables[name]);
        for key in gone_or_changed(&old.constraints, &new.constraints) {
            dropped_constraints.push((is_fk(&old.constraints[&key]), name.clone(), key));
        }
    }
    dropped_constraints.sort_by_key(|(fk, _, _)| !fk);
    for (fk, table, key) in &dropped_constraints {
        if *fk {
            s.push(format!(
                "ALTER TABLE {} DROP CONSTRAINT {};",
                table_name(dialect, table),
                ident(dialect, key)
            ));
        }
    }
    for name in from.order.iter().rev() {
        if gone.contains(name) {
            s.review(format!(
                "drops table {name} and every row in it (its indexes and triggers go with it)"
            ));
            s.push(format!("DROP TABLE {};", table_name(dialect, name)));
        }
    }
    for (fk, table, key) in &dropped_constraints {
        if !*fk {
            s.push(format!(
                "ALTER TABLE {} DROP CONSTRAINT {};",
                table_name(dialect, table),
                ident(dialect, key)
            ));
        }
    }
    s.blank();

    postgres_types(from, to, s);
    postgres_sequences(from, to, s);
    for key in new_or_changed(&f.routines, &t.routines) {
        if key.starts_with("type ") {
            continue;
        }
        s.push(
            to.functions
                .get(&key)
                .cloned()
                .unwrap_or_else(|| format!("{};", t.routines[&key])),
        );
    }
    s.blank();

    // New tables, without their foreign keys (added once every table is there).
    let mut foreign_keys = Vec::new();
    for name in &to.order {
        if f.tables.contains_key(name) {
            continue;
        }
        let shape = &t.tables[name];
        let mut lines: Vec<String> = Vec::new();
        let ordered: Vec<String> = match to.columns.get(name) {
            Some(cols) => cols.iter().map(|c| c.name.clone()).collect(),
            None => shape.columns.keys().cloned().collect(),
        };
        for column in ordered {
            if let Some(c) = shape.columns.get(&column) {
                lines.push(postgres_column(&column, c));
            }
        }
        let mut constraints: Vec<(&String, &String)> = shape.constraints.iter().collect();
        constraints.sort_by_key(|(n, d)| (!d.starts_with("PRIMARY KEY"), n.as_str()));
        for (cname, def) in constraints {
            let clause = format!("CONSTRAINT {} {def}", ident(dialect, cname));
            if is_fk(def) {
                foreign_keys.push(format!(
                    "ALTER TABLE {} ADD {clause};",
                    table_name(dialect, name)
                ));
            } else {
                lines.push(clause);
            }
        }
        s.push(format!(
            "CREATE TABLE {} (\n    {}\n);",
            table_name(dialect, name),
            lines.join(",\n    ")
        ));
    }
    s.blank();

    // Tables both have: columns, then constraints.
    let mut added_constraints = Vec::new();
    for name in &to.order {
        if !changed.contains(name) {
            continue;
        }
        let (old, new) = (&f.tables[name], &t.tables[name]);
        let table = table_name(dialect, name);
        column_reviews(dialect, name, old, new, s);
        let ordered: Vec<String> = match to.columns.get(name) {
            Some(cols) => cols.iter().map(|c| c.name.clone()).collect(),
            None => new.columns.keys().cloned().collect(),
        };
        for column in &ordered {
            let Some(c) = new.columns.get(column) else {
                continue;
            };
            match old.columns.get(column) {
                None => s.push(format!(
                    "ALTER TABLE {table} ADD COLUMN {};",
                    postgres_column(column, c)
                )),
                Some(before) if before != c => {
                    alter_postgres_column(&table, column, before, c, s);
                }
                Some(_) => {}
            }
        }
        for column in old.columns.keys() {
            if !new.columns.contains_key(column) {
                s.push(format!(
                    "ALTER TABLE {table} DROP COLUMN {};",
                    ident(dialect, column)
                ));
            }
        }
        for key in new_or_changed(&old.constraints, &new.constraints) {
            let def = &new.constraints[&key];
            let statement = format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} {def};",
                ident(dialect, &key)
            );
            if is_fk(def) {
                foreign_keys.push(statement);
            } else {
                added_constraints.push(statement);
            }
        }
    }
    for statement in added_constraints.into_iter().chain(foreign_keys) {
        s.push(statement);
    }
    s.blank();

    // Sequence owners, once their tables are there.
    for (name, def) in &t.sequences {
        if identity_sequence(t, def) || identity_sequence(f, def) {
            continue;
        }
        let owner = |d: &str| d.split_once(" OWNED BY ").map(|(_, o)| o.to_string());
        let before = f.sequences.get(name).and_then(|d| owner(d));
        let after = owner(def);
        if before != after {
            s.push(format!(
                "ALTER SEQUENCE {} OWNED BY {};",
                table_name(dialect, name),
                after.unwrap_or_else(|| "NONE".into())
            ));
        }
    }
}

/// A column as `CREATE TABLE` and `ADD COLUMN` write it.
fn postgres_column(name: &str, c: &Column) -> String {
    postgres_column_definition(&ident(Dialect::Postgres, name), c)
}

fn alter_postgres_column(table: &str, name: &str, before: &Column, after: &Column, s: &mut Script) {
    let column = ident(Dialect::Postgres, name);
    let alter = format!("ALTER TABLE {table} ALTER COLUMN {column}");
    let generated = |c: &Column| {
        c.default
            .as_deref()
            .is_some_and(|d| d.starts_with("GENERATED ALWAYS AS ("))
    };
    if generated(before) || generated(after) {
        // A generated column's expression cannot be altered: the column is made again.
        s.review(format!(
            "the generated column {table}.{name} is dropped and added again"
        ));
        s.push(format!("ALTER TABLE {table} DROP COLUMN {column};"));
        s.push(format!(
            "ALTER TABLE {table} ADD COLUMN {};",
            postgres_column(name, after)
        ));
        return;
    }
    let identity = |c: &Column| {
        c.default
            .as_deref()
            .filter(|d| d.ends_with("AS IDENTITY"))
            .map(str::to_string)
    };
    let (was, will) = (identity(before), identity(after));
    let type_changes = before.data_type != after.data_type;
    if type_changes {
        if before.default.is_some() && was.is_none() {
            s.push(format!("{alter} DROP DEFAULT;"));
        }
        s.push(format!(
            "{alter} TYPE {} USING {column}::{};",
            after.data_type, after.data_type
        ));
    }
    match (&was, &will) {
        (Some(_), None) => s.push(format!("{alter} DROP IDENTITY;")),
        (None, Some(kind)) => {
            if before.default.is_some() && !type_changes {
                s.push(format!("{alter} DROP DEFAULT;"));
            }
            s.push(format!("{alter} ADD {kind};"));
        }
        (Some(a), Some(b)) if a != b => {
            let how = b
                .trim_start_matches("GENERATED ")
                .trim_end_matches(" AS IDENTITY");
            s.push(format!("{alter} SET GENERATED {how};"));
        }
        _ => {}
    }
    if will.is_none() && (before.default != after.default || (type_changes && was.is_none())) {
        match &after.default {
            Some(d) => s.push(format!("{alter} SET DEFAULT {d};")),
            None if before.default.is_some() && !type_changes && was.is_none() => {
                s.push(format!("{alter} DROP DEFAULT;"))
            }
            None => {}
        }
    }
    if before.not_null != after.not_null && will.is_none() {
        let how = if after.not_null { "SET" } else { "DROP" };
        s.push(format!("{alter} {how} NOT NULL;"));
    }
}

/// Whether a sequence is an identity column's own (made and dropped with the column).
fn identity_sequence(schema: &Schema, def: &str) -> bool {
    let Some((_, owner)) = def.split_once(" OWNED BY ") else {
        return false;
    };
    owned_by_identity(schema, owner)
}

/// The labels of an enum definition `ENUM ('a', 'b')`.
fn enum_labels(def: &str) -> Option<Vec<String>> {
    let inner = def.strip_prefix("ENUM (")?.strip_suffix(')')?;
    let mut labels = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    label.push('\'');
                    continue;
                }
                break;
            }
            label.push(c);
        }
        labels.push(label);
    }
    Some(labels)
}

fn create_type(name: &str, def: &str) -> String {
    let name = table_name(Dialect::Postgres, name);
    match def.strip_prefix("DOMAIN ") {
        Some(rest) => format!("CREATE DOMAIN {name} AS {rest};"),
        None => format!("CREATE TYPE {name} AS {def};"),
    }
}

fn postgres_types(from: &Side, to: &Side, s: &mut Script) {
    let dialect = Dialect::Postgres;
    let (f, t) = (from.schema, to.schema);
    for key in new_or_changed(&f.routines, &t.routines) {
        let Some(name) = key.strip_prefix("type ") else {
            continue;
        };
        let def = &t.routines[&key];
        let Some(before) = f.routines.get(&key) else {
            s.push(create_type(name, def));
            continue;
        };
        let quoted = table_name(dialect, name);
        match (enum_labels(before), enum_labels(def)) {
            (Some(old), Some(new))
                if new.len() > old.len() && old.iter().all(|l| new.contains(l)) && {
                    let kept: Vec<&String> = new.iter().filter(|l| old.contains(l)).collect();
                    kept.iter().zip(&old).all(|(a, b)| *a == b)
                } =>
            {
                // Values added, the others in their order: ALTER TYPE … ADD VALUE.
                for (i, label) in new.iter().enumerate() {
                    if old.contains(label) {
                        continue;
                    }
                    let place = match i.checked_sub(1).map(|p| &new[p]) {
                        Some(prev) => format!(" AFTER {}", crate::driver::literal(prev)),
                        None => format!(" BEFORE {}", crate::driver::literal(&new[1])),
                    };
                    s.push(format!(
                        "ALTER TYPE {quoted} ADD VALUE {}{place};",
                        crate::driver::literal(label)
                    ));
                }
            }
            (Some(old), Some(new)) => {
                let removed: Vec<&String> = old.iter().filter(|l| !new.contains(l)).collect();
                if !removed.is_empty() {
                    s.review(format!(
                        "enum type {name} loses the value(s) {}: rows holding them make this fail",
                        removed
                            .iter()
                            .map(|l| crate::driver::literal(l))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                // Made again: the old type renamed, the columns cast through text.
                let old_name = format!("{name}_ferry_old");
                s.push(format!(
                    "ALTER TYPE {quoted} RENAME TO {};",
                    ident(dialect, &old_name)
                ));
                s.push(create_type(name, def));
                for (table, shape) in &f.tables {
                    for (column, c) in &shape.columns {
                        if c.data_type != *name {
                            continue;
                        }
                        let alter = format!(
                            "ALTER TABLE {} ALTER COLUMN {}",
                            table_name(dialect, table),
                            ident(dialect, column)
                        );
                        if c.default.is_some() {
                            s.push(format!("{alter} DROP DEFAULT;"));
                        }
                        s.push(format!(
                            "{alter} TYPE {quoted} USING {}::text::{quoted};",
                            ident(dialect, column)
                        ));
                        if let Some(d) = &c.default {
                            let d = d.replace(&format!("::{name}"), &format!("::{quoted}"));
                            s.push(format!("{alter} SET DEFAULT {d};"));
                        }
                    }
                }
                s.push(format!("DROP TYPE {};", ident(dialect, &old_name)));
            }
            _ => {
                s.review(format!(
                    "type {name} changes from {before} to {def}: it is dropped and made again, which fails while columns use it; alter it by hand then"
                ));
                s.push(format!(
                    "DROP {} {quoted};",
                    if before.starts_with("DOMAIN ") {
                        "DOMAIN"
                    } else {
                        "TYPE"
                    }
                ));
                s.push(create_type(name, def));
            }
        }
    }
}

fn postgres_sequences(from: &Side, to: &Side, s: &mut Script) {
    let dialect = Dialect::Postgres;
    let (f, t) = (from.schema, to.schema);
    let params = |d: &str| d.split_once(" OWNED BY ").map_or(d, |(p, _)| p).to_string();
    for (name, def) in &t.sequences {
        if identity_sequence(t, def) {
            continue;
        }
        match f.sequences.get(name) {
            None => s.push(format!(
                "CREATE SEQUENCE {} {};",
                table_name(dialect, name),
                params(def)
            )),
            Some(before) if params(before) != params(def) && !identity_sequence(f, before) => {
                let p = params(def);
                let cycle = if p.ends_with(" CYCLE") {
                    ""
                } else {
                    " NO CYCLE"
                };
                s.push(format!(
                    "ALTER SEQUENCE {} {p}{cycle};",
                    table_name(dialect, name)
                ));
            }
            Some(_) => {}
        }
    }
}

/// PostgreSQL: functions, sequences and types no longer there, once nothing uses them.
fn postgres_drop_last(from: &Side, to: &Side, s: &mut Script) {
    let dialect = Dialect::Postgres;
    let (f, t) = (from.schema, to.schema);
    for key in f.routines.keys() {
        if t.routines.contains_key(key) || key.starts_with("type ") {
            continue;
        }
        s.push(format!("DROP ROUTINE {key};"));
    }
    for (name, def) in &f.sequences {
        if t.sequences.contains_key(name) || identity_sequence(f, def) {
            continue;
        }
        // An owned sequence went with its column or table already.
        s.push(format!(
            "DROP SEQUENCE IF EXISTS {};",
            table_name(dialect, name)
        ));
    }
    for (key, def) in &f.routines {
        let Some(name) = key.strip_prefix("type ") else {
            continue;
        };
        if t.routines.contains_key(key) {
            continue;
        }
        let kind = if def.starts_with("DOMAIN ") {
            "DOMAIN"
        } else {
            "TYPE"
        };
        s.push(format!("DROP {kind} {};", table_name(dialect, name)));
    }
}

// ---------------------------------------------------------------------------------------
// Names in SQL text

/// Whether `sql` names `name` (a table or view): as a word outside strings and comments, bare
/// or quoted, case-insensitively; a qualified `schema.name` counts by its last part.
fn mentions(sql: &str, name: &str) -> bool {
    let name = name.rsplit('.').next().unwrap_or(name);
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if matches!(c, b'"' | b'`' | b'[') {
            let end = skip_quoted_or_comment(bytes, i).unwrap_or(bytes.len());
            let inner = &sql[i + 1..end.saturating_sub(1).max(i + 1)];
            if inner.eq_ignore_ascii_case(name) {
                return true;
            }
            i = end;
        } else if let Some(end) = skip_quoted_or_comment(bytes, i) {
            i = end;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            if sql[start..i].eq_ignore_ascii_case(name) {
                return true;
            }
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_as_words_outside_strings() {
        assert!(mentions("SELECT b.id FROM bots b", "bots"));
        assert!(mentions("SELECT 1 FROM \"Bots\"", "bots"));
        assert!(!mentions("SELECT 1 FROM robots", "bots"));
        assert!(!mentions("SELECT 'bots' FROM t -- bots", "bots"));
        assert!(mentions("SELECT 1 FROM main.bots", "bots"));
    }

    #[test]
    fn column_definitions_are_read_from_create_table() {
        let sql = "CREATE TABLE t (\n  id INTEGER PRIMARY KEY, -- the key\n  \"Name\" TEXT NOT NULL DEFAULT 'a,b',\n  \
                   n NUMERIC(10, 2),\n  CONSTRAINT c CHECK (n > 0),\n  UNIQUE (n)\n, extra TEXT)";
        let defs = sqlite_column_definitions(sql);
        assert_eq!(
            defs.keys().collect::<Vec<_>>(),
            vec!["Name", "extra", "id", "n"]
        );
        assert_eq!(defs["id"], "id INTEGER PRIMARY KEY");
        assert_eq!(defs["Name"], "\"Name\" TEXT NOT NULL DEFAULT 'a,b'");
        assert_eq!(defs["n"], "n NUMERIC(10, 2)");
    }

    #[test]
    fn widening_is_not_flagged_and_narrowing_is() {
        assert!(!narrows("integer", "bigint"));
        assert!(narrows("bigint", "integer"));
        assert!(!narrows("character varying(20)", "character varying(40)"));
        assert!(narrows("character varying(40)", "character varying(20)"));
        assert!(!narrows("character varying(40)", "text"));
        assert!(narrows("text", "integer"));
        assert!(!narrows("INTEGER", "TEXT"));
        assert!(narrows("numeric(10,2)", "numeric(10,1)"));
    }

    #[test]
    fn enum_labels_are_read_with_their_quotes() {
        assert_eq!(
            enum_labels("ENUM ('a', 'it''s', 'c,d')"),
            Some(vec!["a".into(), "it's".into(), "c,d".into()])
        );
        assert_eq!(enum_labels("DOMAIN text"), None);
    }
}
