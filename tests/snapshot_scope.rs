//! Snapshots with a scope: besides the managed schema, the other schemas a migration set
//! creates (their objects keyed `schema.name`) and the database's extensions. Two databases
//! are built with the same SQL on a real server; each hand alteration of the "live" one must
//! give exactly one difference naming the right object, and what lies outside the expected
//! schema's scope (another tenant's schema, an extension a DBA added) must give none.

mod common;

use std::collections::BTreeSet;

use common::*;
use ferry::core::schema::{Difference, Extension, Schema, Scope, diff};
use ferry::core::set::Dialect;
use ferry::driver::url::DatabaseUrl;
use ferry::driver::{self, Driver, OpenOptions};

const SKIP: &[&str] = &["ferry_history", "alembic_version"];

/// What a migration set could leave: a table in the managed schema, a helper schema with a
/// table, an index, a trigger, a view, functions, an enum and a sequence, an empty helper
/// schema, and two extensions in the managed schema.
const SETUP: &str = "
CREATE TABLE accounts (id SERIAL PRIMARY KEY, name TEXT NOT NULL);
CREATE SCHEMA tools;
CREATE TABLE tools.t (id INTEGER PRIMARY KEY, label TEXT, account_id INTEGER REFERENCES accounts (id));
CREATE INDEX ix_t_label ON tools.t (label);
CREATE FUNCTION tools.version() RETURNS TEXT LANGUAGE sql AS $$ SELECT '1.0' $$;
CREATE FUNCTION tools.touch() RETURNS TRIGGER LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER touch_t BEFORE UPDATE ON tools.t FOR EACH ROW EXECUTE FUNCTION tools.touch();
CREATE VIEW tools.v AS SELECT id, label FROM tools.t WHERE id > 0;
CREATE TYPE tools.mood AS ENUM ('calm', 'busy');
CREATE SEQUENCE tools.counter;
CREATE SCHEMA empty_helper;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS hstore VERSION '1.8';
";

fn open(db: &TestDb, schema: Option<&str>) -> Box<dyn Driver> {
    let url = DatabaseUrl::parse(&db.url).expect("a valid test URL");
    driver::open(
        &url,
        &OpenOptions {
            create: true,
            schema: schema.map(str::to_string),
            busy_timeout: std::time::Duration::from_secs(5),
        },
    )
    .expect("the test database opens")
}

fn snapshot_in(db: &TestDb, scope: &Scope) -> Schema {
    open(db, None)
        .snapshot_in(SKIP, scope)
        .expect("snapshot_in")
}

/// A database built with [`SETUP`], then `sql`.
fn built(sql: &str) -> TestDb {
    let db = TestDb::new(Dialect::Postgres);
    db.exec(SETUP);
    if !sql.is_empty() {
        db.exec(sql);
    }
    db
}

fn shown(differences: &[Difference]) -> String {
    differences
        .iter()
        .map(|d| format!("\n  {d}"))
        .collect::<String>()
}

/// The server must have the extensions the test builds with; say so plainly if not.
fn require_extensions(db: &TestDb) {
    for name in ["pgcrypto", "hstore", "pg_trgm", "citext", "pg_buffercache"] {
        assert!(
            db.scalar(&format!(
                "SELECT name FROM pg_available_extensions WHERE name = '{name}'"
            ))
            .is_some(),
            "this PostgreSQL server has no {name} extension: install its contrib package"
        );
    }
}

#[test]
fn snapshot_in_reads_the_managed_schema_as_snapshot_does() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        db.exec(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE INDEX ix_accounts_name ON accounts (name);
             CREATE VIEW named AS SELECT id FROM accounts WHERE name <> '';",
        );
        let plain = db.open().snapshot(SKIP).expect("snapshot");
        assert_eq!(plain.tables.len(), 1);
        // Nothing but the managed schema: every scope reads the same, with the same keys.
        for scope in [Scope::everything(), Scope::default(), plain.scope()] {
            assert_eq!(
                db.open().snapshot_in(SKIP, &scope).expect("snapshot_in"),
                plain,
                "{scope:?}"
            );
        }
        if dialect == Dialect::Postgres {
            // Other schemas and extensions are read only when a scope names them.
            db.exec(
                "CREATE SCHEMA tools; CREATE TABLE tools.t (id INTEGER);
                 CREATE EXTENSION IF NOT EXISTS pgcrypto;",
            );
            assert_eq!(db.open().snapshot(SKIP).expect("snapshot"), plain);
            let all = snapshot_in(&db, &Scope::everything());
            assert_eq!(all.schemas, BTreeSet::from(["tools".to_string()]));
            assert!(all.tables.contains_key("tools.t"), "{:?}", all.tables);
            assert!(all.extensions.contains_key("pgcrypto"));
            assert!(!all.extensions.contains_key("plpgsql"));
            assert_eq!(all.tables["accounts"], plain.tables["accounts"]);
        }
    });
}

