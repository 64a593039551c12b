//! A normalized schema snapshot, comparable across databases of one dialect, and its diff.
//!
//! Drivers fill it from their catalogs; ferry's own tables and the legacy marker's table are
//! left out. Column order is not compared: an upgraded table and a fresh one may differ there.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schema {
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

/// Where a string, a quoted identifier or a comment starting at `i` ends (just after it).
fn skip_quoted_or_comment(bytes: &[u8], i: usize) -> Option<usize> {
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

/// Every difference between `expected` and `actual`, object by object.
pub fn diff(expected: &Schema, actual: &Schema) -> Vec<Difference> {
    let mut out = Vec::new();
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
