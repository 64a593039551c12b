//! `ferry fixture`: a database as a legacy version, a revision or a release left it, with seed
//! data at any step; refusals leave nothing behind. Each scenario on SQLite and PostgreSQL.

mod common;

use std::path::Path;

use common::*;
use ferry::core::graph::Graph;
use ferry::core::set::Dialect;
use ferry::core::state::State;
use ferry::driver::url::DatabaseUrl;

const HEAD: &str = "0006_kb_documents_status_index";

fn write(dir: &Path, name: &str, sql: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, sql).unwrap();
    path.display().to_string()
}

/// The schema a fresh install has at `revision`, built beside `db`.
fn expected_at(db: &TestDb, revision: &str) -> ferry::core::schema::Schema {
    let set = reference_set();
    let graph = Graph::new(&set).unwrap();
    let url = DatabaseUrl::parse(&db.url).unwrap();
    ferry::scratch::expected_schema(
        &set,
        &graph,
        &url,
        &State::Managed {
            heads: vec![revision.to_string()],
        },
    )
    .unwrap()
    .unwrap()
}

#[test]
fn legacy_revision_and_release_fixtures_carry_their_seeds() {
    let set = reference_set();
    on_both(|dialect| {
        // Legacy 7, seeded from ferry.toml's [test] seeds by default.
        let db = TestDb::new(dialect);
        let out = ferry(&["fixture", "--legacy", "7", "-d", &db.url, "--json"])
            .expect(0)
            .json();
        assert_eq!(out["legacy_version"], 7);
        assert_eq!(out["target"], "legacy 7");
        assert_eq!(out["steps"].as_array().unwrap().len(), 7);
        let seeds: Vec<&str> = out["seeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(
            seeds,
            [
                "tests/seeds/001.sql",
                "tests/seeds/003.sql",
                "tests/seeds/004.sql",
                "tests/seeds/006.sql"
            ]
        );
        assert_eq!(db.marker().as_deref(), Some("7"));
        assert_eq!(
            db.scalar("SELECT username FROM users WHERE id = 1001")
                .as_deref(),
            Some("alice")
        );

        // A revision (by unique prefix): the seeded legacy chain, the stamp, the revisions.
        let db = TestDb::new(dialect);
        let out = ferry(&["fixture", "--revision", "0003", "-d", &db.url, "--json"])
            .expect(0)
            .json();
        assert_eq!(out["revisions"][0], "0003_api_keys_last_used_index");
        let kinds: Vec<&str> = out["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.iter().filter(|k| **k == "legacy").count(), 25);
        assert_eq!(kinds[25..], ["stamp", "up", "up"]);
        assert_eq!(out["seeds"].as_array().unwrap().len(), 9, "every seed file");
        assert_eq!(db.versions(), ["0003_api_keys_last_used_index"]);
        assert_eq!(db.marker().as_deref(), Some("25"));
        assert!(db.row_counts()["users"] >= 3, "seeded users are there");
        assert_same_schema(
            &expected_at(&db, "0003_api_keys_last_used_index"),
            &db.snapshot(&set),
            &format!("{} fixture --revision 0003", dialect.name()),
        );

        // A release: the newest match of a bare version.
        let db = TestDb::new(dialect);
        let out = ferry(&["fixture", "--release", "4.2", "-d", &db.url, "--json"])
            .expect(0)
            .json();
        assert_eq!(out["release"], "4.2.0");
        assert_eq!(db.versions(), ["0005_llm_context_length"]);
        let db = TestDb::new(dialect);
        let out = ferry(&["fixture", "--release", "=3.3", "-d", &db.url, "--json"])
            .expect(0)
            .json();
        assert_eq!(
            (out["release"].as_str(), out["legacy_version"].as_i64()),
            (Some("3.3.0"), Some(7))
        );
        assert_eq!(db.marker().as_deref(), Some("7"));

        // The superseded version, as pre-release builds left it.
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "26", "-d", &db.url]).expect(0);
        assert_eq!(db.marker().as_deref(), Some("26"));
    });
}

