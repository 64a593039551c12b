//! Scratch databases: the expected schema of a position is built beside the live database,
//! never in it (PostgreSQL: in a throwaway database on the same server), equals what a real
//! database at that position has, and nothing of it is left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use common::*;
use ferry::core::graph::Graph;
use ferry::core::set::Dialect;
use ferry::core::state::Position;
use ferry::core::state::State;
use ferry::driver::url::DatabaseUrl;
use ferry::fixture::TestDirs;
use ferry::scratch::{self, Scratch};

/// Tests here count the scratch databases of a process and kill runs that leave one behind
/// for the next run to remove: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `ferry` like [`ferry_env`], and returns its process id too (scratch database names
/// carry it).
fn ferry_pid(args: &[&str], env: &[(&str, &str)]) -> (u32, Run) {
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(repo())
        .env_remove("FERRY_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("FERRY_MIGRATIONS")
        .env_remove("FERRY_SCRATCH_URL")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ferry starts");
    let pid = child.id();
    let out = child.wait_with_output().expect("ferry runs");
    (
        pid,
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
    )
}

/// The scratch databases on the test server made by process `pid`
/// (`ferry_scratch_<backend pid>_<backend start>_<pid>_<n>`).
fn scratch_databases_of(pid: u32) -> Vec<String> {
    let mut client = ferry::driver::postgres::connect_client(&pg::server_url()).unwrap();
    client
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'ferry\\_scratch\\_%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|name| name.split('_').nth(4) == Some(pid.to_string().as_str()))
        .collect()
}

/// The first value of `sql` on the database at `url`.
fn scalar_at(url: &str, sql: &str) -> Option<String> {
    let mut client = ferry::driver::postgres::connect_client(url).unwrap();
    let messages = client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    ferry::driver::postgres::text_rows(&messages)
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
}

fn exec_at(url: &str, sql: &str) {
    let mut client = ferry::driver::postgres::connect_client(url).unwrap();
    client
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The same URL for another user.
fn with_user(url: &str, user: &str, password: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let host = rest[..end]
                .rsplit_once('@')
                .map_or(&rest[..end], |(_, h)| h);
            format!("{}{user}:{password}@{host}{}", &url[..i + 3], &rest[end..])
        }
        None => format!("{url} user={user} password={password}"),
    }
}

const TOOLS: &str = "CREATE SCHEMA IF NOT EXISTS tools;\n\
    CREATE OR REPLACE FUNCTION tools.version() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n\
    CREATE EXTENSION IF NOT EXISTS pgcrypto;\n";

/// A PostgreSQL set whose legacy step and revision create a schema of their own, a function
/// in it and an extension (pgcrypto, which the test server has: checked here).
fn tools_set(dir: &Path) -> PathBuf {
    let available = scalar_at(
        &pg::server_url(),
        "SELECT count(*)::text FROM pg_available_extensions WHERE name = 'pgcrypto'",
    );
    assert_eq!(
        available.as_deref(),
        Some("1"),
        "the test server has pgcrypto"
    );
    let root = dir.join("tools-set");
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "ferry.toml",
        "[legacy]\ncap = 2\nmarker = { kind = \"single-row\", table = \"schema_version\", column = \"version\" }\n\n\
         [baseline]\nrevision = \"0001_baseline\"\n",
    );
    let items = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n";
    let tokens = "CREATE TABLE tokens (id INTEGER PRIMARY KEY, secret TEXT NOT NULL DEFAULT encode(gen_random_bytes(8), 'hex'));\n";
    write("legacy/001_items/up.sql", items);
    write("legacy/002_tools/up.sql", &format!("{TOOLS}{tokens}"));
    write("baseline/postgres.sql", &format!("{items}{TOOLS}{tokens}"));
    write(
        "revisions/0002_notes/revision.toml",
        "down = \"0001_baseline\"\nmessage = \"notes, and the tools again\"\n",
    );
    write(
        "revisions/0002_notes/up.sql",
        &format!("{TOOLS}CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"),
    );
    write("revisions/0002_notes/down.sql", "DROP TABLE notes;\n");
    ferry(&["lint", "--freeze", "--migrations", root.to_str().unwrap()]).expect(0);
    root
}

