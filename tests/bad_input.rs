//! The bad-input catalogue: bad files, URLs, servers, migration sets, database states and
//! targets. Every case asserts the exit code of the spec (§4), a message that names what is
//! wrong (on stderr, and in `--json`'s `error.code`/`error.kind`/`error.message`), and that the
//! database did not change: byte for byte on SQLite (nor did anything appear beside the file),
//! fingerprint for fingerprint on PostgreSQL. Whatever concerns the database or the set runs on
//! both dialects.
//!
//! The cases are grouped in tables; a table runs every case and then fails once, listing each
//! case that failed and why.

mod common;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::*;
use ferry::core::set::Dialect;

const HEAD: &str = "0006_kb_documents_status_index";

/// What a bad command must produce.
struct Expect {
    code: i32,
    /// `error.kind` under `--json`.
    kind: &'static str,
    /// Words the message must contain (stderr, and `error.message` under `--json`).
    words: Vec<String>,
    /// Text that must appear nowhere in the output (passwords).
    hidden: Vec<String>,
}

fn expect(code: i32, kind: &'static str, words: &[&str]) -> Expect {
    Expect {
        code,
        kind,
        words: words.iter().map(|w| w.to_string()).collect(),
        hidden: Vec::new(),
    }
}

/// How to tell whether the database changed.
struct Watch {
    fingerprint: Box<dyn Fn() -> String>,
    /// A SQLite file's directory: nothing may appear in it or vanish from it (no backup, lock,
    /// journal or new file left behind).
    dir: Option<PathBuf>,
}

impl Watch {
    fn db(db: &TestDb) -> Watch {
        match &db.path {
            Some(path) => Watch::file(path),
            None => {
                let url = db.url.clone();
                Watch {
                    fingerprint: Box::new(move || common::pg::fingerprint(&url)),
                    dir: None,
                }
            }
        }
    }

    fn file(path: &Path) -> Watch {
        let file = TestDb::sqlite_at(path);
        Watch {
            fingerprint: Box::new(move || file.fingerprint()),
            dir: path.parent().map(Path::to_path_buf),
        }
    }

    fn none() -> Watch {
        Watch {
            fingerprint: Box::new(String::new),
            dir: None,
        }
    }

    fn snapshot(&self) -> (String, Vec<String>) {
        let listing = self.dir.as_deref().map(listing).unwrap_or_default();
        ((self.fingerprint)(), listing)
    }
}

/// The names in a directory, sorted (empty when it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The failures of one table, reported together at the end.
#[derive(Default)]
struct Failures {
    cases: RefCell<usize>,
    failed: RefCell<Vec<String>>,
}

impl Failures {
    fn fail(&self, case: &str, message: String) {
        self.failed.borrow_mut().push(format!("[{case}] {message}"));
    }

    fn finish(self, table: &str) {
        let failed = self.failed.into_inner();
        let cases = self.cases.into_inner();
        eprintln!("{table}: {cases} case run(s), {} failure(s)", failed.len());
        assert!(
            failed.is_empty(),
            "{table}: {} failure(s) in {cases} case run(s):\n\n{}",
            failed.len(),
            failed.join("\n\n")
        );
    }

    /// Runs one bad command twice (text, then `--json`) and checks the exit code, the message
    /// and that nothing changed. Returns whether every check held.
    fn check(
        &self,
        case: &str,
        watch: &Watch,
        args: &[&str],
        env: &[(&str, &str)],
        expect: &Expect,
    ) -> bool {
        *self.cases.borrow_mut() += 1;
        let before_count = self.failed.borrow().len();
        let before = watch.snapshot();

        let run = ferry_env(args, env);
        let shown = format!(
            "$ ferry {}\nstdout: {}\nstderr: {}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
        if run.code != expect.code {
            self.fail(
                case,
                format!("exit code {} instead of {}\n{shown}", run.code, expect.code),
            );
        }
        if !run.stderr.trim_start().starts_with("error") {
            self.fail(
                case,
                format!("stderr does not start with \"error\"\n{shown}"),
            );
        }
        for word in &expect.words {
            if !run.stderr.contains(word.as_str()) {
                self.fail(case, format!("{word:?} is not in the message\n{shown}"));
            }
        }

        let mut json_args = args.to_vec();
        json_args.push("--json");
        let json_run = ferry_env(&json_args, env);
        let json_shown = format!(
            "$ ferry {}\nstdout: {}\nstderr: {}",
            json_args.join(" "),
            json_run.stdout,
            json_run.stderr
        );
        if json_run.code != expect.code {
            self.fail(
                case,
                format!(
                    "--json: exit code {} instead of {}\n{json_shown}",
                    json_run.code, expect.code
                ),
            );
        }
        match serde_json::from_str::<serde_json::Value>(&json_run.stdout) {
            Err(e) => self.fail(
                case,
                format!("--json: stdout is not JSON ({e})\n{json_shown}"),
            ),
            Ok(json) => {
                let error = &json["error"];
                if json["ok"] != false
                    || error["code"] != expect.code
                    || error["kind"] != expect.kind
                {
                    self.fail(
                        case,
                        format!(
                            "--json: expected ok=false, error.code={} and error.kind={:?}\n{json_shown}",
                            expect.code, expect.kind
                        ),
                    );
                }
                let message = error["message"].as_str().unwrap_or_default();
                for word in &expect.words {
                    if !message.contains(word.as_str()) {
                        self.fail(
                            case,
                            format!("--json: {word:?} is not in error.message\n{json_shown}"),
                        );
                    }
                }
            }
        }

        for out in [&run.stdout, &run.stderr, &json_run.stdout, &json_run.stderr] {
            if out.contains("panicked") || out.contains("RUST_BACKTRACE") {
                self.fail(case, format!("ferry panicked\n{shown}\n{json_shown}"));
            }
            for secret in &expect.hidden {
                if out.contains(secret.as_str()) {
                    self.fail(case, format!("{secret:?} is shown\n{shown}\n{json_shown}"));
                }
            }
        }

        let after = watch.snapshot();
        if after.0 != before.0 {
            self.fail(
                case,
                format!("the database changed: {} → {}\n{shown}", before.0, after.0),
            );
        }
        if after.1 != before.1 {
            self.fail(
                case,
                format!(
                    "the database's directory changed: {:?} → {:?}\n{shown}",
                    before.1, after.1
                ),
            );
        }
        self.failed.borrow().len() == before_count
    }
}

/// Runs ferry with `-d URL` appended, for preparing a database; it must succeed.
fn prepare(db: &TestDb, args: &[&str]) {
    let mut a = args.to_vec();
    a.extend(["-d", &db.url]);
    if db.dialect == Dialect::Sqlite {
        a.push("--no-backup");
    }
    ferry(&a).expect(0);
}

/// `args` then `-d URL`.
fn with_db<'a>(args: &[&'a str], db: &'a TestDb) -> Vec<&'a str> {
    let mut a = args.to_vec();
    a.extend(["-d", db.url.as_str()]);
    a
}