/// `--seed AT=FILE` runs right after step AT; without AT after the last step; in the order given.
#[test]
fn seeds_run_right_after_their_step() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        // `adapter` exists from legacy 1 until legacy 8 renames it: this only works after 7.
        let adapter = write(
            tmp.path(),
            "adapter.sql",
            "INSERT INTO bots (id, uuid, owner_id, name, adapter, adapter_config, config, enabled, created_at, updated_at) \
             VALUES (3001, 'c0ffee00-0000-4000-8000-000000003001', 1001, 'Seeded at 7', 'matrix', '{}', '{}', TRUE, '2024-01-01 00:00:00', '2024-01-01 00:00:00');",
        );
        // Records the version table's row when it runs.
        let tag = |id: u32| {
            format!(
                "INSERT INTO bot_tags (id, bot_id, tag) SELECT {id}, 3001, version_num FROM alembic_version;"
            )
        };
        let at_0004 = write(tmp.path(), "at_0004.sql", &tag(3001));
        let at_end = write(tmp.path(), "at_end.sql", &tag(3002));
        let then = write(
            tmp.path(),
            "then.sql",
            "UPDATE bot_tags SET tag = tag || '+' WHERE id = 3002;",
        );
        let db = TestDb::new(dialect);
        let out = ferry(&[
            "fixture",
            "--revision",
            "head",
            "--seed",
            &at_end,
            "--seed",
            &then,
            "--seed",
            &format!("0004_bot_tags={at_0004}"),
            "--seed",
            &format!("7={adapter}"),
            "-d",
            &db.url,
            "--json",
        ])
        .expect(0)
        .json();
        let seeds: Vec<&str> = out["seeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let pos = |p: &str| seeds.iter().position(|s| *s == p).unwrap();
        assert_eq!(pos(&adapter), pos("tests/seeds/006.sql") + 1);
        assert_eq!(seeds[seeds.len() - 3..], [at_0004.as_str(), &at_end, &then]);
        assert_eq!(
            db.scalar("SELECT platform FROM bots WHERE id = 3001")
                .as_deref(),
            Some("matrix"),
            "the legacy-7 seed row was carried through the rename of 008"
        );
        assert_eq!(
            db.scalar("SELECT tag FROM bot_tags WHERE id = 3001")
                .as_deref(),
            Some("0004_bot_tags")
        );
        assert_eq!(
            db.scalar("SELECT tag FROM bot_tags WHERE id = 3002")
                .as_deref(),
            Some(format!("{HEAD}+").as_str())
        );

        // A seed at a step the fixture never reaches.
        let at_5 = format!("5={at_0004}");
        let at_rev = format!("0004_bot_tags={at_0004}");
        for (args, words) in [
            (
                ["--legacy", "3", at_5.as_str()],
                [
                    "legacy step 5 is not on the way to legacy 3",
                    "legacy steps 1..=3",
                ],
            ),
            (
                ["--revision", "0003", at_rev.as_str()],
                [
                    "revision 0004_bot_tags is not on the way to revision 0003",
                    "the stamp of 0001_baseline",
                ],
            ),
            (
                ["--legacy", "25", at_rev.as_str()],
                [
                    "revision 0004_bot_tags is not on the way to legacy 25",
                    "legacy steps 1..=25",
                ],
            ),
        ] {
            let db = TestDb::new(dialect);
            let before = db.fingerprint();
            let a = [
                "fixture", args[0], args[1], "--seed", args[2], "-d", &db.url,
            ];
            let run = ferry(&a).expect(2);
            for w in words {
                assert!(run.stderr.contains(w), "{a:?}: {w:?} not in {}", run.stderr);
            }
            assert_eq!(db.fingerprint(), before);
        }
        // An AT that could mean two things, and a file that is not there.
        let run = ferry(&[
            "fixture",
            "--legacy",
            "9",
            "--seed",
            &format!("0002={at_0004}"),
            "-d",
            &TestDb::new(dialect).url,
        ])
        .expect(2);
        assert!(
            run.stderr
                .contains("0002 could be legacy step 2 or revision 0002_users_email_verified_at"),
            "{}",
            run.stderr
        );
        let run = ferry(&[
            "fixture",
            "--legacy",
            "9",
            "--seed",
            "4=/no/such.sql",
            "-d",
            &TestDb::new(dialect).url,
        ])
        .expect(2);
        assert!(
            run.stderr.contains("cannot read /no/such.sql"),
            "{}",
            run.stderr
        );
    });
}