#[test]
fn expected_schemas_equal_real_databases_and_leave_nothing_behind() {
    let _serial = serial();
    on_both(|dialect| {
        let set = reference_set();
        let graph = Graph::new(&set).unwrap();
        let live = TestDb::new(dialect);
        let url = DatabaseUrl::parse(&live.url).unwrap();
        let before = live.fingerprint();

        let head = graph.id(graph.heads()[0]).to_string();
        let expected = scratch::expected_schema(
            &set,
            &graph,
            &url,
            &State::Managed {
                heads: vec![head.clone()],
            },
        )
        .unwrap()
        .expect("a managed state has a schema");
        assert_same_schema(&fresh_schema(dialect, &set), &expected, "scratch head");

        // Every legacy version, replayed once, equals the fixture built for it.
        let schemas = scratch::legacy_schemas(&set, &graph, &url, "test").unwrap();
        assert_eq!(schemas.len(), set.cap() as usize + 1);
        assert!(schemas[0].tables.is_empty());
        for n in [1, 12, 25] {
            let db = TestDb::new(dialect);
            let mut d = db.open();
            let mut r = runner(&set, &graph, d.as_mut());
            ferry::fixture::build(&mut r, &Position::Legacy(n), &TestDirs::default()).unwrap();
            drop(r);
            drop(d);
            assert_same_schema(
                &db.snapshot(&set),
                &schemas[n as usize],
                &format!("legacy {n}"),
            );
            assert_ne!(
                schemas[n as usize - 1],
                schemas[n as usize],
                "legacy {n} changes the schema"
            );
        }

        // A scratch is private: on PostgreSQL a database of its own, gone once dropped.
        let mut s = Scratch::beside(&url, "test").unwrap();
        s.driver()
            .execute("CREATE TABLE scratch_only (id INTEGER)")
            .unwrap();
        if dialect == Dialect::Postgres {
            let name = s.database_name().expect("a scratch database").to_string();
            assert!(name.starts_with("ferry_scratch_"), "{name}");
            let current = s.driver().query("SELECT current_database()").unwrap();
            assert_eq!(current[0][0].as_deref(), Some(name.as_str()));
            assert_eq!(scratch_databases_of(std::process::id()), vec![name]);
        }
        drop(s);
        assert_eq!(live.fingerprint(), before, "the live database is untouched");
        if dialect == Dialect::Postgres {
            assert_eq!(
                scratch_databases_of(std::process::id()),
                Vec::<String>::new(),
                "scratch databases are dropped"
            );
            let schemas = live.scalar(
                "SELECT count(*)::text FROM pg_namespace WHERE nspname LIKE 'ferry_scratch_%'",
            );
            assert_eq!(
                schemas.as_deref(),
                Some("0"),
                "no scratch schema in the live one"
            );
        }
    });
}

