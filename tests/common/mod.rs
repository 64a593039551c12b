//! What every integration test shares: real databases of both dialects, the binary, the
//! reference set. One test body runs on SQLite and PostgreSQL through [`on_both`].
#![allow(dead_code)]

pub mod bulk;
pub mod pg;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferry::core::graph::Graph;
use ferry::core::schema::{Schema, diff};
use ferry::core::set::{Dialect, MigrationSet};
use ferry::driver::url::DatabaseUrl;
use ferry::driver::{self, Driver, OpenOptions, Rows};
use ferry::runner::Runner;

pub const DIALECTS: [Dialect; 2] = [Dialect::Sqlite, Dialect::Postgres];

/// Runs a test body once per dialect, each with fresh databases of its own.
pub fn on_both(body: impl Fn(Dialect)) {
    for dialect in DIALECTS {
        eprintln!("--- {}", dialect.name());
        body(dialect);
    }
}

/// A fresh, empty database of one dialect, removed when dropped.
pub struct TestDb {
    pub dialect: Dialect,
    pub url: String,
    pub path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<pg::PgDatabase>,
}

impl TestDb {
    pub fn new(dialect: Dialect) -> TestDb {
        match dialect {
            Dialect::Sqlite => {
                let dir = tempfile::tempdir().expect("a temp dir");
                let path = dir.path().join("app.db");
                TestDb {
                    dialect,
                    url: format!("sqlite:{}", path.display()),
                    path: Some(path),
                    _dir: Some(dir),
                    _pg: None,
                }
            }
            Dialect::Postgres => {
                let db = pg::fresh_database();
                TestDb {
                    dialect,
                    url: db.url.clone(),
                    path: None,
                    _dir: None,
                    _pg: Some(db),
                }
            }
        }
    }

    /// An existing SQLite file (not removed on drop).
    pub fn sqlite_at(path: &Path) -> TestDb {
        TestDb {
            dialect: Dialect::Sqlite,
            url: format!("sqlite:{}", path.display()),
            path: Some(path.to_path_buf()),
            _dir: None,
            _pg: None,
        }
    }

    /// Changes whenever anything in the database changes: the file's bytes on SQLite (a
    /// missing file included), every object and row on PostgreSQL.
    pub fn fingerprint(&self) -> String {
        match &self.path {
            Some(p) => match std::fs::read(p) {
                Ok(bytes) => {
                    ferry::core::set::digest(&String::from_utf8_lossy(&bytes))
                        + &format!(":{}", bytes.len())
                }
                Err(_) => "missing".into(),
            },
            None => pg::fingerprint(&self.url),
        }
    }

    pub fn open(&self) -> Box<dyn Driver> {
        let url = DatabaseUrl::parse(&self.url).expect("a valid test URL");
        driver::open(
            &url,
            &OpenOptions {
                create: true,
                schema: None,
                busy_timeout: Duration::from_secs(5),
            },
        )
        .expect("the test database opens")
    }

