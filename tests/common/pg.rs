//! PostgreSQL for the tests: a real server, found or started once per test process, and a
//! fresh database per test, dropped with its value. No mocks and no skips: when no server can
//! be had, the test that asked for one panics and says how to provide one.
//!
//! Where the server comes from (the first that works, decided once per test process):
//! 1. `FERRY_TEST_PG_URL`: a URL or libpq key=value string of a maintenance database, for a
//!    role that may create databases. Used as given; if it does not work, that is the failure.
//! 2. A server answering on 127.0.0.1:5432, as user `postgres`, then as the OS user, without
//!    a password (trust authentication). `FERRY_TEST_PG_NO_LOCAL=1` skips this probe, so the
//!    next path can be exercised on a machine that has such a server.
//! 3. A throwaway cluster: `initdb` and `pg_ctl` from `PG_BIN`, else the newest
//!    `/usr/lib/postgresql/*/bin`, else `PATH`; run as the unprivileged user `ferrytest`
//!    (created with `useradd` if missing) when the tests run as root, since PostgreSQL refuses
//!    to run as root; in a private temporary directory, on a free 127.0.0.1 port, with password
//!    (SCRAM) authentication over TCP so the password paths of ferry are exercised too.
//!
//! Cleaning up the cluster of path 3: a test process ends with `exit()` and never drops its
//! statics, and there is no portable at-exit hook without libc. So the cluster is watched from
//! outside: a small detached shell (`setsid sh -c …`) polls the test process with `kill -0`
//! once a second; when the process is gone (finished, panicked, killed), it stops the
//! postmaster (SIGQUIT, immediate shutdown: the data is thrown away anyway) and removes the
//! directory. The watchdog has no terminal and no inherited pipes, so it neither holds up
//! `cargo test` nor a `| tee` in CI. A [`Cluster`] started by a test itself is stopped by its
//! `Drop`, the watchdog being only the fallback.
//!
//! Every [`fresh_database`] is `ferry_t_<pid>_<counter>`, created from template0 and dropped
//! (`DROP DATABASE … WITH (FORCE)`) when the value drops. On the local 5432 server, databases
//! left behind by test processes that no longer exist are dropped when the server is first used.
//!
//! This file is compiled into several test crates, each using part of it.
#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry::driver::url::redact;
use postgres::{Client, SimpleQueryMessage};
use sha2::{Digest, Sha256};

/// A fresh, empty database on a real PostgreSQL server, dropped when the value drops.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = drop_database(&server().url, &self.name) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// A fresh, empty database; panics with a clear message if no server can be had.
pub fn fresh_database() -> PgDatabase {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let server = server();
    let name = format!(
        "ferry_t_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut client = connect(&server.url);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .and_then(|()| {
            client.batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            ))
        })
        .unwrap_or_else(|e| {
            panic!(
                "creating test database {name} on {}: {}",
                redact(&server.url),
                db_message(&e)
            )
        });
    PgDatabase {
        url: with_dbname(&server.url, &name),
        name,
    }
}

/// The URL of the server's maintenance database, for tests that create databases themselves.
pub fn server_url() -> String {
    server().url.clone()
}

