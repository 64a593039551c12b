//! `ferry lint` misses nothing: a step or revision without SQL for a dialect the set supports,
//! a file ferry never reads, an empty SQL file or baseline — each refused (exit 2) naming the
//! file; an intended no-op says so with `-- ferry:empty` and runs on both dialects.

mod common;

use std::path::Path;

use common::*;

const HEAD: &str = "0006_kb_documents_status_index";

fn revision(set: &Path, id: &str, files: &[(&str, &str)]) {
    write_revision(set, id, HEAD, true, files);
}

fn lint(set: &Path) -> Run {
    ferry(&["lint", "--migrations", set.to_str().unwrap()])
}

#[test]
fn lint_refuses_what_ferry_would_fail_on_or_never_read() {
    let create = "CREATE TABLE t (id INTEGER);\n";
    for (files, says) in [
        (
            vec![("up.sqlite.sql", create), ("down.sql", "DROP TABLE t;\n")],
            "revisions/0007_x: no up SQL for postgres",
        ),
        (
            vec![("up.sql", create)],
            "revisions/0007_x: no down SQL for sqlite",
        ),
        (
            vec![
                ("up.sql", create),
                ("up.sqlite.sql", create),
                ("up.postgres.sql", create),
                ("down.sql", "DROP TABLE t;\n"),
            ],
            "revisions/0007_x/up.sql: never read",
        ),
        (
            vec![("up.sql", create), ("down.sql", "\n-- nothing yet\n")],
            "revisions/0007_x/down.sql: empty",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_reference_set(tmp.path());
        revision(&set, "0007_x", &files);
        let run = lint(&set).expect(2);
        assert!(run.stderr.contains(says), "{says}: {}", run.stderr);
    }

    // An empty baseline.
    let tmp = tempfile::tempdir().unwrap();
    let set = copy_reference_set(tmp.path());
    std::fs::write(set.join("baseline").join("postgres.sql"), "  \n").unwrap();
    let run = lint(&set).expect(2);
    assert!(
        run.stderr.contains("baseline/postgres.sql: empty"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_intended_no_op_says_so_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let set = copy_reference_set(tmp.path());
    revision(
        &set,
        "0007_x",
        &[
            (
                "up.sql",
                "-- ferry:empty\n-- data fixes moved to the application\n",
            ),
            ("down.sql", "-- ferry:empty\n"),
        ],
    );
    lint(&set).expect(0);
    let migrations = set.to_str().unwrap();
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "--migrations", migrations, "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), vec!["0007_x".to_string()]);
        ferry(&["downgrade", "-1", "--migrations", migrations, "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), vec![HEAD.to_string()]);
    });
}
