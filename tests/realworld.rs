//! A realistic legacy chain (`tests/sets/chatops`): a full-schema snapshot as the floor (72),
//! gaps (75 and 78 were abandoned), a marker table with NOT NULL columns of its own, a step that
//! drops a table with rows (76), a step that prunes rows on purpose (77, declared in
//! `[test] may_lose_rows`), SQL split per dialect (74). Every position upgrades to exactly a fresh
//! install on both dialects; what the set cannot bridge is refused unchanged; an undeclared loss
//! of rows fails; and a baseline written by pg_dump installs and passes upgrade-test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ferry::core::set::Dialect;
use serde_json::Value;

fn chatops() -> PathBuf {
    repo().join("tests").join("sets").join("chatops")
}

/// A copy of the set to change (its seeds come along).
fn copy_of_chatops(dst: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let root = dst.join("chatops");
    copy(&chatops(), &root);
    root
}

/// `ferry upgrade-test` on the set for `dialect` (PostgreSQL: with `-d`), its JSON.
fn upgrade_test(set: &Path, dialect: Dialect, code: i32) -> Value {
    let db = TestDb::new(dialect);
    let set = set.to_str().unwrap();
    let mut args = vec!["upgrade-test", "--json", "--migrations", set];
    if dialect == Dialect::Postgres {
        args.extend(["-d", db.url.as_str()]);
    }
    ferry(&args).expect(code).json()
}

fn cases_of(json: &Value, dialect: Dialect) -> Vec<Value> {
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["dialect"] == dialect.name())
        .cloned()
        .collect()
}

#[test]
fn every_position_of_a_real_world_chain_upgrades_to_a_fresh_install() {
    on_both(|dialect| {
        let json = upgrade_test(&chatops(), dialect, 0);
        let cases = cases_of(&json, dialect);
        let paths: Vec<&str> = cases.iter().map(|c| c["path"].as_str().unwrap()).collect();
        for expected in [
            "legacy 72 (5.0.0) → head",
            "legacy 75 (inside a gap of the chain) → head",
            "legacy 79 → head",
            "round trip head → 0001_baseline → head",
        ] {
            assert!(paths.contains(&expected), "{paths:?}");
        }
        let notes: Vec<String> = cases
            .iter()
            .flat_map(|c| c["notes"].as_array().cloned().unwrap_or_default())
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("table legacy_events (2 rows) was dropped by legacy 076")),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("table sessions lost rows as [test] may_lose_rows allows")),
            "{notes:?}"
        );
    });
}

#[test]
fn what_the_chain_cannot_bridge_is_refused_unchanged() {
    on_both(|dialect| {
        let set = chatops();
        let set = set.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&[
            "fixture",
            "--legacy",
            "72",
            "--migrations",
            set,
            "-d",
            &db.url,
        ])
        .expect(0);
        for (marker, says) in [(50, "72"), (90, "90")] {
            db.exec(&format!("UPDATE schema_version SET version = {marker}"));
            let before = db.fingerprint();
            let run = ferry(&["upgrade", "--migrations", set, "-d", &db.url]).expect(3);
            assert!(run.stderr.contains(says), "marker {marker}: {}", run.stderr);
            assert_eq!(db.fingerprint(), before, "marker {marker}");
        }
        // The marker's own columns are left as the application wrote them; ferry updates
        // only `version`.
        db.exec("UPDATE schema_version SET version = 72, upgraded = TRUE");
        ferry(&["upgrade", "--migrations", set, "-d", &db.url]).expect(0);
        let row = db.query(
            "SELECT CAST(version AS TEXT), CASE WHEN upgraded THEN 'yes' ELSE 'no' END FROM schema_version",
        );
        assert_eq!(row, vec![vec![Some("79".into()), Some("yes".into())]]);
        ferry(&["verify", "--migrations", set, "-d", &db.url]).expect(0);
    });
}

#[test]
fn an_undeclared_loss_of_rows_fails_upgrade_test() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_of_chatops(tmp.path());
        let step = set.join("legacy/079_rooms_topic/up.sql");
        let mut sql = std::fs::read_to_string(&step).unwrap();
        sql.push_str("DELETE FROM messages WHERE id = 3;\n");
        std::fs::write(&step, sql).unwrap();
        std::fs::remove_file(set.join("legacy/FROZEN.toml")).unwrap();
        ferry(&["lint", "--freeze", "--migrations", set.to_str().unwrap()]).expect(0);
        let json = upgrade_test(&set, dialect, 1);
        let failed: Vec<String> = cases_of(&json, dialect)
            .iter()
            .filter(|c| c["ok"] == false)
            .map(|c| c["problems"][0].as_str().unwrap().to_string())
            .collect();
        assert!(!failed.is_empty());
        for problem in &failed {
            assert!(
                problem.starts_with("table messages lost rows")
                    && problem.contains("may_lose_rows"),
                "{problem}"
            );
        }
    });
}

/// PostgreSQL: the baseline an operator makes with pg_dump from a database at the cap
/// (schema, the marker row as COPY data, `set_config('search_path', '', false)`, `\restrict`)
/// installs, and the whole matrix passes with it.
#[test]
fn a_baseline_written_by_pg_dump_passes_upgrade_test() {
    let tmp = tempfile::tempdir().unwrap();
    let set = copy_of_chatops(tmp.path());
    let at_cap = TestDb::new(Dialect::Postgres);
    ferry(&[
        "fixture",
        "--legacy",
        "79",
        "--migrations",
        set.to_str().unwrap(),
        "-d",
        &at_cap.url,
    ])
    .expect(0);
    let out = Command::new(pg::program("pg_dump"))
        .args([
            "--no-owner",
            "--no-privileges",
            "--exclude-table=ferry_history",
            "-d",
            &at_cap.url,
        ])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8(out.stdout).unwrap();
    assert!(dump.contains("COPY public.schema_version"), "{dump}");
    std::fs::write(set.join("baseline/postgres.sql"), &dump).unwrap();
    ferry(&["lint", "--migrations", set.to_str().unwrap()]).expect(0);
    upgrade_test(&set, Dialect::Postgres, 0);
    let fresh = TestDb::new(Dialect::Postgres);
    ferry(&[
        "upgrade",
        "--migrations",
        set.to_str().unwrap(),
        "-d",
        &fresh.url,
    ])
    .expect(0);
    ferry(&[
        "verify",
        "--migrations",
        set.to_str().unwrap(),
        "-d",
        &fresh.url,
    ])
    .expect(0);
}
