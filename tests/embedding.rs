//! ferry inside applications: the library API (`Migrator`) on both dialects, the compiled-in
//! set's `[test]` data from any directory, and examples/embedded_app — an application that
//! embeds its own set with `ferry::build::embed_migrations` and upgrades at start-up — built
//! and run, and its build refusing a touched legacy chain.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ferry::core::set::Dialect;
use ferry::{BackupPolicy, Error, MigrationSet, Migrator, Progress, State};

const HEAD: &str = "0006_kb_documents_status_index";

fn migrator(db: &TestDb) -> Migrator {
    Migrator::new(ferry::reference_set())
        .database(&db.url)
        .lock_timeout(Duration::from_secs(10))
}

/// `upgrade()` of an empty and of a legacy database: the report's steps (with labels and
/// durations), `before` and `heads`, progress as it goes; `status`, `check` and `verify` agree
/// before and after, and the database is what the command line makes of it.
#[test]
fn the_migrator_installs_bridges_and_reports() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        let status = migrator(&db).status().expect("status");
        assert_eq!(status.state, State::Empty);
        assert!(!status.pending.is_empty());
        assert_eq!(status.heads, [HEAD]);
        assert!(!migrator(&db).check().expect("check").at_head());

        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let report = migrator(&db)
            .on_progress(move |p| {
                seen.lock().unwrap().push(match p {
                    Progress::Planned { total } => format!("planned {total}"),
                    Progress::Started { label, .. } => format!("started {label}"),
                    Progress::Finished { label, .. } => format!("finished {label}"),
                })
            })
            .upgrade()
            .expect("a fresh install");
        assert_eq!(report.before, State::Empty);
        assert_eq!(report.heads, [HEAD]);
        let labels: Vec<&str> = report.steps.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels.len(), 6, "{labels:?}");
        assert!(labels[0].contains("0001_baseline"), "{labels:?}");
        assert!(labels[5].contains(HEAD), "{labels:?}");
        let events = events.lock().unwrap();
        assert_eq!(events[0], "planned 6");
        assert_eq!(events.len(), 1 + 2 * 6, "{events:?}");
        assert_eq!(events.last().unwrap(), &format!("finished {}", labels[5]));
        assert_eq!(db.versions(), [HEAD]);

        let check = migrator(&db).check().expect("check");
        assert!(check.at_head(), "{check:?}");
        assert!(migrator(&db).verify().expect("verify").equal());
        let again = migrator(&db).upgrade().expect("a second run");
        assert!(again.steps.is_empty());
        assert_eq!(
            again.before,
            State::Managed {
                heads: vec![HEAD.into()]
            }
        );
        // The command line sees the same database.
        let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        assert_eq!(status["current"][0], HEAD);

        let old = TestDb::new(dialect);
        seeded_fixture(&old.url, 7);
        let rows = old.row_counts();
        let report = migrator(&old)
            .upgrade_to("0003")
            .expect("the bridge of legacy 7");
        assert_eq!(report.before, State::Legacy { version: 7 });
        assert_eq!(report.heads, ["0003_api_keys_last_used_index"]);
        assert_eq!(
            report.steps.len(),
            18 + 1 + 2,
            "legacy 8..=25, the stamp, 0002, 0003"
        );
        for (table, n) in rows {
            assert!(old.row_counts()[&table] >= n, "{table} lost rows");
        }
        let status = migrator(&old).status().expect("status");
        assert_eq!(status.current, ["0003_api_keys_last_used_index"]);
        assert_eq!(status.pending.len(), 3);
        assert_eq!(migrator(&old).upgrade().expect("to head").heads, [HEAD]);
    });
}

/// The same refusals as the command line, with its exit codes and nothing written: an
/// unversioned database, a lock held by another runner, a bad URL, an unknown target.
#[test]
fn the_migrator_refuses_what_the_command_line_refuses() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
        let before = db.fingerprint();
        let e = migrator(&db).upgrade().expect_err("unversioned is refused");
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(matches!(e, Error::Refused { .. }), "{e:?}");
        assert!(e.to_string().contains("unversioned"), "{e}");
        let e = migrator(&db).verify().expect_err("no position to verify");
        assert_eq!(e.exit_code(), 3, "{e}");
        assert_eq!(migrator(&db).check().expect_err("refused").exit_code(), 3);
        let status = migrator(&db).status().expect("status reads it");
        assert!(status.refusal.is_some(), "{status:?}");
        assert_eq!(db.fingerprint(), before, "nothing was written");

        let empty = TestDb::new(dialect);
        let mut holder = empty.open();
        assert_eq!(holder.lock(Duration::from_secs(2)).unwrap(), Ok(()));
        let e = migrator(&empty)
            .lock_timeout(Duration::from_millis(300))
            .upgrade()
            .expect_err("the lock is held");
        assert_eq!(e.exit_code(), 5, "{e}");
        assert!(matches!(e, Error::Locked { .. }), "{e:?}");
        holder.unlock().unwrap();
        drop(holder);

        let e = migrator(&empty)
            .upgrade_to("no_such_revision")
            .expect_err("unknown target");
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(empty.tables().is_empty(), "nothing was installed");
    });
    let e = Migrator::new(ferry::reference_set())
        .database("mysql://somewhere/app")
        .status()
        .expect_err("not a URL ferry drives");
    assert_eq!(e.exit_code(), 2, "{e}");
    let e = Migrator::new(ferry::reference_set())
        .status()
        .expect_err("no database");
    assert!(e.to_string().contains("Migrator::database"), "{e}");
}