/// The set creates a schema, a function in it and an extension: building it in a scratch
/// database must not replace the live function (a scratch schema inside the live database
/// once did). PostgreSQL only: SQLite has neither schemas nor functions, and its scratch is
/// in memory.
#[test]
fn read_only_commands_never_write_to_the_live_database() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let set = tools_set(tmp.path());
    let set = set.to_str().unwrap();
    let version = |db: &TestDb| db.scalar("SELECT tools.version()::text");

    let live = TestDb::new(Dialect::Postgres);
    ferry(&["upgrade", "--migrations", set, "-d", &live.url]).expect(0);
    live.exec(
        "CREATE OR REPLACE FUNCTION tools.version() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$",
    );
    let before = live.fingerprint();

    let mut pids = Vec::new();
    let (pid, run) = ferry_pid(
        &["verify", "--json", "--migrations", set, "-d", &live.url],
        &[],
    );
    pids.push(pid);
    // The drift in the helper schema is reported: exactly the changed function.
    let run = run.expect(1);
    let json = run.json();
    let differences = json["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{json}");
    assert!(
        differences[0].to_string().contains("tools.version()"),
        "{json}"
    );
    assert_eq!(
        live.fingerprint(),
        before,
        "verify wrote to the live database"
    );
    assert_eq!(version(&live).as_deref(), Some("2"));
    let (pid, run) = ferry_pid(&["status", "--migrations", set, "-d", &live.url], &[]);
    pids.push(pid);
    run.expect(0);
    assert_eq!(
        live.fingerprint(),
        before,
        "status wrote to the live database"
    );

    // An unversioned copy (legacy 2 without its marker, one column more, the function changed):
    // status and verify identify it, --assume-legacy 2 refuses it; none of them writes.
    let copy = TestDb::new(Dialect::Postgres);
    ferry(&[
        "fixture",
        "--legacy",
        "2",
        "--migrations",
        set,
        "-d",
        &copy.url,
    ])
    .expect(0);
    copy.exec(
        "DROP TABLE schema_version; ALTER TABLE items ADD COLUMN extra INTEGER; \
         CREATE OR REPLACE FUNCTION tools.version() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$",
    );
    let copy_before = copy.fingerprint();
    let (pid, run) = ferry_pid(&["status", "--migrations", set, "-d", &copy.url], &[]);
    pids.push(pid);
    let run = run.expect(0);
    assert!(
        run.stdout.contains("nearest legacy 2") && run.stdout.contains("items.extra"),
        "{}",
        run.stdout
    );
    let (pid, run) = ferry_pid(&["verify", "--migrations", set, "-d", &copy.url], &[]);
    pids.push(pid);
    run.expect(3);
    let (pid, run) = ferry_pid(
        &[
            "upgrade",
            "--assume-legacy",
            "2",
            "--migrations",
            set,
            "-d",
            &copy.url,
        ],
        &[],
    );
    pids.push(pid);
    let run = run.expect(3);
    assert!(
        run.stderr.contains("differs from legacy 2's"),
        "{}",
        run.stderr
    );
    assert_eq!(
        copy.fingerprint(),
        copy_before,
        "the unversioned copy was written to"
    );
    assert_eq!(version(&copy).as_deref(), Some("2"));

    assert_eq!(live.fingerprint(), before);
    assert_eq!(version(&live).as_deref(), Some("2"));
    for pid in pids {
        assert_eq!(
            scratch_databases_of(pid),
            Vec::<String>::new(),
            "ferry pid {pid} left one"
        );
    }
}

/// Parallel cases of a set that creates its own schema, functions and an extension each get a
/// database of their own: no `tuple concurrently updated`, no `schema already exists`.
#[test]
fn upgrade_test_runs_parallel_cases_in_databases_of_their_own() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let set = tools_set(tmp.path());
    let server = TestDb::new(Dialect::Postgres);
    let before = server.fingerprint();
    let (pid, run) = ferry_pid(
        &[
            "upgrade-test",
            "--migrations",
            set.to_str().unwrap(),
            "-d",
            &server.url,
            "-j",
            "4",
            "--json",
        ],
        &[],
    );
    let json = run.expect(0).json();
    assert_eq!(json["all_passed"], true, "{json:#}");
    assert_eq!(json["dialects"], serde_json::json!(["postgres"]));
    // fresh, legacy 1, legacy 2, the round trip
    assert_eq!(json["cases"].as_array().unwrap().len(), 4, "{json:#}");
    assert_eq!(
        server.fingerprint(),
        before,
        "upgrade-test touched the database"
    );
    assert_eq!(scratch_databases_of(pid), Vec::<String>::new());
}

