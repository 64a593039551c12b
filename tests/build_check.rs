//! The build check itself: `cargo check` of this crate fails when the embedded set's legacy
//! chain is touched, and says that new schema changes go in revisions/.

mod common;

use std::path::Path;
use std::process::Command;

/// `cargo check` of this crate embedding the set in `set_dir`; returns (success, stderr).
fn cargo_check(set_dir: &Path) -> (bool, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--lib", "--offline", "--quiet", "--manifest-path"])
        .arg(common::repo().join("Cargo.toml"))
        // Its own target directory: no lock shared with the `cargo test` running us.
        .env(
            "CARGO_TARGET_DIR",
            common::repo().join("target").join("build-check"),
        )
        .env("FERRY_EMBED_DIR", set_dir)
        .output()
        .expect("cargo runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_build_refuses_a_touched_legacy_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let set = common::copy_reference_set(tmp.path());
    let (ok, stderr) = cargo_check(&set);
    assert!(ok, "the untouched copy builds: {stderr}");

    let edit = set.join("legacy/019_drop_users_password_salt/up.sql");
    let original = std::fs::read_to_string(&edit).unwrap();
    let per_dialect = set.join("legacy/012_change_pipelines_priority_to_integer/up.postgres.sql");
    let per_dialect_text = std::fs::read_to_string(&per_dialect).unwrap();
    let added = set.join("legacy/026_more/up.sql");
    let long_id = set.join("revisions/0007_this_revision_id_is_longer_than_32");
    type Change<'a> = (&'a str, Box<dyn Fn() + 'a>, Box<dyn Fn() + 'a>);
    let changes: Vec<Change> = vec![
        (
            "edited after the freeze",
            Box::new(|| std::fs::write(&edit, format!("{original}\nSELECT 1;\n")).unwrap()),
            Box::new(|| std::fs::write(&edit, &original).unwrap()),
        ),
        (
            "was removed",
            Box::new(|| std::fs::remove_file(&per_dialect).unwrap()),
            Box::new(|| std::fs::write(&per_dialect, &per_dialect_text).unwrap()),
        ),
        (
            "step 19 is missing",
            Box::new(|| std::fs::remove_file(&edit).unwrap()),
            Box::new(|| std::fs::write(&edit, &original).unwrap()),
        ),
        (
            "step 26 is above the cap 25",
            Box::new(|| {
                std::fs::create_dir_all(added.parent().unwrap()).unwrap();
                std::fs::write(&added, "ALTER TABLE bots ADD COLUMN x INTEGER;").unwrap();
            }),
            Box::new(|| std::fs::remove_dir_all(added.parent().unwrap()).unwrap()),
        ),
        (
            "at most 32",
            Box::new(|| {
                std::fs::create_dir_all(&long_id).unwrap();
                std::fs::write(
                    long_id.join("revision.toml"),
                    "down = \"0006_kb_documents_status_index\"",
                )
                .unwrap();
                std::fs::write(long_id.join("up.sql"), "SELECT 1;").unwrap();
            }),
            Box::new(|| std::fs::remove_dir_all(&long_id).unwrap()),
        ),
    ];
    for (message, change, undo) in changes {
        change();
        let (ok, stderr) = cargo_check(&set);
        assert!(!ok, "the build must fail: {message}");
        assert!(stderr.contains(message), "{message:?} not in:\n{stderr}");
        if message != "at most 32" {
            assert!(
                stderr.contains("new schema changes go in revisions/"),
                "{stderr}"
            );
        }
        undo();
    }
    let (ok, stderr) = cargo_check(&set);
    assert!(ok, "undone, it builds again: {stderr}");
}