/// A database that is not empty is refused (exit 3) and left as it was; a new SQLite file or
/// PostgreSQL schema is removed again when the build fails; bad options create nothing.
#[test]
fn refusals_and_failures_leave_nothing_behind() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "2", "-d", &db.url]).expect(0);
        let before = db.fingerprint();
        for point in [
            ["--legacy", "3"],
            ["--revision", "0002"],
            ["--release", "4"],
        ] {
            let run = ferry(&["fixture", point[0], point[1], "-d", &db.url, "--json"]).expect(3);
            let error = &run.json()["error"];
            assert_eq!(error["kind"], "refused");
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("empty database only"),
                "{error}"
            );
        }
        assert_eq!(db.fingerprint(), before);

        // A failing seed: exit 4, and what the command created is gone.
        let dup = write(
            tmp.path(),
            "dup.sql",
            "INSERT INTO users (id, username, email, password_hash, role, created_at, updated_at) \
             VALUES (1001, 'again', 'again@example.com', 'x', 'member', '2024-01-01 00:00:00', '2024-01-01 00:00:00');",
        );
        let fresh = TestDb::new(dialect);
        match dialect {
            Dialect::Sqlite => {
                let path = tmp.path().join("new.db");
                let run = ferry(&[
                    "fixture",
                    "--legacy",
                    "4",
                    "--seed",
                    &dup,
                    path.to_str().unwrap(),
                ])
                .expect(4);
                assert!(
                    run.stderr.contains("building the fixture failed"),
                    "{}",
                    run.stderr
                );
                assert!(run.stderr.contains("removed again"), "{}", run.stderr);
                assert!(!path.exists(), "the file it created is removed");
                let left: Vec<_> = std::fs::read_dir(tmp.path())
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                assert_eq!(left, ["dup.sql"], "nothing beside it either");
            }
            Dialect::Postgres => {
                let run = ferry(&[
                    "fixture", "--legacy", "4", "--seed", &dup, "-d", &fresh.url, "--schema",
                    "old_v4",
                ])
                .expect(4);
                assert!(
                    run.stderr
                        .contains("schema old_v4 was created by this command and is dropped again"),
                    "{}",
                    run.stderr
                );
                assert_eq!(
                    fresh
                        .scalar("SELECT count(*)::text FROM pg_namespace WHERE nspname = 'old_v4'")
                        .as_deref(),
                    Some("0")
                );
                // With --schema, a missing schema is created and holds the whole fixture.
                ferry(&[
                    "fixture",
                    "--release",
                    "4.1",
                    "-d",
                    &fresh.url,
                    "--schema",
                    "old_v41",
                ])
                .expect(0);
                assert_eq!(
                    fresh
                        .scalar("SELECT version_num FROM old_v41.alembic_version")
                        .as_deref(),
                    Some("0003_api_keys_last_used_index")
                );
                assert!(
                    !fresh.tables().contains(&"users".to_string()),
                    "public stays empty"
                );
                let status = ferry(&["status", "-d", &fresh.url, "--schema", "old_v41", "--json"])
                    .expect(0)
                    .json();
                assert_eq!(status["release"]["at"][0], "4.1.0");
            }
        }

        // Bad options: exit 2 before anything is created.
        let path = tmp.path().join("never.db");
        let p = path.to_str().unwrap();
        for (args, words) in [
            (
                vec!["fixture", p],
                vec!["--legacy", "--revision", "--release"],
            ),
            (
                vec!["fixture", "--legacy", "3", "--revision", "0003", p],
                vec!["cannot be used with"],
            ),
            (
                vec!["fixture", "--revision", "nosuch", p],
                vec!["unknown revision \"nosuch\""],
            ),
            (
                vec!["fixture", "--revision", "000", p],
                vec!["matches several revisions"],
            ),
            (
                vec!["fixture", "--release", "9", p],
                vec!["no release matches \"9\"", "3.0.0", "4.3.0"],
            ),
            (
                vec!["fixture", "--release", "three", p],
                vec!["not a release requirement", "3.2 means 3.2.x"],
            ),
            (
                vec!["fixture", "--legacy", "30", p],
                vec!["--legacy 30", "0..=25"],
            ),
            (
                vec!["fixture", "--legacy", "3", "--seeds", "/no/such/dir", p],
                vec!["--seeds /no/such/dir"],
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
            assert!(!path.exists(), "{args:?} created the file");
        }
    });
}