#[test]
fn every_kind_of_object_of_another_schema_is_read_with_its_qualified_name() {
    let db = TestDb::new(Dialect::Postgres);
    require_extensions(&db);
    db.exec(SETUP);
    let s = snapshot_in(&db, &Scope::everything());
    let keys = |m: Vec<&String>| m.into_iter().cloned().collect::<BTreeSet<String>>();
    let set = |v: &[&str]| {
        v.iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<String>>()
    };
    assert_eq!(s.schemas, set(&["empty_helper", "tools"]));
    assert_eq!(
        keys(s.tables.keys().collect()),
        set(&["accounts", "tools.t"])
    );
    assert_eq!(
        keys(s.tables["tools.t"].columns.keys().collect()),
        set(&["account_id", "id", "label"])
    );
    assert_eq!(
        keys(s.tables["tools.t"].constraints.keys().collect()),
        set(&["t_account_id_fkey", "t_pkey"])
    );
    // A reference into the managed schema is unqualified, as in the managed schema itself.
    assert_eq!(
        s.tables["tools.t"].constraints["t_account_id_fkey"],
        "FOREIGN KEY (account_id) REFERENCES accounts(id)"
    );
    assert_eq!(keys(s.indexes.keys().collect()), set(&["tools.ix_t_label"]));
    assert_eq!(
        keys(s.triggers.keys().collect()),
        set(&["touch_t on tools.t"])
    );
    assert_eq!(keys(s.views.keys().collect()), set(&["tools.v"]));
    // Neither pgcrypto's nor hstore's functions and types: the extensions' versions stand for them.
    assert_eq!(
        keys(s.routines.keys().collect()),
        set(&["tools.touch()", "tools.version()", "type tools.mood"])
    );
    assert_eq!(
        keys(s.sequences.keys().collect()),
        set(&["accounts_id_seq", "tools.counter"])
    );
    assert_eq!(
        s.extensions["pgcrypto"],
        Extension {
            schema: None,
            version: "1.3".into()
        }
    );
    assert_eq!(s.extensions["hstore"].version, "1.8");
    assert_eq!(s.extensions.len(), 2, "{:?}", s.extensions);
    // Other schemas' qualifications stay as the server prints them.
    assert!(
        s.routines["tools.version()"].contains("FUNCTION tools.version()"),
        "{}",
        s.routines["tools.version()"]
    );
    assert!(
        s.indexes["tools.ix_t_label"].contains("ON tools.t "),
        "{}",
        s.indexes["tools.ix_t_label"]
    );
}

