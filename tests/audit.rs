//! The audit trail: every step is recorded; an applied revision whose SQL changed since it ran
//! is reported by `status` and refused by `upgrade` until accepted, and the acceptance is recorded.

mod common;

use common::*;

#[test]
fn edited_applied_revisions_are_refused_until_accepted() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set_dir = copy_reference_set(tmp.path());
        let set = set_dir.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&[
            "fixture",
            "--legacy",
            "24",
            "-d",
            &db.url,
            "--migrations",
            set,
        ])
        .expect(0);
        ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(0);
        let history = ferry(&[
            "history",
            "--audit",
            "--json",
            "-d",
            &db.url,
            "--migrations",
            set,
        ])
        .expect(0)
        .json();
        let audit = history["audit"].as_array().unwrap();
        let kinds: Vec<&str> = audit.iter().map(|r| r["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "legacy").count(),
            25,
            "fixture steps 1..24 and the bridge's 25"
        );
        assert_eq!(kinds.iter().filter(|k| **k == "upgrade").count(), 5);
        assert!(audit.iter().all(|r| {
            r["checksum"]
                .as_str()
                .is_none_or(|c| c.starts_with("sha256:"))
        }));

        // Edit the file this dialect runs for 0004.
        let rev = set_dir.join("revisions/0004_bot_tags");
        let file = [format!("up.{}.sql", dialect.name()), "up.sql".to_string()]
            .into_iter()
            .map(|f| rev.join(f))
            .find(|p| p.exists())
            .unwrap();
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("\n-- reviewed in 2026\n");
        std::fs::write(&file, text).unwrap();

        let status = ferry(&["status", "--json", "-d", &db.url, "--migrations", set])
            .expect(0)
            .json();
        assert_eq!(status["edited"][0]["revision"], "0004_bot_tags");
        let before = db.fingerprint();
        let refused = ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(2);
        let recorded = status["edited"][0]["applied"].as_str().unwrap();
        let now = status["edited"][0]["now"].as_str().unwrap();
        assert!(
            refused.stderr.contains("0004_bot_tags")
                && refused.stderr.contains(recorded)
                && refused.stderr.contains(now),
            "{}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("--accept-edited"),
            "{}",
            refused.stderr
        );
        assert_eq!(db.fingerprint(), before, "a refusal writes nothing");
        ferry(&["downgrade", "-1", "-d", &db.url, "--migrations", set]).expect(2);

        ferry(&[
            "upgrade",
            "--accept-edited",
            "0004_bot_tags",
            "-d",
            &db.url,
            "--migrations",
            set,
        ])
        .expect(0);
        let accepted = db.scalar("SELECT checksum FROM ferry_history WHERE kind = 'accept-edited' AND revision = '0004_bot_tags'");
        assert_eq!(accepted.as_deref(), Some(now));
        ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(0);
        let status = ferry(&["status", "--json", "-d", &db.url, "--migrations", set])
            .expect(0)
            .json();
        assert_eq!(status["edited"].as_array().unwrap().len(), 0);
    });
}