/// A digest of everything in the database outside the system schemas: schemas, relations,
/// columns, constraints, indexes, triggers, views, functions, types, sequences (their
/// definition, not their position: a rolled-back insert advances a sequence), extensions, and
/// every table's rows in a stable order. Equal fingerprints: the database is unchanged.
pub fn fingerprint(url: &str) -> String {
    const USER: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' \
                        AND n.nspname NOT LIKE 'pg\\_temp\\_%'";
    let catalog = [
        format!("SELECT n.nspname FROM pg_namespace n WHERE {USER} ORDER BY 1"),
        format!(
            "SELECT n.nspname, c.relname, c.relkind, c.relpersistence FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER} ORDER BY 1, 2"
        ),
        format!(
            "SELECT n.nspname, c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
             pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE {USER} AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1, 2, 3"
        ),
        format!(
            "SELECT n.nspname, c.conrelid::regclass::text, c.contypid::regtype::text, c.conname, pg_get_constraintdef(c.oid) \
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE {USER} ORDER BY 1, 2, 3, 4"
        ),
        format!(
            "SELECT n.nspname, c.relname, pg_get_indexdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {USER} AND c.relkind IN ('i', 'I') ORDER BY 1, 2"
        ),
        format!(
            "SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled FROM pg_trigger t \
             JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {USER} AND NOT t.tgisinternal ORDER BY 1, 2, 3"
        ),
        format!(
            "SELECT n.nspname, c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {USER} AND c.relkind IN ('v', 'm') ORDER BY 1, 2"
        ),
        format!(
            "SELECT n.nspname, p.oid::regprocedure::text, CASE WHEN p.prokind = 'a' THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER} ORDER BY 1, 2"
        ),
        format!(
            "SELECT n.nspname, t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault, \
             (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE {USER} AND t.typtype IN ('e', 'd', 'r', 'm') ORDER BY 1, 2"
        ),
        "SELECT schemaname, sequencename, data_type::text, start_value, min_value, max_value, increment_by, cycle \
         FROM pg_sequences ORDER BY 1, 2"
            .to_string(),
        "SELECT extname, extversion, extnamespace::regnamespace::text FROM pg_extension ORDER BY 1".to_string(),
    ];
    let mut client = connect(url);
    let mut dump = String::new();
    let run = |client: &mut Client, sql: &str, dump: &mut String| {
        for message in client
            .simple_query(sql)
            .unwrap_or_else(|e| panic!("fingerprint query failed: {}\n{sql}", db_message(&e)))
        {
            if let SimpleQueryMessage::Row(row) = message {
                let cells: Vec<&str> = (0..row.len())
                    .map(|i| row.get(i).unwrap_or("\u{2400}"))
                    .collect();
                dump.push_str(&cells.join("\t"));
                dump.push('\n');
            }
        }
    };
    for sql in &catalog {
        run(&mut client, sql, &mut dump);
    }
    let tables: Vec<String> = rows(
        &mut client,
        &format!(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER} AND c.relkind IN ('r', 'p') ORDER BY 1"
        ),
    )
    .into_iter()
    .map(|r| r.into_iter().next().flatten().unwrap_or_default())
    .collect();
    for table in tables {
        dump.push_str(&format!("== {table}\n"));
        run(
            &mut client,
            &format!("SELECT r::text FROM {table} r ORDER BY r::text COLLATE \"C\""),
            &mut dump,
        );
    }
    Sha256::digest(dump.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A throwaway cluster of its own (path 3 above), stopped and removed when dropped.
pub struct Cluster {
    /// The maintenance database, with the superuser's password.
    pub url: String,
    /// The superuser's (`postgres`) password.
    pub password: String,
    pub port: u16,
    dir: PathBuf,
    postmaster: u32,
    watchdog: Option<Child>,
}

impl Cluster {
    /// Starts a cluster with `initdb` and `pg_ctl`.
    pub fn start() -> Result<Cluster, String> {
        let bin = find_bin()?;
        let root = is_root();
        if root {
            ensure_user()?;
        }
        let base = if root {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = base.join(format!("ferry-pg-{}-{stamp}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let result = Self::start_in(&bin, &dir, root, stamp);
        if result.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    fn start_in(bin: &Path, dir: &Path, root: bool, stamp: u128) -> Result<Cluster, String> {
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        if root {
            run(Command::new("chown").arg(CLUSTER_USER).arg(dir), "chown")?;
        }
        let password: String = Sha256::digest(format!("{stamp} {}", std::process::id()).as_bytes())
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect();
        let pwfile = dir.join("pwfile");
        fs::write(&pwfile, format!("{password}\n"))
            .map_err(|e| format!("{}: {e}", pwfile.display()))?;
        if root {
            run(
                Command::new("chown").arg(CLUSTER_USER).arg(&pwfile),
                "chown",
            )?;
        }
        let data = dir.join("data");
        let mut initdb = as_cluster_user(
            root,
            &bin.join("initdb"),
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth-local=trust".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                format!("--pwfile={}", pwfile.display()).as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "-N".as_ref(),
            ],
            dir,
        );
        run(&mut initdb, "initdb")?;
        let _ = fs::remove_file(&pwfile);
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                dir.display()
            );
            let log = dir.join("server.log");
            let mut pg_ctl = as_cluster_user(
                root,
                &bin.join("pg_ctl"),
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-o".as_ref(),
                    options.as_ref(),
                    "start".as_ref(),
                ],
                dir,
            );
            match run(&mut pg_ctl, "pg_ctl start") {
                Ok(_) => {
                    let pid_file = data.join("postmaster.pid");
                    let postmaster: u32 = fs::read_to_string(&pid_file)
                        .ok()
                        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
                        .ok_or_else(|| format!("cannot read {}", pid_file.display()))?;
                    let watchdog = spawn_watchdog(postmaster, dir);
                    let url = format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres");
                    return Ok(Cluster {
                        url,
                        password,
                        port,
                        dir: dir.to_path_buf(),
                        postmaster,
                        watchdog,
                    });
                }
                Err(e) => {
                    let log = fs::read_to_string(&log).unwrap_or_default();
                    last_error = format!("{e}\n{log}");
                    if !log.contains("could not bind") && !log.contains("Address already in use") {
                        break; // not a port race: retrying would not help
                    }
                }
            }
        }
        Err(last_error)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-QUIT")
            .arg(self.postmaster.to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{}", self.postmaster)).exists() && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = fs::remove_dir_all(&self.dir);
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

const CLUSTER_USER: &str = "ferrytest";

struct Server {
    url: String,
    /// Kept for the whole process (statics are never dropped: the watchdog cleans up).
    _cluster: Option<Cluster>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

fn server() -> &'static Server {
    match SERVER.get_or_init(resolve) {
        Ok(server) => server,
        Err(message) => panic!("{message}"),
    }
}

fn resolve() -> Result<Server, String> {
    let mut tried = Vec::new();
    if let Ok(url) = std::env::var("FERRY_TEST_PG_URL")
        && !url.trim().is_empty()
    {
        return match usable(&url) {
            Ok(()) => Ok(Server {
                url,
                _cluster: None,
            }),
            Err(e) => Err(format!(
                "FERRY_TEST_PG_URL={} is set but cannot be used: {e}",
                redact(&url)
            )),
        };
    }
    tried.push("FERRY_TEST_PG_URL is not set".to_string());
    if std::env::var("FERRY_TEST_PG_NO_LOCAL").is_ok_and(|v| v == "1") {
        tried.push("FERRY_TEST_PG_NO_LOCAL=1: 127.0.0.1:5432 not probed".into());
    } else if TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], 5432)),
        Duration::from_secs(1),
    )
    .is_ok()
    {
        let mut users = vec!["postgres".to_string()];
        users.extend(os_user().filter(|u| u != "postgres"));
        for user in users {
            let url = format!("postgres://{user}@127.0.0.1:5432/postgres");
            match usable(&url) {
                Ok(()) => {
                    drop_stale_databases(&url);
                    return Ok(Server {
                        url,
                        _cluster: None,
                    });
                }
                Err(e) => tried.push(format!("127.0.0.1:5432 as {user}: {e}")),
            }
        }
    } else {
        tried.push("nothing answers on 127.0.0.1:5432".into());
    }
    match Cluster::start() {
        Ok(cluster) => {
            let url = cluster.url.clone();
            usable(&url)
                .map_err(|e| format!("the throwaway cluster started but cannot be used: {e}"))?;
            Ok(Server {
                url,
                _cluster: Some(cluster),
            })
        }
        Err(e) => {
            tried.push(format!("throwaway cluster: {e}"));
            let ci = if std::env::var("CI").is_ok_and(|v| v == "true") {
                "CI=true: a missing PostgreSQL fails the tests, it never skips them; .ci/install-postgres installs one.\n"
            } else {
                ""
            };
            Err(format!(
                "no PostgreSQL server for the tests.\n{ci}Tried:\n  - {}\nProvide one of:\n  \
                 - FERRY_TEST_PG_URL=postgres://USER:PASSWORD@HOST:PORT/postgres (a role that may create databases);\n  \
                 - a server on 127.0.0.1:5432 that lets user postgres (or your OS user) in without a password;\n  \
                 - PostgreSQL's server binaries (bash .ci/install-postgres, or apt-get install postgresql; PG_BIN=DIR picks \
                 the directory holding initdb and pg_ctl), from which a throwaway cluster is started.",
                tried.join("\n  - ")
            ))
        }
    }
}