#[test]
fn each_alteration_of_another_schema_or_an_extension_is_one_named_difference() {
    let expected_db = TestDb::new(Dialect::Postgres);
    require_extensions(&expected_db);
    expected_db.exec(SETUP);
    let expected = snapshot_in(&expected_db, &Scope::everything());
    let scope = expected.scope();

    // Equal at first.
    let twin = built("");
    let live = snapshot_in(&twin, &scope);
    assert!(
        diff(&expected, &live).is_empty(),
        "{}",
        shown(&diff(&expected, &live))
    );
    drop(twin);

    // (what, SQL on the live database, object, change)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "a helper function redefined",
            "CREATE OR REPLACE FUNCTION tools.version() RETURNS TEXT LANGUAGE sql AS $$ SELECT '2.0' $$",
            "routine tools.version()",
            "changed",
        ),
        (
            "a column added to a table of the helper schema",
            "ALTER TABLE tools.t ADD COLUMN note TEXT",
            "column tools.t.note",
            "extra",
        ),
        (
            "a view of the helper schema redefined",
            "CREATE OR REPLACE VIEW tools.v AS SELECT id, label FROM tools.t WHERE id > 10",
            "view tools.v",
            "changed",
        ),
        (
            "an extra function in the helper schema",
            "CREATE FUNCTION tools.extra() RETURNS INTEGER LANGUAGE sql AS $$ SELECT 1 $$",
            "routine tools.extra()",
            "extra",
        ),
        (
            "an index of the helper schema dropped",
            "DROP INDEX tools.ix_t_label",
            "index tools.ix_t_label",
            "missing",
        ),
        (
            "a trigger of the helper schema dropped",
            "DROP TRIGGER touch_t ON tools.t",
            "trigger touch_t on tools.t",
            "missing",
        ),
        (
            "an enum of the helper schema extended",
            "ALTER TYPE tools.mood ADD VALUE 'away'",
            "routine type tools.mood",
            "changed",
        ),
        (
            "a sequence of the helper schema changed",
            "ALTER SEQUENCE tools.counter INCREMENT BY 5",
            "sequence tools.counter",
            "changed",
        ),
        (
            "the extension dropped",
            "DROP EXTENSION pgcrypto",
            "extension pgcrypto",
            "missing",
        ),
        (
            "the extension at another version",
            "DROP EXTENSION hstore; CREATE EXTENSION hstore VERSION '1.7'",
            "extension hstore",
            "changed",
        ),
        (
            "the extension in another schema",
            "DROP EXTENSION pgcrypto; CREATE EXTENSION pgcrypto SCHEMA tools",
            "extension pgcrypto",
            "changed",
        ),
        (
            "the empty helper schema dropped",
            "DROP SCHEMA empty_helper",
            "schema empty_helper",
            "missing",
        ),
    ];
    for (what, sql, object, change) in cases {
        let db = built(sql);
        let differences = diff(&expected, &snapshot_in(&db, &scope));
        assert_eq!(
            differences.len(),
            1,
            "{what}: exactly one difference expected:{}",
            shown(&differences)
        );
        assert_eq!(
            (differences[0].object.as_str(), differences[0].change),
            (*object, *change),
            "{what}: {}",
            differences[0]
        );
    }

    // The definitions are shown: the redefined function with both bodies.
    let db = built(cases[0].1);
    let d = diff(&expected, &snapshot_in(&db, &scope));
    let text = d[0].to_string();
    assert!(
        text.contains("SELECT '1.0'") && text.contains("SELECT '2.0'"),
        "{text}"
    );
    let db = built("DROP EXTENSION hstore; CREATE EXTENSION hstore VERSION '1.7'");
    assert_eq!(
        diff(&expected, &snapshot_in(&db, &scope))[0].to_string(),
        "extension hstore: expected version 1.8 in the managed schema, found version 1.7 in the managed schema"
    );

    // The helper schema dropped with everything in it: the schema is named, then its objects.
    let db = built("DROP SCHEMA tools CASCADE");
    let d = diff(&expected, &snapshot_in(&db, &scope));
    assert_eq!(
        (d[0].object.as_str(), d[0].change),
        ("schema tools", "missing"),
        "{}",
        shown(&d)
    );
    assert_eq!(d[0].to_string(), "schema tools is missing");
    let objects: BTreeSet<&str> = d.iter().map(|d| d.object.as_str()).collect();
    for object in [
        "table tools.t",
        "view tools.v",
        "routine tools.version()",
        "routine type tools.mood",
        "sequence tools.counter",
    ] {
        assert!(objects.contains(object), "{object}:{}", shown(&d));
    }
    assert!(d.iter().all(|d| d.change == "missing"), "{}", shown(&d));
}

