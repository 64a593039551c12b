//! `upgrade --sql`, `plan --sql` and `plan --from`: the SQL a run executes, rendered without
//! writing anything — from a database, or with no database at all — and runnable as it is.

mod common;

use common::*;
use ferry::core::set::Dialect;
use serde_json::Value;

fn history(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.query(
        "SELECT kind, CAST(legacy_version AS TEXT), revision, checksum, CAST(success AS TEXT) FROM ferry_history ORDER BY id",
    )
}

fn batches(rendering: &Value) -> Vec<String> {
    let mut all: Vec<String> = rendering["run_start"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    for step in rendering["steps"].as_array().unwrap() {
        for b in step["batches"].as_array().unwrap() {
            all.push(b.as_str().unwrap().to_string());
        }
    }
    all
}

/// The offline script for a legacy-N database, fed into a real database at legacy N (SQLite:
/// the text script through rusqlite's `execute_batch`; PostgreSQL: each batch ferry would send,
/// as one simple query), builds what `ferry upgrade` builds: the same schema, rows, version
/// table, marker and audit trail (kinds, steps, checksums). Afterwards ferry sees the database
/// at head with nothing edited.
///
/// N = 7: every legacy N ≤ cap works, because the only guarded block (0005's
/// `if-missing column llm_models.context_length`) holds below the superseded legacy 26, so the
/// script, which cannot evaluate it, runs it as ferry would.
#[test]
fn the_offline_script_from_legacy_n_builds_what_upgrade_builds() {
    let set = reference_set();
    on_both(|dialect| {
        let fixture = |db: &TestDb| {
            seeded_fixture(&db.url, 7);
        };
        let upgraded = TestDb::new(dialect);
        fixture(&upgraded);
        ferry(&["upgrade", "-d", &upgraded.url]).expect(0);

        let scripted = TestDb::new(dialect);
        fixture(&scripted);
        let rendering = ferry(&[
            "upgrade",
            "--sql",
            "--from",
            "legacy:7",
            "--dialect",
            dialect.name(),
            "--json",
        ])
        .expect(0)
        .json();
        assert_eq!(rendering["dialect"], dialect.name());
        assert_eq!(rendering["steps"].as_array().unwrap().len(), 24);
        let script = rendering["script"].as_str().unwrap();
        // The text script holds every batch, in order.
        let mut at = 0;
        for b in batches(&rendering) {
            let found = script[at..]
                .find(b.as_str())
                .unwrap_or_else(|| panic!("batch not in the script (in order): {b}"));
            at += found + b.len();
        }
        // The text script, as printed without --json, is the same.
        let text = ferry(&[
            "upgrade",
            "--sql",
            "--from",
            "legacy:7",
            "--dialect",
            dialect.name(),
        ])
        .expect(0)
        .stdout;
        assert_eq!(strip_times(&text), strip_times(script.trim_end()));
        match dialect {
            Dialect::Sqlite => {
                let conn = rusqlite::Connection::open(scripted.path.as_ref().unwrap()).unwrap();
                conn.execute_batch(script).unwrap();
            }
            Dialect::Postgres => {
                let mut client = ferry::driver::postgres::connect_client(&scripted.url).unwrap();
                for b in batches(&rendering) {
                    client
                        .batch_execute(&b)
                        .unwrap_or_else(|e| panic!("{b}: {e:?}"));
                }
            }
        }
        assert_same_schema(
            &upgraded.snapshot(&set),
            &scripted.snapshot(&set),
            &format!("{}: script vs upgrade", dialect.name()),
        );
        assert_eq!(scripted.row_counts(), upgraded.row_counts());
        assert_eq!(scripted.versions(), upgraded.versions());
        assert_eq!(scripted.marker(), upgraded.marker());
        assert_eq!(history(&scripted), history(&upgraded));
        ferry(&["check", "-d", &scripted.url]).expect(0);
        let status = ferry(&["status", "-d", &scripted.url, "--json"])
            .expect(0)
            .json();
        assert_eq!(status["edited"].as_array().unwrap().len(), 0);
    });
}

/// The rendering's time appears in its header and history rows; two runs differ only there.
fn strip_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let is_time = |i: usize| {
        bytes.len() >= i + 24
            && bytes[i..i + 4].iter().all(u8::is_ascii_digit)
            && bytes[i + 4] == b'-'
            && bytes[i + 10] == b'T'
            && bytes[i + 23] == b'Z'
    };
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        if is_time(i) {
            out.push_str("TIME");
            i += 24;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out.trim_end().to_string()
}

/// With a database, `plan --sql` and `upgrade --sql` read it and write nothing; the guarded
/// block is printed with its directives and a note (here: ferry would skip it, as the column
/// exists at legacy 26); the non-transactional revision sits outside BEGIN/COMMIT; SQLite's
/// pragma and foreign-key check are shown. `plan` alone still prints the numbered steps.
#[test]
fn sql_from_a_database_writes_nothing_and_shows_every_statement() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "26", "-d", &db.url]).expect(0);
        let before = db.fingerprint();
        let text = ferry(&["upgrade", "--sql", "-d", &db.url]).expect(0).stdout;
        let plan_sql = ferry(&["plan", "--sql", "-d", &db.url]).expect(0).stdout;
        assert_eq!(strip_times(&text), strip_times(&plan_sql));
        assert!(text.contains("-- ferry:if-missing column llm_models.context_length\nALTER TABLE llm_models ADD COLUMN context_length INTEGER;\n-- ferry:end"), "{text}");
        assert!(text.contains("NOTE: guarded block"), "{text}");
        assert!(text.contains("would be SKIPPED by ferry"), "{text}");
        let begin = match dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE;",
            Dialect::Postgres => "BEGIN;",
        };
        // The concurrent index of 0006 comes after the previous COMMIT and before its BEGIN.
        let index = text
            .find("CREATE INDEX CONCURRENTLY IF NOT EXISTS")
            .or_else(|| text.find("CREATE INDEX IF NOT EXISTS idx_kb_documents_kb_status"))
            .expect("0006's index");
        let last_commit = text[..index].rfind("COMMIT;").unwrap();
        let next_begin = text[index..].find(begin).unwrap() + index;
        assert!(
            !text[last_commit..index].contains(begin),
            "0006 runs outside a transaction"
        );
        assert!(text[next_begin..].contains("VALUES ('0006_kb_documents_status_index')"));
        // ferry's tables are named with the schema the run started in, and the session a
        // script may change is put back after it, before the bookkeeping.
        let (schema, restore) = match dialect {
            Dialect::Sqlite => ("main", "PRAGMA query_only = OFF;"),
            Dialect::Postgres => (
                "public",
                "RESET ALL;\nSET search_path TO \"$user\", public;",
            ),
        };
        assert!(text.contains(&format!(
            "DELETE FROM \"{schema}\".\"alembic_version\" WHERE version_num = '0005_llm_context_length'"
        )), "{text}");
        assert!(text.contains(&format!("INSERT INTO \"{schema}\".\"ferry_history\"")));
        assert!(text.contains(restore), "{text}");
        if dialect == Dialect::Sqlite {
            assert!(text.contains("PRAGMA foreign_keys = OFF;"));
            assert!(text.contains("PRAGMA foreign_key_check;\nCOMMIT;"));
        }
        let json = ferry(&["upgrade", "--sql", "-d", &db.url, "--json"])
            .expect(0)
            .json();
        let steps = json["steps"].as_array().unwrap();
        let ctx = steps
            .iter()
            .find(|s| s["revision"] == "0005_llm_context_length")
            .unwrap();
        assert_eq!(
            ctx["guards"][0]["condition"],
            "if-missing column llm_models.context_length"
        );
        assert_eq!(ctx["guards"][0]["runs_now"], false);
        let idx = steps.last().unwrap();
        assert_eq!(idx["transaction"], false);
        assert_ne!(idx["batches"][0], begin.trim_end_matches(';'));
        let plan = ferry(&["plan", "-d", &db.url]).expect(0).stdout;
        assert!(plan.starts_with("  1. stamp 0001_baseline\n"), "{plan}");
        assert_eq!(db.fingerprint(), before, "nothing was written");
    });
    // A missing SQLite file is not created.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let url = format!("sqlite:{}", missing.display());
    let text = ferry(&["upgrade", "--sql", "-d", &url]).expect(0).stdout;
    assert!(
        text.contains("step 1/6: fresh install at 0001_baseline"),
        "{text}"
    );
    ferry(&["plan", "--sql", "-d", &url]).expect(0);
    assert!(!missing.exists());
}

