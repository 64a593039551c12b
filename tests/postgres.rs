//! The PostgreSQL driver against a real server (see tests/common/pg.rs for where it comes
//! from): connection forms and failures, whole-script execution, error reporting, `--schema`,
//! the advisory lock, snapshots, and the binary end to end.

#[path = "common/pg.rs"]
mod pg;

use std::process::{Command, Output};
use std::str::FromStr;
use std::time::{Duration, Instant};

use ferry::core::guard::Object;
use ferry::core::schema::diff;
use ferry::driver::postgres::Postgres;
use ferry::driver::{Driver, OpenOptions};
use ferry::error::Error;

fn options(schema: Option<&str>, create: bool) -> OpenOptions {
    OpenOptions {
        create,
        schema: schema.map(str::to_string),
        busy_timeout: Duration::from_secs(30),
    }
}

fn open(url: &str) -> Postgres {
    open_in(url, None)
}

fn open_in(url: &str, schema: Option<&str>) -> Postgres {
    Postgres::connect(url, &options(schema, true)).unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

fn open_error(url: &str) -> Error {
    match Postgres::connect(url, &options(None, false)) {
        Ok(_) => panic!("connecting to {url} should fail"),
        Err(e) => e,
    }
}

fn value(db: &mut Postgres, sql: &str) -> Option<String> {
    db.query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .flatten()
}

fn ferry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("FERRY_DATABASE_URL")
        .env_remove("FERRY_MIGRATIONS")
        .output()
        .expect("the ferry binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

/// The same connection as a libpq key=value string.
fn key_value(url: &str) -> String {
    let config = postgres::Config::from_str(url).expect("a valid URL");
    let mut parts = Vec::new();
    if let Some(postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        parts.push(format!("host={host}"));
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!(
            "password='{}'",
            String::from_utf8_lossy(password).replace('\'', "\\'")
        ));
    }
    parts.push(format!(
        "dbname={}",
        config.get_dbname().expect("a database name")
    ));
    parts.join(" ")
}

/// The connection string with one more parameter (URL or key=value).
fn with_param(url: &str, param: &str) -> String {
    if !url.contains("://") {
        return format!("{url} {param}");
    }
    format!("{url}{}{param}", if url.contains('?') { '&' } else { '?' })
}

/// The connection string with its password replaced (or added).
fn with_password(url: &str, password: &str) -> String {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return format!("{url} password='{password}'");
    };
    let at = rest.find('@').expect("a user in the URL");
    let user = rest[..at].split(':').next().unwrap();
    format!("postgres://{user}:{password}@{}", &rest[at + 1..])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn url_and_key_value_forms_connect_and_name_the_application() {
    let db = pg::fresh_database();
    for conn in [
        db.url.clone(),
        db.url.replacen("postgres://", "postgresql://", 1),
        key_value(&db.url),
    ] {
        let mut pg = open(&conn);
        assert_eq!(
            value(&mut pg, "SELECT current_database()").as_deref(),
            Some(db.name()),
            "{conn}"
        );
        let app = value(
            &mut pg,
            "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        )
        .unwrap();
        assert_eq!(
            app,
            format!(
                "ferry {} pid {}",
                env!("CARGO_PKG_VERSION"),
                std::process::id()
            )
        );
    }
    // An application_name of the URL wins.
    let mut pg = open(&with_param(&db.url, "application_name=deploy_job"));
    assert_eq!(
        value(
            &mut pg,
            "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        )
        .as_deref(),
        Some("deploy_job")
    );
    // sslmode=disable is a plain connection.
    assert!(!encrypted(&mut open(&with_param(
        &db.url,
        "sslmode=disable"
    ))));
}

/// Whether this session's connection is encrypted.
fn encrypted(pg: &mut Postgres) -> bool {
    let sql = "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    value(pg, sql).as_deref() == Some("true")
}

#[test]
fn tls_is_used_when_asked_and_refused_when_impossible() {
    let db = pg::fresh_database();
    let ssl_on = value(&mut open(&db.url), "SHOW ssl").as_deref() == Some("on");
    let require = with_param(&db.url, "sslmode=require");
    if ssl_on {
        // The server has a certificate: require encrypts without checking it (as libpq does).
        assert!(encrypted(&mut open(&require)));
        assert!(encrypted(&mut open(&with_param(
            &key_value(&db.url),
            "sslmode=require"
        ))));
        // verify-ca checks the chain against sslrootcert: here the server's own self-signed
        // certificate, when this machine can read it.
        let cert = value(&mut open(&db.url), "SHOW ssl_cert_file").unwrap_or_default();
        if std::fs::read(&cert).is_ok() {
            let root = format!("sslrootcert={cert}");
            assert!(encrypted(&mut open(&with_param(
                &with_param(&db.url, "sslmode=verify-ca"),
                &root
            ))));
        }
    } else {
        let e = open_error(&require);
        assert_eq!(e.exit_code(), 6, "{e}");
        assert!(e.to_string().contains("does not support TLS"), "{e}");
    }
    assert!(!encrypted(&mut open(&with_param(
        &db.url,
        "sslmode=disable"
    ))));
    // verify-full against a test server (no certificate, or one not valid for 127.0.0.1 from a
    // trusted root): refused.
    let e = open_error(&with_param(&db.url, "sslmode=verify-full"));
    assert!(matches!(e, Error::Open { .. }), "{e}");
    assert_eq!(e.exit_code(), 6);
    // A value libpq does not know is an error, not a silent downgrade.
    let e = open_error(&with_param(&db.url, "sslmode=sometimes"));
    assert!(e.to_string().contains("sslmode"), "{e}");
    assert_eq!(e.exit_code(), 2, "a configuration error: {e}");
    let missing_root = with_param(
        &with_param(&db.url, "sslmode=verify-ca"),
        "sslrootcert=/nonexistent/root.crt",
    );
    let e = open_error(&missing_root);
    assert!(e.to_string().contains("/nonexistent/root.crt"), "{e}");
    assert_eq!(e.exit_code(), 2, "{e}");
}

#[test]
fn unix_socket_hosts_connect() {
    let db = pg::fresh_database();
    let mut pg = open(&db.url);
    let dirs = value(&mut pg, "SHOW unix_socket_directories").unwrap_or_default();
    let port = value(&mut pg, "SHOW port").unwrap();
    let Some(dir) = dirs
        .split(',')
        .map(str::trim)
        .find(|d| std::path::Path::new(d).is_dir())
    else {
        // Only a server named by FERRY_TEST_PG_URL may live on another machine.
        assert!(
            std::env::var_os("FERRY_TEST_PG_URL").is_some(),
            "the test server has no local socket directory ({dirs:?})"
        );
        eprintln!(
            "NOTE: FERRY_TEST_PG_URL names a server without a socket on this machine: unix sockets not tested"
        );
        return;
    };
    let config = postgres::Config::from_str(&db.url).unwrap();
    let mut conn = format!(
        "host={dir} port={port} user={} dbname={}",
        config.get_user().unwrap(),
        db.name()
    );
    if let Some(password) = config.get_password() {
        conn.push_str(&format!(
            " password='{}'",
            String::from_utf8_lossy(password)
        ));
    }
    let mut pg = open(&conn);
    assert_eq!(
        value(
            &mut pg,
            "SELECT coalesce(inet_client_addr()::text, 'socket')"
        )
        .as_deref(),
        Some("socket")
    );
}

#[test]
fn unreachable_server_and_missing_database_are_open_errors_without_password() {
    let secret = "Sup3r-S3cret-pw";
    let port = free_port();
    for conn in [
        format!("postgres://someone:{secret}@127.0.0.1:{port}/app"),
        format!("host=127.0.0.1 port={port} user=someone password={secret} dbname=app"),
    ] {
        let started = Instant::now();
        let e = open_error(&conn);
        assert!(started.elapsed() < Duration::from_secs(15));
        assert!(matches!(e, Error::Open { .. }), "{e}");
        assert_eq!(e.exit_code(), 6);
        let shown = e.to_string();
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
        assert!(shown.contains("is PostgreSQL running"), "{shown}");
    }

    let missing = format!("ferry_missing_{}", std::process::id());
    let url = pg::with_dbname(&pg::server_url(), &missing);
    let e = open_error(&url);
    assert_eq!(e.exit_code(), 6, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("database \"{missing}\" does not exist")),
        "{e}"
    );
    assert!(e.to_string().contains("3D000"), "{e}");

    // Through the binary: exit 6, and the password shows nowhere.
    let out = ferry(&[
        "status",
        "-d",
        &format!("postgres://someone:{secret}@127.0.0.1:{port}/app"),
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(!text(&out).contains(secret), "{}", text(&out));
    let out = ferry(&[
        "status",
        "--json",
        "-d",
        &format!("host=127.0.0.1 port={port} password={secret} dbname=app"),
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(!text(&out).contains(secret), "{}", text(&out));
    assert_eq!(json(&out)["error"]["kind"], "open");
}

/// Checks that a wrong password is an open error (exit 6) that never shows the password.
fn assert_wrong_password_refused(url: &str) {
    let wrong = "Wr0ng-Horse-Battery";
    let bad = with_password(url, wrong);
    let e = open_error(&bad);
    assert!(matches!(e, Error::Open { .. }), "{e}");
    assert_eq!(e.exit_code(), 6);
    let shown = e.to_string();
    assert!(shown.contains("password authentication failed"), "{shown}");
    assert!(shown.contains("28P01"), "{shown}");
    assert!(!shown.contains(wrong), "{shown}");
    let e = open_error(&key_value(&bad));
    assert!(!e.to_string().contains(wrong), "{e}");
    assert_eq!(e.exit_code(), 6);

    let out = ferry(&["upgrade", "-d", &bad]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(!text(&out).contains(wrong), "{}", text(&out));
    assert!(text(&out).contains("password"), "{}", text(&out));
}

#[test]
fn wrong_password_is_an_open_error_without_password() {
    // A role with a password on the shared server; if that server lets everyone in (trust
    // authentication), a throwaway cluster that checks passwords is used instead.
    let server = pg::server_url();
    let role = format!("ferry_pw_{}", std::process::id());
    let mut admin = open(&server);
    admin
        .execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'Right-Horse-Battery'"
        ))
        .unwrap();
    let config = postgres::Config::from_str(&server).unwrap();
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let role_url = format!("postgres://{role}:Wr0ng-Horse-Battery@{host}:{port}/postgres");
    let checks_passwords = Postgres::connect(&role_url, &options(None, false)).is_err();
    if checks_passwords {
        assert_wrong_password_refused(&format!(
            "postgres://{role}:Right-Horse-Battery@{host}:{port}/postgres"
        ));
    } else {
        eprintln!(
            "the shared server accepts any password (trust): checking against a throwaway cluster"
        );
        let cluster = pg::Cluster::start().unwrap_or_else(|e| {
            panic!("the shared server does not check passwords and no throwaway cluster could be started: {e}")
        });
        // The right password works, so the refusal below is about the password only.
        let mut ok = open(&cluster.url);
        assert_eq!(value(&mut ok, "SELECT 1").as_deref(), Some("1"));
        assert_wrong_password_refused(&cluster.url);
    }
    admin
        .execute(&format!("DROP ROLE IF EXISTS {role}"))
        .unwrap();
}

#[test]
fn scripts_run_whole_with_functions_triggers_and_semicolons_in_strings() {
    let db = pg::fresh_database();
    let mut pg = open(&db.url);
    pg.execute(
        r#"
CREATE TABLE notes (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, body TEXT NOT NULL, touched INTEGER NOT NULL DEFAULT 0);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.touched := NEW.touched + 1; -- a comment; with a semicolon
    RETURN NEW;
END;
$$;
CREATE TRIGGER notes_touch BEFORE INSERT OR UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION touch();
INSERT INTO notes (body) VALUES ('a;b'), ('it''s; fine');
DO $body$ BEGIN PERFORM 1; END $body$;
"#,
    )
    .unwrap();
    let rows = pg
        .query("SELECT body, touched::text FROM notes ORDER BY id")
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![Some("a;b".to_string()), Some("1".to_string())],
            vec![Some("it's; fine".to_string()), Some("1".to_string())]
        ]
    );
    assert_eq!(
        pg.query("SELECT 1, NULL::text, 'x'").unwrap(),
        vec![vec![Some("1".into()), None, Some("x".into())]]
    );
    assert!(pg.exists(&Object::Table("notes".into())).unwrap());
    assert!(
        pg.exists(&Object::Column {
            table: "notes".into(),
            column: "touched".into()
        })
        .unwrap()
    );
    assert!(
        !pg.exists(&Object::Column {
            table: "notes".into(),
            column: "nope".into()
        })
        .unwrap()
    );
    assert!(pg.exists(&Object::Index("notes_pkey".into())).unwrap());
    assert!(!pg.exists(&Object::Index("nope".into())).unwrap());
    assert!(!pg.exists(&Object::Table("nope".into())).unwrap());
    assert_eq!(pg.tables().unwrap(), vec!["notes"]);
}

#[test]
fn a_failing_statement_is_reported_and_rolled_back() {
    let db = pg::fresh_database();
    let mut pg = open(&db.url);
    let script = "CREATE TABLE first_one (id INTEGER PRIMARY KEY);\nINSERT INTO first_one VALUES (1);\nINSERT INTO missing_table\n  VALUES (2);\n";
    pg.begin().unwrap();
    let e = pg.execute(script).unwrap_err();
    assert!(
        e.message
            .contains("relation \"missing_table\" does not exist"),
        "{e:?}"
    );
    assert!(e.message.contains("42P01"), "{e:?}");
    assert!(e.message.starts_with("ERROR"), "{e:?}");
    assert_eq!(
        e.statement.as_deref(),
        Some("INSERT INTO missing_table VALUES (2)")
    );
    pg.rollback().unwrap();
    assert!(pg.tables().unwrap().is_empty());

    // Outside BEGIN the batch is one implicit transaction: nothing stays either.
    let e = pg.execute(script).unwrap_err();
    assert_eq!(
        e.statement.as_deref(),
        Some("INSERT INTO missing_table VALUES (2)")
    );
    assert!(pg.tables().unwrap().is_empty());

    // A runtime error without a position still names the constraint and the key.
    pg.execute("CREATE TABLE u (id INTEGER PRIMARY KEY)")
        .unwrap();
    pg.begin().unwrap();
    let e = pg
        .execute("INSERT INTO u VALUES (1);\nINSERT INTO u VALUES (1);")
        .unwrap_err();
    assert!(
        e.message.contains("u_pkey") && e.message.contains("23505") && e.message.contains("DETAIL"),
        "{e:?}"
    );
    pg.rollback().unwrap();
    assert_eq!(
        value(&mut pg, "SELECT count(*) FROM u").as_deref(),
        Some("0")
    );

    // Errors inside a function body carry the PL/pgSQL context.
    let e = pg
        .execute("DO $$ BEGIN\n  INSERT INTO nowhere VALUES (1);\nEND $$;")
        .unwrap_err();
    assert!(
        e.message.contains("CONTEXT") && e.message.contains("PL/pgSQL"),
        "{e:?}"
    );
    assert_eq!(
        e.statement.as_deref(),
        Some("INSERT INTO nowhere VALUES (1)")
    );

    // A failed query is reported the same way, and the session goes on.
    let e = pg.query("SELECT nope FROM u").unwrap_err();
    assert!(e.message.contains("42703"), "{e:?}");
    assert_eq!(e.statement.as_deref(), Some("SELECT nope FROM u"));
    assert_eq!(value(&mut pg, "SELECT 2").as_deref(), Some("2"));
}

#[test]
fn schema_option_puts_everything_in_that_schema() {
    let db = pg::fresh_database();
    // A missing schema reads as empty and is not created by a read.
    let mut reader = Postgres::connect(&db.url, &options(Some("app_a"), false)).unwrap();
    assert!(reader.tables().unwrap().is_empty());
    assert_eq!(reader.snapshot(&[]).unwrap(), Default::default());
    assert_eq!(
        value(
            &mut reader,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'app_a'"
        )
        .as_deref(),
        Some("0")
    );

    let mut a = open_in(&db.url, Some("app_a"));
    a.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
        .unwrap();
    assert_eq!(a.tables().unwrap(), vec!["things"]);
    assert_eq!(a.schema(), "app_a");
    assert_eq!(
        value(&mut a, "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE relname = 'things'")
            .as_deref(),
        Some("app_a")
    );
    let mut public = open(&db.url);
    assert!(public.tables().unwrap().is_empty());
    assert!(!public.exists(&Object::Table("things".into())).unwrap());
    assert_eq!(public.schema(), "public");

    match Postgres::connect(&db.url, &options(Some("bad-name; DROP"), true)) {
        Err(e @ Error::Usage(_)) => assert_eq!(e.exit_code(), 2),
        Err(e) => panic!("expected a usage error, got {e}"),
        Ok(_) => panic!("an invalid schema name was accepted"),
    }
}

#[test]
fn two_schemas_are_two_installations_through_the_binary() {
    let db = pg::fresh_database();
    for schema in ["tenant_a", "tenant_b"] {
        let out = ferry(&["upgrade", "-d", &db.url, "--schema", schema]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    // One of them goes back one revision: the other does not move.
    let out = ferry(&["downgrade", "-1", "-d", &db.url, "--schema", "tenant_b"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let a = json(&ferry(&[
        "status", "--json", "-d", &db.url, "--schema", "tenant_a",
    ]));
    let b = json(&ferry(&[
        "--json", "status", "-d", &db.url, "--schema", "tenant_b",
    ]));
    assert_eq!(a["state"], "managed", "{a}");
    assert_eq!(b["state"], "managed", "{b}");
    assert_eq!(a["current"], a["heads"], "{a}");
    assert_ne!(b["current"], a["current"], "{b}");
    assert_eq!(b["pending"].as_array().map(Vec::len), Some(1), "{b}");

    let mut pg = open(&db.url);
    let versions = pg
        .query("SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version' ORDER BY 1")
        .unwrap();
    assert_eq!(
        versions,
        vec![
            vec![Some("tenant_a".to_string())],
            vec![Some("tenant_b".to_string())]
        ]
    );
    assert!(pg.tables().unwrap().is_empty(), "nothing lands in public");
    let c = json(&ferry(&[
        "status", "--json", "-d", &db.url, "--schema", "tenant_c",
    ]));
    assert_eq!(c["state"], "empty", "{c}");
    assert_eq!(
        value(
            &mut pg,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_c'"
        )
        .as_deref(),
        Some("0")
    );
}

#[test]
fn the_lock_is_held_on_its_own_connection_and_names_its_holder() {
    let db = pg::fresh_database();
    let mut first = open(&with_param(&db.url, "application_name=first_holder"));
    assert_eq!(first.lock(Duration::from_secs(1)).unwrap(), Ok(()));
    let mut second = open(&db.url);

    let started = Instant::now();
    let holder = second
        .lock(Duration::from_millis(300))
        .unwrap()
        .expect_err("the lock is held");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let pid = value(
        &mut second,
        "SELECT l.pid::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'first_holder'",
    )
    .expect("the holder's backend is in pg_locks");
    assert!(holder.contains(&format!("pid {pid}")), "{holder}");
    assert!(holder.contains("first_holder"), "{holder}");
    // The lock lives on a second connection, not on the one running steps.
    let main_pid = value(&mut first, "SELECT pg_backend_pid()::text").unwrap();
    assert_ne!(main_pid, pid);

    // CREATE INDEX CONCURRENTLY on the main connection does not wait for the lock's connection.
    first
        .execute("SET statement_timeout = '20s'; CREATE TABLE big (x INTEGER)")
        .unwrap();
    first
        .execute("CREATE INDEX CONCURRENTLY big_x ON big (x)")
        .unwrap();
    first.execute("DROP TABLE big").unwrap();

    // Another schema is another installation: its lock is free.
    let mut other = open_in(&db.url, Some("elsewhere"));
    assert_eq!(other.lock(Duration::from_millis(300)).unwrap(), Ok(()));
    other.unlock().unwrap();

    first.unlock().unwrap();
    assert_eq!(second.lock(Duration::from_millis(300)).unwrap(), Ok(()));
    // Dropping the driver closes the lock connection: the lock is free again.
    drop(second);
    let mut third = open(&db.url);
    assert_eq!(third.lock(Duration::from_secs(5)).unwrap(), Ok(()));

    // A second ferry process waits, then exits 5 naming the holder.
    let out = ferry(&["upgrade", "-d", &db.url, "--lock-timeout", "1"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("pid {}", std::process::id())),
        "{}",
        text(&out)
    );
    third.unlock().unwrap();
    let out = ferry(&["upgrade", "-d", &db.url, "--lock-timeout", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

const DDL: &str = r#"
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE DOMAIN positive AS INTEGER CHECK (VALUE > 0);
CREATE TABLE owners (id SERIAL PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, score positive, feeling mood DEFAULT 'calm');
CREATE TABLE items (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT 'unnamed',
    price NUMERIC(10, 2) CHECK (price >= 0),
    created_at TIMESTAMP NOT NULL DEFAULT now()
);
CREATE INDEX ix_items_name ON items (lower(name)) WHERE price IS NOT NULL;
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE TRIGGER items_stamp BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION stamp();
CREATE VIEW cheap_items AS SELECT id, name FROM items WHERE price < 10;
CREATE SEQUENCE counter AS INTEGER INCREMENT BY 5;
CREATE TABLE ferry_like (id SERIAL PRIMARY KEY, note TEXT);
CREATE INDEX ix_ferry_like_note ON ferry_like (note);
CREATE TRIGGER ferry_like_stamp BEFORE INSERT ON ferry_like FOR EACH ROW EXECUTE FUNCTION stamp();
"#;

#[test]
fn snapshots_compare_across_schemas_and_databases() {
    let db = pg::fresh_database();
    let other_db = pg::fresh_database();
    let mut a = open_in(&db.url, Some("snap_a"));
    let mut b = open_in(&db.url, Some("snap_b"));
    let mut c = open(&other_db.url);
    for pg in [&mut a, &mut b, &mut c] {
        pg.execute(DDL).unwrap();
    }
    let skip = ["ferry_like"];
    let sa = a.snapshot(&skip).unwrap();
    let sb = b.snapshot(&skip).unwrap();
    let sc = c.snapshot(&skip).unwrap();
    assert_eq!(diff(&sa, &sb), vec![], "{sa:#?}\n{sb:#?}");
    assert_eq!(sa, sb);
    assert_eq!(sa, sc);

    // What a snapshot holds, free of the schema's name.
    assert_eq!(sa.tables.keys().collect::<Vec<_>>(), ["items", "owners"]);
    let items = &sa.tables["items"];
    assert_eq!(
        items.columns["name"].to_string(),
        "text NOT NULL DEFAULT 'unnamed'::text"
    );
    assert_eq!(
        items.columns["id"].default.as_deref(),
        Some("GENERATED BY DEFAULT AS IDENTITY")
    );
    assert_eq!(
        items.constraints["items_owner_id_fkey"],
        "FOREIGN KEY (owner_id) REFERENCES owners(id) ON DELETE CASCADE"
    );
    assert_eq!(items.constraints["items_pkey"], "PRIMARY KEY (id)");
    assert_eq!(
        items.constraints["items_price_check"],
        "CHECK (price >= 0::numeric)"
    );
    assert_eq!(
        sa.tables["owners"].constraints["owners_email_key"],
        "UNIQUE (email)"
    );
    assert_eq!(
        sa.tables["owners"].columns["id"].default.as_deref(),
        Some("nextval('owners_id_seq'::regclass)")
    );
    assert_eq!(sa.tables["owners"].columns["score"].data_type, "positive");
    assert_eq!(
        sa.indexes.keys().collect::<Vec<_>>(),
        ["ix_items_name"],
        "constraint-backing indexes and the skipped table's are left out"
    );
    assert_eq!(
        sa.indexes["ix_items_name"],
        "CREATE INDEX ix_items_name ON items USING btree (lower(name)) WHERE (price IS NOT NULL)"
    );
    assert_eq!(
        sa.triggers.keys().collect::<Vec<_>>(),
        ["items_stamp on items"]
    );
    assert_eq!(
        sa.triggers["items_stamp on items"],
        "CREATE TRIGGER items_stamp BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION stamp()"
    );
    assert!(
        sa.views["cheap_items"].contains("FROM items"),
        "{:?}",
        sa.views
    );
    assert!(
        sa.routines["stamp()"].starts_with("CREATE OR REPLACE FUNCTION stamp() RETURNS trigger"),
        "{:?}",
        sa.routines
    );
    assert_eq!(sa.routines["type mood"], "ENUM ('calm', 'busy')");
    assert_eq!(
        sa.routines["type positive"],
        "DOMAIN integer CHECK (VALUE > 0)"
    );
    assert_eq!(
        sa.sequences.keys().collect::<Vec<_>>(),
        ["counter", "items_id_seq", "owners_id_seq"]
    );
    assert!(
        sa.sequences["owners_id_seq"].ends_with("OWNED BY owners.id"),
        "{:?}",
        sa.sequences
    );
    assert!(
        sa.sequences["counter"].starts_with("AS integer INCREMENT BY 5"),
        "{:?}",
        sa.sequences
    );
    // Without the skip list, the skipped table and what hangs off it are there.
    let full = a.snapshot(&[]).unwrap();
    assert!(full.tables.contains_key("ferry_like"));
    assert!(full.indexes.contains_key("ix_ferry_like_note"));
    assert!(full.triggers.contains_key("ferry_like_stamp on ferry_like"));
    assert!(full.sequences.contains_key("ferry_like_id_seq"));

    // A changed default shows up, named.
    b.execute("ALTER TABLE items ALTER COLUMN name SET DEFAULT 'nameless'")
        .unwrap();
    let changed = b.snapshot(&skip).unwrap();
    let differences = diff(&sa, &changed);
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].object, "column items.name");
    assert_eq!(differences[0].change, "changed");
    // So does a changed index, trigger, function and sequence.
    c.execute(
        "DROP INDEX ix_items_name; CREATE INDEX ix_items_name ON items (name);\n\
         CREATE OR REPLACE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
         ALTER SEQUENCE counter INCREMENT BY 1;",
    )
    .unwrap();
    let objects: Vec<String> = diff(&sa, &c.snapshot(&skip).unwrap())
        .into_iter()
        .map(|d| d.object)
        .collect();
    assert_eq!(
        objects,
        ["index ix_items_name", "routine stamp()", "sequence counter"]
    );
}

#[test]
fn upgrade_of_the_compiled_in_set_reaches_head_and_check_passes() {
    let db = pg::fresh_database();
    let status = json(&ferry(&["status", "--json", "-d", &db.url]));
    assert_eq!(status["state"], "empty", "{status}");
    let out = ferry(&["upgrade", "-d", &db.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = ferry(&["check", "-d", &db.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status = json(&ferry(&["status", "--json", "-d", &db.url]));
    assert_eq!(status["state"], "managed", "{status}");
    assert_eq!(status["current"], status["heads"], "{status}");
    // Nothing is written by check or status.
    let before = pg::fingerprint(&db.url);
    assert_eq!(ferry(&["check", "-d", &db.url]).status.code(), Some(0));
    assert_eq!(pg::fingerprint(&db.url), before);
    // ferry's history uses an identity column, and the version table has Alembic's shape.
    let mut pg = open(&db.url);
    assert_eq!(
        value(&mut pg, "SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'ferry_history'::regclass AND attname = 'id'")
            .as_deref(),
        Some("d")
    );
    assert_eq!(
        value(&mut pg, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'alembic_version'::regclass AND attname = 'version_num'")
            .as_deref(),
        Some("character varying(32)")
    );
}

#[test]
fn the_harness_gives_fresh_databases_and_fingerprints_that_see_every_change() {
    let db = pg::fresh_database();
    let name = db.name().to_string();
    let empty = pg::fingerprint(&db.url);
    assert_eq!(pg::fingerprint(&db.url), empty);
    let mut pg = open(&db.url);
    pg.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .unwrap();
    let with_table = pg::fingerprint(&db.url);
    assert_ne!(with_table, empty);
    pg.execute("INSERT INTO t VALUES (1, 'a')").unwrap();
    let with_row = pg::fingerprint(&db.url);
    assert_ne!(with_row, with_table);
    pg.execute("UPDATE t SET v = 'b'").unwrap();
    assert_ne!(pg::fingerprint(&db.url), with_row);
    pg.execute("UPDATE t SET v = 'a'").unwrap();
    assert_eq!(
        pg::fingerprint(&db.url),
        with_row,
        "same content, same fingerprint"
    );
    pg.execute("ALTER TABLE t ALTER COLUMN v SET DEFAULT 'x'")
        .unwrap();
    assert_ne!(pg::fingerprint(&db.url), with_row);
    drop(pg);
    drop(db);
    let mut admin = open(&pg::server_url());
    assert_eq!(
        value(
            &mut admin,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")
        )
        .as_deref(),
        Some("0"),
        "the database is dropped with its value"
    );
}

/// The throwaway cluster (harness path 3) starts, serves, and is gone after the test process
/// that started it exits: this test runs itself again as a child process that starts one and
/// exits without any cleanup of its own.
#[test]
fn throwaway_cluster_is_removed_when_its_process_exits() {
    if std::env::var_os("FERRY_TEST_PG_CLUSTER_CHILD").is_some() {
        let db = pg::fresh_database();
        let mut pg = open(&db.url);
        let dir = value(&mut pg, "SHOW data_directory").unwrap();
        println!("CLUSTER-DATA={dir}");
        println!("CLUSTER-URL={}", pg::server_url());
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "throwaway_cluster_is_removed_when_its_process_exits",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERRY_TEST_PG_CLUSTER_CHILD", "1")
        .env("FERRY_TEST_PG_NO_LOCAL", "1")
        .env_remove("FERRY_TEST_PG_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = stdout
        .lines()
        .find_map(|l| l.split_once("CLUSTER-DATA=").map(|(_, v)| v))
        .unwrap_or_else(|| {
            panic!(
                "the child printed no cluster: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string();
    let url = stdout
        .lines()
        .find_map(|l| l.split_once("CLUSTER-URL=").map(|(_, v)| v))
        .unwrap()
        .to_string();
    assert!(
        url.contains("postgres:") && url.contains("@127.0.0.1:"),
        "a cluster with a password on a private port: {url}"
    );
    assert_ne!(url, pg::server_url());
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&data).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !std::path::Path::new(&data).exists(),
        "{data} is still there after its process exited"
    );
    let e = open_error(&url);
    assert_eq!(e.exit_code(), 6, "the cluster is stopped: {e}");
}
