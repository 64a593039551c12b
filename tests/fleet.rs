//! `ferry fleet` (spec §6.4) on real databases: SQLite files and PostgreSQL schemas at mixed
//! legacy versions, revisions and states, upgraded in one run; refused targets left unchanged;
//! shards that partition the fleet; --fail-fast; a SIGKILL of the whole run, then a re-run.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ferry::core::schema::Schema;
use ferry::core::set::Dialect;
use ferry::driver::url::DatabaseUrl;
use ferry::driver::{self, Driver, OpenOptions};
use serde_json::Value;

const HEAD: &str = "0006_kb_documents_status_index";

/// What a tenant is made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Legacy(u32),
    /// The newest 4.1.x release: a managed database at a revision below head.
    Release41,
    Empty,
    AtHead,
    /// Tables, no marker, no version table: refused.
    Unversioned,
    /// A version-table row the set does not know: refused.
    Ahead,
}

impl Kind {
    fn refused(self) -> bool {
        matches!(self, Kind::Unversioned | Kind::Ahead)
    }
}

/// The mix of a fleet of `n`: every legacy era, a revision, empty, at head, two refusals.
fn kind_of(i: usize) -> Kind {
    match i % 10 {
        0 => Kind::Legacy(1),
        1 => Kind::Legacy(4),
        2 => Kind::Legacy(9),
        3 => Kind::Legacy(17),
        4 => Kind::Legacy(25),
        5 => Kind::Release41,
        6 => Kind::Empty,
        7 => Kind::AtHead,
        8 if i % 20 == 8 => Kind::Unversioned,
        8 => Kind::Ahead,
        _ => Kind::Legacy(12),
    }
}

/// One tenant: a SQLite file, or a schema of one PostgreSQL database.
struct Tenant {
    kind: Kind,
    /// The line of a --targets file, and the report's `target` (no password here).
    line: String,
    url: String,
    schema: Option<String>,
    path: Option<PathBuf>,
}

impl Tenant {
    fn open(&self) -> Box<dyn Driver> {
        driver::open(
            &DatabaseUrl::parse(&self.url).expect("a test URL"),
            &OpenOptions {
                create: false,
                schema: self.schema.clone(),
                busy_timeout: Duration::from_secs(5),
            },
        )
        .expect("the tenant opens")
    }

    /// Changes whenever anything of the tenant changes: the file's bytes, or the schema's
    /// objects and every row of its tables.
    fn fingerprint(&self) -> String {
        if let Some(path) = &self.path {
            return TestDb::sqlite_at(path).fingerprint();
        }
        let mut db = self.open();
        let mut text = format!("{:?}", db.snapshot(&[]).expect("snapshot"));
        let mut tables = db.tables().expect("tables");
        tables.sort();
        for t in tables {
            let mut rows = db.query(&format!("SELECT * FROM \"{t}\"")).expect("rows");
            rows.sort();
            text.push_str(&format!("\n{t}: {rows:?}"));
        }
        text
    }

    fn snapshot(&self, set: &ferry::MigrationSet) -> Schema {
        self.open()
            .snapshot(&ferry::bookkeeping::skipped_tables(set))
            .expect("snapshot")
    }

    fn versions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .open()
            .query("SELECT version_num FROM alembic_version")
            .expect("alembic_version")
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect();
        v.sort();
        v
    }
}