/// Whether the server answers and the role may create databases.
fn usable(url: &str) -> Result<(), String> {
    let mut client = ferry::driver::postgres::connect_client(url)?;
    let may: bool = client
        .query_one(
            "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .map_err(|e| db_message(&e))?
        .get(0);
    if may {
        Ok(())
    } else {
        Err("the role may not create databases (needs CREATEDB)".into())
    }
}

/// Drops `ferry_t_<pid>_<n>` databases of test processes that are gone (local server only).
fn drop_stale_databases(url: &str) {
    let mut client = connect(url);
    for row in rows(
        &mut client,
        "SELECT datname FROM pg_database WHERE datname LIKE 'ferry\\_t\\_%'",
    ) {
        let name = row.into_iter().next().flatten().unwrap_or_default();
        let pid = name
            .strip_prefix("ferry_t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = drop_database(url, &name);
        }
    }
}

fn drop_database(server_url: &str, name: &str) -> Result<(), String> {
    let mut client = ferry::driver::postgres::connect_client(server_url)?;
    if client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .is_ok()
    {
        return Ok(());
    }
    // Before PostgreSQL 13: end the sessions, then drop.
    client
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .and_then(|()| client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")))
        .map_err(|e| db_message(&e))
}

fn connect(url: &str) -> Client {
    ferry::driver::postgres::connect_client(url)
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", redact(url)))
}

fn rows(client: &mut Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let messages = client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{}\n{sql}", db_message(&e)));
    ferry::driver::postgres::text_rows(&messages)
}

fn db_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// The same server, another database: `postgres://…/NAME?…` or `… dbname=NAME`.
pub fn with_dbname(url: &str, name: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest_start = scheme_end + 3;
        let (head, query) = match url[rest_start..].find('?') {
            Some(q) => (&url[..rest_start + q], &url[rest_start + q..]),
            None => (url, ""),
        };
        let authority_end = head[rest_start..]
            .find('/')
            .map_or(head.len(), |i| rest_start + i);
        format!("{}/{name}{query}", &head[..authority_end])
    } else {
        format!("{url} dbname={name}")
    }
}

fn os_user() -> Option<String> {
    std::env::var("USER")
        .ok()
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(|| {
            Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
        .filter(|u| !u.is_empty())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The directory holding `initdb` and `pg_ctl`.
fn find_bin() -> Result<PathBuf, String> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_both(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "PG_BIN={} holds no initdb and pg_ctl",
                dir.display()
            ))
        };
    }
    if let Some(bin) = newest_installed_bin(&has_both) {
        return Ok(bin);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if has_both(&dir) {
            return Ok(dir);
        }
        // initdb on PATH may be a link into the real directory, next to pg_ctl.
        if let Ok(real) = fs::canonicalize(dir.join("initdb"))
            && let Some(parent) = real.parent()
            && has_both(parent)
        {
            return Ok(parent.to_path_buf());
        }
    }
    Err("no initdb/pg_ctl found (PG_BIN, /usr/lib/postgresql/*/bin, PATH)".into())
}