/// upgrade-test runs the dialects the set supports: a PostgreSQL-only set needs a server; a
/// SQLite-only set says it did not use the one it was given.
#[test]
fn upgrade_test_runs_only_the_dialects_the_set_supports() {
    let tmp = tempfile::tempdir().unwrap();
    let set = tools_set(tmp.path());
    let run = ferry(&["upgrade-test", "--migrations", set.to_str().unwrap()]).expect(2);
    assert!(
        run.stderr.contains("supports PostgreSQL only")
            && run.stderr.contains("--database postgres://"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "no column of failures: {}",
        run.stdout
    );

    let sqlite_only = copy_reference_set(tmp.path());
    std::fs::remove_file(sqlite_only.join("baseline/postgres.sql")).unwrap();
    for dir in ["seeds", "superseded"] {
        let to = sqlite_only.join("tests").join(dir);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(repo().join("tests").join(dir)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    // Never connected to: the server does not even exist.
    let run = ferry(&[
        "upgrade-test",
        "--migrations",
        sqlite_only.to_str().unwrap(),
        "--releases",
        "3.12",
        "-d",
        "postgres://nobody@127.0.0.1:1/none",
    ])
    .expect(0);
    assert!(
        run.stdout.contains("on sqlite:") && run.stdout.contains("supports SQLite only"),
        "{}",
        run.stdout
    );
}

/// A role without CREATEDB gets no scratch database in the live one: exit 2 and what to grant,
/// before anything is built; `--scratch-url` naming a server (whose role may create databases)
/// or an empty database the role owns works, and that database is empty again afterwards.
#[test]
fn a_role_without_createdb_needs_a_scratch_url() {
    let _serial = serial();
    struct Role(String);
    impl Drop for Role {
        fn drop(&mut self) {
            let server = pg::server_url();
            if let Ok(mut c) = ferry::driver::postgres::connect_client(&server) {
                // One statement at a time: DROP DATABASE cannot run in a transaction block.
                let _ = c.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {}_scratch WITH (FORCE)",
                    self.0
                ));
                if let Err(e) = c.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.0)) {
                    eprintln!("warning: could not drop role {}: {e}", self.0);
                }
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let set = tools_set(tmp.path());
    let set = set.to_str().unwrap();
    let server = pg::server_url();
    let role = Role(format!("ferry_nocreatedb_{}", std::process::id()));
    let name = role.0.clone();
    let password = "scratch-pw";
    exec_at(
        &server,
        &format!(
            "DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN NOCREATEDB PASSWORD '{password}'"
        ),
    );
    {
        let live = TestDb::new(Dialect::Postgres);
        ferry(&["upgrade", "--migrations", set, "-d", &live.url]).expect(0);
        live.exec(&format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}; GRANT USAGE ON SCHEMA tools TO {name}"
        ));
        let before = live.fingerprint();
        let as_role = with_user(&live.url, &name, password);

        let (pid, run) = ferry_pid(&["verify", "--migrations", set, "-d", &as_role], &[]);
        let run = run.expect(2);
        for w in [
            &format!("ALTER ROLE {name} CREATEDB"),
            "--scratch-url",
            "Nothing was built or written",
        ] {
            assert!(run.stderr.contains(w), "{w:?} not in {}", run.stderr);
        }
        assert_eq!(scratch_databases_of(pid), Vec::<String>::new());
        assert_eq!(live.fingerprint(), before);

        // A server URL of a role that may create databases.
        let (pid, run) = ferry_pid(
            &[
                "verify",
                "--migrations",
                set,
                "-d",
                &as_role,
                "--scratch-url",
                &server,
            ],
            &[],
        );
        run.expect(0);
        assert_eq!(scratch_databases_of(pid), Vec::<String>::new());
        // The same from the environment.
        let (_, run) = ferry_pid(
            &["verify", "--migrations", set, "-d", &as_role],
            &[("FERRY_SCRATCH_URL", &server)],
        );
        run.expect(0);

        // An empty database the role owns: it is the scratch, and empty again afterwards.
        let scratch_db = format!("{name}_scratch");
        exec_at(
            &server,
            &format!("CREATE DATABASE {scratch_db} OWNER {name} TEMPLATE template0"),
        );
        let shared = with_user(&pg::with_dbname(&server, &scratch_db), &name, password);
        let empty = pg::fingerprint(&pg::with_dbname(&server, &scratch_db));
        ferry(&[
            "verify",
            "--migrations",
            set,
            "-d",
            &as_role,
            "--scratch-url",
            &shared,
        ])
        .expect(0);
        assert_eq!(
            pg::fingerprint(&pg::with_dbname(&server, &scratch_db)),
            empty,
            "the scratch database is emptied again (schema tools, pgcrypto, the tables)"
        );
        // A database that is not empty is refused, and left as it is.
        exec_at(&shared, "CREATE TABLE mine (id INTEGER)");
        let full = pg::fingerprint(&pg::with_dbname(&server, &scratch_db));
        let run = ferry(&[
            "verify",
            "--migrations",
            set,
            "-d",
            &as_role,
            "--scratch-url",
            &shared,
        ])
        .expect(2);
        assert!(
            run.stderr.contains("table public.mine") && run.stderr.contains("start empty"),
            "{}",
            run.stderr
        );
        assert_eq!(
            pg::fingerprint(&pg::with_dbname(&server, &scratch_db)),
            full
        );
        assert_eq!(live.fingerprint(), before);
    }
    drop(role);
}

