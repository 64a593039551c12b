//! Marker tables with columns of their own: ferry fills them from `insert` when it must insert
//! the marker row, only ever updates its own column of an existing row, and refuses (exit 2,
//! nothing written) a row it cannot insert, naming the column to add.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const MARKER_TABLE: &str = "CREATE TABLE schema_version (\n  lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE,\n  \
    version INTEGER NOT NULL,\n  upgraded BOOLEAN NOT NULL,\n  CHECK (lock = 'X')\n);\n";

/// A two-step legacy chain whose first step creates the marker table empty.
fn marker_set(dir: &Path, insert: &str) -> PathBuf {
    let set = dir.join("set");
    let write = |path: &str, text: &str| {
        let path = set.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "ferry.toml",
        &format!(
            "[legacy]\ncap = 2\nmarker = {{ kind = \"single-row\", table = \"schema_version\", column = \"version\"{insert} }}\n\
             write_marker_on_fresh = true\n\n[baseline]\nrevision = \"0001_baseline\"\n"
        ),
    );
    write(
        "legacy/001_create/up.sql",
        &format!("{MARKER_TABLE}CREATE TABLE items (id INTEGER PRIMARY KEY);\n"),
    );
    write(
        "legacy/002_names/up.sql",
        "ALTER TABLE items ADD COLUMN name TEXT;\n",
    );
    let baseline =
        format!("{MARKER_TABLE}CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n");
    write("baseline/sqlite.sql", &baseline);
    write("baseline/postgres.sql", &baseline);
    write(
        "revisions/0002_notes/revision.toml",
        "down = \"0001_baseline\"\nmessage = \"notes\"\n",
    );
    write(
        "revisions/0002_notes/up.sql",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY);\n",
    );
    write("revisions/0002_notes/down.sql", "DROP TABLE notes;\n");
    ferry(&["lint", "--freeze", "--migrations", set.to_str().unwrap()]).expect(0);
    set
}

fn marker_row(db: &TestDb) -> Vec<Option<String>> {
    let rows = db.query(
        "SELECT lock, CAST(version AS TEXT), CASE WHEN upgraded THEN 'true' ELSE 'false' END FROM schema_version",
    );
    assert_eq!(rows.len(), 1, "one marker row: {rows:?}");
    rows.into_iter().next().unwrap()
}

#[test]
fn marker_rows_are_inserted_with_the_configured_columns_and_only_updated_after() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = marker_set(tmp.path(), ", insert = { upgraded = \"false\" }");
        let set = set.to_str().unwrap();
        let some = |s: &str| Some(s.to_string());

        // A fresh install writes the marker row, filling `upgraded` from `insert`.
        let fresh = TestDb::new(dialect);
        ferry(&["upgrade", "-d", &fresh.url, "--migrations", set]).expect(0);
        assert_eq!(
            marker_row(&fresh),
            vec![some("X"), some("2"), some("false")]
        );

        // Legacy 1 (its first step made the table empty; ferry inserted the row), then an
        // application wrote its own column: the bridge updates only ferry's.
        let old = TestDb::new(dialect);
        ferry(&[
            "fixture",
            "--legacy",
            "1",
            "-d",
            &old.url,
            "--migrations",
            set,
        ])
        .expect(0);
        assert_eq!(marker_row(&old), vec![some("X"), some("1"), some("false")]);
        old.exec("UPDATE schema_version SET upgraded = TRUE");
        ferry(&["upgrade", "-d", &old.url, "--migrations", set]).expect(0);
        assert_eq!(marker_row(&old), vec![some("X"), some("2"), some("true")]);
        assert_eq!(old.versions(), vec!["0002_notes".to_string()]);
    });
}

#[test]
fn a_marker_row_that_cannot_be_inserted_is_refused_naming_the_column() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = marker_set(tmp.path(), "");
        let set = set.to_str().unwrap();
        for legacy in [None, Some("1")] {
            let db = TestDb::new(dialect);
            let run = match legacy {
                None => ferry(&["upgrade", "-d", &db.url, "--migrations", set]),
                Some(n) => ferry(&["fixture", "--legacy", n, "-d", &db.url, "--migrations", set]),
            };
            let run = run.expect(2);
            assert!(
                run.stderr.contains("upgraded") && run.stderr.contains("insert"),
                "{}",
                run.stderr
            );
            assert!(
                db.tables().is_empty(),
                "nothing was written: {:?}",
                db.tables()
            );
        }
    });
}

#[test]
fn insert_naming_ferrys_own_column_or_an_empty_value_is_a_configuration_error() {
    for (insert, says) in [
        (", insert = { version = \"1\" }", "ferry's own column"),
        (", insert = { upgraded = \" \" }", "empty"),
        (", insert = { \"up graded\" = \"false\" }", "identifier"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        // Build a valid set first (its freeze), then break ferry.toml.
        let good = marker_set(tmp.path(), "");
        let toml = std::fs::read_to_string(good.join("ferry.toml")).unwrap();
        std::fs::write(
            good.join("ferry.toml"),
            toml.replace(
                "column = \"version\"",
                &format!("column = \"version\"{insert}"),
            ),
        )
        .unwrap();
        let run = ferry(&["lint", "--migrations", good.to_str().unwrap()]).expect(2);
        assert!(run.stderr.contains(says), "{insert}: {}", run.stderr);
    }
}
