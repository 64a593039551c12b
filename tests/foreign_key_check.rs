//! No commit leaves a row whose foreign key points nowhere — SQLite runs steps with foreign keys
//! off and checks, before each commit, the tables the step touched (as SQLite's authorizer
//! reports them, writes of triggers included) and their children. PostgreSQL enforces the same
//! rows itself, so the end-to-end scenarios run on both dialects; what the SQLite driver checks
//! is read from the driver itself.

mod common;

use std::time::Duration;

use common::*;
use ferry::core::guard::Object;
use ferry::core::set::Dialect;
use ferry::driver::sqlite::{ForeignKeyCheck, Sqlite};
use ferry::driver::url::DatabaseUrl;
use ferry::driver::{Driver, OpenOptions};

const HEAD: &str = "0006_kb_documents_status_index";

/// Adds a revision with one script per dialect.
fn add(set: &std::path::Path, id: &str, down: &str, sqlite: &str, postgres: &str) {
    let files = [
        ("up.sqlite.sql", sqlite),
        ("up.postgres.sql", postgres),
        ("down.sql", "SELECT 1;\n"),
    ];
    write_revision(set, id, down, true, &files);
}

const TABLES: &str = "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);\n\
     CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));\n\
     CREATE TABLE audit (id INTEGER PRIMARY KEY, note TEXT);\n\
     INSERT INTO parent VALUES (1, 'one'), (2, 'two');\n\
     INSERT INTO child VALUES (10, 1), (20, 2);\n\
     INSERT INTO audit VALUES (1, 'start');\n";

/// A data-only step that names neither `parent` nor `child`: its UPDATE of `audit` fires a
/// trigger that deletes a parent row, orphaning a child. Caught (SQLite: by the check of the
/// trigger's table's children; PostgreSQL: by the constraint), rolled back, exit 4.
#[test]
fn a_trigger_that_orphans_rows_fails_the_step() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_reference_set(tmp.path());
        add(
            &set,
            "0007_tables",
            HEAD,
            &format!(
                "{TABLES}CREATE TRIGGER audit_prunes AFTER UPDATE ON audit BEGIN DELETE FROM parent WHERE id = 2; END;\n"
            ),
            &format!(
                "{TABLES}CREATE FUNCTION audit_prunes() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN DELETE FROM parent WHERE id = 2; RETURN NEW; END $$;\n\
                 CREATE TRIGGER audit_prunes AFTER UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_prunes();\n"
            ),
        );
        let data_only = "UPDATE audit SET note = 'pruned';\n";
        add(&set, "0008_prune", "0007_tables", data_only, data_only);
        let set = set.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "0007_tables", "-d", &db.url, "--migrations", set]).expect(0);
        let run = ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(4);
        assert!(
            run.stderr
                .contains("upgrade 0008_prune failed and was rolled back"),
            "{}",
            run.stderr
        );
        let why = match dialect {
            Dialect::Sqlite => "foreign key points nowhere, e.g. table child",
            Dialect::Postgres => "foreign key",
        };
        assert!(run.stderr.contains(why), "{}", run.stderr);
        assert_eq!(db.versions(), vec!["0007_tables"]);
        assert_eq!(
            db.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM parent")
                .as_deref(),
            Some("2"),
            "the trigger's delete was rolled back"
        );
        assert_eq!(
            db.scalar("SELECT note FROM audit").as_deref(),
            Some("start")
        );
    });
}

/// SQLite alters a table by rebuilding it; a rebuild of the parent that loses a row orphans its
/// children though the step never names them. So does a delete made before a rename: the
/// children then reference the new name, which the check follows.
#[test]
fn a_parent_rebuild_or_rename_that_orphans_children_fails_the_step() {
    let rebuild = "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
         INSERT INTO parent_new SELECT id, name FROM parent WHERE id = 1;\n\
         DROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;\n";
    let rename = "DELETE FROM parent WHERE id = 2;\nALTER TABLE parent RENAME TO parents;\n";
    for (id, script) in [("0008_rebuild", rebuild), ("0008_rename", rename)] {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_reference_set(tmp.path());
        add(&set, "0007_tables", HEAD, TABLES, TABLES);
        add(&set, id, "0007_tables", script, script);
        let set = set.to_str().unwrap();
        let db = TestDb::new(Dialect::Sqlite);
        ferry(&["upgrade", "0007_tables", "-d", &db.url, "--migrations", set]).expect(0);
        let run = ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(4);
        assert!(
            run.stderr.contains(
                "1 row(s) whose foreign key points nowhere, e.g. table child rowid 20 → "
            ),
            "{id}: {}",
            run.stderr
        );
        assert_eq!(db.versions(), vec!["0007_tables"], "{id}");
        assert_eq!(
            db.scalar("SELECT group_concat(id) FROM parent").as_deref(),
            Some("1,2"),
            "{id}: rolled back"
        );
    }
}

