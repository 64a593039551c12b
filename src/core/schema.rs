//! A normalized schema snapshot, comparable across databases of one dialect, and its diff.
//!
//! Drivers fill it from their catalogs; ferry's own tables and the legacy marker's table are
//! left out. Column order is not compared: an upgraded table and a fresh one may differ there.
//!
//! The managed schema's objects have bare names. On PostgreSQL a snapshot may also cover other
//! schemas (its [`Scope`]): their objects sit in the same maps keyed `schema.name`, the
//! schemas themselves are listed, and so are the database's extensions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schema {
    /// The schemas besides the managed one (PostgreSQL), an empty one included; their objects
    /// are keyed `schema.name` in the maps below.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub schemas: BTreeSet<String>,
    /// Extension name → where it is installed and its version (PostgreSQL; never plpgsql).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Extension>,
    pub tables: BTreeMap<String, Table>,
    /// Index name → normalized definition (table, uniqueness, columns, predicate).
    pub indexes: BTreeMap<String, String>,
    /// Trigger name → normalized definition.
    pub triggers: BTreeMap<String, String>,
    pub views: BTreeMap<String, String>,
    /// Functions and sequences of the schema (PostgreSQL).
    pub routines: BTreeMap<String, String>,
    pub sequences: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Table {
    pub columns: BTreeMap<String, Column>,
    /// Constraint key (its name, or a synthesized one) → normalized definition: primary key,
    /// foreign keys with their actions, unique and check constraints.
    pub constraints: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Column {
    pub data_type: String,
    pub not_null: bool,
    pub default: Option<String>,
}

/// An installed extension. Its own functions, types and relations are never listed as objects
/// of a schema: its version stands for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extension {
    /// The schema it is installed in; `None`: the managed schema (whatever its name).
    pub schema: Option<String>,
    pub version: String,
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "version {} in schema {s}", self.version),
            None => write!(f, "version {} in the managed schema", self.version),
        }
    }
}

/// Which names of a kind a snapshot reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    /// Every one the database has (system schemas and plpgsql excepted).
    All,
    Only(BTreeSet<String>),
}

impl Default for Names {
    fn default() -> Names {
        Names::Only(BTreeSet::new())
    }
}

impl Names {
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Names::All => true,
            Names::Only(names) => names.contains(name),
        }
    }
}

/// What a snapshot reads besides the managed schema: other schemas and extensions. The
/// default is nothing else (what `Driver::snapshot` reads).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub schemas: Names,
    pub extensions: Names,
}

impl Scope {
    /// Every non-system schema and every extension but plpgsql (every database has it): what
    /// a database built from nothing by the migration set contains.
    pub fn everything() -> Scope {
        Scope {
            schemas: Names::All,
            extensions: Names::All,
        }
    }

    /// Whether the objects of schema `name` (not the managed one) are read: never a system
    /// schema's.
    pub fn covers_schema(&self, name: &str) -> bool {
        !is_system_schema(name) && self.schemas.contains(name)
    }

    /// Whether extension `name` is read: never plpgsql.
    pub fn covers_extension(&self, name: &str) -> bool {
        name != "plpgsql" && self.extensions.contains(name)
    }
}

/// PostgreSQL's own schemas: `pg_catalog`, `information_schema`, `pg_toast*`, `pg_temp*`.
pub fn is_system_schema(name: &str) -> bool {
    name == "pg_catalog"
        || name == "information_schema"
        || name.starts_with("pg_toast")
        || name.starts_with("pg_temp")
}

impl Schema {
    /// Exactly the schemas and extensions this (expected) snapshot covers: read a live
    /// database with it, and its unrelated schemas and extensions are no differences.
    pub fn scope(&self) -> Scope {
        Scope {
            schemas: Names::Only(self.schemas.clone()),
            extensions: Names::Only(self.extensions.keys().cloned().collect()),
        }
    }

