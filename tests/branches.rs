//! Branches and merges, relative targets, and `ferry new` / `ferry merge`, on SQLite and
//! PostgreSQL, through the binary.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// The reference set with two revisions on 0006: two heads.
fn branched_set(tmp: &Path) -> String {
    let set = copy_reference_set(tmp);
    add_revision(
        &set,
        "0007_reports",
        "0006_kb_documents_status_index",
        "CREATE TABLE reports (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n",
        "DROP TABLE reports;\n",
    );
    add_revision(
        &set,
        "0007_billing",
        "0006_kb_documents_status_index",
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL);\n",
        "DROP TABLE invoices;\n",
    );
    set.to_str().unwrap().to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Two heads: `heads` lists both, `upgrade` refuses naming both and suggesting a merge (and
/// changes nothing), `upgrade heads` applies every branch with one version row per head,
/// `status`/`check` count every branch; `merge` writes the merge revision, whose upgrade
/// replaces both rows with its own, and a downgrade brings them back.
#[test]
fn two_heads_upgrade_together_and_merge_into_one() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = branched_set(tmp.path());
        let m = ["--migrations", set.as_str()];
        let f = |args: &[&str]| ferry(&[&m[..], args].concat());
        let heads = f(&["heads", "--json"]).expect(0).json();
        assert_eq!(strings(&heads["heads"]), ["0007_billing", "0007_reports"]);

        let db = TestDb::new(dialect);
        f(&["fixture", "--legacy", "20", "-d", &db.url]).expect(0);
        let before = db.fingerprint();
        let refused = f(&["upgrade", "-d", &db.url]).expect(2);
        for needle in ["0007_billing", "0007_reports", "ferry merge", "heads"] {
            assert!(
                refused.stderr.contains(needle),
                "{needle}: {}",
                refused.stderr
            );
        }
        let json = f(&["upgrade", "-d", &db.url, "--json"]).expect(2).json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["error"]["code"], 2);
        f(&["plan", "-d", &db.url]).expect(2);
        assert_eq!(
            db.fingerprint(),
            before,
            "a refused upgrade changes nothing"
        );

        // A new revision cannot pick a head.
        let new = f(&["new", "one more"]).expect(2);
        assert!(new.stderr.contains("ferry merge"), "{}", new.stderr);

        let run = f(&["upgrade", "heads", "-d", &db.url, "--json"])
            .expect(0)
            .json();
        assert_eq!(strings(&run["heads"]), ["0007_billing", "0007_reports"]);
        assert_eq!(db.versions(), ["0007_billing", "0007_reports"]);
        assert_eq!(
            db.tables()
                .iter()
                .filter(|t| *t == "reports" || *t == "invoices")
                .count(),
            2
        );
        let status = f(&["status", "-d", &db.url, "--json"]).expect(0).json();
        assert_eq!(status["pending"].as_array().unwrap().len(), 0);
        assert_eq!(
            strings(&status["current"]),
            ["0007_billing", "0007_reports"]
        );
        let text = f(&["status", "-d", &db.url]).expect(0).stdout;
        assert!(text.contains("2 heads"), "{text}");
        f(&["check", "-d", &db.url]).expect(0);
        let current = f(&["current", "-d", &db.url]).expect(0).stdout;
        assert!(
            current.contains("0007_billing (head)") && current.contains("0007_reports (head)"),
            "{current}"
        );

        // One branch down (naming the other head), then up again: the rows follow.
        f(&["downgrade", "0007_reports", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), ["0007_reports"]);
        let status = f(&["status", "-d", &db.url, "--json"]).expect(0).json();
        assert_eq!(status["pending"][0]["revision"], "0007_billing");
        f(&["check", "-d", &db.url]).expect(1);
        f(&["upgrade", "0007_b", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), ["0007_billing", "0007_reports"]);

        // The merge.
        let merged = f(&["merge", "-m", "Join reports and billing", "--json"])
            .expect(0)
            .json();
        let id = merged["revision"].as_str().unwrap().to_string();
        assert_eq!(id, "0008_join_reports_and_billing");
        assert_eq!(strings(&merged["down"]), ["0007_billing", "0007_reports"]);
        let toml = std::fs::read_to_string(
            Path::new(&set)
                .join("revisions")
                .join(&id)
                .join("revision.toml"),
        )
        .unwrap();
        assert!(
            toml.contains("down = [\"0007_billing\", \"0007_reports\"]"),
            "{toml}"
        );
        f(&["lint"]).expect(0);
        let heads = f(&["heads", "--json"]).expect(0).json();
        assert_eq!(strings(&heads["heads"]), [id.as_str()]);
        f(&["check", "-d", &db.url]).expect(1);
        let plan = f(&["plan", "-d", &db.url, "--json"]).expect(0).json();
        assert_eq!(plan["steps"].as_array().unwrap().len(), 1);
        assert_eq!(strings(&plan["heads_after"]), [id.as_str()]);
        f(&["upgrade", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), [id.as_str()], "the merge replaces both rows");
        f(&["check", "-d", &db.url]).expect(0);
        f(&["downgrade", "-1", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), ["0007_billing", "0007_reports"]);
        // `-1` from two heads is ambiguous; REV-1 names the branch.
        let e = f(&["downgrade", "-1", "-d", &db.url]).expect(2);
        assert!(e.stderr.contains("several current heads"), "{}", e.stderr);
        f(&["downgrade", "0007_billing-1", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), ["0006_kb_documents_status_index"]);
        f(&["upgrade", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), [id.as_str()]);

        // One head again: nothing to merge.
        let e = f(&["merge", "-m", "again"]).expect(2);
        assert!(e.stderr.contains("single head"), "{}", e.stderr);
    });
}