fn open(db: &TestDb) -> Sqlite {
    let url = DatabaseUrl::parse(&db.url).unwrap();
    Sqlite::open(
        &url,
        &OpenOptions {
            create: true,
            schema: None,
            busy_timeout: Duration::from_secs(5),
        },
    )
    .unwrap()
}

/// Runs `script` as one step and returns what its commit checked (`Err` when it was refused).
fn step(driver: &mut Sqlite, script: &str) -> Result<ForeignKeyCheck, String> {
    driver.begin().unwrap();
    driver.execute(script).unwrap();
    match driver.commit() {
        Ok(()) => Ok(driver.last_commit_check().clone()),
        Err(e) => {
            driver.rollback().unwrap();
            Err(e.to_string())
        }
    }
}

fn tables(names: &[&str]) -> ForeignKeyCheck {
    ForeignKeyCheck::Tables(names.iter().map(|s| s.to_string()).collect())
}

/// What a commit checks: the tables the step wrote that have foreign keys, and the children of
/// every table it wrote, created, dropped or altered — nothing else; the whole database when a
/// statement is one the driver cannot follow.
#[test]
fn a_commit_checks_what_the_step_touched_and_nothing_else() {
    let db = TestDb::new(Dialect::Sqlite);
    let mut driver = open(&db);
    driver.start_run().unwrap();
    assert_eq!(
        step(
            &mut driver,
            &format!(
                "{TABLES}CREATE TABLE lonely (id INTEGER PRIMARY KEY, n INTEGER);\n\
                 CREATE TABLE big (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));\n\
                 CREATE TRIGGER audit_prunes AFTER UPDATE ON audit BEGIN DELETE FROM parent WHERE id = old.id + 100; END;\n\
                 WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 1000) INSERT INTO big SELECT v, 1 FROM n;\n"
            )
        ),
        Ok(tables(&["big", "child"])),
        "new tables: those with foreign keys"
    );

    // A table no foreign key involves: nothing to check, however big the others are.
    assert_eq!(
        step(
            &mut driver,
            "UPDATE lonely SET n = 1;\nINSERT INTO lonely (n) VALUES (2);\n"
        ),
        Ok(tables(&[]))
    );
    // ferry's own reads and guards between the statements add nothing.
    driver.begin().unwrap();
    for object in [
        Object::Table("parent".into()),
        Object::Column {
            table: "child".into(),
            column: "parent_id".into(),
        },
        Object::Index("nope".into()),
    ] {
        driver.exists(&object).unwrap();
    }
    driver.snapshot(&[]).unwrap();
    driver.query("SELECT * FROM child").unwrap();
    driver
        .execute("INSERT INTO lonely (n) VALUES (3);")
        .unwrap();
    driver.commit().unwrap();
    assert_eq!(driver.last_commit_check(), &tables(&[]));

    // A child written: that child. A parent's key changed or rows deleted: its children. A
    // column no key involves: nothing, however big the tables.
    assert_eq!(
        step(&mut driver, "INSERT INTO child VALUES (30, 1);"),
        Ok(tables(&["child"]))
    );
    assert_eq!(
        step(&mut driver, "UPDATE parent SET name = 'uno' WHERE id = 1;"),
        Ok(tables(&[]))
    );
    assert_eq!(
        step(&mut driver, "UPDATE parent SET id = 3 WHERE id = 99;"),
        Ok(tables(&["big", "child"]))
    );
    assert_eq!(
        step(&mut driver, "UPDATE child SET parent_id = 2 WHERE id = 30;"),
        Ok(tables(&["child"]))
    );
    assert_eq!(
        step(&mut driver, "DELETE FROM parent WHERE id = 99;"),
        Ok(tables(&["big", "child"]))
    );
    // A trigger's write counts as the step's: the data-only UPDATE of audit deletes from parent.
    assert_eq!(
        step(&mut driver, "UPDATE audit SET note = 'x';"),
        Ok(tables(&["big", "child"]))
    );
    // ALTER TABLE in place keeps every row's values: the table's own foreign keys only.
    assert_eq!(
        step(&mut driver, "ALTER TABLE parent ADD COLUMN extra TEXT;"),
        Ok(tables(&[]))
    );
    assert_eq!(
        step(
            &mut driver,
            "ALTER TABLE parent RENAME COLUMN name TO title;"
        ),
        Ok(tables(&[]))
    );
    assert_eq!(
        step(&mut driver, "ALTER TABLE parent DROP COLUMN extra;"),
        Ok(tables(&[]))
    );
    assert_eq!(
        step(&mut driver, "ALTER TABLE child ADD COLUMN extra TEXT;"),
        Ok(tables(&["child"]))
    );
    // A dropped index: the children when it was unique (it may have been their parent key).
    assert_eq!(
        step(
            &mut driver,
            "CREATE INDEX ix_parent_title ON parent (title);\nCREATE UNIQUE INDEX ux_parent_title ON parent (title);"
        ),
        Ok(tables(&[]))
    );
    assert_eq!(
        step(&mut driver, "DROP INDEX ix_parent_title;"),
        Ok(tables(&[]))
    );
    assert_eq!(
        step(&mut driver, "DROP INDEX ux_parent_title;"),
        Ok(tables(&["big", "child"]))
    );
    // A rename counts both names; the children follow the new one.
    assert_eq!(
        step(&mut driver, "ALTER TABLE parent RENAME TO parents;"),
        Ok(tables(&["big", "child"]))
    );
    assert_eq!(
        step(&mut driver, "DELETE FROM big WHERE id > 10;"),
        Ok(tables(&[]))
    );

    // Statements the driver cannot follow: the whole database.
    for script in [
        "PRAGMA writable_schema = ON;\nPRAGMA writable_schema = OFF;",
        "PRAGMA foreign_keys = ON;",
        "PRAGMA recursive_triggers = 1;\nINSERT INTO lonely (n) VALUES (4);",
    ] {
        assert!(
            matches!(step(&mut driver, script), Ok(ForeignKeyCheck::Whole(_))),
            "{script}"
        );
    }
    // The narrow check still refuses an orphan: a delete of a parent row `big` points to.
    let refused = step(&mut driver, "DELETE FROM parents WHERE id = 1;").unwrap_err();
    assert!(refused.contains("points nowhere"), "{refused}");
    assert_eq!(driver.last_commit_check(), &tables(&["big", "child"]));
    assert_eq!(
        db.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM parents")
            .as_deref(),
        Some("2")
    );

    // ATTACH (outside the transaction, as SQLite requires): the next commit checks everything.
    let attached = db.path.as_ref().unwrap().with_file_name("other.db");
    driver
        .execute(&format!(
            "ATTACH DATABASE '{}' AS other;",
            attached.display()
        ))
        .unwrap();
    assert!(matches!(
        step(&mut driver, "CREATE TABLE other.t (x);"),
        Ok(ForeignKeyCheck::Whole(why)) if why.contains("ATTACH")
    ));
    driver.finish_run().unwrap();
}