    /// What any of `schemas` covers: the scope to read a live database with when it is
    /// compared with each of them.
    pub fn scope_of_all<'s>(schemas: impl IntoIterator<Item = &'s Schema>) -> Scope {
        let mut names = BTreeSet::new();
        let mut extensions = BTreeSet::new();
        for s in schemas {
            names.extend(s.schemas.iter().cloned());
            extensions.extend(s.extensions.keys().cloned());
        }
        Scope {
            schemas: Names::Only(names),
            extensions: Names::Only(extensions),
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.data_type)?;
        if self.not_null {
            write!(f, " NOT NULL")?;
        }
        if let Some(d) = &self.default {
            write!(f, " DEFAULT {d}")?;
        }
        Ok(())
    }
}

/// One difference between the expected and the actual schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `table users`, `column users.email`, `index ix_bots_name`, …
    pub object: String,
    /// `missing`, `extra` or `changed`.
    pub change: &'static str,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.change, &self.expected, &self.actual) {
            ("missing", Some(e), _) => write!(f, "{} is missing (expected {e})", self.object),
            ("extra", _, Some(a)) => write!(f, "{} is extra ({a})", self.object),
            (_, Some(e), Some(a)) => write!(f, "{}: expected {e}, found {a}", self.object),
            _ => write!(f, "{} is {}", self.object, self.change),
        }
    }
}

/// Collapses whitespace and drops a trailing `;`, so formatting never counts as a difference.
pub fn normalize_sql(sql: &str) -> String {
    let collapsed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.trim_end_matches(';').trim_end().to_string()
}