#[test]
fn schemas_and_extensions_outside_the_scope_are_no_differences() {
    let expected_db = TestDb::new(Dialect::Postgres);
    require_extensions(&expected_db);
    expected_db.exec(SETUP);
    let expected = snapshot_in(&expected_db, &Scope::everything());
    let scope = expected.scope();

    // Another tenant's schema, with tables, a function and a sequence.
    let db = built(
        "CREATE SCHEMA tenant_b;
         CREATE TABLE tenant_b.orders (id SERIAL PRIMARY KEY, total NUMERIC);
         CREATE TABLE tenant_b.lines (order_id INTEGER REFERENCES tenant_b.orders (id));
         CREATE FUNCTION tenant_b.f() RETURNS INTEGER LANGUAGE sql AS $$ SELECT 1 $$;",
    );
    let live = snapshot_in(&db, &scope);
    assert!(
        diff(&expected, &live).is_empty(),
        "{}",
        shown(&diff(&expected, &live))
    );
    assert!(!live.schemas.contains("tenant_b"));
    // Read with every schema, the same database differs: the scope is what leaves it out.
    let everything = diff(&expected, &snapshot_in(&db, &Scope::everything()));
    assert!(
        everything
            .iter()
            .any(|d| d.object == "schema tenant_b" && d.change == "extra"),
        "{}",
        shown(&everything)
    );
    assert!(
        everything
            .iter()
            .any(|d| d.object == "table tenant_b.orders"),
        "{}",
        shown(&everything)
    );

    // Extensions a DBA added, in the managed schema (pg_trgm: functions and types;
    // pg_buffercache: a view) and in a schema of their own.
    let db = built(
        "CREATE EXTENSION pg_trgm; CREATE EXTENSION pg_buffercache;
         CREATE SCHEMA dba; CREATE EXTENSION citext SCHEMA dba;",
    );
    let live = snapshot_in(&db, &scope);
    assert!(
        diff(&expected, &live).is_empty(),
        "{}",
        shown(&diff(&expected, &live))
    );
    let everything = diff(&expected, &snapshot_in(&db, &Scope::everything()));
    let extra: BTreeSet<&str> = everything
        .iter()
        .filter(|d| d.change == "extra")
        .map(|d| d.object.as_str())
        .collect();
    assert_eq!(
        extra,
        BTreeSet::from([
            "extension citext",
            "extension pg_buffercache",
            "extension pg_trgm",
            "schema dba"
        ]),
        "{}",
        shown(&everything)
    );
    // An extension's functions and views are never objects of the managed schema.
    assert!(
        !everything
            .iter()
            .any(|d| d.object.starts_with("routine") || d.object.starts_with("view")),
        "{}",
        shown(&everything)
    );
}

#[test]
fn objects_an_extension_owns_are_not_routines_in_any_schema() {
    let db = TestDb::new(Dialect::Postgres);
    require_extensions(&db);
    db.exec(
        "CREATE SCHEMA tools;
         CREATE EXTENSION pgcrypto SCHEMA tools;
         CREATE EXTENSION hstore SCHEMA tools;
         CREATE FUNCTION tools.version() RETURNS TEXT LANGUAGE sql AS $$ SELECT '1.0' $$;",
    );
    // pgcrypto's functions are really there, in tools.
    assert_eq!(
        db.scalar(
            "SELECT count(*)::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'tools' AND p.proname = 'digest'"
        )
        .as_deref(),
        Some("2")
    );
    let s = snapshot_in(&db, &Scope::everything());
    assert_eq!(
        s.routines.keys().cloned().collect::<Vec<_>>(),
        vec!["tools.version()".to_string()]
    );
    assert!(s.tables.is_empty() && s.views.is_empty() && s.sequences.is_empty());
    assert_eq!(
        s.extensions["pgcrypto"],
        Extension {
            schema: Some("tools".into()),
            version: "1.3".into()
        }
    );
    assert_eq!(s.extensions["hstore"].schema.as_deref(), Some("tools"));
}

#[test]
fn a_managed_schema_other_than_public_keeps_bare_names_and_an_untouched_public_is_left_out() {
    let db = TestDb::new(Dialect::Postgres);
    let mut app = open(&db, Some("app"));
    app.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY);
         CREATE SCHEMA tools; CREATE TABLE tools.t (account_id INTEGER REFERENCES app.accounts (id));",
    )
    .expect("setup");
    let s = app
        .snapshot_in(SKIP, &Scope::everything())
        .expect("snapshot_in");
    // Every database starts with an empty public schema: it is nothing the set made.
    assert_eq!(s.schemas, BTreeSet::from(["tools".to_string()]));
    assert_eq!(
        s.tables.keys().cloned().collect::<Vec<_>>(),
        vec!["accounts".to_string(), "tools.t".to_string()]
    );
    // The managed schema's qualification is stripped wherever it appears.
    assert_eq!(
        s.tables["tools.t"].constraints["t_account_id_fkey"],
        "FOREIGN KEY (account_id) REFERENCES accounts(id)"
    );
    // Once public holds something, it is a schema like any other.
    app.execute("CREATE TABLE public.shared (id INTEGER)")
        .expect("public table");
    let s = app
        .snapshot_in(SKIP, &Scope::everything())
        .expect("snapshot_in");
    assert_eq!(
        s.schemas,
        BTreeSet::from(["public".to_string(), "tools".to_string()])
    );
    assert!(s.tables.contains_key("public.shared"));
}
