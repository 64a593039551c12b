//! Releases: `status` names the release a database's schema belongs to (or the ones around it),
//! `upgrade --to-release` goes to the newest matching release's revision, and what cannot be
//! done is a clear exit 2 with the database unchanged. Each scenario on SQLite and PostgreSQL.

mod common;

use common::*;

#[test]
fn status_names_the_release_of_every_release_fixture() {
    let set = reference_set();
    assert_eq!(set.config.releases.len(), 17);
    on_both(|dialect| {
        for release in &set.config.releases {
            let db = TestDb::new(dialect);
            let v = release.version.as_str();
            ferry(&["fixture", "--release", &format!("={v}"), "-d", &db.url]).expect(0);
            let status = ferry(&["status", "-d", &db.url, "--json"]).expect(0).json();
            assert_eq!(
                status["release"]["at"],
                serde_json::json!([v]),
                "{v}: {status}"
            );
            let text = ferry(&["status", "-d", &db.url]).expect(0).stdout;
            assert!(text.contains(&format!("release:   {v}\n")), "{v}: {text}");
        }

        // Between releases, and before the first.
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "6", "-d", &db.url]).expect(0);
        let status = ferry(&["status", "-d", &db.url, "--json"]).expect(0).json();
        assert_eq!(status["release"]["at"], serde_json::json!([]));
        assert_eq!(status["release"]["before"], serde_json::json!(["3.2.0"]));
        assert_eq!(status["release"]["after"], serde_json::json!(["3.3.0"]));
        let text = ferry(&["status", "-d", &db.url]).expect(0).stdout;
        assert!(
            text.contains("release:   none (between 3.2.0 and 3.3.0)"),
            "{text}"
        );
        ferry(&["upgrade", "0004", "-d", &db.url, "--no-backup"]).expect(0);
        let text = ferry(&["status", "-d", &db.url]).expect(0).stdout;
        assert!(
            text.contains("release:   none (between 4.1.0 and 4.2.0)"),
            "{text}"
        );
        let empty = TestDb::new(dialect);
        let text = ferry(&["status", "-d", &empty.url]).expect(0).stdout;
        assert!(text.contains("release:   none (before 3.0.0)"), "{text}");
        // A state without a position names no release.
        let other = TestDb::new(dialect);
        other.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY);");
        let status = ferry(&["status", "-d", &other.url, "--json"])
            .expect(0)
            .json();
        assert!(status["release"].is_null(), "{status}");
    });
}