/// A run killed while it builds in a scratch database leaves that database behind (its
/// creator connection dies with it); the next scratch removes it, never one whose creator is
/// alive.
#[test]
fn a_killed_verify_leaves_a_scratch_database_that_the_next_one_removes() {
    let _serial = serial();
    let live = TestDb::new(Dialect::Postgres);
    ferry(&["upgrade", "-d", &live.url]).expect(0);
    let before = live.fingerprint();
    let (killed, run) = ferry_pid(
        &["verify", "-d", &live.url],
        &[("FERRY_CRASH_AT", "before-commit:upgrade 0003")],
    );
    assert!(run.stderr.contains("FERRY_CRASH_AT"), "{run:?}");
    assert_ne!(run.code, 0);
    let left = scratch_databases_of(killed);
    assert_eq!(
        left.len(),
        1,
        "the killed run left its scratch database: {left:?}"
    );

    // A scratch of this process stays alive meanwhile: the next run must not remove it.
    let url = DatabaseUrl::parse(&live.url).unwrap();
    let alive = Scratch::beside(&url, "test").unwrap();
    let (next, run) = ferry_pid(&["verify", "-d", &live.url], &[]);
    run.expect(0);
    assert_eq!(
        scratch_databases_of(killed),
        Vec::<String>::new(),
        "removed"
    );
    assert_eq!(scratch_databases_of(next), Vec::<String>::new());
    assert_eq!(
        scratch_databases_of(std::process::id()).len(),
        1,
        "a scratch whose creator is alive is kept"
    );
    drop(alive);
    assert_eq!(live.fingerprint(), before);
}

/// A step that fails while the expected schema is built says so: which command, which step,
/// the database's error and statement, and that the live database was not touched (not the
/// runner's advice to run `ferry upgrade` again).
#[test]
fn a_failure_inside_a_scratch_build_is_reported_as_one() {
    let _serial = serial();
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_reference_set(tmp.path());
        let db = TestDb::new(dialect);
        ferry(&[
            "upgrade",
            "--migrations",
            set.to_str().unwrap(),
            "-d",
            &db.url,
        ])
        .expect(0);
        // Edited after it ran: verify builds it from the set as it is now.
        let up = set.join("revisions/0003_api_keys_last_used_index/up.sql");
        let text = std::fs::read_to_string(&up).unwrap();
        std::fs::write(
            &up,
            format!("{text}\nINSERT INTO no_such_table VALUES (1);\n"),
        )
        .unwrap();
        let before = db.fingerprint();
        let (pid, run) = ferry_pid(
            &[
                "verify",
                "--migrations",
                set.to_str().unwrap(),
                "-d",
                &db.url,
            ],
            &[],
        );
        let run = run.expect(4);
        for w in [
            "verify: building the expected schema at revision",
            "upgrade 0003_api_keys_last_used_index failed in the scratch database",
            "no_such_table",
            "the live database was not touched",
        ] {
            assert!(run.stderr.contains(w), "{w:?} not in {}", run.stderr);
        }
        if dialect == Dialect::Postgres {
            assert!(
                run.stderr
                    .contains("in statement: INSERT INTO no_such_table"),
                "{}",
                run.stderr
            );
        }
        assert!(!run.stderr.contains("ferry upgrade"), "{}", run.stderr);
        let (_, json) = ferry_pid(
            &[
                "verify",
                "--json",
                "--migrations",
                set.to_str().unwrap(),
                "-d",
                &db.url,
            ],
            &[],
        );
        let json = json.expect(4).json();
        assert_eq!(json["error"]["kind"], "scratch_failed");
        assert_eq!(db.fingerprint(), before);
        if dialect == Dialect::Postgres {
            assert_eq!(scratch_databases_of(pid), Vec::<String>::new());
        }
    });
}