/// Unique prefixes and `REV+N` / `REV-N` work in upgrade, downgrade, stamp and plan.
#[test]
fn prefixes_and_relative_targets_in_every_command() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        let d = db.url.as_str();
        ferry(&["upgrade", "0003", "-d", d]).expect(0);
        assert_eq!(db.versions(), ["0003_api_keys_last_used_index"]);
        let plan = ferry(&["plan", "0002_users_email_verified_at+3", "-d", d, "--json"])
            .expect(0)
            .json();
        assert_eq!(strings(&plan["heads_after"]), ["0005_llm_context_length"]);
        assert_eq!(plan["steps"].as_array().unwrap().len(), 2);
        ferry(&["upgrade", "0002_users_email_verified_at+3", "-d", d]).expect(0);
        assert_eq!(db.versions(), ["0005_llm_context_length"]);
        ferry(&["downgrade", "0005_llm-2", "-d", d]).expect(0);
        assert_eq!(db.versions(), ["0003_api_keys_last_used_index"]);
        ferry(&["stamp", "0006-1", "-d", d]).expect(0);
        assert_eq!(db.versions(), ["0005_llm_context_length"]);
        ferry(&["stamp", "0003", "-d", d]).expect(0);
        ferry(&["upgrade", "head-1", "-d", d]).expect(0);
        assert_eq!(db.versions(), ["0005_llm_context_length"]);
        ferry(&["downgrade", "base+1", "-d", d]).expect(0);
        assert_eq!(db.versions(), ["0002_users_email_verified_at"]);
        let before = db.fingerprint();
        for bad in ["0004+x", "0004+", "0009+1", "000+1", "0006+1", "heads-1"] {
            let run = ferry(&["upgrade", bad, "-d", d]).expect(2);
            assert!(!run.stderr.is_empty(), "{bad}");
        }
        ferry(&["stamp", "0002-2", "-d", d]).expect(2);
        assert_eq!(db.fingerprint(), before, "bad targets change nothing");
    });
}

