//! What the authoring tools read from a database's own catalog to write DDL: the statements
//! SQLite stored, PostgreSQL's column order, functions' own text and views' definitions, and the
//! names as SQL. The drivers' snapshot ([`Driver::snapshot`]) decides what exists and what
//! differs; this module says how to create it. Shared by the generated baseline and
//! autogenerate.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::schema::{Column, Schema};
use crate::core::set::Dialect;
use crate::driver::{Driver, Rows, literal};
use crate::error::{Error, Result};

/// A column as a dump writes it.
#[derive(Debug, Clone)]
pub(crate) struct Col {
    pub(crate) name: String,
    /// The name as SQL (quoted where it must be).
    pub(crate) ident: String,
    pub(crate) data_type: String,
    /// Generated: never inserted.
    pub(crate) generated: bool,
    /// `GENERATED ALWAYS AS IDENTITY`: inserted with OVERRIDING SYSTEM VALUE.
    pub(crate) identity_always: bool,
}

impl Col {
    pub(crate) fn plain(dialect: Dialect, name: &str, data_type: &str) -> Col {
        Col {
            name: name.to_string(),
            ident: ident(dialect, name),
            data_type: data_type.to_string(),
            generated: false,
            identity_always: false,
        }
    }
}

/// Tables in dependency order: each after the tables its foreign keys reference (a cycle is
/// broken at the first table by name), otherwise by name. The snapshot's foreign keys name
/// their parent table on both dialects (`… REFERENCES users (id) …`).
pub(crate) fn table_order(schema: &Schema) -> Vec<String> {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, table) in &schema.tables {
        deps.insert(
            name.clone(),
            foreign_targets(&table.constraints)
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
    placed
}

/// The tables the foreign keys among `constraints` reference.
pub(crate) fn foreign_targets(constraints: &BTreeMap<String, String>) -> BTreeSet<String> {
    constraints.values().filter_map(|d| references(d)).collect()
}

/// `FOREIGN KEY (a) REFERENCES users(id) …` → `users`.
pub(crate) fn references(definition: &str) -> Option<String> {
    let rest = definition.split_once("REFERENCES ")?.1;
    let name = rest[..rest.find('(')?].trim();
    Some(name.replace('"', ""))
}

pub(crate) fn sqlite_columns(
    db: &mut dyn Driver,
    schema: &Schema,
) -> Result<BTreeMap<String, Vec<Col>>> {
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

pub(crate) fn postgres_columns(
    db: &mut dyn Driver,
    schema: &Schema,
) -> Result<BTreeMap<String, Vec<Col>>> {
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

pub(crate) fn cell(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

pub(crate) fn query(db: &mut dyn Driver, sql: &str, what: &str) -> Result<Rows> {
    db.query(sql)
        .map_err(Error::reading(format!("reading {what}")))
}

/// A statement SQLite stored for an object of the schema (`sqlite_master`).
#[derive(Debug, Clone)]
pub(crate) struct SqliteObject {
    /// `table`, `index`, `view` or `trigger`.
    pub(crate) kind: String,
    pub(crate) name: String,
    /// The table an index or trigger belongs to (a table's or view's own name).
    pub(crate) table: String,
    /// The statement as SQLite stored it, ending with `;`.
    pub(crate) sql: String,
}

/// Every statement SQLite stored for the schema's objects (its internal ones left out), in the
/// order they were made (`rowid`): a view after the views it reads.
pub(crate) fn sqlite_objects(db: &mut dyn Driver) -> Result<Vec<SqliteObject>> {
    Ok(query(
        db,
        "SELECT type, name, tbl_name, sql FROM sqlite_master \
         WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
        "the schema's statements",
    )?
    .into_iter()
    .map(|r| SqliteObject {
        kind: cell(&r, 0),
        name: cell(&r, 1),
        table: cell(&r, 2),
        sql: format!("{};", cell(&r, 3).trim_end().trim_end_matches(';')),
    })
    .collect())
}

/// PostgreSQL: the connection's current (managed) schema.
pub(crate) fn managed_schema(db: &mut dyn Driver) -> Result<String> {
    Ok(query(db, "SELECT current_schema()", "the current schema")?
        .first()
        .map(|r| cell(r, 0))
        .unwrap_or_default())
}

/// PostgreSQL: the managed schema's functions and procedures, keyed as the snapshot keys them
/// (`name(arguments)`), each as its `CREATE OR REPLACE` statement in its author's text (the
/// header unqualified), ending with `;`.
pub(crate) fn postgres_functions(db: &mut dyn Driver) -> Result<BTreeMap<String, String>> {
    let managed = managed_schema(db)?;
    Ok(query(
        db,
        "SELECT p.proname::text || '(' || pg_get_function_identity_arguments(p.oid) || ')', \
           pg_get_functiondef(p.oid) \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = current_schema() AND p.prokind IN ('f', 'p')",
        "the functions",
    )?
    .into_iter()
    .map(|r| {
        let text = cell(&r, 1);
        let body = text.find('$').unwrap_or(text.len());
        let (head, body) = text.split_at(body);
        (
            cell(&r, 0),
            format!(
                "{}{};",
                crate::driver::postgres::unqualify(head, &managed),
                body.trim_end()
            ),
        )
    })
    .collect())
}

/// PostgreSQL: the `CREATE [MATERIALIZED] VIEW` statements of the managed schema's views that
/// `schema` lists, in the order they were made (a view after the views it reads), ending with `;`.
pub(crate) fn postgres_views(
    db: &mut dyn Driver,
    schema: &Schema,
) -> Result<Vec<(String, String)>> {
    let mut views = Vec::new();
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
        let statement = format!(
            "CREATE {kind} {} AS\n{};",
            table_name(Dialect::Postgres, &name),
            body.trim_end().trim_end_matches(';')
        );
        views.push((name, statement));
    }
    // Views of other schemas: their normalized definition.
    for (name, def) in &schema.views {
        if views.iter().any(|(n, _)| n == name) {
            continue;
        }
        let (kind, def) = match def.strip_prefix("MATERIALIZED VIEW AS ") {
            Some(d) => ("MATERIALIZED VIEW", d),
            None => ("VIEW", def.as_str()),
        };
        views.push((
            name.clone(),
            format!(
                "CREATE {kind} {} AS {def};",
                table_name(Dialect::Postgres, name)
            ),
        ));
    }
    Ok(views)
}

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
pub(crate) fn ident(_dialect: Dialect, name: &str) -> String {
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
pub(crate) fn table_name(dialect: Dialect, key: &str) -> String {
    match (dialect, key.split_once('.')) {
        (Dialect::Postgres, Some((space, name))) => {
            format!("{}.{}", ident(dialect, space), ident(dialect, name))
        }
        _ => ident(dialect, key),
    }
}

/// A PostgreSQL column as `CREATE TABLE` and `ADD COLUMN` write it, its name already quoted:
/// type, default (or identity/generated clause), NOT NULL.
pub fn postgres_column_definition(quoted_name: &str, c: &Column) -> String {
    let mut line = format!("{quoted_name} {}", c.data_type);
    match c.default.as_deref() {
        Some(d) if d.starts_with("GENERATED ") => line.push_str(&format!(" {d}")),
        Some(d) => line.push_str(&format!(" DEFAULT {d}")),
        None => {}
    }
    if c.not_null {
        line.push_str(" NOT NULL");
    }
    line
}

/// Whether `owner` (`table.column`, a sequence's `OWNED BY`) is an identity column: its
/// sequence is the column's own, written by the column, never by itself.
pub fn owned_by_identity(schema: &Schema, owner: &str) -> bool {
    owner.rsplit_once('.').is_some_and(|(t, c)| {
        schema
            .tables
            .get(t)
            .and_then(|t| t.columns.get(c))
            .and_then(|c| c.default.as_deref())
            .is_some_and(|d| d.contains("AS IDENTITY"))
    })
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
    fn a_foreign_key_names_its_table() {
        assert_eq!(
            references("FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE"),
            Some("users".into())
        );
        assert_eq!(references("UNIQUE (a)"), None);
    }
}