/// Creates the unprivileged system user the cluster runs as, if missing.
fn ensure_user() -> Result<(), String> {
    if Command::new("id")
        .arg("-u")
        .arg(CLUSTER_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Ok(());
    }
    let mut useradd = Command::new("useradd");
    useradd.args([
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        CLUSTER_USER,
    ]);
    match run(&mut useradd, "useradd") {
        Ok(_) => Ok(()),
        // Another test process may have created it meanwhile.
        Err(_)
            if Command::new("id")
                .arg("-u")
                .arg(CLUSTER_USER)
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A command run as the cluster's user when we are root (PostgreSQL refuses root).
fn as_cluster_user(root: bool, program: &Path, args: &[&std::ffi::OsStr], cwd: &Path) -> Command {
    let mut command = if !root {
        Command::new(program)
    } else if which("runuser") {
        let mut c = Command::new("runuser");
        c.args(["-u", CLUSTER_USER, "--"]).arg(program);
        c
    } else {
        let quoted: Vec<String> = std::iter::once(program.as_os_str())
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
            .collect();
        let mut c = Command::new("su");
        c.args(["-s", "/bin/sh", CLUSTER_USER, "-c", &quoted.join(" ")]);
        c.current_dir(cwd);
        return c;
    };
    command.args(args);
    // The cluster user may not be able to read the current directory.
    command.current_dir(cwd);
    command
}

fn which(program: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join(program).is_file())
}

/// Runs a command to completion; its output goes to a file, not a pipe, so a daemon it starts
/// (pg_ctl's postmaster) cannot keep us waiting for the pipe to close.
fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let out = std::env::temp_dir().join(format!(
        "ferry-pg-cmd-{}-{}.out",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    let file = fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let status = command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status();
    let output = fs::read_to_string(&out).unwrap_or_default();
    let _ = fs::remove_file(&out);
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{what} failed ({s}): {}", output.trim())),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Stops the postmaster and removes `dir` once this test process is gone (see the top).
fn spawn_watchdog(postmaster: u32, dir: &Path) -> Option<Child> {
    const SCRIPT: &str = r#"
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        if [ -d "$3/data" ]; then kill -QUIT "$2" 2>/dev/null; fi
        i=0
        while kill -0 "$2" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        rm -rf "$3"
    "#;
    let mut command = if which("setsid") {
        let mut c = Command::new("setsid");
        c.arg("sh");
        c
    } else {
        Command::new("sh")
    };
    command
        .args(["-c", SCRIPT, "ferry-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(postmaster.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().ok()
}

/// The `bin` directory of the newest `/usr/lib/postgresql/<version>` installation that `fits`.
fn newest_installed_bin(fits: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .map(|p| p.parse::<u32>().ok())
                .collect::<Option<Vec<_>>>()?;
            let bin = entry.path().join("bin");
            fits(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A PostgreSQL client program: the newest server installation's, else the one on PATH.
pub fn program(name: &str) -> PathBuf {
    if let Some(bin) = newest_installed_bin(&|bin: &Path| bin.join(name).is_file()) {
        return bin.join(name);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is needed for this test and was not found"))
}
