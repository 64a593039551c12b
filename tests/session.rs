//! Session isolation: whatever a step's script does to the session (search path, role,
//! settings, SQLite pragmas and temp tables), ferry's bookkeeping lands where the run started
//! and the next step runs in the session ferry set up.

mod common;

use std::path::Path;

use common::*;
use ferry::core::set::Dialect;

const HEAD: &str = "0006_kb_documents_status_index";

/// Adds a revision with one up script per dialect (and a shared down).
fn add(set: &Path, id: &str, down: &str, transaction: bool, sqlite: &str, postgres: &str) {
    let files = [
        ("up.sqlite.sql", sqlite),
        ("up.postgres.sql", postgres),
        ("down.sql", "SELECT 1;\n"),
    ];
    write_revision(set, id, down, transaction, &files);
}

/// Where each named relation is: (schema, name) pairs, PostgreSQL.
fn placed(db: &TestDb, names: &[&str]) -> Vec<(String, String)> {
    let list = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    db.query(&format!(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname IN ({list}) AND c.relkind = 'r' ORDER BY 2, 1"
    ))
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
    .collect()
}

fn upgraded_once(db: &TestDb, set: &str, extra: &[&str], revision: &str, qualified: &str) {
    let mut args = vec!["upgrade", "-d", &db.url, "--migrations", set];
    args.extend_from_slice(extra);
    let again = ferry(&[&args[..], &["--json"]].concat()).expect(0).json();
    assert_eq!(
        again["steps"].as_array().map(Vec::len),
        Some(0),
        "a second upgrade is a no-op: {again}"
    );
    let mut status = vec!["status", "--json", "-d", &db.url, "--migrations", set];
    status.extend_from_slice(extra);
    let status = ferry(&status).expect(0).json();
    assert_eq!(status["state"], "managed", "{status}");
    assert_eq!(status["pending"], serde_json::json!([]), "{status}");
    let runs = db.scalar(&format!(
        "SELECT CAST(COUNT(*) AS TEXT) FROM {qualified} WHERE kind = 'upgrade' AND revision = '{revision}'"
    ));
    assert_eq!(runs.as_deref(), Some("1"), "{revision} ran exactly once");
}

#[test]
fn a_script_that_changes_the_session_cannot_move_or_split_the_bookkeeping() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_reference_set(tmp.path());
        // PostgreSQL: the revision. SQLite: temp tables that shadow ferry's own for
        // unqualified names, and a pragma that makes every later write fail.
        add(
            &set,
            "0007_session",
            HEAD,
            true,
            "CREATE TABLE daily (d DATE);\nCREATE TEMP TABLE alembic_version (version_num TEXT);\n\
             CREATE TEMP TABLE ferry_history (id INTEGER);\nPRAGMA query_only = ON;\n",
            "CREATE SCHEMA IF NOT EXISTS reporting;\nSET search_path TO reporting;\nCREATE TABLE daily (d DATE);\n",
        );
        // The next step's unqualified names must land where the run started.
        add(
            &set,
            "0008_after",
            "0007_session",
            true,
            "CREATE TABLE after_t (x INTEGER);\n",
            "CREATE TABLE after_t (x INTEGER);\n",
        );
        let set = set.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(0);
        assert_eq!(db.versions(), vec!["0008_after".to_string()]);
        match dialect {
            Dialect::Postgres => {
                let public = |t: &str| ("public".to_string(), t.to_string());
                assert_eq!(
                    placed(
                        &db,
                        &["alembic_version", "ferry_history", "after_t", "daily"]
                    ),
                    vec![
                        public("after_t"),
                        public("alembic_version"),
                        ("reporting".into(), "daily".into()),
                        public("ferry_history"),
                    ],
                    "the version table and ferry_history exist once, in the target schema"
                );
            }
            Dialect::Sqlite => {
                assert!(db.tables().contains(&"after_t".to_string()));
                assert!(db.tables().contains(&"daily".to_string()));
            }
        }
        upgraded_once(&db, set, &[], "0007_session", "ferry_history");
    });
}