/// SQLite: the backup policy of the command line's --backup-dir / --no-backup.
#[test]
fn the_migrator_backs_up_a_sqlite_file_where_told() {
    let db = TestDb::new(Dialect::Sqlite);
    seeded_fixture(&db.url, 20);
    let backups = tempfile::tempdir().unwrap();
    let report = migrator(&db)
        .backup(BackupPolicy::Into(backups.path().to_path_buf()))
        .upgrade()
        .expect("upgrade");
    let backup = report.backup.expect("a backup was taken");
    assert!(backup.path.starts_with(backups.path()), "{backup:?}");
    assert!(backup.path.is_file());

    let other = TestDb::new(Dialect::Sqlite);
    seeded_fixture(&other.url, 20);
    let report = migrator(&other)
        .backup(BackupPolicy::Off)
        .upgrade()
        .expect("upgrade");
    assert!(report.backup.is_none());
}

/// A migrator can run on another thread.
#[test]
fn the_migrator_is_send() {
    fn send<T: Send>(_: &T) {}
    send(&Migrator::new(ferry::reference_set()));
}

/// A set read at run time works the same as the compiled-in one.
#[test]
fn a_set_loaded_from_a_directory_runs_too() {
    let tmp = tempfile::tempdir().unwrap();
    let set = MigrationSet::from_dir(example().join("db")).expect("the example's set");
    let url = format!("sqlite:{}", tmp.path().join("notes.db").display());
    let report = Migrator::new(set)
        .database(&url)
        .upgrade()
        .expect("upgrade");
    assert_eq!(report.heads, ["0002_note_tags"]);
    assert!(report.created.is_some(), "the file was created");
    let edited = tmp.path().join("set");
    copy_dir(&example().join("db"), &edited);
    std::fs::write(
        edited.join("legacy/002_add_notes_done/up.sql"),
        "ALTER TABLE notes ADD COLUMN done INTEGER;",
    )
    .unwrap();
    let e = MigrationSet::from_dir(&edited).expect_err("a touched legacy chain");
    assert!(
        e.to_string()
            .contains("new schema changes go in revisions/"),
        "{e}"
    );
}

/// The build's checks (`ferry::build::check`, what `embed_migrations` runs): the set's files
/// come with its `[test]` data, which loading routes aside; a dialect the baseline has but a
/// script lacks is refused, naming the file to add.
#[test]
fn the_build_check_embeds_test_data_and_wants_every_dialects_sql() {
    let files = ferry::build::check(&example().join("db")).expect("the example's set passes");
    assert!(files.paths().any(|p| p == "tests/seeds/001.sql"));
    let set = MigrationSet::load(files, ferry::core::set::Origin::Embedded).expect("it loads");
    assert_eq!(
        set.test_files.keys().collect::<Vec<_>>(),
        ["tests/seeds/001.sql"]
    );
    let dirs = ferry::fixture::TestDirs::of(&set, None);
    let seeds = dirs.seeds.expect("the embedded seeds");
    assert!(seeds.exists());
    let (shown, sql) = seeds
        .numbered(1, Dialect::Postgres)
        .unwrap()
        .expect("001.sql serves every dialect");
    assert_eq!(shown, "tests/seeds/001.sql");
    assert!(sql.contains("written by legacy version 1"));

    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("db");
    copy_dir(&example().join("db"), &copy);
    let revision = copy.join("revisions/0002_note_tags");
    std::fs::rename(revision.join("up.sql"), revision.join("up.sqlite.sql")).unwrap();
    let e = ferry::build::check(&copy).expect_err("no PostgreSQL up for 0002");
    let message = e.to_string();
    assert!(
        message.contains("revisions/0002_note_tags") && message.contains("up.postgres.sql"),
        "{message}"
    );
}

/// The compiled-in set carries its `[test]` data (seeds, superseded SQL): `upgrade-test` and
/// `fixture` work from any directory, not only from the repository.
#[test]
fn the_compiled_in_sets_test_data_works_from_any_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let report = ferry_in(elsewhere.path(), &["upgrade-test", "--json"])
        .expect(0)
        .json();
    assert_eq!(report["all_passed"], true, "{report}");
    assert_eq!(report["seeds"], "tests/seeds", "{report}");
    let cases = report["cases"].as_array().expect("cases");
    assert!(
        cases
            .iter()
            .any(|c| c["path"].as_str().is_some_and(|p| p.contains("26"))),
        "the superseded case ran: {report}"
    );
    let fixture = ferry_in(
        elsewhere.path(),
        &["fixture", "--legacy", "26", "--json", "old.db"],
    )
    .expect(0)
    .json();
    assert!(
        fixture["seeds"].as_array().is_some_and(|s| s.len() == 9),
        "{fixture}"
    );
    let db = TestDb::sqlite_at(&elsewhere.path().join("old.db"));
    assert!(db.row_counts().values().sum::<i64>() > 0, "the seeds ran");
}