// ---------------------------------------------------------------------------------------
// Files that are not SQLite databases (SQLite only: these are file matters).
// ---------------------------------------------------------------------------------------

/// A SQLite file as legacy 5 left it, at `path`.
fn legacy5_file(path: &Path) -> Vec<u8> {
    ferry(&["fixture", "--legacy", "5", path.to_str().unwrap()]).expect(0);
    std::fs::read(path).unwrap()
}

/// Deterministic noise (xorshift64*), so a failing case can be reproduced.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn files_that_are_not_databases_exit_6_and_stay_as_they_were() {
    let f = Failures::default();
    let tmp = tempfile::tempdir().unwrap();
    let good = legacy5_file(&tmp.path().join("good.db"));

    // A path inside a missing directory: the directory is not created (upgrade creates a
    // missing file, never its directories).
    {
        let missing_dir = tmp.path().join("no/such/dir");
        let path = missing_dir.join("app.db");
        let url = format!("sqlite:{}", path.display());
        f.check(
            "a path inside a missing directory",
            &Watch::file(&path),
            &["upgrade", "-d", &url],
            &[],
            &expect(6, "open", &["cannot open", &path.display().to_string()]),
        );
        if tmp.path().join("no").exists() {
            f.fail(
                "a path inside a missing directory",
                "its directories were created".into(),
            );
        }
    }

    // A directory given as the database, in each URL form.
    {
        let dir = tmp.path().join("a_directory");
        std::fs::create_dir(&dir).unwrap();
        let d = dir.display().to_string();
        for url in [format!("sqlite:{d}"), format!("sqlite:///{d}"), d.clone()] {
            f.check(
                &format!("a directory as the database ({url})"),
                &Watch::file(&dir.join("inside")),
                &["upgrade", "-d", &url],
                &[],
                &expect(
                    6,
                    "open",
                    &[&d, "is a directory, not a SQLite database file"],
                ),
            );
        }
        if !listing(&dir).is_empty() {
            f.fail(
                "a directory as the database",
                format!("files appeared in it: {:?}", listing(&dir)),
            );
        }
    }

    // Files whose bytes are not a usable database.
    let page_size = match u16::from_be_bytes([good[16], good[17]]) {
        1 => 65536,
        n => usize::from(n),
    };
    assert!(
        good.len() > page_size,
        "the legacy 5 database has more than one page"
    );
    let mut corrupt = good[..page_size].to_vec();
    corrupt.extend(noise(good.len() - page_size, 0x00f3_22a7_5eed));
    let files: [(&str, Vec<u8>, &[&str]); 3] = [
        (
            "a truncated database (its first 100 bytes)",
            good[..100].to_vec(),
            &["not a usable SQLite database", "malformed"],
        ),
        (
            "a corrupt database (a valid header page, then noise)",
            corrupt,
            &["not a usable SQLite database", "malformed"],
        ),
        (
            "a text file",
            "# my notes\nthis is not a database\n"
                .repeat(50)
                .into_bytes(),
            &["not a usable SQLite database", "not a database"],
        ),
    ];
    for (i, (name, bytes, words)) in files.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("app.db");
        std::fs::write(&path, bytes).unwrap();
        let p = path.display().to_string();
        let mut words = words.to_vec();
        words.push(&p);
        for command in ["upgrade", "status", "check"] {
            f.check(
                &format!("{name}: {command}"),
                &Watch::file(&path),
                &[command, "-d", &p],
                &[],
                &expect(6, "open", &words),
            );
        }
    }

    // An unreadable file. As root (or with CAP_DAC_OVERRIDE) chmod 000 does not stop reads, so
    // there is nothing to test: the case is skipped, and says so.
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp.path().join("unreadable");
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("app.db");
        std::fs::write(&path, &good).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&path).is_ok() {
            eprintln!(
                "SKIPPED case \"an unreadable file (chmod 000)\": this process reads a mode-000 file anyway \
                 (it runs as root), so the file is not unreadable to ferry either"
            );
        } else {
            let p = path.display().to_string();
            for command in ["upgrade", "status"] {
                f.check(
                    &format!("an unreadable file (chmod 000): {command}"),
                    &Watch::file(&path),
                    &[command, "-d", &p],
                    &[],
                    &expect(6, "open", &["cannot open", &p]),
                );
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    f.finish("files");
}

/// A path in a missing directory and an unreadable file should say why they cannot be opened;
/// today both only repeat SQLite's "unable to open database file".
#[test]
fn unopenable_sqlite_paths_say_why() {
    let f = Failures::default();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("no/such/dir/app.db");
    let url = format!("sqlite:{}", path.display());
    f.check(
        "a path inside a missing directory says the directory does not exist",
        &Watch::file(&path),
        &["upgrade", "-d", &url],
        &[],
        &expect(
            6,
            "open",
            &[
                &tmp.path().join("no/such/dir").display().to_string(),
                "directory",
                "does not exist",
            ],
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let path = tmp.path().join("unreadable.db");
        ferry(&["fixture", "--legacy", "5", path.to_str().unwrap()]).expect(0);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&path).is_ok() {
            eprintln!(
                "SKIPPED the unreadable-file half: running as root, chmod 000 does not block reads"
            );
        } else {
            let p = path.display().to_string();
            f.check(
                "an unreadable file says permission is denied",
                &Watch::file(&path),
                &["upgrade", "-d", &p],
                &[],
                &expect(6, "open", &[&p, "ermission denied"]),
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    f.finish("unopenable SQLite paths");
}

// ---------------------------------------------------------------------------------------
// URLs.
// ---------------------------------------------------------------------------------------

#[test]
fn bad_database_urls_exit_2_naming_the_url() {
    let f = Failures::default();
    let none = Watch::none();
    type UrlCase = (
        &'static str,
        Vec<&'static str>,
        Vec<(&'static str, &'static str)>,
        Expect,
    );
    let mut cases: [UrlCase; 8] = [
        (
            "a wrong URL scheme",
            vec!["upgrade", "-d", "mysql://app:pw@localhost/app"],
            vec![],
            expect(
                2,
                "usage",
                &[
                    "unsupported database scheme \"mysql\"",
                    "sqlite:PATH",
                    "postgres://",
                ],
            ),
        ),
        (
            "a wrong URL scheme from FERRY_DATABASE_URL",
            vec!["status"],
            vec![("FERRY_DATABASE_URL", "mysql://app@localhost/app")],
            expect(2, "usage", &["unsupported database scheme \"mysql\""]),
        ),
        (
            "a wrong URL scheme from DATABASE_URL",
            vec!["upgrade"],
            vec![("DATABASE_URL", "mysql://app@localhost/app")],
            expect(2, "usage", &["unsupported database scheme \"mysql\""]),
        ),
        (
            "an empty URL",
            vec!["upgrade", "-d", ""],
            vec![],
            expect(2, "usage", &["the database URL is empty"]),
        ),
        (
            "a blank URL",
            vec!["upgrade", "-d", "  "],
            vec![],
            expect(2, "usage", &["the database URL is empty"]),
        ),
        (
            "no --database at all",
            vec!["upgrade"],
            vec![],
            expect(
                2,
                "usage",
                &[
                    "no database given",
                    "--database",
                    "FERRY_DATABASE_URL",
                    "DATABASE_URL",
                ],
            ),
        ),
        (
            "sqlite: without a path",
            vec!["upgrade", "-d", "sqlite:"],
            vec![],
            expect(2, "usage", &["\"sqlite:\" names no file", "sqlite:PATH"]),
        ),
        (
            "sqlite:// without a path",
            vec!["status", "-d", "sqlite://"],
            vec![],
            expect(2, "usage", &["\"sqlite://\" names no file"]),
        ),
    ];
    cases[0].3.hidden.push(":pw@".into());
    for (name, args, env, expect) in &cases {
        f.check(name, &none, args, env, expect);
    }
    f.finish("URLs");
}

// ---------------------------------------------------------------------------------------
// PostgreSQL servers that cannot be used.
// ---------------------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn database_exists(name: &str) -> bool {
    let mut client = ferry::driver::postgres::connect_client(&common::pg::server_url())
        .expect("the test server answers");
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .expect("pg_database")
        .get(0);
    n > 0
}

#[test]
fn postgres_servers_that_cannot_be_used_exit_6() {
    let f = Failures::default();
    let secret = "Sup3r-S3cret-pw";
    let port = free_port();
    let none = Watch::none();
    for (form, url) in [
        (
            "URL",
            format!("postgres://someone:{secret}@127.0.0.1:{port}/app"),
        ),
        (
            "key=value",
            format!("host=127.0.0.1 port={port} user=someone password={secret} dbname=app"),
        ),
    ] {
        let started = Instant::now();
        let mut e = expect(
            6,
            "open",
            &[&format!("127.0.0.1:{port}"), "is PostgreSQL running"],
        );
        e.hidden.push(secret.into());
        f.check(
            &format!("an unreachable server ({form})"),
            &none,
            &["upgrade", "-d", &url],
            &[],
            &e,
        );
        if started.elapsed() > Duration::from_secs(30) {
            f.fail(
                "an unreachable server",
                format!("took {:?}", started.elapsed()),
            );
        }
    }

    let missing = format!("ferry_missing_{}", std::process::id());
    let url = common::pg::with_dbname(&common::pg::server_url(), &missing);
    let name = missing.clone();
    let watch = Watch {
        fingerprint: Box::new(move || format!("exists: {}", database_exists(&name))),
        dir: None,
    };
    for command in ["upgrade", "status"] {
        f.check(
            &format!("a missing database: {command}"),
            &watch,
            &[command, "-d", &url],
            &[],
            &expect(
                6,
                "open",
                &[
                    &format!("database \"{missing}\" does not exist"),
                    "createdb",
                    "3D000",
                ],
            ),
        );
    }

    // A schema name that is not an identifier, on a real database.
    let db = TestDb::new(Dialect::Postgres);
    prepare(&db, &["fixture", "--legacy", "5"]);
    f.check(
        "--schema that is not a plain identifier",
        &Watch::db(&db),
        &with_db(&["upgrade", "--schema", "app data"], &db),
        &[],
        &expect(
            2,
            "usage",
            &["--schema", "\"app data\"", "plain identifier"],
        ),
    );
    f.finish("PostgreSQL servers");
}

/// The connection string with its password replaced.
fn with_password(url: &str, password: &str) -> String {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .expect("a postgres:// URL");
    let at = rest.find('@').expect("a user in the URL");
    let user = rest[..at].split(':').next().unwrap();
    format!("postgres://{user}:{password}@{}", &rest[at + 1..])
}

#[test]
fn a_wrong_postgres_password_exits_6_without_showing_it() {
    let f = Failures::default();
    let wrong = "Wr0ng-Horse-Battery";
    // A role with a password on the shared server; if that server lets anyone in (trust
    // authentication), a throwaway cluster that checks passwords is used instead.
    let server = common::pg::server_url();
    let role = format!("ferry_bad_pw_{}", std::process::id());
    let mut admin = ferry::driver::postgres::connect_client(&server).expect("the test server");
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'Right-Horse-Battery'"
        ))
        .unwrap();
    let config = postgres::Config::from_str(&server).unwrap();
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = TestDb::new(Dialect::Postgres);
    prepare(&db, &["fixture", "--legacy", "5"]);
    let dbname = postgres::Config::from_str(&db.url)
        .unwrap()
        .get_dbname()
        .unwrap()
        .to_string();
    let role_url = format!("postgres://{role}:{wrong}@{host}:{port}/{dbname}");
    let checks_passwords = ferry::driver::postgres::connect_client(&role_url).is_err();
    let mut e = expect(6, "open", &["password authentication failed", "28P01"]);
    e.hidden.push(wrong.into());
    if checks_passwords {
        f.check(
            "a wrong password",
            &Watch::db(&db),
            &["upgrade", "-d", &role_url],
            &[],
            &e,
        );
    } else {
        eprintln!(
            "the shared server accepts any password (trust): checking against a throwaway cluster"
        );
        let cluster = common::pg::Cluster::start().unwrap_or_else(|e| {
            panic!("the shared server does not check passwords and no throwaway cluster could be started: {e}")
        });
        let right = cluster.url.clone();
        ferry(&["upgrade", "-d", &right, "--quiet"]).expect(0);
        let bad = with_password(&right, wrong);
        let watch = Watch {
            fingerprint: Box::new(move || common::pg::fingerprint(&right)),
            dir: None,
        };
        e.hidden.push(cluster.password.clone());
        f.check(
            "a wrong password",
            &watch,
            &["upgrade", "-d", &bad],
            &[],
            &e,
        );
    }
    admin
        .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
        .unwrap();
    f.finish("wrong password");
}

// ---------------------------------------------------------------------------------------
// Broken migration sets: refused (exit 2) before the database is touched, on both dialects.
// ---------------------------------------------------------------------------------------

type Tamper = Box<dyn Fn(&Path)>;

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn append(path: &Path, text: &str) {
    let mut all = std::fs::read_to_string(path).unwrap();
    all.push_str(text);
    std::fs::write(path, all).unwrap();
}

fn replace(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} is not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// A revision directory with a revision.toml and an up.sql.
fn add_revision(set: &Path, id: &str, down: &str) {
    let dir = set.join("revisions").join(id);
    write(
        &dir.join("revision.toml"),
        &format!("down = \"{down}\"\nmessage = \"added by a test\"\ntransaction = true\n"),
    );
    write(
        &dir.join("up.sql"),
        "CREATE TABLE added_by_a_test (id INTEGER);\n",
    );
    write(&dir.join("down.sql"), "DROP TABLE added_by_a_test;\n");
}

fn legacy_dir(set: &Path, number: u32) -> PathBuf {
    let prefix = format!("{number:03}_");
    std::fs::read_dir(set.join("legacy"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .unwrap_or_else(|| panic!("no legacy step {number}"))
}

/// A set, tampered; kept alive by its temp dir.
struct BrokenSet {
    name: &'static str,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    expect: Expect,
}

fn broken_set(name: &'static str, tamper: Tamper, expect: Expect) -> BrokenSet {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_reference_set(tmp.path());
    tamper(&dir);
    BrokenSet {
        name,
        _tmp: tmp,
        dir,
        expect,
    }
}

fn broken_sets() -> Vec<BrokenSet> {
    let long_id = format!("0007_{}", "a".repeat(30));
    let long_words = [long_id.as_str(), "35 characters", "at most 32"];
    let long = expect(2, "migration_set", &long_words);
    let set = |name, tamper: Tamper, words: &[&str]| {
        broken_set(name, tamper, expect(2, "migration_set", words))
    };
    vec![
        set(
            "no ferry.toml",
            Box::new(|s| std::fs::remove_file(s.join("ferry.toml")).unwrap()),
            &["ferry.toml", "no ferry.toml here", "--migrations DIR"],
        ),
        set(
            "--migrations names a missing directory",
            Box::new(|s| std::fs::remove_dir_all(s).unwrap()),
            &["cannot read", "ferry.toml"],
        ),
        set(
            "malformed TOML in ferry.toml",
            Box::new(|s| append(&s.join("ferry.toml"), "\ncap = = 3\n")),
            &["ferry.toml", "TOML parse error", "cap = = 3"],
        ),
        set(
            "an unknown marker kind",
            Box::new(|s| {
                replace(
                    &s.join("ferry.toml"),
                    "kind = \"kv-table\"",
                    "kind = \"xml-file\"",
                )
            }),
            &[
                "ferry.toml",
                "unknown variant `xml-file`",
                "kv-table",
                "single-row",
                "user-version",
            ],
        ),
        set(
            "an unknown field in ferry.toml",
            Box::new(|s| {
                replace(
                    &s.join("ferry.toml"),
                    "cap = 25\n",
                    "cap = 25\ncolour = \"blue\"\n",
                )
            }),
            &["ferry.toml", "unknown field `colour`"],
        ),
        set(
            "a marker table that is not a plain identifier",
            Box::new(|s| {
                replace(
                    &s.join("ferry.toml"),
                    "table = \"metadata\"",
                    "table = \"meta data\"",
                )
            }),
            &[
                "legacy.marker.table",
                "\"meta data\"",
                "not a plain SQL identifier",
            ],
        ),
        set(
            "a version table that is not a plain identifier",
            Box::new(|s| {
                replace(
                    &s.join("ferry.toml"),
                    "version_table = \"alembic_version\"",
                    "version_table = \"alembic_version; DROP TABLE users\"",
                )
            }),
            &[
                "revisions.version_table",
                "alembic_version; DROP TABLE users",
                "not a plain SQL identifier",
            ],
        ),
        set(
            "a gap in the legacy chain",
            Box::new(|s| std::fs::remove_dir_all(legacy_dir(s, 13)).unwrap()),
            &[
                "step 13 is missing",
                "1..=25",
                "new schema changes go in revisions/",
            ],
        ),
        set(
            "a legacy step above the cap",
            Box::new(|s| {
                write(
                    &s.join("legacy/026_one_more/up.sql"),
                    "CREATE TABLE one_more (id INTEGER);\n",
                )
            }),
            &[
                "legacy/026_one_more",
                "above the cap 25",
                "new schema changes go in revisions/",
            ],
        ),
        set(
            "an edited legacy file",
            Box::new(|s| append(&legacy_dir(s, 19).join("up.sql"), "-- a harmless comment\n")),
            &[
                "legacy/019_drop_users_password_salt/up.sql",
                "edited after the freeze",
                "new schema changes go in revisions/",
            ],
        ),
        set(
            "an added legacy file",
            Box::new(|s| write(&legacy_dir(s, 19).join("up.postgres.sql"), "SELECT 1;\n")),
            &[
                "legacy/019_drop_users_password_salt/up.postgres.sql",
                "added after the freeze",
                "new schema changes go in revisions/",
            ],
        ),
        set(
            "a removed legacy file",
            Box::new(|s| std::fs::remove_file(legacy_dir(s, 12).join("up.postgres.sql")).unwrap()),
            &[
                "legacy/012_change_pipelines_priority_to_integer/up.postgres.sql",
                "removed",
                "new schema changes go in revisions/",
            ],
        ),
        set(
            "a stray file in a legacy step",
            Box::new(|s| write(&legacy_dir(s, 5).join("notes.txt"), "remember the milk\n")),
            &[
                "legacy/005_add_bots_llm_model_id/notes.txt",
                "unexpected file",
            ],
        ),
        set(
            "FROZEN.toml missing",
            Box::new(|s| std::fs::remove_file(s.join("legacy/FROZEN.toml")).unwrap()),
            &["legacy/FROZEN.toml", "missing", "ferry lint --freeze"],
        ),
        set(
            "FROZEN.toml freezes another cap",
            Box::new(|s| replace(&s.join("legacy/FROZEN.toml"), "cap = 25", "cap = 24")),
            &["legacy/FROZEN.toml", "cap 24", "cap = 25"],
        ),
        set(
            "a down revision that does not exist",
            Box::new(|s| {
                replace(
                    &s.join("revisions/0004_bot_tags/revision.toml"),
                    "0003_api_keys_last_used_index",
                    "0003_nope",
                )
            }),
            &["revision 0004_bot_tags", "\"0003_nope\" does not exist"],
        ),
        set(
            "a cycle",
            Box::new(|s| {
                replace(
                    &s.join("revisions/0002_users_email_verified_at/revision.toml"),
                    "0001_baseline",
                    "0005_llm_context_length",
                )
            }),
            &[
                "cycle",
                "0002_users_email_verified_at",
                "0005_llm_context_length",
            ],
        ),
        set(
            "two roots on the baseline",
            Box::new(|s| add_revision(s, "0007_other_root", "0001_baseline")),
            &[
                "two roots",
                "0002_users_email_verified_at",
                "0007_other_root",
                "0001_baseline",
            ],
        ),
        set(
            "a revision directory named like the baseline",
            Box::new(|s| add_revision(s, "0001_baseline", HEAD)),
            &[
                "revision 0001_baseline",
                "the baseline revision has no directory in revisions/",
            ],
        ),
        broken_set(
            "a revision id over 32 characters",
            Box::new(move |s| add_revision(s, &format!("0007_{}", "a".repeat(30)), HEAD)),
            long,
        ),
        set(
            "a revision id with capitals and a dash",
            Box::new(|s| {
                std::fs::rename(
                    s.join("revisions").join(HEAD),
                    s.join("revisions/0006_Kb-Status"),
                )
                .unwrap()
            }),
            &["0006_Kb-Status", "only lowercase letters, digits and '_'"],
        ),
        set(
            "an unknown field in revision.toml",
            Box::new(|s| {
                append(
                    &s.join("revisions/0004_bot_tags/revision.toml"),
                    "transction = false\n",
                )
            }),
            &[
                "revisions/0004_bot_tags/revision.toml",
                "unknown field `transction`",
            ],
        ),
        set(
            "a revision without revision.toml",
            Box::new(|s| {
                std::fs::remove_file(s.join("revisions/0004_bot_tags/revision.toml")).unwrap()
            }),
            &["revision 0004_bot_tags", "revision.toml is missing"],
        ),
        set(
            "a revision without up SQL",
            Box::new(|s| {
                for dialect in ["sqlite", "postgres"] {
                    std::fs::remove_file(
                        s.join(format!("revisions/0004_bot_tags/up.{dialect}.sql")),
                    )
                    .unwrap();
                }
            }),
            &["revision 0004_bot_tags", "has no up.sql"],
        ),
        set(
            "a malformed guard directive",
            Box::new(|s| {
                let path = s.join("revisions/0004_bot_tags/up.sqlite.sql");
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(
                    &path,
                    format!("-- ferry:if-missing column nodot\nSELECT 1;\n-- ferry:end\n{text}"),
                )
                .unwrap();
            }),
            &[
                "revisions/0004_bot_tags/up.sqlite.sql",
                "line 1",
                "\"nodot\"",
                "TABLE.COLUMN",
            ],
        ),
        set(
            "a guard on an unknown kind of object",
            Box::new(|s| {
                let path = s.join("revisions/0004_bot_tags/up.postgres.sql");
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(
                    &path,
                    format!("{text}\n-- ferry:if-present widget x\nSELECT 1;\n-- ferry:end\n"),
                )
                .unwrap();
            }),
            &[
                "revisions/0004_bot_tags/up.postgres.sql",
                "unknown object kind \"widget\"",
            ],
        ),
        set(
            "a superseding revision without a guard",
            Box::new(|s| {
                write(
                    &s.join("revisions/0005_llm_context_length/up.sql"),
                    "ALTER TABLE llm_models ADD COLUMN context_length INTEGER;\n",
                )
            }),
            &[
                "0005_llm_context_length",
                "supersedes legacy version 26",
                "must be guarded",
            ],
        ),
        set(
            "legacy.superseded names a missing revision",
            Box::new(|s| {
                replace(
                    &s.join("ferry.toml"),
                    "26 = \"0005_llm_context_length\"",
                    "26 = \"0009_nope\"",
                )
            }),
            &[
                "ferry.toml",
                "legacy.superseded",
                "0009_nope",
                "does not exist",
            ],
        ),
    ]
}

#[test]
fn broken_migration_sets_exit_2_before_the_database_is_touched() {
    let sets = broken_sets();
    let f = Failures::default();
    on_both(|dialect| {
        // A legacy database: every broken set would otherwise replay, stamp and upgrade it.
        let db = TestDb::new(dialect);
        prepare(&db, &["fixture", "--legacy", "5"]);
        let watch = Watch::db(&db);
        for set in &sets {
            let dir = set.dir.display().to_string();
            for command in [&["upgrade"][..], &["status"], &["plan"]] {
                let mut args = command.to_vec();
                args.extend(["--migrations", &dir]);
                f.check(
                    &format!("{} · {} · {}", dialect.name(), set.name, command[0]),
                    &watch,
                    &with_db(&args, &db),
                    &[],
                    &set.expect,
                );
            }
        }
        // lint names the same fault, without a database.
        if dialect == Dialect::Sqlite {
            for set in &sets {
                let dir = set.dir.display().to_string();
                f.check(
                    &format!("lint · {}", set.name),
                    &Watch::none(),
                    &["lint", "--migrations", &dir],
                    &[],
                    &set.expect,
                );
            }
        }
    });
    f.finish("broken migration sets");
}

/// A superseding revision whose guard is malformed: the message should point at the guard
/// (file, line, what is wrong), not claim that there is no guard.
#[test]
fn a_malformed_guard_in_a_superseding_revision_is_named() {
    let set = broken_set(
        "a malformed guard in the superseding revision",
        Box::new(|s| {
            replace(
                &s.join("revisions/0005_llm_context_length/up.sql"),
                "-- ferry:if-missing column llm_models.context_length",
                "-- ferry:if-missing column nodot",
            )
        }),
        expect(
            2,
            "migration_set",
            &[
                "revisions/0005_llm_context_length/up.sql",
                "line 3",
                "\"nodot\"",
                "TABLE.COLUMN",
            ],
        ),
    );
    let f = Failures::default();
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        prepare(&db, &["fixture", "--legacy", "5"]);
        let dir = set.dir.display().to_string();
        f.check(
            &format!("{} · {}", dialect.name(), set.name),
            &Watch::db(&db),
            &with_db(&["upgrade", "--migrations", &dir], &db),
            &[],
            &set.expect,
        );
    });
    f.finish("malformed guard in a superseding revision");
}

/// Sets that are fine on one dialect and not on the other.
#[test]
fn sets_missing_a_dialects_file_are_refused_on_that_dialect_only() {
    let f = Failures::default();
    let no_pg_baseline = broken_set(
        "no baseline/postgres.sql",
        Box::new(|s| std::fs::remove_file(s.join("baseline/postgres.sql")).unwrap()),
        expect(
            2,
            "unsupported",
            &[
                "baseline/postgres.sql",
                "cannot install a fresh postgres database",
            ],
        ),
    );
    let no_down = broken_set(
        "no down file for the head revision",
        Box::new(|s| {
            for entry in std::fs::read_dir(s.join("revisions").join(HEAD))
                .unwrap()
                .flatten()
            {
                if entry.file_name().to_string_lossy().starts_with("down") {
                    std::fs::remove_file(entry.path()).unwrap();
                }
            }
        }),
        // The words name the dialect: see the loop below.
        expect(2, "unsupported", &[]),
    );
    on_both(|dialect| {
        let name = dialect.name();
        // A fresh install needs the dialect's baseline.
        let db = TestDb::new(dialect);
        let set = no_pg_baseline.dir.display().to_string();
        match dialect {
            Dialect::Postgres => {
                f.check(
                    &format!("{name} · {} · fresh install", no_pg_baseline.name),
                    &Watch::db(&db),
                    &with_db(&["upgrade", "--migrations", &set], &db),
                    &[],
                    &no_pg_baseline.expect,
                );
            }
            Dialect::Sqlite => {
                let run = ferry(&with_db(
                    &["upgrade", "--no-backup", "--migrations", &set],
                    &db,
                ));
                if run.code != 0 || db.versions() != [HEAD] {
                    f.fail(
                        &format!("{name} · {} · fresh install", no_pg_baseline.name),
                        format!(
                            "a SQLite fresh install should not need baseline/postgres.sql: {run:?}"
                        ),
                    );
                }
            }
        }
        // Downgrading needs the revision's down SQL.
        let db = TestDb::new(dialect);
        prepare(&db, &["upgrade"]);
        let set = no_down.dir.display().to_string();
        let words = [
            "downgrade",
            HEAD,
            &format!("no revisions/{HEAD}/down.sql"),
            name,
        ];
        for target in ["-1", "base", "0005_llm_context_length"] {
            f.check(
                &format!("{name} · {} · downgrade {target}", no_down.name),
                &Watch::db(&db),
                &with_db(&["downgrade", target, "--migrations", &set], &db),
                &[],
                &expect(2, "unsupported", &words),
            );
        }
    });
    f.finish("dialect files");
}

/// `kind = "user-version"` exists on SQLite only: on PostgreSQL that is the set's fault (a
/// configuration error, exit 2), not an inconsistent database to repair by hand.
#[test]
fn a_user_version_marker_on_postgres_is_a_configuration_error() {
    let set = broken_set(
        "marker kind user-version on PostgreSQL",
        Box::new(|s| {
            replace(
                &s.join("ferry.toml"),
                "marker = { kind = \"kv-table\", table = \"metadata\", key_column = \"key\", value_column = \"value\", key = \"database_version\" }",
                "marker = { kind = \"user-version\" }",
            )
        }),
        expect(2, "unsupported", &["user-version", "SQLite"]),
    );
    let f = Failures::default();
    let dir = set.dir.display().to_string();
    for prep in [None, Some(&["upgrade", "head"][..])] {
        let db = TestDb::new(Dialect::Postgres);
        if let Some(prep) = prep {
            prepare(&db, prep);
        }
        for command in ["upgrade", "status"] {
            f.check(
                &format!(
                    "postgres · {} · {command} ({})",
                    set.name,
                    if prep.is_some() { "at head" } else { "empty" }
                ),
                &Watch::db(&db),
                &with_db(&[command, "--migrations", &dir], &db),
                &[],
                &set.expect,
            );
        }
    }
    f.finish("user-version on PostgreSQL");
}

// ---------------------------------------------------------------------------------------
// Database states ferry refuses (exit 3), on both dialects.
// ---------------------------------------------------------------------------------------

/// How a case's database is built: ferry commands (with `-d URL`), then SQL.
enum Prep {
    Ferry(&'static [&'static str]),
    Sql(&'static str),
}

fn build(dialect: Dialect, prep: &[Prep]) -> TestDb {
    let db = TestDb::new(dialect);
    for step in prep {
        match step {
            Prep::Ferry(args) => prepare(&db, args),
            Prep::Sql(sql) => db.exec(sql),
        }
    }
    db
}

const LEGACY5: Prep = Prep::Ferry(&["fixture", "--legacy", "5"]);
const AT_HEAD: Prep = Prep::Ferry(&["upgrade"]);

#[test]
fn refused_database_states_exit_3_and_stay_as_they_were() {
    let cases: Vec<(&str, Vec<Prep>, Expect)> = vec![
        (
            "a marker that is not an integer",
            vec![
                LEGACY5,
                Prep::Sql("UPDATE metadata SET value = 'twelve' WHERE key = 'database_version'"),
            ],
            expect(
                3,
                "refused",
                &[
                    "inconsistent",
                    "legacy marker cannot be read",
                    "\"twelve\" is not an integer",
                ],
            ),
        ),
        (
            "two marker rows (a marker table without a primary key)",
            vec![Prep::Sql(
                "CREATE TABLE metadata (key VARCHAR(64), value TEXT); \
                 INSERT INTO metadata (key, value) VALUES ('database_version', '5'); \
                 INSERT INTO metadata (key, value) VALUES ('database_version', '7');",
            )],
            expect(
                3,
                "refused",
                &["inconsistent", "2 marker rows where one is expected"],
            ),
        ),
        (
            "a negative marker",
            vec![
                LEGACY5,
                Prep::Sql("UPDATE metadata SET value = '-3' WHERE key = 'database_version'"),
            ],
            expect(3, "refused", &["inconsistent", "-3", "not a version"]),
        ),
        (
            "an empty version table next to the schema",
            vec![AT_HEAD, Prep::Sql("DELETE FROM alembic_version")],
            expect(
                3,
                "refused",
                &["inconsistent", "alembic_version exists but is empty"],
            ),
        ),
        (
            "an empty version table next to a legacy marker",
            vec![
                LEGACY5,
                Prep::Sql(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
                ),
            ],
            expect(
                3,
                "refused",
                &["inconsistent", "alembic_version exists but is empty"],
            ),
        ),
        (
            "two version rows where one descends from the other",
            vec![
                Prep::Ferry(&["upgrade", "0004_bot_tags"]),
                Prep::Sql(
                    "INSERT INTO alembic_version (version_num) VALUES ('0002_users_email_verified_at')",
                ),
            ],
            expect(
                3,
                "refused",
                &[
                    "inconsistent",
                    "0002_users_email_verified_at",
                    "0004_bot_tags",
                    "descends from",
                    "one row per head",
                ],
            ),
        ),
        (
            "a version table next to a marker below the cap",
            vec![
                LEGACY5,
                Prep::Sql(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY); \
                     INSERT INTO alembic_version (version_num) VALUES ('0001_baseline');",
                ),
            ],
            expect(
                3,
                "refused",
                &["inconsistent", "legacy marker says 5", "below the cap 25"],
            ),
        ),
        (
            "an unknown revision in the version table (ahead)",
            vec![
                AT_HEAD,
                Prep::Sql("UPDATE alembic_version SET version_num = '0099_from_the_future'"),
            ],
            expect(
                3,
                "refused",
                &["ahead", "0099_from_the_future", "newer release"],
            ),
        ),
        (
            "tables without a marker (unversioned)",
            vec![Prep::Sql(
                "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
            )],
            expect(
                3,
                "refused",
                &[
                    "unversioned",
                    "customers",
                    "no legacy marker and no version table",
                ],
            ),
        ),
        (
            "a marker above the cap without a mapping",
            vec![
                LEGACY5,
                Prep::Sql("UPDATE metadata SET value = '31' WHERE key = 'database_version'"),
            ],
            expect(
                3,
                "refused",
                &["version 31", "above this set's cap 25", "legacy.superseded"],
            ),
        ),
    ];
    let f = Failures::default();
    on_both(|dialect| {
        for (name, prep, expect) in &cases {
            let db = build(dialect, prep);
            let watch = Watch::db(&db);
            for command in [
                &["upgrade"][..],
                &["upgrade", "0003"],
                &["downgrade", "base"],
                &["check"],
            ] {
                f.check(
                    &format!("{} · {name} · {}", dialect.name(), command.join(" ")),
                    &watch,
                    &with_db(command, &db),
                    &[],
                    expect,
                );
            }
        }
        // A fixture is built in an empty database only.
        let db = build(dialect, &[Prep::Ferry(&["upgrade", "0003"])]);
        f.check(
            &format!("{} · a fixture into a managed database", dialect.name()),
            &Watch::db(&db),
            &with_db(&["fixture", "--legacy", "3"], &db),
            &[],
            &expect(
                3,
                "refused",
                &["empty database only", "0003_api_keys_last_used_index"],
            ),
        );
    });
    f.finish("refused states");
}