    pub fn exec(&self, sql: &str) {
        self.open()
            .execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn query(&self, sql: &str) -> Rows {
        self.open()
            .query(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first value of the first row.
    pub fn scalar(&self, sql: &str) -> Option<String> {
        self.query(sql)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
    }

    pub fn tables(&self) -> Vec<String> {
        self.open().tables().expect("tables")
    }

    /// The normalized schema, without ferry's tables and the marker's.
    pub fn snapshot(&self, set: &MigrationSet) -> Schema {
        self.open()
            .snapshot(&ferry::bookkeeping::skipped_tables(set))
            .expect("snapshot")
    }

    /// Rows per table, ferry's own tables left out.
    pub fn row_counts(&self) -> BTreeMap<String, i64> {
        let mut db = self.open();
        let mut counts = BTreeMap::new();
        for t in db.tables().expect("tables") {
            if t == "ferry_history" || t == "alembic_version" {
                continue;
            }
            let n = db
                .query(&format!("SELECT COUNT(*) FROM \"{t}\""))
                .expect("count");
            let n: i64 = n[0][0].as_deref().unwrap_or("0").parse().expect("a count");
            counts.insert(t, n);
        }
        counts
    }

    pub fn versions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .query("SELECT version_num FROM alembic_version")
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect();
        v.sort();
        v
    }

    pub fn marker(&self) -> Option<String> {
        self.scalar("SELECT value FROM metadata WHERE key = 'database_version'")
    }
}

/// A run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `ferry` from the repository root, with no database or set from the environment.
pub fn ferry(args: &[&str]) -> Run {
    ferry_env(args, &[])
}

/// Runs `ferry` with extra environment variables, applied last (so they may set the database).
pub fn ferry_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    ferry_at(&repo(), args, env)
}

/// Runs `ferry` in `dir` (relative SQLite paths and the compiled-in set's test data resolve
/// from there).
pub fn ferry_in(dir: &Path, args: &[&str]) -> Run {
    ferry_at(dir, args, &[])
}

fn ferry_at(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(dir)
        .env_remove("FERRY_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("FERRY_MIGRATIONS")
        .envs(env.iter().copied())
        .output()
        .expect("ferry runs");
    Run::of(&out)
}

impl Run {
    /// The outcome of a finished process.
    pub fn of(out: &std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The set compiled into the binary.
pub fn reference_set() -> MigrationSet {
    ferry::reference_set()
}

/// Copies the reference set into `dst` (to tamper with it).
pub fn copy_reference_set(dst: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }
    let root = dst.join("set");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::copy(repo().join("ferry.toml"), root.join("ferry.toml")).expect("copy ferry.toml");
    for dir in ["legacy", "baseline", "revisions"] {
        copy(&repo().join(dir), &root.join(dir));
    }
    root
}

/// Builds legacy version `n` of the compiled-in set, with the reference seeds, at `url`.
pub fn seeded_fixture(url: &str, n: u32) {
    ferry(&[
        "fixture",
        "--legacy",
        &n.to_string(),
        "--seeds",
        "tests/seeds",
        "-d",
        url,
    ])
    .expect(0);
}

/// Adds a revision directory on `down` to a set by hand (its message is its id).
pub fn add_revision(set: &Path, id: &str, down: &str, up: &str, down_sql: &str) {
    write_revision(
        set,
        id,
        down,
        true,
        &[("up.sql", up), ("down.sql", down_sql)],
    );
}

/// Writes `revisions/<id>/` on `down` by hand: its revision.toml (message = id, and
/// `transaction = false` when asked) and the named SQL files.
pub fn write_revision(set: &Path, id: &str, down: &str, transaction: bool, files: &[(&str, &str)]) {
    let dir = set.join("revisions").join(id);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut toml = format!("down = \"{down}\"\nmessage = \"{id}\"\n");
    if !transaction {
        toml.push_str("transaction = false\n");
    }
    std::fs::write(dir.join("revision.toml"), toml).expect("revision.toml");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("a SQL file");
    }
}

/// A runner over a driver, without progress output.
pub fn runner<'a>(set: &'a MigrationSet, graph: &'a Graph, db: &'a mut dyn Driver) -> Runner<'a> {
    let mut runner = Runner::new(set, graph, db);
    runner.lock_timeout = Duration::from_secs(10);
    runner
}

/// The schema of a fresh install at head.
pub fn fresh_schema(dialect: Dialect, set: &MigrationSet) -> Schema {
    let db = TestDb::new(dialect);
    let graph = Graph::new(set).expect("graph");
    let mut d = db.open();
    runner(set, &graph, d.as_mut())
        .upgrade("head")
        .expect("fresh install");
    drop(d);
    db.snapshot(set)
}

/// Asserts two schemas are equal, listing the differences when not.
pub fn assert_same_schema(expected: &Schema, actual: &Schema, context: &str) {
    let differences = diff(expected, actual);
    assert!(
        differences.is_empty(),
        "{context}: the schema differs from the expected one:\n  {}",
        differences
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}