// ---------------------------------------------------------------------------------------
// examples/embedded_app

fn example() -> PathBuf {
    repo().join("examples/embedded_app")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.file_name() == "target" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of the example application in `dir`, depending on this repository's ferry, with
/// this repository's lock file (so the build resolves offline to the same versions).
fn app_copy(dir: &Path) -> PathBuf {
    let app = dir.join("embedded_app");
    copy_dir(&example(), &app);
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    let root = repo().display().to_string();
    std::fs::write(
        app.join("Cargo.toml"),
        manifest.replace("path = \"../..\"", &format!("path = {root:?}")),
    )
    .unwrap();
    std::fs::copy(repo().join("Cargo.lock"), app.join("Cargo.lock")).unwrap();
    app
}

/// Every build of the example shares one target directory of its own (no lock shared with
/// the `cargo test` running us): ferry and its dependencies compile once.
fn target_dir() -> PathBuf {
    repo().join("target").join("embedding")
}

/// `cargo build` of the application at `app`; (success, stderr).
fn cargo_build(app: &Path) -> (bool, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "--manifest-path"])
        .arg(app.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("FERRY_EMBED_DIR")
        .output()
        .expect("cargo runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_app(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(binary)
        .args(args)
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .expect("the application runs");
    Run::of(&out)
}

/// The example application, built against this ferry, installs an empty database, bridges a
/// legacy one (its own two-step chain, seeded), leaves one at head alone, and refuses an
/// unversioned one with ferry's exit code and nothing written.
#[test]
fn the_example_application_upgrades_its_database_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_copy(tmp.path());
    let (ok, stderr) = cargo_build(&app);
    assert!(ok, "the example builds: {stderr}");
    let binary = target_dir().join("debug").join("embedded_app");
    let set = example().join("db");
    let set = set.to_str().unwrap();
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        let run = run_app(&binary, &[&db.url], &[]).expect(0);
        assert!(
            run.stdout.contains("was empty") && run.stdout.contains("now at 0002_note_tags"),
            "{run:?}"
        );
        assert!(run.stderr.contains("migrated: "), "progress: {run:?}");
        let status = ferry(&["--migrations", set, "status", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(status["state"], "managed", "{status}");
        assert_eq!(status["current"][0], "0002_note_tags", "{status}");
        ferry(&["--migrations", set, "verify", "-d", &db.url]).expect(0);
        let again = run_app(&binary, &[], &[("DATABASE_URL", &db.url)]).expect(0);
        assert!(again.stdout.contains("ran 0 step(s)"), "{again:?}");

        let old = TestDb::new(dialect);
        ferry(&[
            "--migrations",
            set,
            "fixture",
            "--legacy",
            "1",
            "-d",
            &old.url,
        ])
        .expect(0);
        let bridged = run_app(&binary, &[], &[("DATABASE_URL", &old.url)]).expect(0);
        assert!(
            bridged.stdout.contains("was legacy 1, ran 3 step(s)"),
            "{bridged:?}"
        );
        assert_eq!(old.versions(), ["0002_note_tags"]);
        assert_eq!(
            old.scalar("SELECT body FROM notes WHERE id = 1").as_deref(),
            Some("written by legacy version 1"),
            "the seeded row rode the bridge"
        );

        let unversioned = TestDb::new(dialect);
        unversioned.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY)");
        let before = unversioned.fingerprint();
        let refused = run_app(&binary, &[&unversioned.url], &[]).expect(3);
        assert!(refused.stderr.contains("unversioned"), "{refused:?}");
        assert_eq!(unversioned.fingerprint(), before);
    });
}

/// Adding a legacy step to the application's set fails the application's own build, with the
/// message that new schema changes go in revisions/.
#[test]
fn a_touched_legacy_chain_fails_the_applications_build() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_copy(tmp.path());
    let step = app.join("db/legacy/003_add_notes_color");
    std::fs::create_dir_all(&step).unwrap();
    std::fs::write(
        step.join("up.sql"),
        "ALTER TABLE notes ADD COLUMN color TEXT;",
    )
    .unwrap();
    let (ok, stderr) = cargo_build(&app);
    assert!(!ok, "the build must fail");
    assert!(stderr.contains("003_add_notes_color"), "{stderr}");
    assert!(stderr.contains("above the cap 2"), "{stderr}");
    assert!(
        stderr.contains("new schema changes go in revisions/"),
        "{stderr}"
    );
}