/// Without a database: the dialect comes from --dialect or the (unopened) URL's scheme, and
/// an unusable position or a missing dialect is a clear exit-2 error, in JSON too.
#[test]
fn offline_rendering_needs_a_dialect_and_a_valid_position() {
    let e = ferry(&["upgrade", "--sql", "--from", "legacy:7"]).expect(2);
    assert!(e.stderr.contains("--dialect sqlite"), "{}", e.stderr);
    let e = ferry(&["upgrade", "--sql", "--from", "legacy:7", "--json"])
        .expect(2)
        .json();
    assert_eq!(e["ok"], false);
    assert_eq!(e["error"]["code"], 2);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--dialect")
    );

    let dir = tempfile::tempdir().unwrap();
    let never = dir.path().join("never.db");
    let url = format!("sqlite:{}", never.display());
    let out = ferry(&["upgrade", "--sql", "--from", "legacy:7", "-d", &url])
        .expect(0)
        .stdout;
    assert!(
        out.contains("(sqlite)") && out.contains("BEGIN IMMEDIATE;"),
        "{out}"
    );
    assert!(!never.exists(), "--from never opens the database");
    let e = ferry(&[
        "upgrade",
        "--sql",
        "--from",
        "legacy:7",
        "-d",
        &url,
        "--dialect",
        "postgres",
    ])
    .expect(2);
    assert!(e.stderr.contains("contradicts"), "{}", e.stderr);

    for (from, needle) in [
        ("legacy:99", "above the cap"),
        ("legacy:x", "not a legacy version"),
        ("nope", "unknown revision"),
        ("0003,0002", "descends from"),
        ("000", "matches several"),
    ] {
        let e = ferry(&["plan", "--from", from, "--dialect", "sqlite"]).expect(2);
        assert!(e.stderr.contains(needle), "{from}: {}", e.stderr);
    }
    // --from belongs to --sql on upgrade (an upgrade needs a database).
    ferry(&["upgrade", "--from", "legacy:7", "--dialect", "sqlite"]).expect(2);
    ferry(&["upgrade", "--sql", "--rehearse", "-d", &url]).expect(2);

    let plan = ferry(&[
        "plan",
        "--from",
        "legacy:7",
        "--dialect",
        "postgres",
        "--json",
    ])
    .expect(0)
    .json();
    assert_eq!(plan["steps"].as_array().unwrap().len(), 24);
    assert_eq!(plan["dialect"], "postgres");
    assert_eq!(plan["from"], "legacy 7");
    let plan = ferry(&["plan", "--from", "legacy:26", "--dialect", "sqlite"])
        .expect(0)
        .stdout;
    assert!(plan.starts_with("  1. stamp 0001_baseline\n"), "{plan}");
    let plan = ferry(&["plan", "--from", "0004", "--dialect", "sqlite", "--json"])
        .expect(0)
        .json();
    assert_eq!(plan["steps"].as_array().unwrap().len(), 2);
    let fresh = ferry(&["plan", "--sql", "--from", "empty", "--dialect", "postgres"])
        .expect(0)
        .stdout;
    assert!(
        fresh.contains("-- baseline/postgres.sql\nBEGIN;\n"),
        "{fresh}"
    );
    assert!(
        !fresh.contains("PRAGMA"),
        "no SQLite statements on PostgreSQL"
    );
    let head = ferry(&["upgrade", "--sql", "--from", "head", "--dialect", "sqlite"])
        .expect(0)
        .stdout;
    assert!(head.contains("Nothing to do"), "{head}");
}

