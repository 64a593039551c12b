//! The bridge end to end with the reference set, each scenario on SQLite and PostgreSQL.

mod common;

use common::*;
use ferry::core::graph::Graph;
use ferry::core::set::Dialect;
use ferry::fixture::{self, TestDirs};

/// Every legacy version 0..=cap (and the superseded 26), seeded after its steps, upgrades to
/// head through the library: same schema as a fresh install, no seeded row lost, the version
/// table at head, the marker at the cap (or the superseded number), and `check` clean.
#[test]
fn every_legacy_version_upgrades_to_the_fresh_install_schema() {
    let set = reference_set();
    let graph = Graph::new(&set).unwrap();
    let dirs = TestDirs::of(&set, None);
    assert!(
        dirs.seeds.is_some(),
        "the reference set has seeds in tests/seeds"
    );
    let head: Vec<String> = graph
        .heads()
        .iter()
        .map(|&n| graph.id(n).to_string())
        .collect();
    on_both(|dialect| {
        let fresh = fresh_schema(dialect, &set);
        let versions =
            (0..=i64::from(set.cap())).chain(set.superseded.keys().map(|&v| i64::from(v)));
        for n in versions {
            let db = TestDb::new(dialect);
            let mut d = db.open();
            fixture::legacy(&mut runner(&set, &graph, d.as_mut()), n, &dirs)
                .unwrap_or_else(|e| panic!("fixture {n}: {e}"));
            drop(d);
            let before = db.row_counts();
            if n >= 1 {
                assert!(
                    before.values().sum::<i64>() > 0,
                    "legacy {n}: the seeds inserted rows"
                );
            }
            let mut d = db.open();
            let report = runner(&set, &graph, d.as_mut())
                .upgrade("head")
                .unwrap_or_else(|e| panic!("upgrade from {n}: {e}"));
            drop(d);
            assert_eq!(report.heads, head);
            assert_same_schema(
                &fresh,
                &db.snapshot(&set),
                &format!("{} legacy {n} → head", dialect.name()),
            );
            let after = db.row_counts();
            for (table, count) in &before {
                let now = after
                    .get(table)
                    .unwrap_or_else(|| panic!("legacy {n}: table {table} vanished"));
                assert!(
                    now >= count,
                    "legacy {n}: {table} had {count} rows, has {now}"
                );
            }
            assert_eq!(db.versions(), head, "legacy {n}: version table");
            let expected_marker = if n > i64::from(set.cap()) {
                n
            } else {
                i64::from(set.cap())
            };
            assert_eq!(
                db.marker(),
                Some(expected_marker.to_string()),
                "legacy {n}: marker"
            );
            ferry(&["check", "-d", &db.url]).expect(0);
        }
    });
}

/// Pre-release builds wrote legacy 26 (25 plus the context-length column): the guard of
/// 0005_llm_context_length skips the change, and the result equals a fresh install.
#[test]
fn superseded_version_upgrades_through_the_guarded_revision() {
    let set = reference_set();
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "26", "-d", &db.url]).expect(0);
        let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        assert_eq!(status["state"], "legacy");
        assert_eq!(status["legacy_version"], 26);
        assert_eq!(status["detail"]["revision"], "0005_llm_context_length");
        let run = ferry(&["upgrade", "-d", &db.url, "--json"])
            .expect(0)
            .json();
        let steps = run["steps"].as_array().unwrap();
        let ctx = steps
            .iter()
            .find(|s| s["revision"] == "0005_llm_context_length")
            .expect("0005 ran");
        assert_eq!(
            ctx["skipped_guards"][0],
            "if-missing column llm_models.context_length"
        );
        assert!(
            steps.iter().all(|s| s["kind"] != "legacy"),
            "no legacy step replays"
        );
        assert_same_schema(
            &fresh_schema(dialect, &set),
            &db.snapshot(&set),
            "26 → head",
        );
    });
}

