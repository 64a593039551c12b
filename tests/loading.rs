//! Loading a set: the compiled-in set's revisions, as the build parsed them, are those its
//! files give; `heads` and `history` read a directory's graph only, and still refuse every
//! fault the graph and the freeze show; every other command still reads every file.

mod common;

use std::path::Path;

use common::*;
use ferry::core::set::{Dialect, Files, MigrationSet, Need, Origin};

#[test]
fn the_compiled_set_is_the_set_its_files_give() {
    let compiled = MigrationSet::compiled(ferry::embedded::SET).expect("the compiled set loads");
    // From the embedded files by the run-time loader, not through reference_set() (which is
    // the compiled set itself).
    let loaded = MigrationSet::load(Files::from_static(ferry::embedded::FILES), Origin::Embedded)
        .expect("the embedded files load");
    assert_eq!(compiled.revisions.len(), loaded.revisions.len());
    assert!(!compiled.revisions.is_empty());
    for (c, l) in compiled.revisions.iter().zip(&loaded.revisions) {
        assert_eq!(c.id, l.id);
        assert_eq!(c.down_revisions, l.down_revisions, "{}", c.id);
        assert_eq!(c.message, l.message, "{}", c.id);
        assert_eq!(c.transaction, l.transaction, "{}", c.id);
        for d in Dialect::ALL {
            for (cs, ls, stem) in [(&c.up, &l.up, "up"), (&c.down, &l.down, "down")] {
                assert_eq!(cs.get(d), ls.get(d), "{} {stem} {}", c.id, d.name());
                assert_eq!(cs.path(stem, d), ls.path(stem, d));
            }
        }
    }
    assert_eq!(compiled.test_files.len(), loaded.test_files.len());
    assert!(
        !compiled.test_files.is_empty(),
        "the [test] data is compiled in"
    );
    assert_eq!(compiled.freeze_text(), loaded.freeze_text());
    compiled.verify_freeze().expect("the freeze holds");
}

#[test]
fn a_graph_read_gives_the_graph_a_full_read_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_reference_set(tmp.path());
    let full =
        MigrationSet::load(Files::from_dir(&dir).unwrap(), Origin::Dir(dir.clone())).unwrap();
    let graph = MigrationSet::load_for(
        Files::read(&dir, Need::Graph).unwrap(),
        Origin::Dir(dir.clone()),
        Need::Graph,
    )
    .unwrap();
    assert!(full.has_sql() && !graph.has_sql());
    let ids = |s: &MigrationSet| -> Vec<(String, Vec<String>, String)> {
        s.revisions
            .iter()
            .map(|r| (r.id.clone(), r.down_revisions.clone(), r.message.clone()))
            .collect()
    };
    assert_eq!(ids(&full), ids(&graph));
    // The superseding revision is read whole (its guard is checked); the others' SQL is not.
    let superseding = graph.revision("0005_llm_context_length").unwrap();
    assert!(superseding.up.get(Dialect::Sqlite).is_some());
    assert!(
        graph
            .revision("0004_bot_tags")
            .unwrap()
            .up
            .get(Dialect::Sqlite)
            .is_none()
    );
}

/// Each tampering, and words the refusal must contain.
type Case = (&'static str, fn(&Path), &'static [&'static str]);

fn replace(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

const CASES: &[Case] = &[
    (
        "an edited legacy file",
        |s| {
            let step = s.join("legacy/019_drop_users_password_salt/up.sql");
            let text = std::fs::read_to_string(&step).unwrap();
            std::fs::write(step, format!("{text}-- edited\n")).unwrap();
        },
        &[
            "edited after the freeze",
            "new schema changes go in revisions/",
        ],
    ),
    (
        "a missing revision.toml",
        |s| std::fs::remove_file(s.join("revisions/0004_bot_tags/revision.toml")).unwrap(),
        &["revision 0004_bot_tags", "revision.toml is missing"],
    ),
    (
        "a down revision that does not exist",
        |s| {
            replace(
                &s.join("revisions/0004_bot_tags/revision.toml"),
                "0003_api_keys_last_used_index",
                "0003_nope",
            )
        },
        &["revision 0004_bot_tags", "\"0003_nope\" does not exist"],
    ),
    (
        "a superseding revision without a guard",
        |s| {
            std::fs::write(
                s.join("revisions/0005_llm_context_length/up.sql"),
                "ALTER TABLE llm_models ADD COLUMN context_length INTEGER;\n",
            )
            .unwrap()
        },
        &["0005_llm_context_length", "must be guarded"],
    ),
    (
        "a stray file in revisions/",
        |s| std::fs::write(s.join("revisions/notes.txt"), "remember\n").unwrap(),
        &["revisions/notes.txt", "unexpected file"],
    ),
];

#[test]
fn heads_and_history_refuse_what_the_graph_and_the_freeze_show() {
    for (name, tamper, words) in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let dir = copy_reference_set(tmp.path());
        tamper(&dir);
        let dir = dir.display().to_string();
        for command in ["heads", "history"] {
            let run = ferry(&["--migrations", &dir, command]).expect(2);
            for word in *words {
                assert!(
                    run.stderr.contains(word),
                    "{name} · {command}: {word:?} missing from: {}",
                    run.stderr
                );
            }
        }
    }
}

#[test]
fn commands_that_run_sql_check_every_file_of_a_revision() {
    // A malformed guard in a revision that supersedes nothing: `heads` reads the graph only,
    // `status` and `upgrade` refuse the set before touching the database, on both dialects.
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_reference_set(tmp.path());
    let up = dir.join("revisions/0004_bot_tags/up.sqlite.sql");
    let text = std::fs::read_to_string(&up).unwrap();
    std::fs::write(
        &up,
        format!("-- ferry:if-missing column nodot\nSELECT 1;\n-- ferry:end\n{text}"),
    )
    .unwrap();
    let set = dir.display().to_string();
    let heads = ferry(&["--migrations", &set, "heads"]).expect(0);
    assert!(
        heads
            .stdout
            .contains("0006_kb_documents_status_index (head)")
    );
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        let before = db.fingerprint();
        for command in ["status", "upgrade"] {
            let run = ferry(&["--migrations", &set, command, "-d", &db.url]).expect(2);
            assert!(
                run.stderr.contains("revisions/0004_bot_tags/up.sqlite.sql")
                    && run.stderr.contains("line 1"),
                "{command}: {}",
                run.stderr
            );
        }
        assert_eq!(db.fingerprint(), before, "the database is unchanged");
    });
}
