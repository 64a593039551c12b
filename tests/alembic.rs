//! Alembic interoperability, proven with the real Alembic (`FERRY_TEST_ALEMBIC`, else
//! `.ci/venv/bin/alembic`), and the `[handoff]` to an external runner; each scenario on SQLite
//! and PostgreSQL.
//!
//! A missing `.ci/venv` is installed by the tests themselves, as the PostgreSQL harness starts
//! its own server: the first test that needs Alembic runs `.ci/install-alembic` (once per test
//! process, under a lock file so parallel test processes don't race). If that fails, the tests
//! that need Alembic fail with the reason; they are never skipped, in CI or out.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use ferry::core::set::{Dialect, MigrationSet, digest};
use serde_json::Value;

const HEAD: &str = "0006_kb_documents_status_index";
const ALEMBIC_REV: &str = "0007_bots_alembic_note";

static ALEMBIC: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The real `alembic`: `FERRY_TEST_ALEMBIC`, else `.ci/venv/bin/alembic`, which is installed
/// (by `.ci/install-alembic`, once per test process) when it is missing. A test that needs
/// Alembic fails, with the reason, when there is none to be had: it is never skipped.
fn alembic_bin() -> PathBuf {
    match ALEMBIC.get_or_init(find_or_install_alembic) {
        Ok(path) => path.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn find_or_install_alembic() -> Result<PathBuf, String> {
    if let Some(given) = std::env::var_os("FERRY_TEST_ALEMBIC").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(given);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "FERRY_TEST_ALEMBIC={} is set but is not a file: point it at an alembic executable, or unset it \
                 to use .ci/venv (installed by .ci/install-alembic)",
                path.display()
            ))
        };
    }
    let bin = repo().join(".ci/venv/bin/alembic");
    if bin.is_file() {
        return Ok(bin);
    }
    // Several test processes may get here at once: one installs, the others wait for it on
    // the lock (an OS file lock, released even when its holder dies) and then find the venv.
    let lock_path = repo().join(".ci/install-alembic.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if bin.is_file() {
        return Ok(bin);
    }
    eprintln!(
        "no Alembic at {}: running .ci/install-alembic",
        bin.display()
    );
    let out = Command::new("bash")
        .arg(repo().join(".ci/install-alembic"))
        .current_dir(repo())
        .output()
        .map_err(|e| format!("cannot run bash .ci/install-alembic: {e}"))?;
    if !out.status.success() || !bin.is_file() {
        return Err(format!(
            "there is no Alembic at {} and `bash .ci/install-alembic` could not install it ({}):\n{}{}\n\
             Install it by hand (python3 with venv, and PyPI reachable), or set FERRY_TEST_ALEMBIC to an alembic executable.",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(bin)
}

/// The test database as an SQLAlchemy URL, worked out here independently of ferry's own.
fn sqlalchemy_url(db: &TestDb) -> String {
    match &db.path {
        Some(path) => format!("sqlite:///{}", path.display()),
        None => {
            let url = &db.url;
            if let Some(rest) = url.strip_prefix("postgres://") {
                format!("postgresql://{rest}")
            } else {
                url.clone()
            }
        }
    }
}

/// A generated Alembic project: alembic.ini, an env.py reading `FERRY_SQLALCHEMY_URL`, version
/// scripts mirroring every revision of ferry's set (empty upgrades), and Alembic's own 0007,
/// which adds `bots.alembic_note` on top of ferry's head.
struct AlembicProject {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl AlembicProject {
    fn new(bin: PathBuf, set: &MigrationSet) -> AlembicProject {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("migrations/versions")).unwrap();
        std::fs::write(
            root.join("alembic.ini"),
            format!(
                "[alembic]\nscript_location = {}\n",
                root.join("migrations").display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("migrations/env.py"),
            r#"import os

from alembic import context
from sqlalchemy import create_engine

if context.is_offline_mode():
    raise SystemExit("these tests run Alembic online only")

schema = os.environ.get("FERRY_SCHEMA")
engine = create_engine(
    os.environ["FERRY_SQLALCHEMY_URL"],
    connect_args={"options": f"-csearch_path={schema}"} if schema else {},
)
with engine.connect() as connection:
    context.configure(connection=connection, version_table_schema=schema)
    with context.begin_transaction():
        context.run_migrations()
"#,
        )
        .unwrap();
        let project = AlembicProject { bin, dir };
        project.version(set.baseline_id(), &[], "baseline", "pass", "pass");
        for rev in &set.revisions {
            let downs: Vec<&str> = rev.down_revisions.iter().map(String::as_str).collect();
            project.version(&rev.id, &downs, &rev.message, "pass", "pass");
        }
        project.version(
            ALEMBIC_REV,
            &[HEAD],
            "Alembic's own revision on top of ferry's head",
            r#"op.add_column("bots", sa.Column("alembic_note", sa.Text(), nullable=True))"#,
            r#"op.drop_column("bots", "alembic_note")"#,
        );
        project
    }

    /// Writes `versions/<id>.py`.
    fn version(&self, id: &str, downs: &[&str], message: &str, upgrade: &str, downgrade: &str) {
        let down = match downs {
            [] => "None".to_string(),
            [one] => format!("{one:?}"),
            many => format!(
                "({})",
                many.iter()
                    .map(|d| format!("{d:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        std::fs::write(
            self.versions().join(format!("{id}.py")),
            format!(
                "\"\"\"{}\"\"\"\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = {id:?}\n\
                 down_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\n\
                 def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n",
                message.replace('"', "'")
            ),
        )
        .unwrap();
    }

    fn versions(&self) -> PathBuf {
        self.dir.path().join("migrations/versions")
    }

    fn ini(&self) -> PathBuf {
        self.dir.path().join("alembic.ini")
    }

    /// `alembic -c <ini> ARGS` against a test database.
    fn run(&self, db: &TestDb, args: &[&str]) -> Run {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(self.ini())
            .args(args)
            .env("FERRY_SQLALCHEMY_URL", sqlalchemy_url(db))
            .env_remove("FERRY_SCHEMA")
            .output()
            .expect("alembic runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// What `alembic current` reports: the revision ids, one a line.
    fn current(&self, db: &TestDb) -> Vec<String> {
        let run = self.run(db, &["current"]).expect(0);
        run.stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }

    /// The shell command that runs this project's `alembic upgrade head`.
    fn upgrade_command(&self) -> String {
        format!(
            "'{}' -c '{}' upgrade head",
            self.bin.display(),
            self.ini().display()
        )
    }
}

fn has_column(db: &TestDb, table: &str, column: &str) -> bool {
    db.open()
        .query(&format!("SELECT {column} FROM {table} WHERE 1 = 0"))
        .is_ok()
}

/// A copy of the reference set whose ferry.toml hands off to `command`.
fn handoff_set(dir: &Path, command: &str) -> PathBuf {
    let set = copy_reference_set(dir);
    let toml = set.join("ferry.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[handoff]\ncommand = \"{}\"\n",
        command.replace('\\', "\\\\").replace('"', "\\\"")
    ));
    std::fs::write(&toml, text).unwrap();
    set
}

fn with_set<'a>(set: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--migrations", set.to_str().unwrap()];
    all.extend_from_slice(args);
    all
}

fn kinds(json: &Value) -> Vec<String> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A database ferry bridged is read and continued by Alembic, and ferry then refuses the
/// database Alembic took beyond its set (`ahead`), unchanged.
#[test]
fn alembic_reads_and_continues_a_database_ferry_bridged() {
    let bin = alembic_bin();
    let set = reference_set();
    let alembic = AlembicProject::new(bin, &set);
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "7", "-d", &db.url]).expect(0);
        ferry(&["upgrade", "-d", &db.url, "--no-backup"]).expect(0);

        // Alembic reads ferry's version table (Alembic's own DDL) without complaint.
        assert_eq!(alembic.current(&db), [HEAD]);
        alembic.run(&db, &["upgrade", "head"]).expect(0);
        assert!(has_column(&db, "bots", "alembic_note"), "0007 ran");
        assert_eq!(alembic.current(&db), [ALEMBIC_REV]);
        assert_eq!(db.versions(), [ALEMBIC_REV]);

        // ferry now sees a revision its set does not know: ahead, refused, untouched.
        let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        assert_eq!(status["state"], "ahead");
        assert_eq!(status["detail"]["unknown"][0], ALEMBIC_REV);
        assert!(
            status["refusal"].as_str().unwrap().contains(ALEMBIC_REV),
            "{status}"
        );
        let text = ferry(&["status", "-d", &db.url]).expect(0);
        assert!(text.stdout.contains("state:     ahead"), "{}", text.stdout);
        let before = db.fingerprint();
        let refused = ferry(&["upgrade", "-d", &db.url]).expect(3);
        assert!(refused.stderr.contains("ahead"), "{}", refused.stderr);
        let refused = ferry(&["upgrade", "--json", "-d", &db.url])
            .expect(3)
            .json();
        assert_eq!(refused["error"]["kind"], "refused");
        assert_eq!(
            db.fingerprint(),
            before,
            "the refused upgrade changed nothing"
        );
        let current = ferry(&["current", "-d", &db.url]).expect(0);
        assert_eq!(
            current.stdout.trim(),
            format!("{ALEMBIC_REV} (not in this migration set)")
        );
        let verbose = ferry(&["current", "--verbose", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(verbose["revisions"][0]["known"], false);
        assert_eq!(verbose["revisions"][0]["applied"], Value::Null);

        // Alembic steps back down to ferry's head, and ferry manages the database again.
        alembic.run(&db, &["downgrade", "-1"]).expect(0);
        assert!(!has_column(&db, "bots", "alembic_note"), "0007 undone");
        assert_eq!(db.versions(), [HEAD]);
        ferry(&["check", "-d", &db.url]).expect(0);
    });
}

/// With `[handoff]` naming Alembic, `ferry upgrade` bridges a legacy database, stamps the
/// baseline and hands off: Alembic applies its revisions; a failing Alembic revision is
/// ferry's failure with Alembic's exit status; a second run is a clean no-op hand-off.
#[test]
fn ferry_bridges_then_hands_off_to_alembic() {
    let bin = alembic_bin();
    let reference = reference_set();
    let alembic = AlembicProject::new(bin, &reference);
    let tmp = tempfile::tempdir().unwrap();
    let set = handoff_set(tmp.path(), &alembic.upgrade_command());
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "7", "-d", &db.url]).expect(0);
        let run = ferry(&with_set(
            &set,
            &["upgrade", "--json", "--no-backup", "-d", &db.url],
        ))
        .expect(0);
        let json = run.json();
        let mut expected: Vec<String> = vec!["legacy".to_string(); 18];
        expected.push("stamp".into());
        assert_eq!(kinds(&json), expected, "the bridge only, no ferry revision");
        assert_eq!(json["bridge_heads"][0], "0001_baseline");
        assert_eq!(json["handoff"]["status"], 0);
        assert_eq!(json["heads"][0], ALEMBIC_REV);
        assert!(
            json["handoff"]["command"]
                .as_str()
                .unwrap()
                .ends_with("upgrade head")
        );
        assert_eq!(alembic.current(&db), [ALEMBIC_REV]);
        assert!(has_column(&db, "bots", "alembic_note"));
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM ferry_history WHERE kind = 'upgrade'")
                .as_deref(),
            Some("0"),
            "ferry ran none of its own revisions"
        );

        // status says who owns the revision ferry does not know, and refuses nothing.
        let status = ferry(&with_set(&set, &["status", "--json", "-d", &db.url]))
            .expect(0)
            .json();
        assert_eq!(status["state"], "ahead");
        assert_eq!(status["refusal"], Value::Null);
        assert_eq!(status["handoff"]["owned_by_runner"][0], ALEMBIC_REV);
        let text = ferry(&with_set(&set, &["status", "-d", &db.url])).expect(0);
        assert!(
            text.stdout.contains("hands off to") && text.stdout.contains("again"),
            "{}",
            text.stdout
        );

        // A failing Alembic revision: ferry exits with Alembic's own status.
        alembic.version(
            "0008_fails",
            &[ALEMBIC_REV],
            "fails",
            r#"op.execute("UPDATE no_such_table SET x = 1")"#,
            "pass",
        );
        let direct = alembic.run(&db, &["upgrade", "head"]);
        assert_ne!(direct.code, 0, "the broken revision fails under Alembic");
        let before = db.fingerprint();
        let failed =
            ferry(&with_set(&set, &["upgrade", "--json", "-d", &db.url])).expect(direct.code);
        let json = failed.json();
        assert_eq!(json["error"]["kind"], "handoff_failed");
        assert_eq!(json["error"]["code"], direct.code);
        assert_eq!(json["error"]["handoff"]["status"], direct.code);
        let message = json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&alembic.upgrade_command())
                && message.contains(&format!("status {}", direct.code)),
            "{message}"
        );
        assert!(
            failed.stderr.contains("no_such_table"),
            "Alembic's error reaches the user: {}",
            failed.stderr
        );
        assert_eq!(db.fingerprint(), before);
        assert_eq!(db.versions(), [ALEMBIC_REV]);
        std::fs::remove_file(alembic.versions().join("0008_fails.py")).unwrap();

        // A second upgrade: nothing to bridge, Alembic has nothing to do, nothing changes.
        let before = db.fingerprint();
        let again = ferry(&with_set(&set, &["upgrade", "--json", "-d", &db.url]))
            .expect(0)
            .json();
        assert!(kinds(&again).is_empty(), "{again}");
        assert_eq!(again["handoff"]["status"], 0);
        assert_eq!(again["heads"][0], ALEMBIC_REV);
        assert_eq!(db.fingerprint(), before, "the second run changed nothing");

        // Downgrades belong to Alembic.
        let refused = ferry(&with_set(&set, &["downgrade", "-1", "-d", &db.url])).expect(2);
        assert!(
            refused.stderr.contains(&alembic.upgrade_command())
                && refused.stderr.contains("alembic downgrade"),
            "{}",
            refused.stderr
        );
        assert_eq!(db.fingerprint(), before);

        if dialect == Dialect::Postgres {
            // --schema: ferry installs into that schema, and Alembic, told by FERRY_SCHEMA,
            // finds ferry's version table there and continues in it.
            ferry(&with_set(
                &set,
                &["upgrade", "--schema", "app", "-d", &db.url],
            ))
            .expect(0);
            assert_eq!(
                db.scalar("SELECT version_num FROM app.alembic_version")
                    .as_deref(),
                Some(ALEMBIC_REV)
            );
            assert!(has_column(&db, "app.bots", "alembic_note"));
            assert_eq!(db.versions(), [ALEMBIC_REV], "public is where it was");
        }
    });
}