/// States ferry refuses: exit 3, a reason, and the database untouched.
#[test]
fn refused_states_leave_the_database_unchanged() {
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "CREATE TABLE customers (id INTEGER PRIMARY KEY);",
            "",
            &["unversioned", "customers", "version is unknown"],
        ),
        (
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY); INSERT INTO alembic_version VALUES ('0099_from_the_future');",
            "",
            &["ahead", "0099_from_the_future", "newer release"],
        ),
        (
            "CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT); INSERT INTO metadata VALUES ('database_version', '31');",
            "",
            &["version 31", "cap 25", "legacy.superseded"],
        ),
        (
            "CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT); INSERT INTO metadata VALUES ('database_version', '12');",
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY); INSERT INTO alembic_version VALUES ('0001_baseline');",
            &["inconsistent", "legacy marker says 12", "below the cap 25"],
        ),
    ];
    on_both(|dialect| {
        for (setup, more, words) in cases {
            let db = TestDb::new(dialect);
            db.exec(setup);
            if !more.is_empty() {
                db.exec(more);
            }
            let before = db.fingerprint();
            for args in [vec!["upgrade"], vec!["check"], vec!["upgrade", "0003"]] {
                let mut a = args.clone();
                a.extend(["-d", &db.url]);
                let run = ferry(&a).expect(3);
                for w in words {
                    assert!(run.stderr.contains(w), "{a:?}: {w:?} not in {}", run.stderr);
                }
            }
            let json = ferry(&["upgrade", "--json", "-d", &db.url])
                .expect(3)
                .json();
            assert_eq!(json["error"]["code"], 3);
            assert_eq!(json["error"]["kind"], "refused");
            // status reads every refused state, exiting 3 only for the inconsistent one.
            let code = if words[0] == "inconsistent" { 3 } else { 0 };
            let status = ferry(&["status", "--json", "-d", &db.url])
                .expect(code)
                .json();
            let refusal = status["refusal"]
                .as_str()
                .expect("status explains the refusal");
            assert!(refusal.contains(words[1]), "{refusal}");
            assert_eq!(db.fingerprint(), before, "the database changed");
        }
    });
}

#[test]
fn a_file_that_is_not_a_database_exits_6_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(100)).unwrap();
    let before = std::fs::read(&path).unwrap();
    for cmd in ["upgrade", "status", "check"] {
        let run = ferry(&[cmd, "-d", path.to_str().unwrap()]).expect(6);
        assert!(
            run.stderr.contains("not a usable SQLite database"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let run = ferry(&["upgrade", "-d", dir.path().to_str().unwrap()]).expect(6);
    assert!(run.stderr.contains("directory"), "{}", run.stderr);
}

/// A tampered set given with --migrations is refused before the database is touched.
#[test]
fn a_tampered_runtime_set_exits_2_and_touches_nothing() {
    type Tamper = fn(&std::path::Path);
    let tampers: [(Tamper, &str); 4] = [
        (
            |s| {
                let f = s.join("legacy/001_create_core_tables");
                let file = std::fs::read_dir(&f)
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap()
                    .path();
                let mut t = std::fs::read_to_string(&file).unwrap();
                t.push_str("\n-- a harmless-looking edit\n");
                std::fs::write(file, t).unwrap();
            },
            "edited after the freeze",
        ),
        (
            |s| {
                std::fs::write(
                    s.join("legacy/003_create_model_providers/up.extra.sql"),
                    "SELECT 1;",
                )
                .unwrap()
            },
            "unexpected file",
        ),
        (
            |s| {
                let dir = s.join("legacy/025_add_llm_models_vision");
                let file = std::fs::read_dir(&dir)
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap()
                    .path();
                std::fs::remove_file(file).unwrap();
            },
            "legacy/",
        ),
        (
            |s| {
                let dir = s.join("revisions/0007_a_revision_id_that_is_far_too_long_for_alembic");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(
                    dir.join("revision.toml"),
                    "down = \"0006_kb_documents_status_index\"\n",
                )
                .unwrap();
                std::fs::write(dir.join("up.sql"), "SELECT 1;").unwrap();
            },
            "at most 32",
        ),
    ];
    on_both(|dialect| {
        for (tamper, message) in tampers {
            let tmp = tempfile::tempdir().unwrap();
            let set = copy_reference_set(tmp.path());
            let db = TestDb::new(dialect);
            ferry(&["fixture", "--legacy", "4", "-d", &db.url]).expect(0);
            let before = db.fingerprint();
            tamper(&set);
            let run = ferry(&[
                "upgrade",
                "-d",
                &db.url,
                "--migrations",
                set.to_str().unwrap(),
            ])
            .expect(2);
            assert!(
                run.stderr.contains(message),
                "{message:?} not in {}",
                run.stderr
            );
            ferry(&["lint", "--migrations", set.to_str().unwrap()]).expect(2);
            assert_eq!(db.fingerprint(), before);
        }
    });
}

/// A revision whose second statement fails: exit 4, rolled back, at the previous revision.
#[test]
fn a_failing_revision_rolls_back_whole() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set_dir = copy_reference_set(tmp.path());
        add_revision(
            &set_dir,
            "0007_broken",
            "0006_kb_documents_status_index",
            "CREATE TABLE half_done (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\nCREATE TABLE never (id INTEGER);\n",
            "DROP TABLE half_done;",
        );
        let set = set_dir.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "0006", "-d", &db.url, "--migrations", set]).expect(0);
        let run = ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(4);
        assert!(
            run.stderr
                .contains("upgrade 0007_broken failed and was rolled back"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("no_such_table"), "{}", run.stderr);
        assert!(
            run.stderr
                .contains("at revision 0006_kb_documents_status_index"),
            "{}",
            run.stderr
        );
        assert!(
            !db.tables().contains(&"half_done".to_string()),
            "nothing of the failed revision remains"
        );
        assert_eq!(db.versions(), vec!["0006_kb_documents_status_index"]);
        let failed = db.scalar(
            "SELECT COUNT(*) FROM ferry_history WHERE revision = '0007_broken' AND NOT success",
        );
        assert_eq!(
            failed.as_deref(),
            Some("1"),
            "the failure is in the audit trail"
        );
        let json = ferry(&["upgrade", "--json", "-d", &db.url, "--migrations", set])
            .expect(4)
            .json();
        assert_eq!(json["error"]["kind"], "step_failed");
    });
}