/// The templates of each kind (SQLite: built once, copied per tenant).
fn build(kind: Kind, url: &str, schema: Option<&str>) {
    let mut args: Vec<String> = vec!["fixture".into()];
    match kind {
        Kind::Legacy(n) => args.extend(["--legacy".into(), n.to_string()]),
        Kind::Release41 | Kind::Ahead => args.extend(["--release".into(), "4.1".into()]),
        Kind::AtHead => args.extend(["--revision".into(), "head".into()]),
        Kind::Empty | Kind::Unversioned => {}
    }
    let tenant_sql = |sql: &str| {
        let url = DatabaseUrl::parse(url).expect("url");
        let mut db = driver::open(
            &url,
            &OpenOptions {
                create: true,
                schema: schema.map(str::to_string),
                busy_timeout: Duration::from_secs(5),
            },
        )
        .expect("open");
        db.execute(sql).expect("hand edit");
    };
    if args.len() > 1 {
        args.extend(["-d".into(), url.into()]);
        if let Some(s) = schema {
            args.extend(["--schema".into(), s.into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ferry(&args).expect(0);
    }
    match kind {
        Kind::Ahead => {
            tenant_sql("UPDATE alembic_version SET version_num = '0099_from_a_newer_build'")
        }
        Kind::Unversioned => tenant_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"),
        // An empty schema exists; an empty SQLite file is a file of no bytes.
        Kind::Empty if schema.is_some() => tenant_sql("SELECT 1"),
        _ => {}
    }
}

/// A fleet of `n` tenants of `dialect`, in `dir` (SQLite) or in one fresh PostgreSQL database.
struct Fleet {
    tenants: Vec<Tenant>,
    dir: tempfile::TempDir,
    _db: Option<TestDb>,
}

impl Fleet {
    fn new(dialect: Dialect, n: usize) -> Fleet {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut tenants = Vec::new();
        match dialect {
            Dialect::Sqlite => {
                let templates = dir.path().join("templates");
                std::fs::create_dir_all(&templates).expect("mkdir");
                std::fs::create_dir_all(dir.path().join("tenants")).expect("mkdir");
                let mut built = std::collections::BTreeMap::new();
                for i in 0..n {
                    let kind = kind_of(i);
                    let template = built
                        .entry(format!("{kind:?}"))
                        .or_insert_with(|| {
                            let path = templates.join(format!("{}.db", built_name(kind)));
                            if kind == Kind::Empty {
                                std::fs::write(&path, b"").expect("an empty file");
                            } else {
                                build(kind, &format!("sqlite:{}", path.display()), None);
                            }
                            path
                        })
                        .clone();
                    let path = dir.path().join("tenants").join(format!("t{i:03}.db"));
                    std::fs::copy(&template, &path).expect("copy");
                    let url = format!("sqlite:{}", path.display());
                    tenants.push(Tenant {
                        kind,
                        line: url.clone(),
                        url,
                        schema: None,
                        path: Some(path),
                    });
                }
                Fleet {
                    tenants,
                    dir,
                    _db: None,
                }
            }
            Dialect::Postgres => {
                let db = TestDb::new(Dialect::Postgres);
                for i in 0..n {
                    let kind = kind_of(i);
                    let schema = format!("tenant_{i:03}");
                    build(kind, &db.url, Some(&schema));
                    tenants.push(Tenant {
                        kind,
                        line: format!(
                            "{} --schema {schema}",
                            DatabaseUrl::parse(&db.url).expect("url").display()
                        ),
                        url: db.url.clone(),
                        schema: Some(schema),
                        path: None,
                    });
                }
                Fleet {
                    tenants,
                    dir,
                    _db: Some(db),
                }
            }
        }
    }

    /// A --targets file naming every tenant.
    fn targets_file(&self) -> PathBuf {
        let path = self.dir.path().join("targets.txt");
        let mut text = String::from("# the fleet\n\n");
        for t in &self.tenants {
            text.push_str(&t.url_line());
            text.push('\n');
        }
        std::fs::write(&path, text).expect("targets.txt");
        path
    }
}

fn built_name(kind: Kind) -> String {
    format!("{kind:?}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

impl Tenant {
    /// The --targets line with the URL as given (a PostgreSQL test server may have a password).
    fn url_line(&self) -> String {
        match &self.schema {
            Some(s) => format!("{} --schema {s}", self.url),
            None => self.url.clone(),
        }
    }
}

/// The JSON lines of a `--json` fleet run: the targets' objects, and the summary.
fn lines(run: &Run) -> (Vec<Value>, Value) {
    let mut objects: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let summary = objects.pop().expect("a summary line");
    assert!(
        summary.get("summary").is_some(),
        "the last line is the summary: {summary}"
    );
    (objects, summary["summary"].clone())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

#[test]
fn a_mixed_fleet_upgrades_in_one_run_and_refused_tenants_stay_unchanged() {
    on_both(|dialect| {
        let n = match dialect {
            Dialect::Sqlite => 200,
            Dialect::Postgres => 40,
        };
        let set = reference_set();
        let fresh = fresh_schema(dialect, &set);
        let fleet = Fleet::new(dialect, n);
        let before: Vec<String> = fleet.tenants.iter().map(Tenant::fingerprint).collect();
        let targets = fleet.targets_file();
        let backups = fleet.dir.path().join("backups");
        std::fs::create_dir_all(&backups).expect("mkdir");

        let run = ferry(&[
            "fleet",
            "upgrade",
            "--targets",
            path_str(&targets),
            "-j",
            "2",
            "--json",
            "--backup-dir",
            path_str(&backups),
        ])
        .expect(3);
        let (objects, summary) = lines(&run);
        let refused = fleet.tenants.iter().filter(|t| t.kind.refused()).count();
        assert!(refused >= 1);
        assert_eq!(summary["targets"], n, "{summary}");
        assert_eq!(summary["ok"], n - refused, "{summary}");
        assert_eq!(summary["refused"], refused, "{summary}");
        assert_eq!(summary["failed"], 0, "{summary}");
        assert_eq!(summary["pending"], 0, "{summary}");
        assert_eq!(objects.len(), n, "one line per target");

        for (t, fingerprint) in fleet.tenants.iter().zip(&before) {
            let o = objects
                .iter()
                .find(|o| o["target"] == t.line.as_str())
                .unwrap_or_else(|| panic!("{} is in the report:\n{}", t.line, run.stdout));
            for key in [
                "target",
                "ok",
                "exit",
                "state_before",
                "state_after",
                "steps",
                "duration_ms",
                "error",
            ] {
                assert!(o.get(key).is_some(), "{key} in {o}");
            }
            if t.kind.refused() {
                assert_eq!(o["ok"], false, "{o}");
                assert_eq!(o["exit"], 3, "{o}");
                assert!(o["error"].as_str().is_some_and(|e| !e.is_empty()), "{o}");
                assert_eq!(&t.fingerprint(), fingerprint, "{} is unchanged", t.line);
            } else {
                assert_eq!(o["ok"], true, "{o}");
                assert_eq!(o["exit"], 0, "{o}");
                assert_eq!(t.versions(), [HEAD], "{}", t.line);
                assert_same_schema(&fresh, &t.snapshot(&set), &t.line);
                let steps = o["steps"].as_u64().expect("steps");
                assert_eq!(steps == 0, t.kind == Kind::AtHead, "{o}");
            }
        }
        if dialect == Dialect::Sqlite {
            // Each upgraded file was backed up on its own, into --backup-dir.
            let n_backups = std::fs::read_dir(&backups).map_or(0, |d| d.count());
            let written = fleet
                .tenants
                .iter()
                .filter(|t| !t.kind.refused() && !matches!(t.kind, Kind::AtHead | Kind::Empty))
                .count();
            assert!(
                n_backups >= written,
                "{n_backups} backups for {written} upgraded files"
            );
        }

        // Text: one line per target that did anything or went wrong, then the summary.
        let again = ferry(&["fleet", "upgrade", "--targets", path_str(&targets)]).expect(3);
        let named: Vec<&str> = again
            .stdout
            .lines()
            .filter(|l| l.starts_with("  "))
            .collect();
        assert_eq!(
            named.len(),
            refused,
            "only the refused ones:\n{}",
            again.stdout
        );
        assert!(
            named.iter().all(|l| l.contains("refused (exit 3)")),
            "{}",
            again.stdout
        );
        assert!(
            again.stdout.contains(&format!("{n} target(s)")) && again.stdout.contains("slowest: "),
            "{}",
            again.stdout
        );

        // check: exit 3 (a refusal outranks pending), and 0 once the refused ones are left out.
        let good: String = fleet
            .tenants
            .iter()
            .filter(|t| !t.kind.refused())
            .map(|t| t.url_line() + "\n")
            .collect();
        let good_file = fleet.dir.path().join("good.txt");
        std::fs::write(&good_file, good).expect("good.txt");
        ferry(&["fleet", "check", "--targets", path_str(&targets)]).expect(3);
        ferry(&["fleet", "check", "--targets", path_str(&good_file)]).expect(0);
        // verify builds each expected schema in a scratch database (on PostgreSQL a database
        // of its own): a few targets show it.
        let few: String = fleet
            .tenants
            .iter()
            .filter(|t| !t.kind.refused())
            .take(3)
            .map(|t| t.url_line() + "\n")
            .collect();
        std::fs::write(&good_file, few).expect("good.txt");
        ferry(&[
            "fleet",
            "verify",
            "--targets",
            path_str(&good_file),
            "-j",
            "2",
        ])
        .expect(0);
    });
}

#[test]
fn sqlite_glob_and_postgres_schemas_name_the_targets() {
    // --sqlite-glob: every matching file, nothing else.
    let fleet = Fleet::new(Dialect::Sqlite, 10);
    std::fs::write(
        fleet.dir.path().join("tenants").join("notes.txt"),
        "not a tenant",
    )
    .expect("write");
    let pattern = format!("{}/tenants/t*.db", fleet.dir.path().display());
    let run = ferry(&["fleet", "status", "--sqlite-glob", &pattern, "--json"]).expect(0);
    let (objects, summary) = lines(&run);
    assert_eq!(objects.len(), 10);
    assert_eq!(summary["targets"], 10);
    let run = ferry(&["fleet", "check", "--sqlite-glob", &pattern, "--json"]).expect(3);
    let (objects, summary) = lines(&run);
    assert_eq!(summary["pending"], 8, "{summary}");
    assert!(objects.iter().any(|o| o["exit"] == 1));
    // A glob that matches nothing, or no source at all: exit 2, a clear message.
    let none = format!("{}/nothing-*.db", fleet.dir.path().display());
    let run = ferry(&["fleet", "upgrade", "--sqlite-glob", &none]).expect(2);
    assert!(run.stderr.contains("names no target"), "{}", run.stderr);
    let run = ferry(&[
        "fleet",
        "upgrade",
        "-d",
        "sqlite:x.db",
        "--sqlite-glob",
        &pattern,
    ])
    .expect(2);
    assert!(run.stderr.contains("leave -d out"), "{}", run.stderr);
    let run = ferry(&["fleet", "upgrade"]).expect(2);
    assert!(
        run.stderr.contains("exactly one of --targets"),
        "{}",
        run.stderr
    );

    // -d URL --schemas LIKE: every matching schema, each as --schema NAME; others untouched.
    let pg = Fleet::new(Dialect::Postgres, 3);
    let url = &pg.tenants[0].url;
    build(Kind::Legacy(3), url, Some("other_app"));
    let other = Tenant {
        kind: Kind::Legacy(3),
        line: String::new(),
        url: url.clone(),
        schema: Some("other_app".into()),
        path: None,
    };
    let other_before = other.fingerprint();
    let run = ferry(&[
        "fleet",
        "upgrade",
        "-d",
        url,
        "--schemas",
        "tenant_%",
        "--json",
    ])
    .expect(0);
    let (objects, summary) = lines(&run);
    assert_eq!(summary["targets"], 3, "{}", run.stdout);
    for t in &pg.tenants {
        assert!(
            objects.iter().any(|o| o["target"] == t.line.as_str()),
            "{}",
            run.stdout
        );
        assert_eq!(t.versions(), [HEAD]);
    }
    assert_eq!(
        other.fingerprint(),
        other_before,
        "a schema the pattern does not match"
    );
    let run = ferry(&["fleet", "check", "-d", url, "--schemas", "nobody_%"]).expect(2);
    assert!(run.stderr.contains("names no target"), "{}", run.stderr);
    let run = ferry(&["fleet", "check", "--schemas", "tenant_%"]).expect(2);
    assert!(run.stderr.contains("-d URL"), "{}", run.stderr);
}

#[test]
fn shards_partition_the_fleet() {
    on_both(|dialect| {
        let n = match dialect {
            Dialect::Sqlite => 30,
            Dialect::Postgres => 8,
        };
        let fleet = Fleet::new(dialect, n);
        let targets = fleet.targets_file();
        let all: BTreeSet<String> = fleet.tenants.iter().map(|t| t.line.clone()).collect();
        for count in [1, 3, 4] {
            let mut seen = BTreeSet::new();
            for k in 0..count {
                let shard = format!("{k}/{count}");
                let run = ferry(&[
                    "fleet",
                    "status",
                    "--targets",
                    path_str(&targets),
                    "--shard",
                    &shard,
                    "--json",
                ]);
                let (objects, _) = lines(&run);
                for o in objects {
                    let t = o["target"].as_str().expect("target").to_string();
                    assert!(seen.insert(t.clone()), "{t} falls in two shards of {count}");
                }
            }
            assert_eq!(seen, all, "the shards of {count} cover the fleet");
        }
        // The same target always falls in the same shard.
        let once = ferry(&[
            "fleet",
            "status",
            "--targets",
            path_str(&targets),
            "--shard",
            "1/3",
            "--json",
        ]);
        let twice = ferry(&[
            "fleet",
            "status",
            "--targets",
            path_str(&targets),
            "--shard",
            "1/3",
            "--json",
        ]);
        let names = |r: &Run| -> BTreeSet<String> {
            lines(r)
                .0
                .iter()
                .map(|o| o["target"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        assert_eq!(names(&once), names(&twice));
        // Bad shards: exit 2, saying what a shard is; nothing runs.
        let before: Vec<String> = fleet.tenants.iter().map(Tenant::fingerprint).collect();
        for bad in ["3/3", "0/0", "x/2", "1", "-1/2"] {
            let run = ferry(&[
                "fleet",
                "upgrade",
                "--targets",
                path_str(&targets),
                "--shard",
                bad,
            ])
            .expect(2);
            assert!(run.stderr.contains("K/N"), "{bad}: {}", run.stderr);
        }
        let run = ferry(&[
            "fleet",
            "upgrade",
            "--targets",
            path_str(&targets),
            "-j",
            "0",
        ])
        .expect(2);
        assert!(run.stderr.contains("-j"), "{}", run.stderr);
        let after: Vec<String> = fleet.tenants.iter().map(Tenant::fingerprint).collect();
        assert_eq!(before, after);
    });
}

#[test]
fn fail_fast_stops_starting_new_targets() {
    on_both(|dialect| {
        let fleet = Fleet::new(dialect, 10);
        // The refused tenant first, then five legacy ones, one worker.
        let refused = fleet
            .tenants
            .iter()
            .find(|t| t.kind == Kind::Unversioned)
            .expect("one");
        let rest: Vec<&Tenant> = fleet
            .tenants
            .iter()
            .filter(|t| matches!(t.kind, Kind::Legacy(_)))
            .take(5)
            .collect();
        let file = fleet.dir.path().join("ff.txt");
        let text: String = std::iter::once(refused)
            .chain(rest.iter().copied())
            .map(|t| t.url_line() + "\n")
            .collect();
        std::fs::write(&file, text).expect("ff.txt");
        let before: Vec<String> = rest.iter().map(|t| t.fingerprint()).collect();
        let run = ferry(&[
            "fleet",
            "upgrade",
            "--targets",
            path_str(&file),
            "-j",
            "1",
            "--fail-fast",
            "--json",
        ])
        .expect(3);
        let (objects, summary) = lines(&run);
        assert_eq!(summary["refused"], 1, "{summary}");
        assert_eq!(summary["not_started"], 5, "{summary}");
        assert_eq!(summary["ok"], 0, "{summary}");
        assert_eq!(objects.len(), 6, "every target is named, started or not");
        let after: Vec<String> = rest.iter().map(|t| t.fingerprint()).collect();
        assert_eq!(before, after, "no new target started after the failure");
        // Without --fail-fast the others go on.
        let run = ferry(&[
            "fleet",
            "upgrade",
            "--targets",
            path_str(&file),
            "-j",
            "1",
            "--json",
        ])
        .expect(3);
        assert_eq!(lines(&run).1["ok"], 5);
    });
}

#[test]
fn a_killed_fleet_run_finishes_on_the_next_run() {
    on_both(|dialect| {
        let n = match dialect {
            Dialect::Sqlite => 40,
            Dialect::Postgres => 10,
        };
        let set = reference_set();
        let fresh = fresh_schema(dialect, &set);
        let fleet = Fleet::new(dialect, n);
        let targets = fleet.targets_file();
        let good: Vec<&Tenant> = fleet.tenants.iter().filter(|t| !t.kind.refused()).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args([
                "fleet",
                "upgrade",
                "--targets",
                path_str(&targets),
                "-j",
                "2",
                "--no-backup",
                "--json",
            ])
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry starts");
        // Killed once some, not all, tenants are through.
        let started = Instant::now();
        loop {
            let done = good
                .iter()
                .filter(|t| t.kind != Kind::AtHead && t.versions_or_none() == [HEAD])
                .count();
            if done >= 1 || started.elapsed() > Duration::from_secs(30) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let still_running = child.try_wait().expect("try_wait").is_none();
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        assert!(still_running, "the fleet run was killed before it finished");
        let run = ferry(&[
            "fleet",
            "upgrade",
            "--targets",
            path_str(&targets),
            "-j",
            "2",
            "--no-backup",
            "--json",
        ])
        .expect(3);
        let (_, summary) = lines(&run);
        assert_eq!(summary["ok"], good.len(), "{summary}");
        for t in &good {
            assert_eq!(t.versions(), [HEAD], "{}", t.line);
            assert_same_schema(&fresh, &t.snapshot(&set), &t.line);
        }
    });
}

impl Tenant {
    /// The version table's rows, or none while it does not exist yet.
    fn versions_or_none(&self) -> Vec<String> {
        let mut db = self.open();
        match db.query("SELECT version_num FROM alembic_version") {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

#[test]
fn passwords_stay_out_of_the_report() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("t.txt");
    std::fs::write(
        &file,
        "postgres://fleet:hunter2@127.0.0.1:1/nowhere?connect_timeout=2\n",
    )
    .expect("write");
    let run = ferry(&["fleet", "status", "--targets", path_str(&file), "--json"]).expect(6);
    assert!(
        !run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"),
        "{}",
        run.stdout
    );
    let (objects, summary) = lines(&run);
    assert_eq!(objects[0]["exit"], 6);
    assert_eq!(summary["failed"], 1);
    // A bad line: exit 2, naming the file and the line.
    std::fs::write(&file, "# ok\nsqlite:a.db --schema x\n").expect("write");
    let run = ferry(&["fleet", "status", "--targets", path_str(&file)]).expect(2);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
}