/// `ferry new` writes a revision on the head with the next id, a revision.toml and commented
/// SQL files; the set still lints, and a database upgrades and downgrades through it.
#[test]
fn new_scaffolds_a_revision_that_lints_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let set = copy_reference_set(tmp.path());
    let s = set.to_str().unwrap();
    let legacy_before = std::fs::read_to_string(set.join("legacy/FROZEN.toml")).unwrap();
    let made = ferry(&[
        "--migrations",
        s,
        "new",
        "Add widgets: the 2nd try!",
        "--json",
    ])
    .expect(0)
    .json();
    assert_eq!(made["revision"], "0007_add_widgets_the_2nd_try");
    assert_eq!(strings(&made["down"]), ["0006_kb_documents_status_index"]);
    assert_eq!(
        strings(&made["files"]),
        ["revision.toml", "up.sql", "down.sql"]
    );
    let dir = set.join("revisions/0007_add_widgets_the_2nd_try");
    let toml = std::fs::read_to_string(dir.join("revision.toml")).unwrap();
    assert_eq!(
        toml,
        "down = \"0006_kb_documents_status_index\"\nmessage = \"Add widgets: the 2nd try!\"\ntransaction = true\n"
    );
    let up = std::fs::read_to_string(dir.join("up.sql")).unwrap();
    assert!(
        up.starts_with("-- 0007_add_widgets_the_2nd_try: Add widgets: the 2nd try!\n"),
        "{up}"
    );
    assert!(
        up.contains("ferry:if-missing"),
        "the header shows how to guard: {up}"
    );
    // Untouched, the scaffold is refused by lint: a revision must say what it does.
    let e = ferry(&["--migrations", s, "lint"]).expect(2);
    assert!(
        e.stderr
            .contains("revisions/0007_add_widgets_the_2nd_try/up.sql: empty")
            && e.stderr.contains("-- ferry:empty"),
        "{}",
        e.stderr
    );

    // A long message is cut so the id fits varchar(32); --per-dialect writes four SQL files.
    let long = ferry(&[
        "--migrations",
        s,
        "new",
        "Index the knowledge base documents by status and owner for the dashboard",
        "--per-dialect",
        "--json",
    ])
    .expect(0)
    .json();
    let id = long["revision"].as_str().unwrap();
    assert!(
        id.starts_with("0008_index_the_knowledge") && id.len() <= 32,
        "{id}"
    );
    assert_eq!(strings(&long["down"]), ["0007_add_widgets_the_2nd_try"]);
    let mut files = strings(&long["files"]);
    files.sort();
    assert_eq!(
        files,
        [
            "down.postgres.sql",
            "down.sqlite.sql",
            "revision.toml",
            "up.postgres.sql",
            "up.sqlite.sql"
        ]
    );
    let nt = ferry(&[
        "--migrations",
        s,
        "new",
        "???",
        "--no-transaction",
        "--json",
    ])
    .expect(0)
    .json();
    assert_eq!(nt["revision"], "0009_revision");
    assert_eq!(nt["transaction"], false);
    // Once each file says it does nothing on purpose, the set lints.
    for entry in std::fs::read_dir(set.join("revisions")).unwrap() {
        let dir = entry.unwrap().path();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            if *dir.file_name().unwrap().to_string_lossy() >= *"0007"
                && file.extension().is_some_and(|e| e == "sql")
            {
                let text = std::fs::read_to_string(&file).unwrap();
                std::fs::write(&file, format!("{text}-- ferry:empty\n")).unwrap();
            }
        }
    }
    ferry(&["--migrations", s, "lint"]).expect(0);

    // Refusals: no set directory, an empty message, an existing directory.
    let e = ferry(&["new", "x"]).expect(2);
    assert!(e.stderr.contains("--migrations DIR"), "{}", e.stderr);
    let e = ferry(&["--migrations", s, "new", "  ", "--json"])
        .expect(2)
        .json();
    assert_eq!(e["error"]["code"], 2);
    std::fs::create_dir(set.join("revisions/0010_taken")).unwrap();
    let e = ferry(&["--migrations", s, "new", "taken"]).expect(2);
    assert!(e.stderr.contains("exists already"), "{}", e.stderr);
    std::fs::remove_dir(set.join("revisions/0010_taken")).unwrap();
    assert_eq!(
        std::fs::read_to_string(set.join("legacy/FROZEN.toml")).unwrap(),
        legacy_before,
        "legacy/ is never written"
    );

    // The scaffolded (comment-only) revisions run on both dialects, up and down.
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["--migrations", s, "upgrade", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), ["0009_revision"]);
        ferry(&["--migrations", s, "downgrade", "0006", "-d", &db.url]).expect(0);
        assert_eq!(db.versions(), ["0006_kb_documents_status_index"]);
    });
}