/// The environment the hand-off command ran with, as it wrote it to `file`.
fn seen_env(file: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("the command wrote {}: {e}", file.display()))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A command that records its environment, prints on both streams, and exits with
/// `$HANDOFF_EXIT` (0 when unset).
fn recording_command(env_file: &Path) -> String {
    format!(
        "env | grep -E '^(FERRY_DATABASE_URL|DATABASE_URL|FERRY_SQLALCHEMY_URL|FERRY_SCHEMA)=' > '{}'; \
         echo handoff-says-hello; echo handoff-warns >&2; exit ${{HANDOFF_EXIT:-0}}",
        env_file.display()
    )
}

/// The hand-off command gets the database in its environment, its output reaches the user
/// (with `--json`, its stdout goes to stderr), and its exit status is ferry's.
#[test]
fn the_handoff_command_gets_the_database_and_its_status_is_ferrys() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let env_file = tmp.path().join("env.txt");
        let set = handoff_set(tmp.path(), &recording_command(&env_file));
        let db = TestDb::new(dialect);

        let run = ferry(&with_set(&set, &["upgrade", "--json", "-d", &db.url])).expect(0);
        let json = run.json(); // stdout is still one JSON object
        assert_eq!(kinds(&json), ["fresh"]);
        assert_eq!(json["heads"][0], "0001_baseline");
        assert!(run.stderr.contains("handoff-says-hello"), "{}", run.stderr);
        assert!(run.stderr.contains("handoff-warns"), "{}", run.stderr);
        let env = seen_env(&env_file);
        assert_eq!(env["FERRY_DATABASE_URL"], db.url);
        assert_eq!(env["DATABASE_URL"], db.url);
        assert_eq!(env["FERRY_SQLALCHEMY_URL"], sqlalchemy_url(&db));
        assert!(!env.contains_key("FERRY_SCHEMA"));

        // The URL from the environment is passed on as ferry got it.
        std::fs::remove_file(&env_file).unwrap();
        let run = ferry_env(
            &with_set(&set, &["upgrade"]),
            &[("DATABASE_URL", db.url.as_str())],
        )
        .expect(0);
        assert!(run.stdout.contains("handoff-says-hello"), "{}", run.stdout);
        assert!(run.stdout.contains("hand-off: `env |"), "{}", run.stdout);
        assert!(
            run.stdout.contains("bridge: nothing to do"),
            "{}",
            run.stdout
        );
        assert_eq!(seen_env(&env_file)["FERRY_DATABASE_URL"], db.url);

        // A non-zero status is ferry's exit status, and the error names the command.
        let before = db.fingerprint();
        let failed = ferry_env(
            &with_set(&set, &["upgrade", "-d", &db.url]),
            &[("HANDOFF_EXIT", "7")],
        )
        .expect(7);
        assert!(
            failed.stderr.contains("hand-off command `env |")
                && failed.stderr.contains("exited with status 7")
                && failed.stderr.contains("revision 0001_baseline"),
            "{}",
            failed.stderr
        );
        let failed = ferry_env(
            &with_set(&set, &["upgrade", "--json", "-d", &db.url]),
            &[("HANDOFF_EXIT", "7")],
        )
        .expect(7)
        .json();
        assert_eq!(failed["ok"], false);
        assert_eq!(failed["error"]["code"], 7);
        assert_eq!(failed["error"]["kind"], "handoff_failed");
        assert_eq!(failed["error"]["handoff"]["status"], 7);
        assert_eq!(db.fingerprint(), before);

        // plan and check show ferry's part and name the runner.
        let plan = ferry(&with_set(&set, &["plan", "--json", "-d", &db.url]))
            .expect(0)
            .json();
        assert!(kinds(&plan).is_empty());
        assert!(
            plan["handoff"]["command"]
                .as_str()
                .unwrap()
                .starts_with("env |")
        );
        let check = ferry(&with_set(&set, &["check", "-d", &db.url])).expect(0);
        assert!(check.stdout.contains("ask it"), "{}", check.stdout);

        if dialect == Dialect::Postgres {
            // --schema reaches the command as FERRY_SCHEMA.
            std::fs::remove_file(&env_file).unwrap();
            ferry(&with_set(
                &set,
                &["upgrade", "--schema", "app", "-d", &db.url],
            ))
            .expect(0);
            assert_eq!(seen_env(&env_file)["FERRY_SCHEMA"], "app");
        }
    });
}