#[test]
fn upgrade_to_release_goes_to_the_newest_matching_revision() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "5", "-d", &db.url]).expect(0);
        let out = ferry(&[
            "upgrade",
            "--to-release",
            "4.1",
            "-d",
            &db.url,
            "--no-backup",
            "--json",
        ])
        .expect(0)
        .json();
        assert_eq!(
            out["heads"],
            serde_json::json!(["0003_api_keys_last_used_index"])
        );
        assert_eq!(db.versions(), ["0003_api_keys_last_used_index"]);
        assert_eq!(
            db.marker().as_deref(),
            Some("25"),
            "bridged through the cap"
        );

        // What cannot be done: exit 2, nothing written.
        let before = db.fingerprint();
        for (args, words) in [
            (
                vec!["--to-release", "4.0"],
                vec![
                    "release 4.0.0 (0001_baseline) is below the database's position (revision 0003_api_keys_last_used_index)",
                    "ferry downgrade 0001_baseline",
                ],
            ),
            (
                vec!["--to-release", "3.2"],
                vec![
                    "release 3.2.0 sits on legacy version 5",
                    "revisions only",
                    "ferry fixture --release 3.2.0",
                ],
            ),
            (
                vec!["--to-release", "5"],
                vec!["no release matches \"5\"", "3.0.0, 3.1.0", "4.2.0, 4.3.0"],
            ),
            (
                vec!["--to-release", ">=4.1,"],
                vec!["not a release requirement"],
            ),
            (
                vec!["0004", "--to-release", "4.2"],
                vec!["cannot be used with"],
            ),
        ] {
            let mut a = vec!["upgrade"];
            a.extend(args.iter().copied());
            a.extend(["-d", &db.url, "--no-backup"]);
            let run = ferry(&a).expect(2);
            for w in words {
                assert!(run.stderr.contains(w), "{a:?}: {w:?} not in {}", run.stderr);
            }
            a.push("--json");
            let json = ferry(&a).expect(2).json();
            assert_eq!(json["error"]["code"], 2);
            assert_eq!(db.fingerprint(), before, "{a:?} changed the database");
        }
        let json = ferry(&["upgrade", "--to-release", "3.2", "-d", &db.url, "--json"])
            .expect(2)
            .json();
        assert_eq!(json["error"]["kind"], "release");

        // At the release already: nothing to do. A requirement: its newest match.
        ferry(&[
            "upgrade",
            "--to-release",
            "4.1.0",
            "-d",
            &db.url,
            "--no-backup",
        ])
        .expect(0);
        assert_eq!(db.fingerprint(), before);
        ferry(&[
            "upgrade",
            "--to-release",
            ">=4.1, <4.3",
            "-d",
            &db.url,
            "--no-backup",
        ])
        .expect(0);
        assert_eq!(db.versions(), ["0005_llm_context_length"]);
        ferry(&["upgrade", "--to-release", "4", "-d", &db.url, "--no-backup"]).expect(0);
        assert_eq!(db.versions(), ["0006_kb_documents_status_index"]);
        ferry(&["check", "-d", &db.url]).expect(0);

        // A requirement that cannot be met creates no file.
        if dialect == ferry::core::set::Dialect::Sqlite {
            let tmp = tempfile::tempdir().unwrap();
            let missing = tmp.path().join("new.db");
            for req in ["9", "3.2", "three"] {
                ferry(&[
                    "upgrade",
                    "--to-release",
                    req,
                    "-d",
                    missing.to_str().unwrap(),
                ])
                .expect(2);
                assert!(!missing.exists(), "--to-release {req} created the file");
            }
        }
        // A fresh database goes straight to the release.
        let fresh = TestDb::new(dialect);
        ferry(&["upgrade", "--to-release", "4.2", "-d", &fresh.url]).expect(0);
        assert_eq!(fresh.versions(), ["0005_llm_context_length"]);
    });
}

#[test]
fn a_set_without_releases_says_so() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = copy_reference_set(tmp.path());
        let toml = std::fs::read_to_string(dir.join("ferry.toml")).unwrap();
        let cut = toml.find("[[release]]").unwrap();
        std::fs::write(dir.join("ferry.toml"), &toml[..cut]).unwrap();
        let set = dir.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&[
            "fixture",
            "--legacy",
            "3",
            "-d",
            &db.url,
            "--migrations",
            set,
        ])
        .expect(0);
        let status = ferry(&["status", "-d", &db.url, "--migrations", set, "--json"])
            .expect(0)
            .json();
        assert!(status["release"].is_null());
        let text = ferry(&["status", "-d", &db.url, "--migrations", set])
            .expect(0)
            .stdout;
        assert!(!text.contains("release:"), "{text}");
        let before = db.fingerprint();
        let run = ferry(&[
            "upgrade",
            "--to-release",
            "1",
            "-d",
            &db.url,
            "--migrations",
            set,
        ])
        .expect(2);
        assert!(
            run.stderr.contains("ferry.toml lists no [[release]]"),
            "{}",
            run.stderr
        );
        let run = ferry(&[
            "fixture",
            "--release",
            "1",
            "-d",
            &TestDb::new(dialect).url,
            "--migrations",
            set,
        ])
        .expect(2);
        assert!(
            run.stderr.contains("ferry.toml lists no [[release]]"),
            "{}",
            run.stderr
        );
        assert_eq!(db.fingerprint(), before);
    });
}