/// Every way a step can orphan a row that the narrow check must still see, each refused and
/// rolled back: REPLACE's unreported deletes, a changed parent key, a generated foreign-key
/// column, a rebuild, a column added with a dangling default.
#[test]
fn the_narrow_check_refuses_every_orphan() {
    let setup = "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT UNIQUE, note TEXT);\n\
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));\n\
         CREATE TABLE spare (id INTEGER PRIMARY KEY, name TEXT UNIQUE, note TEXT);\n\
         CREATE TABLE derived (id INTEGER PRIMARY KEY, x INTEGER, \
           parent_id INTEGER GENERATED ALWAYS AS (x + 0) VIRTUAL REFERENCES parent (id));\n\
         INSERT INTO parent VALUES (1, 'one', NULL), (2, 'two', NULL);\n\
         INSERT INTO spare VALUES (7, 'seven', NULL);\n\
         INSERT INTO child VALUES (10, 1), (20, 2);\n\
         INSERT INTO derived (id, x) VALUES (1, 1);\n";
    let orphans = [
        (
            "INSERT OR REPLACE via a unique column",
            "INSERT OR REPLACE INTO parent VALUES (3, 'two', NULL);",
        ),
        (
            "UPDATE OR REPLACE via a unique column",
            "UPDATE OR REPLACE parent SET name = 'two' WHERE id = 1;",
        ),
        (
            "a parent key changed",
            "UPDATE parent SET id = 5 WHERE id = 2;",
        ),
        (
            "the rowid changed",
            "UPDATE parent SET rowid = 6 WHERE id = 2;",
        ),
        (
            "a foreign-key column changed",
            "UPDATE child SET parent_id = 9 WHERE id = 10;",
        ),
        (
            "a generated foreign-key column's source changed",
            "UPDATE derived SET x = 9;",
        ),
        (
            "a rebuild that loses a row",
            "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT UNIQUE, note TEXT);\n\
             INSERT INTO parent_new SELECT * FROM parent WHERE id = 1;\n\
             DROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;",
        ),
        (
            "a column added with a dangling default",
            "ALTER TABLE parent ADD COLUMN x INTEGER;\nALTER TABLE spare ADD COLUMN parent_id INTEGER REFERENCES parent (id) DEFAULT 9;",
        ),
    ];
    // A parent key's unique index dropped: the children's check reports the broken key.
    let db = TestDb::new(Dialect::Sqlite);
    let mut driver = open(&db);
    driver.start_run().unwrap();
    step(
        &mut driver,
        "CREATE TABLE coded (id INTEGER PRIMARY KEY, code TEXT);\n\
         CREATE UNIQUE INDEX ux_coded_code ON coded (code);\n\
         CREATE TABLE holder (id INTEGER PRIMARY KEY, code TEXT REFERENCES coded (code));\n\
         INSERT INTO coded VALUES (1, 'a');\nINSERT INTO holder VALUES (1, 'a');\n",
    )
    .unwrap();
    let refused = step(&mut driver, "DROP INDEX ux_coded_code;").unwrap_err();
    assert!(refused.contains("foreign key mismatch"), "{refused}");
    driver.finish_run().unwrap();

    for (what, script) in orphans {
        let db = TestDb::new(Dialect::Sqlite);
        let mut driver = open(&db);
        driver.start_run().unwrap();
        step(&mut driver, setup).unwrap();
        let fingerprint = db.fingerprint();
        let refused = step(&mut driver, script).expect_err(what);
        assert!(refused.contains("points nowhere"), "{what}: {refused}");
        assert!(
            matches!(driver.last_commit_check(), ForeignKeyCheck::Tables(t) if !t.is_empty()),
            "{what}: {:?}",
            driver.last_commit_check()
        );
        assert_eq!(db.fingerprint(), fingerprint, "{what}: rolled back");
        driver.finish_run().unwrap();
    }
}