/// The password in a PostgreSQL URL reaches the command and never ferry's output.
#[test]
fn the_password_goes_to_the_command_and_never_to_output() {
    let db = TestDb::new(Dialect::Postgres);
    let tmp = tempfile::tempdir().unwrap();
    let env_file = tmp.path().join("env.txt");
    let set = handoff_set(tmp.path(), &recording_command(&env_file));
    // The local test server trusts its clients and ignores a password; a throwaway cluster's
    // URL carries its own.
    let (scheme, rest) = db.url.split_once("://").expect("a URL");
    let (userinfo, host) = rest.split_once('@').expect("a user in the URL");
    let (url, password) = match userinfo.split_once(':') {
        Some((_, pw)) => (db.url.clone(), pw.to_string()),
        None => (
            format!("{scheme}://{userinfo}:s3cr3t-Pw@{host}"),
            "s3cr3t-Pw".to_string(),
        ),
    };
    for args in [
        vec!["upgrade", "-d", &url],
        vec!["upgrade", "--json", "-d", &url],
        vec!["status", "-d", &url],
    ] {
        for exit in ["0", "3"] {
            let run = ferry_env(&with_set(&set, &args), &[("HANDOFF_EXIT", exit)]);
            assert!(
                !run.stdout.contains(&password) && !run.stderr.contains(&password),
                "{args:?}: the password shows:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
    let env = seen_env(&env_file);
    assert!(
        env["FERRY_SQLALCHEMY_URL"].contains(&password),
        "the command gets the password: {}",
        env["FERRY_SQLALCHEMY_URL"]
    );
    assert!(env["FERRY_SQLALCHEMY_URL"].starts_with("postgresql://"));
}

/// A set with a hand-off hands an `ahead` database off again (its runner applied what ferry
/// does not know); without a hand-off the same database is refused with exit 3.
#[test]
fn ahead_is_handed_off_again_with_a_handoff_and_refused_without() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let env_file = tmp.path().join("env.txt");
        let set = handoff_set(tmp.path(), &recording_command(&env_file));
        let db = TestDb::new(dialect);
        ferry(&with_set(&set, &["upgrade", "-d", &db.url])).expect(0);
        db.exec("UPDATE alembic_version SET version_num = '0099_external'");
        std::fs::remove_file(&env_file).unwrap();

        let status = ferry(&with_set(&set, &["status", "--json", "-d", &db.url]))
            .expect(0)
            .json();
        assert_eq!(status["state"], "ahead");
        assert_eq!(status["refusal"], Value::Null);
        assert!(
            status["handoff"]["note"]
                .as_str()
                .unwrap()
                .contains("0099_external"),
            "{status}"
        );
        let before = db.fingerprint();
        let run = ferry(&with_set(&set, &["upgrade", "--json", "-d", &db.url]))
            .expect(0)
            .json();
        assert!(kinds(&run).is_empty());
        assert_eq!(run["heads"][0], "0099_external");
        assert!(env_file.exists(), "the command ran");
        assert_eq!(db.fingerprint(), before);

        // A target is the runner's business; ferry's own set refuses the database.
        let target = ferry(&with_set(&set, &["upgrade", "+1", "-d", &db.url])).expect(2);
        assert!(
            target.stderr.contains("without a target"),
            "{}",
            target.stderr
        );
        let refused = ferry(&["upgrade", "-d", &db.url]).expect(3);
        assert!(
            refused.stderr.contains("0099_external"),
            "{}",
            refused.stderr
        );
        assert_eq!(db.fingerprint(), before);
    });
}