/// The table rebuild of legacy 012 (pipelines) must not cascade-delete its children's rows.
#[test]
fn the_cascade_trap_keeps_every_child_row() {
    let set = reference_set();
    let rebuilt = "pipelines";
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        seeded_fixture(&db.url, 11);
        let schema = db.snapshot(&set);
        let children: Vec<String> = schema
            .tables
            .iter()
            .filter(|(_, t)| {
                t.constraints.values().any(|c| {
                    c.contains("ON DELETE CASCADE") && c.contains(&format!("REFERENCES {rebuilt}"))
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        assert!(
            !children.is_empty(),
            "{rebuilt} has cascading children at legacy 11"
        );
        let before = db.row_counts();
        assert!(
            children.iter().any(|c| before[c] > 0),
            "the seeds fill the children"
        );
        ferry(&["upgrade", "-d", &db.url]).expect(0);
        let after = db.row_counts();
        for child in &children {
            assert_eq!(after[child], before[child], "rows of {child}");
        }
        assert_eq!(after[rebuilt], before[rebuilt]);
    });
}

/// `check` exits 1 before and 0 after; downgrades and re-upgrades give the same schema.
#[test]
fn check_downgrade_and_reupgrade() {
    let set = reference_set();
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "20", "-d", &db.url]).expect(0);
        ferry(&["check", "-d", &db.url]).expect(1);
        ferry(&["upgrade", "-d", &db.url]).expect(0);
        ferry(&["check", "-d", &db.url]).expect(0);
        let head = db.snapshot(&set);
        ferry(&["downgrade", "-1", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), vec!["0005_llm_context_length"]);
        ferry(&["check", "-d", &db.url]).expect(1);
        ferry(&["downgrade", "base", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), vec!["0001_baseline"]);
        let below = ferry(&["downgrade", "-1", "-d", &db.url]).expect(2);
        assert!(
            below.stderr.contains("below the baseline"),
            "{}",
            below.stderr
        );
        ferry(&["upgrade", "-d", &db.url]).expect(0);
        assert_same_schema(
            &head,
            &db.snapshot(&set),
            "after downgrade base and upgrade",
        );
        let noop = ferry(&["upgrade", "-d", &db.url]).expect(0);
        assert!(noop.stdout.contains("nothing to do"), "{}", noop.stdout);
    });
}