/// `upgrade --sql` refuses edited applied revisions as `upgrade` does; with `--accept-edited`
/// the script records the acceptance first (and SQL then runs for the rest).
#[test]
fn upgrade_sql_refuses_edited_revisions_unless_accepted() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set_dir = copy_reference_set(tmp.path());
        let set = set_dir.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "0003", "-d", &db.url, "--migrations", set]).expect(0);
        let up = set_dir.join("revisions/0002_users_email_verified_at/up.sql");
        let text = std::fs::read_to_string(&up).unwrap();
        std::fs::write(&up, format!("-- reworded\n{text}")).unwrap();
        let before = db.fingerprint();
        let e = ferry(&["upgrade", "--sql", "-d", &db.url, "--migrations", set]).expect(2);
        assert!(e.stderr.contains("--accept-edited"), "{}", e.stderr);
        let json = ferry(&[
            "upgrade",
            "--sql",
            "-d",
            &db.url,
            "--migrations",
            set,
            "--accept-edited",
            "0002_users_email_verified_at",
            "--json",
        ])
        .expect(0)
        .json();
        assert_eq!(
            json["accepted"][0]["revision"],
            "0002_users_email_verified_at"
        );
        let script = json["script"].as_str().unwrap();
        let accepted = script.find("'accept-edited'").expect("the acceptance row");
        let first_step = script.find("step 1/3: upgrade 0004_bot_tags").unwrap();
        assert!(accepted < first_step);
        // plan --sql, like plan, only shows the steps.
        ferry(&["plan", "--sql", "-d", &db.url, "--migrations", set]).expect(0);
        assert_eq!(db.fingerprint(), before);
    });
}