/// Bad hand-off input: an empty command (exit 2), a command the shell cannot find (its status
/// 127, named), an in-memory database no other process can open (exit 2).
#[test]
fn bad_handoff_input_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = handoff_set(&tmp.path().join("empty"), "  ");
    let lint = ferry(&with_set(&empty, &["lint"])).expect(2);
    assert!(
        lint.stderr.contains("handoff.command is empty"),
        "{}",
        lint.stderr
    );
    let missing = handoff_set(
        &tmp.path().join("missing"),
        "/nonexistent/runner upgrade head",
    );
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        let before = db.fingerprint();
        let up = ferry(&with_set(&empty, &["upgrade", "-d", &db.url])).expect(2);
        assert!(up.stderr.contains("handoff.command"), "{}", up.stderr);
        assert_eq!(db.fingerprint(), before, "a refused set touches nothing");
        let run = ferry(&with_set(&missing, &["upgrade", "--json", "-d", &db.url])).expect(127);
        let json = run.json();
        assert_eq!(json["error"]["kind"], "handoff_failed");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("/nonexistent/runner upgrade head")
                && message.contains("could not find the command"),
            "{message}"
        );
        assert_eq!(db.versions(), ["0001_baseline"], "the bridge is committed");
    });
    let memory = ferry(&with_set(&missing, &["upgrade", "-d", "sqlite::memory:"])).expect(2);
    assert!(
        memory.stderr.contains("sqlite::memory:"),
        "{}",
        memory.stderr
    );
}

