//! `ferry upgrade-test`: the reference set's whole matrix passes on both dialects without
//! touching the database it is pointed at, and a set that breaks a path or a round trip fails
//! with exit 1 naming the path and its first problem. Each scenario on SQLite and PostgreSQL
//! (SQLite alone, or with `--database` pointing at the PostgreSQL server).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ferry::core::set::Dialect;
use serde_json::Value;

/// Runs upgrade-test for `dialect` (PostgreSQL: on a fresh database of the test server, which
/// must stay untouched); returns the JSON and only this dialect's cases.
fn upgrade_test(dialect: Dialect, extra: &[&str], code: i32) -> (Value, Vec<Value>) {
    let db = TestDb::new(dialect);
    let before = db.fingerprint();
    let mut args = vec!["upgrade-test", "--json"];
    if dialect == Dialect::Postgres {
        args.extend(["-d", db.url.as_str()]);
    }
    args.extend(extra);
    let run = ferry(&args).expect(code);
    let json = run.json();
    let cases: Vec<Value> = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["dialect"] == dialect.name())
        .cloned()
        .collect();
    if dialect == Dialect::Postgres {
        assert_eq!(
            db.fingerprint(),
            before,
            "upgrade-test touched the database"
        );
    }
    (json, cases)
}

fn paths(cases: &[Value]) -> Vec<String> {
    cases
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect()
}

