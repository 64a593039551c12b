//! Unversioned databases: `status` identifies the legacy version whose schema they have
//! (computed by replaying the set in a scratch database), and `upgrade --assume-legacy N`
//! takes them on once the schema is checked, or refuses.

mod common;

use common::*;
use ferry::core::graph::Graph;
use ferry::core::set::Dialect;
use serde_json::{Value, json};

/// A database as legacy `n` left it (seeded), whose marker table was then dropped.
fn unversioned(dialect: Dialect, n: u32) -> TestDb {
    let db = TestDb::new(dialect);
    ferry(&[
        "fixture",
        "--legacy",
        &n.to_string(),
        "--seeds",
        "tests/seeds",
        "-d",
        &db.url,
    ])
    .expect(0);
    db.exec("DROP TABLE metadata");
    db
}

fn history(db: &TestDb, kind: &str) -> Vec<(Option<String>, Option<String>)> {
    db.query(&format!(
        "SELECT CAST(legacy_version AS TEXT), note FROM ferry_history WHERE kind = '{kind}' ORDER BY id"
    ))
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone()))
    .collect()
}

fn backups(db: &TestDb) -> usize {
    let Some(path) = &db.path else { return 0 };
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("ferry-backup")
        })
        .count()
}

/// An exact match names its version in `status` (text and JSON), in `verify`, and in the
/// refusal of a plain `upgrade`, which writes nothing.
#[test]
fn status_identifies_an_exact_match() {
    on_both(|dialect| {
        let db = unversioned(dialect, 7);
        let before = db.fingerprint();
        let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        assert_eq!(status["state"], "unversioned");
        let id = &status["identified"];
        assert_eq!(id["versions"], json!([7]));
        assert_eq!(id["match"], "exact");
        assert_eq!(id["exact"], true);
        assert_eq!(id["differences"], json!([]));
        // Legacy 6 lacks the two triggers of step 7 (and on PostgreSQL their function).
        let step7 = if dialect == Dialect::Sqlite { 2 } else { 3 };
        assert_eq!(
            id["runners_up"][0],
            json!({"versions": [6], "differences": step7})
        );
        let refusal = status["refusal"].as_str().unwrap();
        assert!(
            refusal.contains("`ferry upgrade --assume-legacy 7`"),
            "{refusal}"
        );

        let text = ferry(&["status", "-d", &db.url]).expect(0).stdout;
        assert!(text.contains("identified: legacy 7, exact match"), "{text}");
        assert!(text.contains("--assume-legacy 7"), "{text}");

        let run = ferry(&["upgrade", "-d", &db.url]).expect(3);
        assert!(
            run.stderr.contains("exactly legacy 7's") && run.stderr.contains("--assume-legacy 7"),
            "{}",
            run.stderr
        );
        let verify = ferry(&["verify", "--json", "-d", &db.url]).expect(3).json();
        assert_eq!(verify["identified"]["versions"], json!([7]));
        assert_eq!(db.fingerprint(), before, "nothing is written");
        assert_eq!(backups(&db), 0);
    });
}

/// Legacy 13 only reshapes data: a database at 12 or at 13 matches both, and ferry says so
/// instead of picking one.
#[test]
fn versions_with_the_identical_schema_are_all_named() {
    on_both(|dialect| {
        for n in [12, 13] {
            let db = unversioned(dialect, n);
            let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
            assert_eq!(
                status["identified"]["versions"],
                json!([12, 13]),
                "legacy {n}"
            );
            assert_eq!(status["identified"]["exact"], true);
            let refusal = status["refusal"].as_str().unwrap();
            assert!(
                refusal.contains("legacy 12 and 13") && refusal.contains("change only data"),
                "{refusal}"
            );
            let text = ferry(&["status", "-d", &db.url]).expect(0).stdout;
            assert!(
                text.contains("identified: legacy 12 and 13, exact match (the identical schema"),
                "{text}"
            );
        }
    });
}

/// Without an exact match the nearest version is named with the differences.
#[test]
fn status_names_the_nearest_version_and_its_differences() {
    on_both(|dialect| {
        let db = unversioned(dialect, 9);
        db.exec("DROP INDEX idx_kb_documents_knowledge_base_id");
        let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        let id = &status["identified"];
        assert_eq!(id["versions"], json!([9]));
        assert_eq!(id["match"], "nearest");
        assert_eq!(id["exact"], false);
        let differences = id["differences"].as_array().unwrap();
        assert_eq!(differences.len(), 1, "{differences:#?}");
        assert_eq!(
            differences[0]["object"],
            "index idx_kb_documents_knowledge_base_id"
        );
        assert_eq!(differences[0]["change"], "missing");
        let refusal = status["refusal"].as_str().unwrap();
        assert!(
            refusal.contains("nearest is legacy 9 with 1 difference(s)")
                && refusal.contains("--assume-legacy 9 --force"),
            "{refusal}"
        );
        let text = ferry(&["status", "-d", &db.url]).expect(0).stdout;
        assert!(
            text.contains("no exact match; nearest legacy 9 with 1 difference(s)")
                && text.contains("index idx_kb_documents_knowledge_base_id is missing"),
            "{text}"
        );
    });
}