/// `history --verbose`: every revision with its downs, shape, message, transaction flag and
/// each SQL file per dialect with its sha256; branch and merge points are named.
#[test]
fn history_verbose_lists_files_with_their_digests() {
    let set = reference_set();
    let json = ferry(&["history", "--verbose", "--json"]).expect(0).json();
    let revisions = json["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), set.revisions.len() + 1);
    for entry in revisions {
        let id = entry["revision"].as_str().unwrap();
        let files = entry["files"].as_array().unwrap();
        assert!(!files.is_empty(), "{id} has files");
        for f in files {
            let path = f["path"].as_str().unwrap();
            let text = std::fs::read_to_string(repo().join(path)).unwrap();
            assert_eq!(f["sha256"], digest(&text), "{path}");
        }
        for dialect in ["sqlite", "postgres"] {
            assert!(
                files
                    .iter()
                    .any(|f| f["dialect"] == dialect && f["script"] == "up"),
                "{id}: an up script for {dialect}"
            );
        }
    }
    let by_id = |id: &str| {
        revisions
            .iter()
            .find(|r| r["revision"] == id)
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    assert_eq!(by_id(HEAD)["transaction"], false);
    assert_eq!(by_id(HEAD)["head"], true);
    assert_eq!(by_id("0005_llm_context_length")["transaction"], true);
    assert_eq!(by_id("0005_llm_context_length")["down"][0], "0004_bot_tags");
    assert_eq!(
        by_id("0001_baseline")["files"][0]["path"],
        "baseline/sqlite.sql"
    );
    let text = ferry(&["history", "--verbose"]).expect(0).stdout;
    assert!(
        text.starts_with(&format!(
            "Rev: {HEAD} (head)\nParent: 0005_llm_context_length\nTransaction: no"
        )),
        "{text}"
    );
    assert!(
        text.contains("revisions/0004_bot_tags/up.postgres.sql  sha256:"),
        "{text}"
    );

    // A branch and its merge.
    let tmp = tempfile::tempdir().unwrap();
    let branched = copy_reference_set(tmp.path());
    for (id, down) in [
        ("0007_a", format!("{HEAD:?}")),
        ("0007_b", format!("{HEAD:?}")),
        ("0008_merge", "[\"0007_a\", \"0007_b\"]".to_string()),
    ] {
        let dir = branched.join("revisions").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("revision.toml"),
            format!("down = {down}\nmessage = \"{id}\"\n"),
        )
        .unwrap();
        std::fs::write(dir.join("up.sql"), "SELECT 1;\n").unwrap();
    }
    let json = ferry(&with_set(&branched, &["history", "-v", "--json"]))
        .expect(0)
        .json();
    let find = |id: &str| {
        json["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["revision"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(find(HEAD)["branchpoint"], true);
    assert_eq!(find(HEAD)["head"], false);
    assert_eq!(find("0008_merge")["mergepoint"], true);
    assert_eq!(find("0008_merge")["head"], true);
    assert_eq!(find("0007_a")["branchpoint"], false);
    let text = ferry(&with_set(&branched, &["history", "-v"]))
        .expect(0)
        .stdout;
    assert!(
        text.contains(
            "Rev: 0008_merge (head) (mergepoint)\nParent: 0007_a, 0007_b\nMerges: 0007_a, 0007_b"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("Rev: {HEAD} (branchpoint)\nParent: 0005_llm_context_length\nBranches into: 0007_a, 0007_b")), "{text}");
}

/// `current --verbose`: each current revision with its message, downs, and when and by which
/// ferry on which host it was applied.
#[test]
fn current_verbose_says_when_and_by_whom() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "-d", &db.url]).expect(0);
        let json = ferry(&["current", "--verbose", "--json", "-d", &db.url])
            .expect(0)
            .json();
        let rev = &json["revisions"][0];
        assert_eq!(rev["revision"], HEAD);
        assert_eq!(rev["head"], true);
        assert_eq!(rev["down"][0], "0005_llm_context_length");
        assert!(
            rev["message"]
                .as_str()
                .unwrap()
                .starts_with("Index kb_documents")
        );
        assert_eq!(rev["applied"]["kind"], "upgrade");
        assert_eq!(rev["applied"]["ferry_version"], env!("CARGO_PKG_VERSION"));
        let finished = db.scalar(&format!(
            "SELECT finished_at FROM ferry_history WHERE revision = '{HEAD}' AND kind = 'upgrade'"
        ));
        assert_eq!(rev["applied"]["finished_at"].as_str(), finished.as_deref());
        let text = ferry(&["current", "-v", "-d", &db.url]).expect(0).stdout;
        assert!(
            text.starts_with(&format!(
                "Rev: {HEAD} (head)\nParent: 0005_llm_context_length\nApplied: {} (upgrade, ",
                finished.unwrap()
            )),
            "{text}"
        );

        ferry(&["stamp", "0001_baseline", "-d", &db.url]).expect(0);
        let json = ferry(&["current", "-v", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(json["revisions"][0]["applied"]["kind"], "stamp");
        assert_eq!(json["revisions"][0]["down"], Value::Array(Vec::new()));
    });
}