// ---------------------------------------------------------------------------------------
// Targets that do not resolve (exit 2), on both dialects.
// ---------------------------------------------------------------------------------------

#[test]
fn bad_targets_exit_2_and_change_nothing() {
    let at_0003: Vec<(&[&str], Expect)> = vec![
        (
            &["upgrade", "nosuch"],
            expect(
                2,
                "target",
                &["unknown revision \"nosuch\"", "ferry history"],
            ),
        ),
        (
            &["upgrade", "0099_from_the_future"],
            expect(2, "target", &["unknown revision \"0099_from_the_future\""]),
        ),
        (
            &["upgrade", "000"],
            expect(
                2,
                "target",
                &[
                    "\"000\" matches several revisions",
                    "0001_baseline",
                    HEAD,
                    "give more of the id",
                ],
            ),
        ),
        (
            &["upgrade", "0002_users_email_verified_at"],
            expect(
                2,
                "target",
                &[
                    "0002_users_email_verified_at",
                    "below the current revision 0003_api_keys_last_used_index",
                    "ferry downgrade",
                ],
            ),
        ),
        (
            &["upgrade", "+9"],
            expect(2, "target", &["+9", "past the head", HEAD]),
        ),
        (
            &["upgrade", "+x"],
            expect(2, "target", &["\"+x\"", "+N or -N", "whole number"]),
        ),
        (
            &["upgrade", "heads+1"],
            expect(2, "target", &["\"heads+1\""]),
        ),
        (
            &["plan", "+x"],
            expect(2, "target", &["\"+x\"", "+N or -N"]),
        ),
        (
            &["downgrade", "-3"],
            expect(
                2,
                "target",
                &[
                    "-3",
                    "below the baseline 0001_baseline",
                    "never downgrades below it",
                ],
            ),
        ),
        (
            &["downgrade", "-99"],
            expect(2, "target", &["-99", "below the baseline 0001_baseline"]),
        ),
        (
            &["downgrade", "0005_llm_context_length"],
            expect(
                2,
                "target",
                &[
                    "0005_llm_context_length",
                    "not below the current revision",
                    "use upgrade",
                ],
            ),
        ),
        (
            &["downgrade", "nosuch"],
            expect(2, "target", &["unknown revision \"nosuch\""]),
        ),
        (
            &["stamp", "nosuch"],
            expect(2, "target", &["unknown revision \"nosuch\""]),
        ),
    ];
    let f = Failures::default();
    on_both(|dialect| {
        let db = build(
            dialect,
            &[Prep::Ferry(&["upgrade", "0003_api_keys_last_used_index"])],
        );
        let watch = Watch::db(&db);
        for (args, expect) in &at_0003 {
            f.check(
                &format!("{} · at 0003 · {}", dialect.name(), args.join(" ")),
                &watch,
                &with_db(args, &db),
                &[],
                expect,
            );
        }
        let db = build(dialect, &[Prep::Ferry(&["upgrade", "0001_baseline"])]);
        f.check(
            &format!("{} · at the baseline · downgrade -1", dialect.name()),
            &Watch::db(&db),
            &with_db(&["downgrade", "-1"], &db),
            &[],
            &expect(2, "target", &["-1", "below the baseline 0001_baseline"]),
        );
        // Fixture versions that do not exist.
        let db = TestDb::new(dialect);
        if let Some(path) = &db.path {
            // An existing, empty file: the bug below (a missing file gets created) aside.
            std::fs::write(path, b"").unwrap();
        }
        f.check(
            &format!(
                "{} · fixture --legacy 30 (above the cap, not superseded)",
                dialect.name()
            ),
            &Watch::db(&db),
            &with_db(&["fixture", "--legacy", "30"], &db),
            &[],
            &expect(
                2,
                "usage",
                &["--legacy 30", "0..=25", "superseded version (26)"],
            ),
        );
    });
    f.finish("targets");
}

