//! `ferry baseline --write | --check`: the baseline generated from a replay of the legacy
//! chain, on the reference set and on tests/sets/chatops (floor and gaps), on both dialects.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use ferry::core::graph::Graph;
use ferry::core::schema::{Schema, Scope};
use ferry::core::set::{Dialect, Files, MigrationSet, Origin};
use ferry::core::state::Position;
use ferry::fixture::{self, TestDirs};
use ferry::runner::BackupPolicy;

/// `-d SERVER` for PostgreSQL (its scratch databases are made there); nothing for SQLite, which
/// then checks SQLite alone.
fn server_args(dialect: Dialect) -> Vec<String> {
    match dialect {
        Dialect::Sqlite => Vec::new(),
        Dialect::Postgres => vec!["-d".into(), pg::server_url()],
    }
}

fn run(set: &Path, dialect: Dialect, mode: &str) -> Run {
    let mut args: Vec<String> = vec![
        "--migrations".into(),
        set.display().to_string(),
        "baseline".into(),
        mode.into(),
    ];
    args.extend(server_args(dialect));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ferry(&args)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The reference set and tests/sets/chatops, each copied into `tmp`.
fn sets(tmp: &Path) -> Vec<PathBuf> {
    let chatops = tmp.join("chatops");
    copy_dir(&repo().join("tests/sets/chatops"), &chatops);
    vec![copy_reference_set(tmp), chatops]
}

#[test]
fn the_committed_reference_baseline_equals_the_replay() {
    on_both(|dialect| {
        let mut args = vec!["baseline", "--check"];
        let server = server_args(dialect);
        args.extend(server.iter().map(String::as_str));
        let out = ferry(&args).expect(0);
        assert!(
            out.stdout.contains(
                "baseline/sqlite.sql: a fresh install equals the replay of legacy 1..=25"
            ),
            "{}",
            out.stdout
        );
        match dialect {
            Dialect::Sqlite => assert!(
                out.stdout
                    .contains("baseline/postgres.sql: skipped PostgreSQL"),
                "{}",
                out.stdout
            ),
            Dialect::Postgres => assert!(
                out.stdout
                    .contains("baseline/postgres.sql: a fresh install equals the replay"),
                "{}",
                out.stdout
            ),
        }
    });
}

#[test]
fn a_hand_edit_of_the_baseline_is_named_and_exits_1() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().expect("tmp");
        let set = copy_reference_set(tmp.path());
        let file = set.join(format!("baseline/{}.sql", dialect.name()));
        let text = std::fs::read_to_string(&file).expect("baseline");
        assert!(text.contains("'OpenAI'"), "the reference rows are dumped");
        let edited = text.replace("'OpenAI'", "'Open AI'")
            + "\nCREATE INDEX ix_hand_edit ON users (email);\n";
        std::fs::write(&file, edited).expect("edit");
        let out = run(&set, dialect, "--check").expect(1);
        let this = format!("baseline/{}.sql: 3 difference(s)", dialect.name());
        for wanted in [
            this.as_str(),
            "index ix_hand_edit is extra",
            "row of model_providers is missing",
            "'OpenAI'",
            "row of model_providers is extra",
            "'Open AI'",
            "baseline --write",
        ] {
            assert!(out.stdout.contains(wanted), "{wanted}:\n{}", out.stdout);
        }
        if dialect == Dialect::Postgres {
            assert!(
                out.stdout
                    .contains("baseline/sqlite.sql: a fresh install equals"),
                "{}",
                out.stdout
            );
        }
        let json = {
            let mut args = vec![
                "--json".to_string(),
                "--migrations".into(),
                set.display().to_string(),
                "baseline".into(),
                "--check".into(),
            ];
            args.extend(server_args(dialect));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ferry(&args).expect(1).json()
        };
        assert_eq!(json["equal"], false);
    });
}

#[test]
fn write_refuses_the_compiled_in_set_and_a_sqlite_server() {
    let out = ferry(&["baseline", "--write"]).expect(2);
    assert!(
        out.stderr.contains("pass --migrations DIR"),
        "{}",
        out.stderr
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let set = copy_reference_set(tmp.path());
    let before = std::fs::read_to_string(set.join("baseline/sqlite.sql")).expect("baseline");
    let out = ferry(&[
        "--migrations",
        &set.display().to_string(),
        "baseline",
        "--write",
        "-d",
        "sqlite:app.db",
    ])
    .expect(2);
    assert!(
        out.stderr.contains("is not a PostgreSQL URL"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(set.join("baseline/sqlite.sql")).expect("baseline"),
        before
    );
    ferry(&["baseline"]).expect(2);
    ferry(&["baseline", "--write", "--check"]).expect(2);
}

/// Everything the baseline covers: the schema without ferry's own tables, and every row of
/// every table as text, sorted.
fn contents(db: &TestDb, set: &MigrationSet) -> (Schema, BTreeMap<String, Vec<String>>) {
    let own = ["ferry_history", set.config.revisions.version_table.as_str()];
    let schema = db
        .open()
        .snapshot_in(&own, &Scope::everything())
        .expect("snapshot");
    let mut rows = BTreeMap::new();
    for table in schema.tables.keys() {
        let mut lines: Vec<String> = db
            .query(&format!("SELECT * FROM {table}"))
            .into_iter()
            .map(|r| format!("{r:?}"))
            .collect();
        lines.sort();
        rows.insert(table.clone(), lines);
    }
    (schema, rows)
}

#[test]
fn a_fresh_install_from_a_written_baseline_equals_the_replay() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().expect("tmp");
        for dir in sets(tmp.path()) {
            let out = run(&dir, dialect, "--write").expect(0);
            let file = dir.join(format!("baseline/{}.sql", dialect.name()));
            assert!(
                out.stdout.contains("written from the replay"),
                "{}",
                out.stdout
            );
            let written = std::fs::read_to_string(&file).expect("written");
            assert!(written.starts_with("-- Baseline revision 0001_baseline"));
            assert!(!written.contains("ferry_history"), "{written}");

            // Deterministic: a second write gives the same bytes.
            run(&dir, dialect, "--write").expect(0);
            assert_eq!(std::fs::read_to_string(&file).expect("rewritten"), written);

            // Independently of --check: the replay (no seeds) and a fresh install in two real
            // databases, compared object by object and row by row.
            let set = MigrationSet::load(
                Files::from_dir(&dir).expect("files"),
                Origin::Dir(dir.clone()),
            )
            .expect("the set loads");
            let graph = Graph::new(&set).expect("graph");
            let (replayed, fresh) = (TestDb::new(dialect), TestDb::new(dialect));
            {
                let mut d = replayed.open();
                let mut r = runner(&set, &graph, d.as_mut());
                r.backup = BackupPolicy::Off;
                fixture::build(&mut r, &Position::Legacy(set.cap()), &TestDirs::default())
                    .expect("the replay");
            }
            {
                let mut d = fresh.open();
                let mut r = runner(&set, &graph, d.as_mut());
                r.backup = BackupPolicy::Off;
                r.upgrade(set.baseline_id()).expect("the fresh install");
            }
            let (want_schema, want_rows) = contents(&replayed, &set);
            let (have_schema, have_rows) = contents(&fresh, &set);
            let context = format!("{} on {}", dir.display(), dialect.name());
            assert_same_schema(&want_schema, &have_schema, &context);
            assert_eq!(want_rows, have_rows, "{context}: rows");
            assert!(!want_schema.tables.is_empty());

            run(&dir, dialect, "--check").expect(0);
        }
    });
}