/// `--assume-legacy N` on a matching database: the marker and a history row, then the bridge
/// to head in the same run; the result equals a fresh install and keeps every row, exactly as
/// the same database with its marker would have upgraded.
#[test]
fn assume_legacy_bridges_a_matching_database() {
    let set = reference_set();
    let graph = Graph::new(&set).unwrap();
    let head = graph.id(graph.heads()[0]).to_string();
    on_both(|dialect| {
        let db = unversioned(dialect, 7);
        let twin = TestDb::new(dialect);
        seeded_fixture(&twin.url, 7);
        ferry(&["upgrade", "-d", &twin.url]).expect(0);

        let run = ferry(&["upgrade", "--assume-legacy", "7", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(run["assumed"]["version"], 7);
        assert_eq!(run["assumed"]["forced"], false);
        assert_eq!(run["before"]["state"], "legacy");
        assert_eq!(run["steps"][0]["number"], 8, "the bridge goes on from 8");
        assert_eq!(run["heads"], json!([head]));
        assert_eq!(db.versions(), vec![head.clone()]);
        assert_eq!(db.marker().as_deref(), Some("25"));
        assert_same_schema(
            &fresh_schema(dialect, &set),
            &db.snapshot(&set),
            "assumed 7 → head",
        );
        assert_eq!(
            db.row_counts(),
            twin.row_counts(),
            "every row kept, as a normal bridge"
        );
        let rows = history(&db, "assume-legacy");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.as_deref(), Some("7"));
        assert!(
            rows[0]
                .1
                .as_deref()
                .unwrap_or("")
                .contains("matched legacy 7's exactly"),
            "{rows:?}"
        );
        if dialect == Dialect::Sqlite {
            // The verified backup came before the marker was written: it is the unversioned file.
            let backup = run["backup"]["path"]
                .as_str()
                .expect("a backup")
                .to_string();
            let status = ferry(&["status", "--json", "-d", &backup]).expect(0).json();
            assert_eq!(status["state"], "unversioned");
        }
        ferry(&["verify", "-d", &db.url]).expect(0);

        // Text output says what was assumed.
        let db = unversioned(dialect, 7);
        let run = ferry(&[
            "upgrade",
            "--assume-legacy",
            "7",
            "--no-backup",
            "-d",
            &db.url,
        ])
        .expect(0);
        assert!(
            run.stdout
                .contains("assumed:  legacy 7 (the schema matched exactly"),
            "{}",
            run.stdout
        );
    });
}

/// A schema that differs from legacy N's is refused (exit 3, the differences, `--force`
/// named, nothing written); `--force` proceeds and records the differences.
#[test]
fn assume_legacy_refuses_a_different_schema_unless_forced() {
    on_both(|dialect| {
        let db = unversioned(dialect, 9);
        db.exec("DROP INDEX idx_kb_documents_knowledge_base_id");
        let before = db.fingerprint();
        let run = ferry(&["upgrade", "--assume-legacy", "9", "-d", &db.url]).expect(3);
        for w in [
            "differs from legacy 9's in 1 place(s)",
            "index idx_kb_documents_knowledge_base_id is missing",
            "Nothing was changed",
            "--force",
        ] {
            assert!(run.stderr.contains(w), "{w:?} not in {}", run.stderr);
        }
        let json = ferry(&["upgrade", "--assume-legacy", "8", "--json", "-d", &db.url])
            .expect(3)
            .json();
        assert_eq!(json["error"]["kind"], "refused");
        assert_eq!(db.fingerprint(), before, "a refusal writes nothing");
        assert_eq!(backups(&db), 0, "nor takes a backup");

        let run = ferry(&[
            "upgrade",
            "--assume-legacy",
            "9",
            "--force",
            "--json",
            "-d",
            &db.url,
        ])
        .expect(0)
        .json();
        assert_eq!(run["assumed"]["forced"], true);
        assert_eq!(
            run["assumed"]["differences"][0]["object"],
            "index idx_kb_documents_knowledge_base_id"
        );
        let rows = history(&db, "assume-legacy");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.as_deref(), Some("9"));
        let note = rows[0].1.clone().unwrap_or_default();
        assert!(
            note.contains("--force")
                && note.contains("1 place(s)")
                && note.contains("idx_kb_documents_knowledge_base_id"),
            "{note}"
        );
        // The difference was carried to head, and verify names it.
        let json = ferry(&["verify", "--json", "-d", &db.url]).expect(1).json();
        assert_eq!(
            json["differences"],
            json!([{"object": "index idx_kb_documents_knowledge_base_id", "change": "missing",
                    "expected": json["differences"][0]["expected"], "actual": Value::Null}])
        );
    });
}