/// A refused fixture must not leave an empty database file behind.
#[test]
fn a_refused_fixture_creates_no_file() {
    let f = Failures::default();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("old.db");
    let p = out.display().to_string();
    let url = format!("sqlite:{p}");
    for (form, args) in [
        ("OUT", vec!["fixture", "--legacy", "30", p.as_str()]),
        (
            "--database",
            vec!["fixture", "--legacy", "30", "-d", url.as_str()],
        ),
    ] {
        f.check(
            &format!("fixture --legacy 30 into a missing file ({form})"),
            &Watch::file(&out),
            &args,
            &[],
            &expect(2, "usage", &["--legacy 30", "0..=25"]),
        );
        let _ = std::fs::remove_file(&out);
    }
    f.finish("refused fixture");
}

// ---------------------------------------------------------------------------------------
// lint --freeze never rewrites a freeze.
// ---------------------------------------------------------------------------------------

#[test]
fn lint_freeze_refuses_to_rewrite_frozen_toml() {
    let f = Failures::default();
    let tmp = tempfile::tempdir().unwrap();
    let set = copy_reference_set(tmp.path());
    let frozen = set.join("legacy/FROZEN.toml");
    let s = set.display().to_string();
    let frozen_shown = frozen.display().to_string();
    let watch = Watch {
        fingerprint: {
            let frozen = frozen.clone();
            Box::new(move || format!("{:?}", std::fs::read(&frozen).ok()))
        },
        dir: Some(set.join("legacy")),
    };
    f.check(
        "lint --freeze with FROZEN.toml present",
        &watch,
        &["lint", "--freeze", "--migrations", &s],
        &[],
        &expect(
            2,
            "usage",
            &[
                &frozen_shown,
                "exists already",
                "written once and never rewritten",
            ],
        ),
    );
    // Even a freeze that no longer matches is not rewritten: that would bless the edit.
    append(&legacy_dir(&set, 19).join("up.sql"), "-- an edit\n");
    f.check(
        "lint --freeze with FROZEN.toml present and a legacy file edited",
        &watch,
        &["lint", "--freeze", "--migrations", &s],
        &[],
        &expect(2, "usage", &[&frozen_shown, "exists already"]),
    );
    f.check(
        "lint --freeze without --migrations",
        &Watch::none(),
        &["lint", "--freeze"],
        &[],
        &expect(2, "usage", &["lint --freeze", "--migrations DIR"]),
    );
    f.finish("lint --freeze");
}