fn failed(cases: &[Value]) -> Vec<(String, String)> {
    cases
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["problems"][0].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A copy of the reference set with its test data (seeds, superseded).
fn copy_with_test_data(dst: &Path) -> PathBuf {
    let root = copy_reference_set(dst);
    for dir in ["seeds", "superseded"] {
        let to = root.join("tests").join(dir);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(repo().join("tests").join(dir)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    root
}

/// Appends `sql` to every up file of legacy step `dir`, then freezes the chain again.
fn tamper_legacy(set: &Path, dir: &str, sql: &str) {
    let step = set.join("legacy").join(dir);
    for entry in std::fs::read_dir(&step).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(sql);
        std::fs::write(&path, text).unwrap();
    }
    std::fs::remove_file(set.join("legacy/FROZEN.toml")).unwrap();
    ferry(&["lint", "--freeze", "--migrations", set.to_str().unwrap()]).expect(0);
}

#[test]
fn the_reference_set_passes_every_path() {
    on_both(|dialect| {
        let (json, cases) = upgrade_test(dialect, &[], 0);
        assert_eq!(json["all_passed"], true);
        assert_eq!(json["failed"], 0);
        let paths = paths(&cases);
        assert_eq!(cases.len(), 1 + 25 + 1 + 1, "{paths:?}");
        assert_eq!(paths[0], "fresh install → head");
        assert_eq!(paths[1], "legacy 1 (3.0.0) → head");
        assert_eq!(paths[2], "legacy 2 → head");
        assert_eq!(paths[25], "legacy 25 (3.12.0) → head");
        assert_eq!(paths[26], "legacy 26 (superseded) → head");
        assert_eq!(paths[27], "round trip head → 0001_baseline → head");
        assert!(
            cases
                .iter()
                .all(|c| c["ok"] == true && c["problems"] == serde_json::json!([]))
        );
        assert_eq!(json["seeds"], "tests/seeds");
        // The reference set's whole matrix, even in a debug build, is far under a minute.
        if dialect == Dialect::Sqlite {
            assert!(
                json["total_ms"].as_u64().unwrap() < 60_000,
                "{}",
                json["total_ms"]
            );
        }
    });
    // The text: a table, the totals, exit 0.
    let run = ferry(&["upgrade-test", "--releases", "3.12"]).expect(0);
    assert!(run.stdout.contains("dialect   path"), "{}", run.stdout);
    assert!(
        run.stdout.contains("legacy 25 (3.12.0) → head"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("3 cases on sqlite: 3 passed, 0 failed, in "),
        "{}",
        run.stdout
    );
}

#[test]
fn releases_limit_the_matrix() {
    on_both(|dialect| {
        let (_, cases) = upgrade_test(dialect, &["--releases", ">=3.11, <4.2"], 0);
        assert_eq!(
            paths(&cases),
            [
                "fresh install → head",
                "legacy 23 (3.11.0) → head",
                "legacy 25 (3.12.0) → head",
                "revision 0001_baseline (4.0.0) → head",
                "revision 0003_api_keys_last_used_index (4.1.0) → head",
                "round trip head → 0001_baseline → head",
            ]
        );
    });
    let run = ferry(&["upgrade-test", "--releases", "9"]).expect(2);
    assert!(
        run.stderr.contains("no release matches \"9\""),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_options_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("app.db");
    let url = format!("sqlite:{}", file.display());
    for (args, words) in [
        (
            vec!["upgrade-test", "-d", url.as_str()],
            vec!["builds its own databases", "only a PostgreSQL URL"],
        ),
        (
            vec!["upgrade-test", "--schema", "x"],
            vec!["--schema does not apply"],
        ),
        (vec!["upgrade-test", "--jobs", "0"], vec!["--jobs"]),
        (
            vec!["upgrade-test", "--seeds", "/no/such/dir"],
            vec!["--seeds /no/such/dir"],
        ),
        (
            vec!["upgrade-test", "--releases", "three"],
            vec!["not a release requirement"],
        ),
    ] {
        let run = ferry(&args).expect(2);
        for w in words {
            assert!(
                run.stderr.contains(w),
                "{args:?}: {w:?} not in {}",
                run.stderr
            );
        }
    }
    assert!(!file.exists(), "the SQLite file was not created");
    // The compiled-in set carries its test data (embedding::the_compiled_in_sets_test_data_works_from_any_directory),
    // and a --seeds directory that is not there is refused wherever ferry runs.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["upgrade-test", "--seeds", "no_such_seeds"])
        .current_dir(tmp.path())
        .env_remove("FERRY_MIGRATIONS")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--seeds no_such_seeds: no such directory"),
        "{stderr}"
    );
    // An unreachable server is exit 6.
    let run = ferry(&[
        "upgrade-test",
        "-d",
        "postgres://nobody@127.0.0.1:1/none?connect_timeout=2",
    ])
    .expect(6);
    assert!(run.stderr.contains("127.0.0.1"), "{}", run.stderr);
}

/// A revision whose down SQL does not undo its up: the round trip fails, naming it.
#[test]
fn a_down_that_does_not_undo_its_up_fails_the_round_trip() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_with_test_data(tmp.path());
        std::fs::write(
            set.join("revisions/0004_bot_tags/down.sql"),
            "DROP INDEX idx_bot_tags_tag;\n",
        )
        .unwrap();
        let (json, cases) = upgrade_test(dialect, &["--migrations", set.to_str().unwrap()], 1);
        assert_eq!(json["all_passed"], false);
        let failed = failed(&cases);
        assert_eq!(failed.len(), 1, "{failed:?}");
        let (path, problem) = &failed[0];
        assert_eq!(path, "round trip head → 0001_baseline → head");
        assert!(
            problem.starts_with("downgrade 0004_bot_tags does not undo its upgrade")
                && problem.contains("table bot_tags is extra"),
            "{problem}"
        );
    });
    // The text names the path and the problem.
    let tmp = tempfile::tempdir().unwrap();
    let set = copy_with_test_data(tmp.path());
    std::fs::write(
        set.join("revisions/0002_users_email_verified_at/down.sql"),
        "SELECT 1;\n",
    )
    .unwrap();
    let run = ferry(&["upgrade-test", "--migrations", set.to_str().unwrap()]).expect(1);
    assert!(
        run.stdout.contains("FAILED sqlite round trip head → 0001_baseline → head: downgrade 0002_users_email_verified_at does not undo its upgrade"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("column users.email_verified_at is extra"),
        "{}",
        run.stdout
    );
}

/// A legacy step that deletes seeded rows fails every path that runs it on seeded data.
#[test]
fn a_legacy_step_that_loses_seeded_rows_fails_its_paths() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_with_test_data(tmp.path());
        tamper_legacy(
            &set,
            "020_add_more_updated_at_triggers",
            "\nUPDATE pipeline_runs SET bot_id = NULL WHERE bot_id = 1004;\nDELETE FROM bots WHERE id = 1004;\n",
        );
        let (_, cases) = upgrade_test(dialect, &["--migrations", set.to_str().unwrap()], 1);
        let failed = failed(&cases);
        let expected: Vec<String> = (1..=19)
            .map(|n| {
                let release = set_release(n);
                format!("legacy {n}{release} → head")
            })
            .collect();
        assert_eq!(
            failed.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
            expected
        );
        for (path, problem) in &failed {
            assert!(
                problem.starts_with("table bots lost rows: 4 before the upgrade, 3 after")
                    && problem.contains("may_lose_rows"),
                "{path}: {problem}"
            );
        }
    });
}