/// Bad `--assume-legacy` input exits 2 and touches nothing: versions out of 1..=cap, text,
/// `--force` alone, and any state but unversioned.
#[test]
fn assume_legacy_bad_input_exits_2() {
    on_both(|dialect| {
        let db = unversioned(dialect, 7);
        let before = db.fingerprint();
        let cases: [(&[&str], &str); 5] = [
            (&["--assume-legacy", "0"], "a legacy version is 1..=25"),
            (&["--assume-legacy", "26"], "a legacy version is 1..=25"),
            (&["--assume-legacy", "seven"], "invalid value 'seven'"),
            (&["--assume-legacy=-3"], "invalid value '-3'"),
            (
                &["--force"],
                "--force goes with --assume-legacy N or --assume-revision REV",
            ),
        ];
        for (args, words) in cases {
            let mut a = vec!["upgrade", "-d", &db.url];
            a.extend(args);
            let run = ferry(&a).expect(2);
            assert!(run.stderr.contains(words), "{a:?}: {}", run.stderr);
            a.push("--json");
            let json = ferry(&a).expect(2).json();
            assert_eq!(json["error"]["code"], 2, "{a:?}");
        }
        assert_eq!(db.fingerprint(), before);

        // A legacy database (its marker intact) and a managed one know their version.
        let legacy = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "7", "-d", &legacy.url]).expect(0);
        let managed = TestDb::new(dialect);
        ferry(&["upgrade", "-d", &managed.url]).expect(0);
        for (db, state) in [(&legacy, "legacy 7"), (&managed, "revision 0006")] {
            let before = db.fingerprint();
            let run = ferry(&["upgrade", "--assume-legacy", "7", "-d", &db.url]).expect(2);
            assert!(
                run.stderr.contains("for an unversioned database") && run.stderr.contains(state),
                "{}",
                run.stderr
            );
            assert_eq!(db.fingerprint(), before);
        }

        // An empty database, and a SQLite file that does not exist (never created).
        let empty = TestDb::new(dialect);
        let before = empty.fingerprint();
        let run = ferry(&["upgrade", "--assume-legacy", "7", "-d", &empty.url]).expect(2);
        assert!(run.stderr.contains("unversioned"), "{}", run.stderr);
        assert_eq!(empty.fingerprint(), before);
        if let Some(p) = &empty.path {
            assert!(!p.exists(), "the SQLite file was created");
        }
    });
}

/// A database an application created at revision `rev` (a fresh install taken there), whose
/// version table, audit trail and marker row were then lost (a restore without them).
fn unstamped_at(dialect: Dialect, rev: &str) -> TestDb {
    let db = TestDb::new(dialect);
    ferry(&["upgrade", rev, "-d", &db.url]).expect(0);
    db.exec("DROP TABLE alembic_version");
    db.exec("DROP TABLE ferry_history");
    db.exec("DELETE FROM metadata");
    db
}

#[test]
fn a_database_at_a_revision_without_its_stamp_is_identified_and_taken_on_with_assume_revision() {
    on_both(|dialect| {
        let db = unstamped_at(dialect, "0004_bot_tags");
        let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        assert_eq!(status["state"], "unversioned", "{status}");
        let identified = &status["identified"];
        assert_eq!(identified["exact"], true, "{identified}");
        assert_eq!(
            identified["revisions"],
            json!(["0004_bot_tags"]),
            "{identified}"
        );
        assert_eq!(identified["versions"], json!([]), "{identified}");
        let text = ferry(&["status", "-d", &db.url]).expect(0).stdout;
        assert!(
            text.contains("identified: revision 0004_bot_tags, exact match"),
            "{text}"
        );
        let refused = ferry(&["upgrade", "-d", &db.url]).expect(3);
        assert!(
            refused
                .stderr
                .contains("`ferry upgrade --assume-revision 0004_bot_tags`"),
            "{}",
            refused.stderr
        );

        // The wrong revision is refused with its differences, and nothing is written.
        let before = db.fingerprint();
        let run = ferry(&[
            "upgrade",
            "--assume-revision",
            "0006_kb_documents_status_index",
            "-d",
            &db.url,
        ])
        .expect(3);
        assert!(
            run.stderr
                .contains("differs from revision 0006_kb_documents_status_index's"),
            "{}",
            run.stderr
        );
        assert_eq!(db.fingerprint(), before);

        // The right one: checked under the lock, stamped, recorded, upgraded to head.
        let done = ferry(&[
            "upgrade",
            "--json",
            "--assume-revision",
            "0004_bot_tags",
            "-d",
            &db.url,
        ])
        .expect(0)
        .json();
        assert_eq!(done["assumed"]["revision"], "0004_bot_tags", "{done}");
        assert_eq!(
            db.versions(),
            vec!["0006_kb_documents_status_index".to_string()]
        );
        let rows = db.query(
            "SELECT revision, note FROM ferry_history WHERE kind = 'assume-revision' ORDER BY id",
        );
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0][0].as_deref(), Some("0004_bot_tags"));
        ferry(&["verify", "-d", &db.url]).expect(0);

        // --assume-revision on a database that is not unversioned is a usage error.
        ferry(&[
            "upgrade",
            "--assume-revision",
            "0004_bot_tags",
            "-d",
            &db.url,
        ])
        .expect(2);
        ferry(&["upgrade", "--assume-revision", "no_such_rev", "-d", &db.url]).expect(2);
    });
}