/// A second, small set with its own marker kind works through --migrations.
#[test]
fn another_projects_set_with_a_single_row_marker() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("shop");
        let w = |p: &str, t: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, t).unwrap();
        };
        w(
            "ferry.toml",
            "[legacy]\ncap = 2\nmarker = { kind = \"single-row\", table = \"schema_version\", column = \"version\" }\n\
             [baseline]\nrevision = \"v1\"\n[revisions]\nversion_table = \"shop_versions\"\n",
        );
        w(
            "legacy/001_orders/up.sql",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL);\n",
        );
        w(
            "legacy/002_note/up.sql",
            "ALTER TABLE orders ADD COLUMN note TEXT;\n",
        );
        w(
            "baseline/sqlite.sql",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL, note TEXT);\n",
        );
        w(
            "baseline/postgres.sql",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL, note TEXT);\n",
        );
        w(
            "revisions/v2_paid/revision.toml",
            "down = \"v1\"\nmessage = \"paid flag\"\n",
        );
        w(
            "revisions/v2_paid/up.sql",
            "ALTER TABLE orders ADD COLUMN paid BOOLEAN NOT NULL DEFAULT FALSE;\n",
        );
        w(
            "revisions/v2_paid/down.sql",
            "ALTER TABLE orders DROP COLUMN paid;\n",
        );
        let set = root.to_str().unwrap();
        ferry(&["lint", "--migrations", set]).expect(2);
        ferry(&["lint", "--freeze", "--migrations", set]).expect(0);
        ferry(&["lint", "--freeze", "--migrations", set]).expect(2);
        ferry(&["lint", "--migrations", set]).expect(0);

        let db = TestDb::new(dialect);
        ferry(&[
            "fixture",
            "--legacy",
            "1",
            "-d",
            &db.url,
            "--migrations",
            set,
        ])
        .expect(0);
        db.exec("INSERT INTO orders (id, total) VALUES (1, 100), (2, 250);");
        assert_eq!(
            db.scalar("SELECT CAST(version AS TEXT) FROM schema_version")
                .as_deref(),
            Some("1")
        );
        let status = ferry(&["status", "--json", "-d", &db.url, "--migrations", set])
            .expect(0)
            .json();
        assert_eq!(status["legacy_version"], 1);
        assert_eq!(status["heads"][0], "v2_paid");
        ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(0);
        assert_eq!(
            db.scalar("SELECT CAST(version AS TEXT) FROM schema_version")
                .as_deref(),
            Some("2")
        );
        assert_eq!(
            db.scalar("SELECT version_num FROM shop_versions")
                .as_deref(),
            Some("v2_paid")
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM orders WHERE NOT paid")
                .as_deref(),
            Some("2")
        );
        ferry(&["check", "-d", &db.url, "--migrations", set]).expect(0);
        // The compiled-in set does not know this database's tables: it refuses, it never guesses.
        ferry(&["upgrade", "-d", &db.url]).expect(3);
    });
}

/// SQLite's PRAGMA user_version as the marker.
#[test]
fn user_version_marker_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("s");
    for (p, t) in [
        (
            "ferry.toml",
            "[legacy]\ncap = 1\nmarker = { kind = \"user-version\" }\n[baseline]\nrevision = \"base\"\n",
        ),
        ("legacy/001_t/up.sql", "CREATE TABLE t (x INTEGER);"),
        ("baseline/sqlite.sql", "CREATE TABLE t (x INTEGER);"),
    ] {
        std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
        std::fs::write(root.join(p), t).unwrap();
    }
    let set = root.to_str().unwrap();
    ferry(&["lint", "--freeze", "--migrations", set]).expect(0);
    let db = TestDb::new(Dialect::Sqlite);
    ferry(&[
        "fixture",
        "--legacy",
        "1",
        "-d",
        &db.url,
        "--migrations",
        set,
    ])
    .expect(0);
    assert_eq!(db.scalar("PRAGMA user_version").as_deref(), Some("1"));
    ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(0);
    assert_eq!(db.versions(), vec!["base"]);
}

#[test]
fn read_only_commands_never_create_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let url = format!("sqlite:{}", path.display());
    let status = ferry(&["status", "--json", "-d", &url]).expect(0).json();
    assert_eq!(status["state"], "empty");
    ferry(&["check", "-d", &url]).expect(1);
    ferry(&["current", "-d", &url]).expect(0);
    ferry(&["plan", "-d", &url]).expect(0);
    assert!(!path.exists());
    ferry(&["upgrade", "-d", &url]).expect(0);
    assert!(path.exists());
}