#[test]
fn with_schema_the_bookkeeping_stays_in_that_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let set = copy_reference_set(tmp.path());
    add(
        &set,
        "0007_session",
        HEAD,
        true,
        "SELECT 1;\n",
        "CREATE SCHEMA IF NOT EXISTS reporting;\nSET search_path TO reporting, public;\nCREATE TABLE daily (d DATE);\n",
    );
    add(
        &set,
        "0008_after",
        "0007_session",
        true,
        "SELECT 1;\n",
        "CREATE TABLE after_t (x INTEGER);\n",
    );
    let set = set.to_str().unwrap();
    let db = TestDb::new(Dialect::Postgres);
    ferry(&[
        "upgrade",
        "-d",
        &db.url,
        "--migrations",
        set,
        "--schema",
        "app",
    ])
    .expect(0);
    let app = |t: &str| ("app".to_string(), t.to_string());
    assert_eq!(
        placed(
            &db,
            &["alembic_version", "ferry_history", "after_t", "daily"]
        ),
        vec![
            app("after_t"),
            app("alembic_version"),
            ("reporting".into(), "daily".into()),
            app("ferry_history"),
        ]
    );
    assert_eq!(
        db.scalar("SELECT version_num FROM app.alembic_version")
            .as_deref(),
        Some("0008_after")
    );
    upgraded_once(
        &db,
        set,
        &["--schema", "app"],
        "0007_session",
        "app.ferry_history",
    );
}

#[test]
fn role_settings_and_pragmas_a_script_changes_are_put_back_before_the_next_statement() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_reference_set(tmp.path());
        let db = TestDb::new(dialect);
        let role = format!("ferry_t_role_{}", std::process::id());
        if dialect == Dialect::Postgres {
            db.exec(&format!(
                "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} NOLOGIN; GRANT {role} TO CURRENT_USER; \
                 GRANT USAGE, CREATE ON SCHEMA public TO {role}"
            ));
        }
        // PostgreSQL: a role that may not write ferry's tables, a statement timeout the next
        // step's work exceeds, and read-only transactions from then on. SQLite: foreign keys
        // switched on outside a transaction, so the next step's table rebuild would cascade.
        add(
            &set,
            "0007_session",
            HEAD,
            false,
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n\
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);\n\
             INSERT INTO parent VALUES (1), (2);\nINSERT INTO child VALUES (10, 1), (20, 2);\n\
             PRAGMA foreign_keys = ON;\n",
            &format!(
                "SET ROLE {role};\nCREATE TABLE role_t (x INTEGER);\nSET statement_timeout = 50;\n\
                 SET default_transaction_read_only = on;\n"
            ),
        );
        add(
            &set,
            "0008_after",
            "0007_session",
            true,
            "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\n\
             INSERT INTO parent_new SELECT id, NULL FROM parent;\nDROP TABLE parent;\n\
             ALTER TABLE parent_new RENAME TO parent;\n",
            "SELECT pg_sleep(0.2);\nCREATE TABLE after_t (x INTEGER);\n",
        );
        let set = set.to_str().unwrap();
        ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(0);
        assert_eq!(db.versions(), vec!["0008_after".to_string()]);
        match dialect {
            Dialect::Postgres => {
                assert_eq!(
                    db.scalar("SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'role_t'")
                        .as_deref(),
                    Some(role.as_str()),
                    "the script ran as the role it chose"
                );
                assert!(db.tables().contains(&"after_t".to_string()));
            }
            Dialect::Sqlite => {
                assert_eq!(
                    db.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM child")
                        .as_deref(),
                    Some("2"),
                    "the rebuild of parent kept its children: foreign keys stayed off"
                );
            }
        }
        upgraded_once(&db, set, &[], "0007_session", "ferry_history");
        if dialect == Dialect::Postgres {
            drop(db); // the role's objects and grants go with the database
            ferry::driver::postgres::connect_client(&pg::server_url())
                .and_then(|mut c| {
                    c.batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
                        .map_err(|e| e.to_string())
                })
                .unwrap();
        }
    });
}

#[test]
fn a_baseline_that_empties_the_search_path_still_installs() {
    on_both(|dialect| {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_reference_set(tmp.path());
        // pg_dump output starts with this; at the end of the baseline it leaves the session
        // with no schema to create ferry's tables in. SQLite: a read-only session.
        let (file, tail) = match dialect {
            Dialect::Postgres => (
                "postgres.sql",
                "\nSELECT pg_catalog.set_config('search_path', '', false);\n",
            ),
            Dialect::Sqlite => ("sqlite.sql", "\nPRAGMA query_only = ON;\n"),
        };
        let baseline = set.join("baseline").join(file);
        let mut text = std::fs::read_to_string(&baseline).unwrap();
        text.push_str(tail);
        std::fs::write(&baseline, text).unwrap();
        let set = set.to_str().unwrap();
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "-d", &db.url, "--migrations", set]).expect(0);
        assert_eq!(db.versions(), vec![HEAD.to_string()]);
        ferry(&["check", "-d", &db.url, "--migrations", set]).expect(0);
    });
}
