//! `upgrade --rehearse`: the whole upgrade really runs, is timed, and is undone — the database
//! is left untouched, on SQLite (a VACUUM INTO copy) and PostgreSQL (one rolled-back
//! transaction with a savepoint per step).

mod common;

use std::path::Path;

use common::*;
use ferry::core::set::Dialect;

/// Runs ferry with a private temporary directory, to see what the rehearsal leaves there.
fn ferry_tmp(args: &[&str], tmp: &Path) -> Run {
    ferry_env(args, &[("TMPDIR", tmp.to_str().unwrap())])
}

fn leftovers(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A legacy-7 database with rows: every step runs and is timed, the database's fingerprint
/// is unchanged, no temporary copy is left behind, and the real upgrade still works after.
/// On PostgreSQL the non-transactional 0006 is reported as not rehearsed, with the reason.
#[test]
fn a_rehearsal_runs_every_step_and_leaves_the_database_untouched() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        seeded_fixture(&db.url, 7);
        let before = db.fingerprint();
        let tmp = tempfile::tempdir().unwrap();
        let run = ferry_tmp(
            &["upgrade", "--rehearse", "-d", &db.url, "--json"],
            tmp.path(),
        )
        .expect(0)
        .json();
        assert_eq!(db.fingerprint(), before, "the database is untouched");
        assert_eq!(
            leftovers(tmp.path()),
            Vec::<String>::new(),
            "the copy is removed"
        );
        assert_eq!(run["ok"], true);
        assert_eq!(run["rehearsal"], true);
        assert_eq!(run["before"]["state"], "legacy");
        assert_eq!(run["heads_after"][0], "0006_kb_documents_status_index");
        let steps = run["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 24);
        assert!(steps.iter().all(|s| s["duration_ms"].is_u64()), "{steps:?}");
        assert!(run["total_ms"].is_u64());
        assert!(run.get("failed").is_none_or(|f| f.is_null()));
        let not_rehearsed: Vec<&str> = steps
            .iter()
            .filter(|s| s.get("not_rehearsed").is_some())
            .map(|s| s["revision"].as_str().unwrap())
            .collect();
        match dialect {
            Dialect::Sqlite => assert!(not_rehearsed.is_empty(), "{not_rehearsed:?}"),
            Dialect::Postgres => {
                assert_eq!(not_rehearsed, ["0006_kb_documents_status_index"]);
                let why = steps.last().unwrap()["not_rehearsed"].as_str().unwrap();
                assert!(why.contains("transaction = false"), "{why}");
            }
        }
        let text = ferry(&["upgrade", "--rehearse", "-d", &db.url])
            .expect(0)
            .stdout;
        assert!(text.contains("rehearsal passed: 24 step(s)"), "{text}");
        assert!(
            text.contains("legacy 008_rename_bots_adapter_to_platform"),
            "{text}"
        );
        assert!(text.contains(" ms"), "{text}");
        if dialect == Dialect::Postgres {
            assert!(text.contains("NOT REHEARSED"), "{text}");
        }
        assert_eq!(db.fingerprint(), before);
        ferry(&["upgrade", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), ["0006_kb_documents_status_index"]);
        // At head: nothing to rehearse.
        let run = ferry(&["upgrade", "--rehearse", "-d", &db.url, "--json"])
            .expect(0)
            .json();
        assert_eq!(run["steps"].as_array().unwrap().len(), 0);
    });
}

/// A step that fails: exit 4 naming it and the error, the steps before it with their times,
/// and the database still untouched (the failure's own audit row included).
#[test]
fn a_failing_step_is_reported_with_exit_4_and_nothing_changes() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set_dir = copy_reference_set(tmp.path());
        add_revision(
            &set_dir,
            "0007_broken",
            "0006_kb_documents_status_index",
            "CREATE TABLE half_done (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n",
            "DROP TABLE half_done;",
        );
        let set = set_dir.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&[
            "fixture",
            "--legacy",
            "20",
            "-d",
            &db.url,
            "--migrations",
            set,
        ])
        .expect(0);
        let before = db.fingerprint();
        let scratch = tempfile::tempdir().unwrap();
        let run = ferry_tmp(
            &[
                "upgrade",
                "--rehearse",
                "-d",
                &db.url,
                "--migrations",
                set,
                "--json",
            ],
            scratch.path(),
        )
        .expect(4)
        .json();
        assert_eq!(db.fingerprint(), before, "the database is untouched");
        assert_eq!(leftovers(scratch.path()), Vec::<String>::new());
        assert_eq!(run["ok"], false);
        assert_eq!(run["error"]["code"], 4);
        assert_eq!(run["failed"]["step"], "upgrade 0007_broken");
        assert!(
            run["failed"]["error"]
                .as_str()
                .unwrap()
                .contains("no_such_table"),
            "{run}"
        );
        assert!(run["failed"]["duration_ms"].is_u64());
        let steps = run["steps"].as_array().unwrap();
        // Legacy 21..=25, the stamp, 0002..=0006 ran before it.
        assert_eq!(steps.len(), 11, "{steps:?}");
        assert!(steps.iter().all(|s| s["duration_ms"].is_u64()));
        let text = ferry(&["upgrade", "--rehearse", "-d", &db.url, "--migrations", set]).expect(4);
        assert!(
            text.stderr.contains("upgrade 0007_broken failed"),
            "{}",
            text.stderr
        );
        assert!(
            text.stderr.contains("is untouched, still at legacy 20"),
            "{}",
            text.stderr
        );
        assert!(text.stdout.contains("upgrade 0007_broken") && text.stdout.contains("FAILED"));
        assert_eq!(db.fingerprint(), before);
    });
}

/// The rehearsal takes the migration lock like upgrade: held elsewhere, it waits, then exits 5.
#[test]
fn a_rehearsal_takes_the_migration_lock() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "24", "-d", &db.url]).expect(0);
        let before = db.fingerprint();
        let mut holder = db.open();
        assert_eq!(
            holder.lock(std::time::Duration::from_secs(1)).unwrap(),
            Ok(())
        );
        let run = ferry(&[
            "upgrade",
            "--rehearse",
            "--lock-timeout",
            "1",
            "-d",
            &db.url,
        ])
        .expect(5);
        assert!(run.stderr.contains("migration lock"), "{}", run.stderr);
        holder.unlock().unwrap();
        drop(holder);
        assert_eq!(db.fingerprint(), before);
    });
}

/// Refusals are upgrade's: an unversioned database exits 3, a bad target 2, nothing changes;
/// a missing SQLite file is rehearsed as the fresh install it would get, and not created.
#[test]
fn rehearsal_refusals_and_fresh_installs() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        db.exec("CREATE TABLE stray (id INTEGER)");
        let before = db.fingerprint();
        ferry(&["upgrade", "--rehearse", "-d", &db.url]).expect(3);
        assert_eq!(db.fingerprint(), before);
        let empty = TestDb::new(dialect);
        let before = empty.fingerprint();
        ferry(&["upgrade", "--rehearse", "nope", "-d", &empty.url]).expect(2);
        assert_eq!(empty.fingerprint(), before);
    });
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("new.db");
    let url = format!("sqlite:{}", missing.display());
    let run = ferry(&["upgrade", "--rehearse", "-d", &url, "--json"])
        .expect(0)
        .json();
    assert_eq!(run["steps"][0]["kind"], "fresh");
    assert_eq!(run["steps"].as_array().unwrap().len(), 6);
    assert!(!missing.exists(), "a rehearsal never creates the database");
}