/// The same orphans end to end: a data-only step that changes a parent's key, or replaces a
/// parent row through a unique column, fails and is rolled back on both dialects.
#[test]
fn a_step_that_changes_or_replaces_a_parent_key_fails() {
    on_both(|dialect| {
        let tables = "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT UNIQUE);\n\
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));\n\
             INSERT INTO parent VALUES (1, 'one'), (2, 'two');\n\
             INSERT INTO child VALUES (10, 1), (20, 2);\n";
        for (id, sqlite, postgres) in [
            (
                "0008_rekey",
                "UPDATE parent SET id = 5 WHERE id = 2;\n",
                "UPDATE parent SET id = 5 WHERE id = 2;\n",
            ),
            (
                "0008_replace",
                "INSERT OR REPLACE INTO parent VALUES (3, 'two');\n",
                "DELETE FROM parent WHERE name = 'two';\nINSERT INTO parent VALUES (3, 'two');\n",
            ),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let set = copy_reference_set(tmp.path());
            add(&set, "0007_tables", HEAD, tables, tables);
            add(&set, id, "0007_tables", sqlite, postgres);
            let set = set.to_str().unwrap();
            let db = TestDb::new(dialect);
            ferry(&["upgrade", "0007_tables", "-d", &db.url, "--migrations", set]).expect(0);
            let run = ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(4);
            assert!(run.stderr.contains("foreign key"), "{id}: {}", run.stderr);
            assert_eq!(db.versions(), vec!["0007_tables"], "{id}");
            assert_eq!(
                db.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM parent WHERE id IN (1, 2)")
                    .as_deref(),
                Some("2"),
                "{id}: rolled back"
            );
        }
    });
}