/// The CHECK constraints of a `CREATE TABLE` statement, each as `(expression)` normalized, in
/// order: SQLite keeps them nowhere but in the statement's text. Strings, quoted identifiers and
/// comments are skipped, so a `check` inside them is never taken for one.
pub fn check_constraints(create_table: &str) -> Vec<String> {
    let bytes = create_table.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(end) = skip_quoted_or_comment(bytes, i) {
            i = end;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
            {
                i += 1;
            }
            if !create_table[start..i].eq_ignore_ascii_case("check") {
                continue;
            }
            let mut open = i;
            while open < bytes.len() && bytes[open].is_ascii_whitespace() {
                open += 1;
            }
            if bytes.get(open) != Some(&b'(') {
                continue;
            }
            // The matching parenthesis, quotes and comments skipped.
            let (mut depth, mut j) = (0usize, open);
            while j < bytes.len() {
                if let Some(end) = skip_quoted_or_comment(bytes, j) {
                    j = end;
                    continue;
                }
                match bytes[j] {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let end = (j + 1).min(bytes.len());
            found.push(normalize_sql(&create_table[open..end]));
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// Where a string, a quoted identifier or a comment starting at `i` ends (just after it);
/// `None` when none starts there.
pub fn skip_quoted_or_comment(bytes: &[u8], i: usize) -> Option<usize> {
    let close = match (bytes[i], bytes.get(i + 1)) {
        (q @ (b'\'' | b'"' | b'`'), _) => q,
        (b'[', _) => b']',
        (b'-', Some(b'-')) => b'\n',
        (b'/', Some(b'*')) => {
            let rest = &bytes[i + 2..];
            return Some(
                rest.windows(2)
                    .position(|w| w == b"*/")
                    .map_or(bytes.len(), |p| i + 2 + p + 2),
            );
        }
        _ => return None,
    };
    let mut j = i + 1;
    while j < bytes.len() {
        if bytes[j] == close {
            // A doubled quote is an escaped one, inside the string.
            if close != b'\n' && close != b']' && bytes.get(j + 1) == Some(&close) {
                j += 2;
                continue;
            }
            return Some(j + 1);
        }
        j += 1;
    }
    Some(bytes.len())
}

fn diff_maps<V: PartialEq>(
    kind: &str,
    expected: &BTreeMap<String, V>,
    actual: &BTreeMap<String, V>,
    show: impl Fn(&V) -> String,
    out: &mut Vec<Difference>,
) {
    for (name, e) in expected {
        match actual.get(name) {
            None => out.push(Difference {
                object: format!("{kind} {name}"),
                change: "missing",
                expected: Some(show(e)),
                actual: None,
            }),
            Some(a) if a != e => out.push(Difference {
                object: format!("{kind} {name}"),
                change: "changed",
                expected: Some(show(e)),
                actual: Some(show(a)),
            }),
            Some(_) => {}
        }
    }
    for (name, a) in actual {
        if !expected.contains_key(name) {
            out.push(Difference {
                object: format!("{kind} {name}"),
                change: "extra",
                expected: None,
                actual: Some(show(a)),
            });
        }
    }
}

/// Every difference between `expected` and `actual`, object by object: schemas and
/// extensions first, then tables, columns, constraints, indexes, triggers, views, routines and
/// sequences (those of other schemas with their qualified names).
pub fn diff(expected: &Schema, actual: &Schema) -> Vec<Difference> {
    let mut out = Vec::new();
    for (name, change) in expected
        .schemas
        .difference(&actual.schemas)
        .map(|n| (n, "missing"))
        .chain(
            actual
                .schemas
                .difference(&expected.schemas)
                .map(|n| (n, "extra")),
        )
    {
        out.push(Difference {
            object: format!("schema {name}"),
            change,
            expected: None,
            actual: None,
        });
    }
    diff_maps(
        "extension",
        &expected.extensions,
        &actual.extensions,
        Extension::to_string,
        &mut out,
    );
    let summary = |t: &Table| format!("{} columns", t.columns.len());
    let mut only_tables = |e: &BTreeMap<String, Table>, a: &BTreeMap<String, Table>| {
        let e2: BTreeMap<String, Table> = e
            .iter()
            .filter(|(k, _)| !a.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let a2: BTreeMap<String, Table> = a
            .iter()
            .filter(|(k, _)| !e.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        diff_maps("table", &e2, &a2, summary, &mut out);
    };
    only_tables(&expected.tables, &actual.tables);
    for (name, e) in &expected.tables {
        if let Some(a) = actual.tables.get(name) {
            let columns = |m: &BTreeMap<String, Column>| -> BTreeMap<String, Column> {
                m.iter()
                    .map(|(c, v)| (format!("{name}.{c}"), v.clone()))
                    .collect()
            };
            diff_maps(
                "column",
                &columns(&e.columns),
                &columns(&a.columns),
                Column::to_string,
                &mut out,
            );
            let constraints = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
                m.iter()
                    .map(|(c, v)| (format!("{c} on {name}"), v.clone()))
                    .collect()
            };
            diff_maps(
                "constraint",
                &constraints(&e.constraints),
                &constraints(&a.constraints),
                String::clone,
                &mut out,
            );
        }
    }
    diff_maps(
        "index",
        &expected.indexes,
        &actual.indexes,
        String::clone,
        &mut out,
    );
    diff_maps(
        "trigger",
        &expected.triggers,
        &actual.triggers,
        String::clone,
        &mut out,
    );
    diff_maps(
        "view",
        &expected.views,
        &actual.views,
        String::clone,
        &mut out,
    );
    diff_maps(
        "routine",
        &expected.routines,
        &actual.routines,
        String::clone,
        &mut out,
    );
    diff_maps(
        "sequence",
        &expected.sequences,
        &actual.sequences,
        String::clone,
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cols: &[(&str, &str, bool)]) -> Table {
        Table {
            columns: cols
                .iter()
                .map(|(n, t, nn)| {
                    (
                        n.to_string(),
                        Column {
                            data_type: t.to_string(),
                            not_null: *nn,
                            default: None,
                        },
                    )
                })
                .collect(),
            constraints: BTreeMap::new(),
        }
    }

    #[test]
    fn equal_schemas_have_no_difference() {
        let mut s = Schema::default();
        s.tables
            .insert("users".into(), table(&[("id", "INTEGER", true)]));
        assert!(diff(&s, &s.clone()).is_empty());
    }

    #[test]
    fn differences_are_named_object_by_object() {
        let mut e = Schema::default();
        e.tables.insert(
            "users".into(),
            table(&[("id", "INTEGER", true), ("email", "TEXT", false)]),
        );
        e.tables
            .insert("bots".into(), table(&[("id", "INTEGER", true)]));
        e.indexes
            .insert("ix".into(), "UNIQUE ON users (email)".into());
        let mut a = Schema::default();
        a.tables.insert(
            "users".into(),
            table(&[("id", "INTEGER", true), ("email", "VARCHAR", true)]),
        );
        a.tables
            .insert("tags".into(), table(&[("id", "INTEGER", true)]));
        a.triggers.insert("tr".into(), "CREATE TRIGGER tr".into());
        let d: Vec<String> = diff(&e, &a).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            d,
            vec![
                "table bots is missing (expected 1 columns)",
                "table tags is extra (1 columns)",
                "column users.email: expected TEXT, found VARCHAR NOT NULL",
                "index ix is missing (expected UNIQUE ON users (email))",
                "trigger tr is extra (CREATE TRIGGER tr)",
            ]
        );
    }

    fn names(list: &[&str]) -> Names {
        Names::Only(list.iter().map(|s| s.to_string()).collect())
    }

    fn extension(schema: Option<&str>, version: &str) -> Extension {
        Extension {
            schema: schema.map(str::to_string),
            version: version.into(),
        }
    }

    #[test]
    fn everything_is_every_user_schema_and_extension_and_nothing_of_the_system() {
        let all = Scope::everything();
        for schema in ["tools", "public", "tenant_b", "pg_tools"] {
            assert!(all.covers_schema(schema), "{schema}");
        }
        for schema in [
            "pg_catalog",
            "information_schema",
            "pg_toast",
            "pg_toast_temp_3",
            "pg_temp_3",
        ] {
            assert!(!all.covers_schema(schema), "{schema}");
        }
        assert!(all.covers_extension("pgcrypto"));
        assert!(!all.covers_extension("plpgsql"));
        // The default scope is the managed schema alone.
        let none = Scope::default();
        assert!(!none.covers_schema("tools"));
        assert!(!none.covers_extension("pgcrypto"));
    }

    #[test]
    fn a_schemas_scope_is_exactly_what_it_covers() {
        let mut s = Schema::default();
        s.schemas.insert("tools".into());
        s.schemas.insert("empty_helper".into());
        s.extensions
            .insert("pgcrypto".into(), extension(Some("tools"), "1.3"));
        s.routines
            .insert("tools.version()".into(), "CREATE FUNCTION …".into());
        let scope = s.scope();
        assert_eq!(scope.schemas, names(&["empty_helper", "tools"]));
        assert_eq!(scope.extensions, names(&["pgcrypto"]));
        assert!(scope.covers_schema("tools") && scope.covers_schema("empty_helper"));
        assert!(!scope.covers_schema("tenant_b"));
        assert!(!scope.covers_extension("pg_trgm"));
        // Nothing outside the managed schema: nothing else is read.
        assert_eq!(Schema::default().scope(), Scope::default());
    }

    #[test]
    fn schemas_extensions_and_qualified_objects_are_named() {
        let mut e = Schema::default();
        e.schemas.extend(["tools".to_string(), "audit".to_string()]);
        e.extensions
            .insert("pgcrypto".into(), extension(None, "1.3"));
        e.extensions
            .insert("citext".into(), extension(Some("tools"), "1.6"));
        e.extensions.insert("hstore".into(), extension(None, "1.8"));
        e.tables
            .insert("tools.t".into(), table(&[("id", "integer", true)]));
        e.views
            .insert("tools.v".into(), "SELECT t.id FROM tools.t".into());
        e.routines.insert(
            "tools.version()".into(),
            "CREATE OR REPLACE FUNCTION tools.version() RETURNS text LANGUAGE sql AS $$ SELECT '1' $$"
                .into(),
        );
        let mut a = e.clone();
        a.schemas.remove("audit");
        a.schemas.insert("tenant_b".into());
        a.extensions.remove("hstore");
        a.extensions
            .insert("pgcrypto".into(), extension(None, "1.2"));
        a.extensions.insert("citext".into(), extension(None, "1.6"));
        a.tables.insert(
            "tools.t".into(),
            table(&[("id", "integer", true), ("note", "text", false)]),
        );
        a.views.insert(
            "tools.v".into(),
            "SELECT t.id FROM tools.t WHERE t.id > 0".into(),
        );
        a.routines.insert(
            "tools.version()".into(),
            "CREATE OR REPLACE FUNCTION tools.version() RETURNS text LANGUAGE sql AS $$ SELECT '2' $$"
                .into(),
        );
        a.routines.insert(
            "tools.extra()".into(),
            "CREATE FUNCTION tools.extra()".into(),
        );
        let d: Vec<String> = diff(&e, &a).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            d,
            vec![
                "schema audit is missing",
                "schema tenant_b is extra",
                "extension citext: expected version 1.6 in schema tools, found version 1.6 in the managed schema",
                "extension hstore is missing (expected version 1.8 in the managed schema)",
                "extension pgcrypto: expected version 1.3 in the managed schema, found version 1.2 in the managed schema",
                "column tools.t.note is extra (text)",
                "view tools.v: expected SELECT t.id FROM tools.t, found SELECT t.id FROM tools.t WHERE t.id > 0",
                "routine tools.version(): expected CREATE OR REPLACE FUNCTION tools.version() RETURNS text LANGUAGE sql AS $$ SELECT '1' $$, \
                 found CREATE OR REPLACE FUNCTION tools.version() RETURNS text LANGUAGE sql AS $$ SELECT '2' $$",
                "routine tools.extra() is extra (CREATE FUNCTION tools.extra())",
            ]
        );
        let missing = diff(&e, &a);
        assert_eq!(
            (missing[0].change, &missing[0].expected, &missing[0].actual),
            ("missing", &None, &None)
        );
    }

    #[test]
    fn a_snapshot_without_other_schemas_serializes_as_before() {
        let mut s = Schema::default();
        s.tables
            .insert("users".into(), table(&[("id", "INTEGER", true)]));
        let json = serde_json::to_value(&s).expect("serializes");
        let keys: BTreeSet<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "tables",
                "indexes",
                "triggers",
                "views",
                "routines",
                "sequences"
            ])
        );
        s.schemas.insert("tools".into());
        s.extensions
            .insert("pgcrypto".into(), extension(Some("tools"), "1.3"));
        let json = serde_json::to_value(&s).expect("serializes");
        assert_eq!(json["schemas"], serde_json::json!(["tools"]));
        assert_eq!(
            json["extensions"]["pgcrypto"],
            serde_json::json!({"schema": "tools", "version": "1.3"})
        );
    }

    #[test]
    fn check_constraints_are_found_outside_strings_and_comments() {
        let sql = "CREATE TABLE t (\n  a INTEGER CHECK (a > 0),\n  b TEXT DEFAULT 'check (x)' -- check (y)\n  \
                   /* CHECK (z) */, \"check\" TEXT, c TEXT,\n  CONSTRAINT ok check(length(c) < 10 AND c <> ')'))";
        assert_eq!(
            check_constraints(sql),
            vec!["(a > 0)", "(length(c) < 10 AND c <> ')')"]
        );
        assert!(check_constraints("CREATE TABLE checks (checked INTEGER)").is_empty());
        // Unterminated input never panics.
        assert_eq!(
            check_constraints("CREATE TABLE t (a CHECK (a > 'x"),
            vec!["(a > 'x"]
        );
    }

    #[test]
    fn normalize_ignores_layout_only() {
        assert_eq!(
            normalize_sql("CREATE  TRIGGER t\n  AFTER x;\n"),
            "CREATE TRIGGER t AFTER x"
        );
        assert_ne!(normalize_sql("a b"), normalize_sql("a c"));
    }
}