/// The lock is held while the runner runs, and names the hand-off: a `ferry status` from
/// inside the command sees it.
#[test]
fn the_lock_is_held_during_the_handoff() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("status.json");
        let command = format!(
            "'{}' status --json -d \"$FERRY_DATABASE_URL\" > '{}'",
            env!("CARGO_BIN_EXE_ferry"),
            out.display()
        );
        let set = handoff_set(tmp.path(), &command);
        let db = TestDb::new(dialect);
        ferry(&with_set(&set, &["upgrade", "-d", &db.url])).expect(0);
        let inside: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let holder = inside["lock_holder"]
            .as_str()
            .unwrap_or_else(|| panic!("no holder: {inside}"));
        assert!(holder.contains("hand-off to"), "{holder}");
        let after = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        assert_eq!(after["lock_holder"], Value::Null, "released afterwards");
    });
}

/// What is not SQL cannot be in a script or a rehearsal: `--sql`, `plan --from` and
/// `--rehearse` of a set with a hand-off say the command comes after, and leave it out.
#[test]
fn scripts_plans_and_rehearsals_name_the_handoff_they_leave_out() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran.txt");
    let command = format!("touch {}", marker.display());
    let set = handoff_set(tmp.path(), &command);
    let offline = ["--from", "legacy:24", "--dialect", "sqlite"];
    let script = ferry(&with_set(
        &set,
        &[&["upgrade", "--sql"][..], &offline].concat(),
    ))
    .expect(0);
    assert!(
        script.stdout.contains("-- then ferry hands off to `touch")
            && script.stdout.contains("not in this script"),
        "{}",
        script.stdout
    );
    let plan = ferry(&with_set(
        &set,
        &[&["plan", "--json"][..], &offline].concat(),
    ))
    .expect(0);
    assert_eq!(plan.json()["handoff"]["included"], false);
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "24", "-d", &db.url]).expect(0);
        let before = db.fingerprint();
        let run = ferry(&with_set(&set, &["upgrade", "--rehearse", "-d", &db.url])).expect(0);
        assert!(
            run.stdout.contains("which is not rehearsed"),
            "{}",
            run.stdout
        );
        assert!(
            !marker.exists(),
            "a rehearsal never runs the hand-off command"
        );
        assert_eq!(db.fingerprint(), before);
    });
}