#[test]
fn global_options_go_before_or_after_the_command() {
    let db = TestDb::new(Dialect::Sqlite);
    let a = ferry(&["--json", "-d", &db.url, "status"]).expect(0).json();
    let b = ferry(&["status", "--json", "--database", &db.url])
        .expect(0)
        .json();
    assert_eq!(a, b);
    let quiet = ferry(&["upgrade", "-q", "-d", &db.url]).expect(0);
    assert!(quiet.stdout.is_empty(), "{}", quiet.stdout);
    let bad = ferry(&["status", "--json"]).expect(2).json();
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--database")
    );
    ferry(&["frobnicate"]).expect(2);
    let help = ferry(&["--help"]).expect(0);
    assert!(help.stdout.contains("Exit codes"), "{}", help.stdout);
}

/// Another ferry holding the lock: the second waits --lock-timeout, then exits 5 naming it.
#[test]
fn a_second_runner_waits_then_exits_5() {
    let db = TestDb::new(Dialect::Sqlite);
    ferry(&["upgrade", "-d", &db.url]).expect(0);
    let mut holder = db.open();
    assert_eq!(
        holder.lock(std::time::Duration::from_secs(1)).unwrap(),
        Ok(())
    );
    let started = std::time::Instant::now();
    let run = ferry(&["upgrade", "--lock-timeout", "1", "-d", &db.url]).expect(5);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert!(
        run.stderr.contains(&format!("pid {}", std::process::id())),
        "{}",
        run.stderr
    );
    holder.unlock().unwrap();
    ferry(&["upgrade", "--lock-timeout", "1", "-d", &db.url]).expect(0);
}

/// A SQLite bridge first writes a verified copy beside the file (never over an existing one);
/// a failure names it; `--no-backup` skips it; a fresh install needs none.
#[test]
fn a_verified_backup_comes_before_the_first_write() {
    let db = TestDb::new(Dialect::Sqlite);
    let dir = db.path.as_ref().unwrap().parent().unwrap().to_path_buf();
    let backups = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".ferry-backup-"))
            .collect();
        v.sort();
        v
    };
    seeded_fixture(&db.url, 5);
    assert!(
        backups().is_empty(),
        "building into an empty database needs no backup"
    );
    let before = db.row_counts();
    let run = ferry(&["upgrade", "0002", "--json", "-d", &db.url])
        .expect(0)
        .json();
    let path = std::path::PathBuf::from(run["backup"]["path"].as_str().expect("a backup path"));
    assert_eq!(backups(), vec![path.clone()]);
    let copy = TestDb::sqlite_at(&path);
    assert!(
        copy.row_counts() == before,
        "the copy holds the rows the database had"
    );
    assert_eq!(
        copy.marker().as_deref(),
        Some("5"),
        "the copy is the database as it was"
    );
    assert!(!copy.tables().contains(&"alembic_version".to_string()));
    // A second run the same second gets a new name, never overwriting the first.
    ferry(&["upgrade", "0003", "-d", &db.url]).expect(0);
    ferry(&["upgrade", "0004", "-d", &db.url]).expect(0);
    assert_eq!(backups().len(), 3);
    ferry(&["upgrade", "--no-backup", "-d", &db.url]).expect(0);
    assert_eq!(backups().len(), 3);
    let elsewhere = tempfile::tempdir().unwrap();
    ferry(&[
        "downgrade",
        "-1",
        "--backup-dir",
        elsewhere.path().to_str().unwrap(),
        "-d",
        &db.url,
    ])
    .expect(0);
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 1);
}