/// A legacy step whose result differs from the baseline fails every legacy path.
#[test]
fn a_legacy_chain_that_misses_the_baseline_fails_every_legacy_path() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_with_test_data(tmp.path());
        tamper_legacy(
            &set,
            "025_add_llm_models_vision",
            "\nCREATE TABLE stray (id INTEGER);\n",
        );
        let (json, cases) = upgrade_test(dialect, &["--migrations", set.to_str().unwrap()], 1);
        let failed = failed(&cases);
        assert_eq!(failed.len(), 26, "legacy 1..=25 and 26: {failed:?}");
        assert_eq!(json["failed"].as_u64().unwrap() as usize % 26, 0);
        for (path, problem) in &failed {
            assert!(path.starts_with("legacy "), "{path}");
            assert_eq!(
                problem,
                "the schema differs from a fresh install: table stray is extra (1 columns)",
                "{path}"
            );
        }
        let ok = paths(&cases)
            .into_iter()
            .filter(|p| !p.starts_with("legacy "))
            .count();
        assert_eq!(ok, 2, "the fresh install and the round trip pass");
    });
}

/// The release name the reference set gives legacy version `n` in a path.
fn set_release(n: u32) -> String {
    let set = reference_set();
    set.config
        .releases
        .iter()
        .find(|r| r.legacy == Some(n))
        .map(|r| format!(" ({})", r.version))
        .unwrap_or_default()
}

/// The statements of the reference baseline that make `audit_logs`: its sequence (PostgreSQL),
/// the table, the sequence's owner and its indexes.
fn audit_logs_ddl(dialect: Dialect) -> String {
    let baseline = std::fs::read_to_string(
        repo()
            .join("baseline")
            .join(format!("{}.sql", dialect.name())),
    )
    .unwrap();
    let statements: Vec<String> = baseline
        .split(";\n")
        .map(|s| {
            s.lines()
                .skip_while(|l| l.trim().is_empty() || l.starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| {
            (s.starts_with("CREATE") || s.starts_with("ALTER"))
                && (s.contains(" audit_logs ") || s.contains("audit_logs_id_seq "))
        })
        .map(|s| format!("{s};\n"))
        .collect();
    assert!(
        statements
            .iter()
            .any(|s| s.starts_with("CREATE TABLE audit_logs")),
        "{statements:?}"
    );
    statements.concat()
}

#[test]
fn a_table_the_chain_drops_is_reported_and_declared_pruning_is_allowed() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_with_test_data(tmp.path());
        let revision = |id: &str, down: &str, up: &str, down_sql: &dyn Fn(Dialect) -> String| {
            let (sqlite, postgres) = (down_sql(Dialect::Sqlite), down_sql(Dialect::Postgres));
            let files = [
                ("up.sql", up),
                ("down.sqlite.sql", sqlite.as_str()),
                ("down.postgres.sql", postgres.as_str()),
            ];
            write_revision(&set, id, down, true, &files);
        };
        // A step that drops a table with seeded rows: a fresh install has no such table either.
        revision(
            "0007_drop_audit_logs",
            "0006_kb_documents_status_index",
            "DROP TABLE audit_logs;\n",
            &audit_logs_ddl,
        );
        let migrations = set.to_str().unwrap();
        let args = ["--migrations", migrations, "--releases", "3.12"];
        let (_, cases) = upgrade_test(dialect, &args, 0);
        let case = cases
            .iter()
            .find(|c| c["path"].as_str().unwrap().starts_with("legacy 25"))
            .unwrap();
        let note = case["notes"][0].as_str().unwrap_or_default();
        assert!(
            note.starts_with("table audit_logs (")
                && note.contains("dropped by")
                && note.contains("0007_drop_audit_logs"),
            "{case}"
        );

        // A step that prunes seeded rows fails the path until the set declares it.
        revision(
            "0008_prune_plugin_settings",
            "0007_drop_audit_logs",
            "DELETE FROM plugin_settings WHERE id = 1001;\n",
            &|_| "SELECT 1;\n".to_string(),
        );
        let (_, cases) = upgrade_test(dialect, &args, 1);
        let failed = failed(&cases);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0].1.starts_with("table plugin_settings lost rows")
                && failed[0]
                    .1
                    .contains("may_lose_rows = [\"plugin_settings\"]"),
            "{failed:?}"
        );
        let toml = set.join("ferry.toml");
        let text = std::fs::read_to_string(&toml).unwrap();
        std::fs::write(
            &toml,
            text.replace(
                "[test]\n",
                "[test]\nmay_lose_rows = [\"plugin_settings\"]\n",
            ),
        )
        .unwrap();
        let (_, cases) = upgrade_test(dialect, &args, 0);
        let notes: Vec<String> = cases
            .iter()
            .flat_map(|c| c["notes"].as_array().cloned().unwrap_or_default())
            .map(|n| n.as_str().unwrap_or_default().to_string())
            .collect();
        assert!(
            notes
                .iter()
                .any(|n| n
                    .starts_with("table plugin_settings lost rows as [test] may_lose_rows allows")),
            "{notes:?}"
        );
    });
}