/// Runs `ferry` with writes past `blocks` 512-byte blocks failing with EFBIG (RLIMIT_FSIZE,
/// SIGXFSZ ignored): a disk that fills up, for every file the process writes.
fn ferry_on_a_full_disk(blocks: u32, args: &[&str]) -> Run {
    let script = format!("trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\"");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(repo())
        .env_remove("FERRY_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("FERRY_MIGRATIONS")
        .output()
        .expect("sh runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A backup that cannot complete (here: the disk fills up half-way through the copy) removes
/// its partial file and journal, says nothing was changed and what to do, and leaves the
/// database as it was; a completed, verified backup stays.
#[test]
fn a_backup_that_fails_leaves_nothing_behind() {
    let db = TestDb::new(Dialect::Sqlite);
    let path = db.path.clone().unwrap();
    let dir = path.parent().unwrap().to_path_buf();
    seeded_fixture(&db.url, 5);
    // About 4 MB of rows, far past the 1 MB the copy may write.
    db.exec(
        "CREATE TABLE padding(b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
         INSERT INTO padding SELECT randomblob(100000) FROM n;",
    );
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size > 4_000_000,
        "the database is larger than the limit: {size}"
    );
    assert_eq!(files_in(&dir), ["app.db"]);
    let before = db.fingerprint();
    let limit = 2048; // blocks of 512 bytes: 1 MB

    let elsewhere = tempfile::tempdir().unwrap();
    let backup_dir = elsewhere.path().to_str().unwrap().to_string();
    let cases: [&[&str]; 2] = [&["--backup-dir", &backup_dir], &[]];
    for extra in cases {
        let mut args = vec!["upgrade", "-d", &db.url];
        args.extend_from_slice(extra);
        let run = ferry_on_a_full_disk(limit, &args).expect(2);
        for words in [
            "the backup",
            "failed",
            "nothing was changed",
            "no partial backup was left",
            "--backup-dir DIR",
            "--no-backup",
        ] {
            assert!(run.stderr.contains(words), "{words:?} in: {}", run.stderr);
        }
        assert_eq!(db.fingerprint(), before, "the database is unchanged");
        assert_eq!(files_in(&dir), ["app.db"], "nothing beside the database");
        assert!(
            files_in(elsewhere.path()).is_empty(),
            "nothing in the backup directory"
        );
    }

    // With room, the same run keeps its verified backup.
    let run = ferry(&[
        "upgrade",
        "--json",
        "--backup-dir",
        &backup_dir,
        "-d",
        &db.url,
    ])
    .expect(0)
    .json();
    let kept = run["backup"]["path"].as_str().expect("a backup path");
    assert_eq!(files_in(elsewhere.path()).len(), 1);
    assert!(std::path::Path::new(kept).exists());
}

/// The read-only commands report what they should; `stamp` moves the version table only.
#[test]
fn stamp_current_heads_history_and_plan() {
    let set = reference_set();
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "23", "-d", &db.url]).expect(0);
        let plan = ferry(&["plan", "--json", "-d", &db.url]).expect(0).json();
        let kinds: Vec<&str> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["legacy", "legacy", "stamp", "up", "up", "up", "up", "up"]
        );
        assert_eq!(plan["heads_after"][0], "0006_kb_documents_status_index");
        let current = ferry(&["current", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(current["current"].as_array().unwrap().len(), 0);

        ferry(&["upgrade", "-d", &db.url]).expect(0);
        let head = db.snapshot(&set);
        let current = ferry(&["current", "-d", &db.url]).expect(0);
        assert_eq!(
            current.stdout.trim(),
            "0006_kb_documents_status_index (head)"
        );
        let heads = ferry(&["heads", "--json"]).expect(0).json();
        assert_eq!(heads["heads"][0], "0006_kb_documents_status_index");
        let history = ferry(&["history"]).expect(0);
        let lines: Vec<&str> = history.stdout.lines().collect();
        assert!(
            lines[0]
                .starts_with("0005_llm_context_length -> 0006_kb_documents_status_index (head)"),
            "{}",
            history.stdout
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("<base> -> 0001_baseline"))
        );

        ferry(&["stamp", "0003", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), vec!["0003_api_keys_last_used_index"]);
        assert_same_schema(&head, &db.snapshot(&set), "stamp runs no SQL");
        ferry(&["check", "-d", &db.url]).expect(1);
        ferry(&["stamp", "head", "-d", &db.url]).expect(0);
        ferry(&["check", "-d", &db.url]).expect(0);
        let before = db.fingerprint();
        let unknown = ferry(&["stamp", "0099_nope", "-d", &db.url]).expect(2);
        assert!(
            unknown.stderr.contains("unknown revision \"0099_nope\""),
            "{}",
            unknown.stderr
        );
        assert_eq!(db.fingerprint(), before);
        let stamps = db.scalar("SELECT COUNT(*) FROM ferry_history WHERE kind = 'stamp'");
        assert_eq!(
            stamps.as_deref(),
            Some("3"),
            "the baseline stamp and two by hand"
        );
    });
}
