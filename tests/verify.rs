//! `ferry verify`: the live schema against the one the set gives at the database's position,
//! built in a scratch database. Each kind of difference is made on a real database and must be
//! named; verify never writes to the live database.

mod common;

use common::*;
use ferry::core::set::Dialect;
use serde_json::Value;

/// SQLite alters a column or a foreign key only by rebuilding the table: `bot_tags` (from
/// revision 0004) with `columns` as its definition, its rows and its index carried over.
fn rebuild_bot_tags(columns: &str) -> String {
    format!(
        "CREATE TABLE bot_tags_new ({columns});
         INSERT INTO bot_tags_new SELECT * FROM bot_tags;
         DROP TABLE bot_tags;
         ALTER TABLE bot_tags_new RENAME TO bot_tags;
         CREATE INDEX idx_bot_tags_tag ON bot_tags (tag);"
    )
}

const BOT_TAGS: [&str; 5] = [
    "id INTEGER PRIMARY KEY",
    "bot_id INTEGER NOT NULL REFERENCES bots (id) ON DELETE CASCADE",
    "tag TEXT NOT NULL",
    "created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
    "UNIQUE (bot_id, tag)",
];

/// `bot_tags` rebuilt with definition `index` replaced by `with` (or `with` appended).
fn bot_tags_with(index: Option<usize>, with: &str) -> String {
    let mut columns: Vec<&str> = BOT_TAGS.to_vec();
    match index {
        Some(i) => columns[i] = with,
        None => columns.push(with),
    }
    rebuild_bot_tags(&columns.join(", "))
}

/// One hand alteration of a database at head and the one difference verify must report.
struct Alteration {
    what: &'static str,
    sqlite: String,
    postgres: String,
    /// The difference's object per dialect (they name constraints and triggers differently).
    object: (&'static str, &'static str),
    change: &'static str,
    /// Words of the expected and of the actual definition.
    expected: Option<&'static str>,
    actual: Option<&'static str>,
}

fn alterations() -> Vec<Alteration> {
    let both = |sql: &str| (sql.to_string(), sql.to_string());
    let mut list = Vec::new();
    let mut add = |what, (sqlite, postgres): (String, String), object, change, expected, actual| {
        list.push(Alteration {
            what,
            sqlite,
            postgres,
            object,
            change,
            expected,
            actual,
        })
    };
    add(
        "drop an index",
        both("DROP INDEX idx_kb_documents_kb_status"),
        (
            "index idx_kb_documents_kb_status",
            "index idx_kb_documents_kb_status",
        ),
        "missing",
        Some("knowledge_base_id, status"),
        None,
    );
    add(
        "redefine an index",
        both(
            "DROP INDEX idx_bot_tags_tag; CREATE INDEX idx_bot_tags_tag ON bot_tags (tag, bot_id)",
        ),
        ("index idx_bot_tags_tag", "index idx_bot_tags_tag"),
        "changed",
        Some("(tag)"),
        Some("(tag, bot_id)"),
    );
    add(
        "change a default",
        (
            bot_tags_with(
                Some(3),
                "created_at TIMESTAMP NOT NULL DEFAULT '2000-01-01'",
            ),
            "ALTER TABLE bot_tags ALTER COLUMN created_at SET DEFAULT '2000-01-01'".into(),
        ),
        ("column bot_tags.created_at", "column bot_tags.created_at"),
        "changed",
        Some("CURRENT_TIMESTAMP"),
        Some("2000-01-01"),
    );
    add(
        "add a table",
        both("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"),
        ("table notes", "table notes"),
        "extra",
        None,
        Some("2 columns"),
    );
    add(
        "change a foreign key's ON DELETE action",
        (
            bot_tags_with(
                Some(1),
                "bot_id INTEGER NOT NULL REFERENCES bots (id) ON DELETE RESTRICT",
            ),
            "ALTER TABLE bot_tags DROP CONSTRAINT bot_tags_bot_id_fkey, ADD CONSTRAINT bot_tags_bot_id_fkey \
             FOREIGN KEY (bot_id) REFERENCES bots (id) ON DELETE RESTRICT"
                .into(),
        ),
        (
            "constraint foreign key (bot_id) → bots on bot_tags",
            "constraint bot_tags_bot_id_fkey on bot_tags",
        ),
        "changed",
        Some("ON DELETE CASCADE"),
        Some("ON DELETE RESTRICT"),
    );
    add(
        "drop a trigger",
        (
            "DROP TRIGGER bots_set_updated_at".into(),
            "DROP TRIGGER bots_set_updated_at ON bots".into(),
        ),
        (
            "trigger bots_set_updated_at",
            "trigger bots_set_updated_at on bots",
        ),
        "missing",
        Some("UPDATE"),
        None,
    );
    add(
        "change a view",
        both("DROP VIEW bot_overview; CREATE VIEW bot_overview AS SELECT id, name FROM bots"),
        ("view bot_overview", "view bot_overview"),
        "changed",
        Some("owner_username"),
        Some("name"),
    );
    add(
        "change nullability",
        (
            bot_tags_with(Some(2), "tag TEXT"),
            "ALTER TABLE bot_tags ALTER COLUMN tag DROP NOT NULL".into(),
        ),
        ("column bot_tags.tag", "column bot_tags.tag"),
        "changed",
        Some("NOT NULL"),
        None,
    );
    add(
        "change a column type",
        (
            bot_tags_with(Some(2), "tag VARCHAR(200) NOT NULL"),
            "ALTER TABLE bot_tags ALTER COLUMN tag TYPE varchar(200)".into(),
        ),
        ("column bot_tags.tag", "column bot_tags.tag"),
        "changed",
        None,
        Some("200"),
    );
    add(
        "add a check constraint",
        (
            bot_tags_with(None, "CHECK (length(tag) > 0)"),
            "ALTER TABLE bot_tags ADD CONSTRAINT bot_tags_tag_check CHECK (length(tag) > 0)".into(),
        ),
        (
            "constraint check (length(tag) > 0) on bot_tags",
            "constraint bot_tags_tag_check on bot_tags",
        ),
        "extra",
        None,
        Some("CHECK (length(tag"),
    );
    list
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Every kind of difference, made by hand on a database at head, is named by verify (and
/// nothing else is), exit 1, the database unchanged; the unaltered database verifies clean.
#[test]
fn verify_names_each_kind_of_difference() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "-d", &db.url]).expect(0);
        let before = db.fingerprint();
        let clean = ferry(&["verify", "--json", "-d", &db.url]).expect(0).json();
        assert_eq!(clean["ok"], true);
        assert_eq!(clean["equal"], true);
        assert_eq!(clean["differences"], Value::Array(Vec::new()));
        assert_eq!(clean["position"], "revision 0006_kb_documents_status_index");
        let run = ferry(&["verify", "-d", &db.url]).expect(0);
        assert!(
            run.stdout.contains("the schema is the one"),
            "{}",
            run.stdout
        );
        assert_eq!(db.fingerprint(), before, "verify wrote to the database");

        for a in alterations() {
            let db = TestDb::new(dialect);
            ferry(&["upgrade", "-d", &db.url]).expect(0);
            db.exec(if dialect == Dialect::Sqlite {
                &a.sqlite
            } else {
                &a.postgres
            });
            let object = if dialect == Dialect::Sqlite {
                a.object.0
            } else {
                a.object.1
            };
            let before = db.fingerprint();
            let json = ferry(&["verify", "--json", "-d", &db.url]).expect(1).json();
            assert_eq!(json["equal"], false, "{}", a.what);
            let differences = json["differences"].as_array().unwrap();
            assert_eq!(
                differences.len(),
                1,
                "{}: exactly one difference, got {differences:#?}",
                a.what
            );
            let d = &differences[0];
            assert_eq!(text(&d["object"]), object, "{}: {d}", a.what);
            assert_eq!(text(&d["change"]), a.change, "{}: {d}", a.what);
            match a.expected {
                Some(w) => assert!(text(&d["expected"]).contains(w), "{}: {d}", a.what),
                None if a.change == "extra" => assert!(d["expected"].is_null()),
                None => {}
            }
            match a.actual {
                Some(w) => assert!(text(&d["actual"]).contains(w), "{}: {d}", a.what),
                None if a.change == "missing" => assert!(d["actual"].is_null()),
                None => assert!(!text(&d["actual"]).contains("NOT NULL"), "{}: {d}", a.what),
            }
            let run = ferry(&["verify", "-d", &db.url]).expect(1);
            assert!(
                run.stdout.contains("1 difference(s)") && run.stdout.contains(object),
                "{}: {}",
                a.what,
                run.stdout
            );
            assert_eq!(db.fingerprint(), before, "{}: verify wrote", a.what);
        }
    });
}

/// Verify compares at every position a database can have: empty (a missing SQLite file is
/// not created), a legacy version, a superseded one, an intermediate revision.
#[test]
fn verify_compares_at_every_position() {
    on_both(|dialect| {
        let empty = TestDb::new(dialect);
        let json = ferry(&["verify", "--json", "-d", &empty.url])
            .expect(0)
            .json();
        assert_eq!(json["state"]["state"], "empty");
        assert_eq!(empty.fingerprint(), TestDb::new(dialect).fingerprint());
        if let Some(p) = &empty.path {
            assert!(!p.exists(), "verify created the SQLite file");
        }

        for (n, position) in [(7, "legacy 7"), (26, "legacy 26 (superseded)")] {
            let db = TestDb::new(dialect);
            seeded_fixture(&db.url, n);
            let before = db.fingerprint();
            let json = ferry(&["verify", "--json", "-d", &db.url]).expect(0).json();
            assert_eq!(json["position"], position);
            assert_eq!(json["equal"], true);
            assert_eq!(db.fingerprint(), before);
        }

        // A legacy database with an index added by hand.
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "7", "-d", &db.url]).expect(0);
        db.exec("CREATE INDEX ix_by_hand ON users (email, username)");
        let json = ferry(&["verify", "--json", "-d", &db.url]).expect(1).json();
        assert_eq!(json["differences"].as_array().unwrap().len(), 1);
        assert_eq!(json["differences"][0]["object"], "index ix_by_hand");
        assert_eq!(json["differences"][0]["change"], "extra");

        // An intermediate revision: compared with that revision, not with head.
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "0003", "-d", &db.url]).expect(0);
        let json = ferry(&["verify", "--json", "-d", &db.url]).expect(0).json();
        assert_eq!(json["position"], "revision 0003_api_keys_last_used_index");
        db.exec("DROP INDEX idx_api_keys_last_used_at");
        let json = ferry(&["verify", "--json", "-d", &db.url]).expect(1).json();
        assert_eq!(
            json["differences"][0]["object"],
            "index idx_api_keys_last_used_at"
        );
    });
}

/// States without a position are refused with exit 3 and the refusal text; an unversioned
/// database is identified too. Nothing is written.
#[test]
fn verify_refuses_states_without_a_position() {
    let cases: [(&str, &[&str]); 4] = [
        (
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY); \
             INSERT INTO alembic_version VALUES ('0099_from_the_future');",
            &["ahead", "0099_from_the_future", "no position to verify"],
        ),
        (
            "CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT); \
             INSERT INTO metadata VALUES ('database_version', '31');",
            &["version 31", "cap 25", "legacy.superseded"],
        ),
        (
            "CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT); \
             INSERT INTO metadata VALUES ('database_version', '12'); \
             CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY); \
             INSERT INTO alembic_version VALUES ('0001_baseline');",
            &["inconsistent", "legacy marker says 12"],
        ),
        (
            "CREATE TABLE customers (id INTEGER PRIMARY KEY);",
            &["unversioned", "customers", "--database"],
        ),
    ];
    on_both(|dialect| {
        for (setup, words) in cases {
            let db = TestDb::new(dialect);
            db.exec(setup);
            let before = db.fingerprint();
            let run = ferry(&["verify", "-d", &db.url]).expect(3);
            let all = format!("{}{}", run.stdout, run.stderr);
            for w in words {
                assert!(all.contains(w), "{w:?} not in {all}");
            }
            let json = ferry(&["verify", "--json", "-d", &db.url]).expect(3).json();
            assert_eq!(json["ok"], false);
            assert_eq!(json["error"]["code"], 3);
            assert_eq!(json["error"]["kind"], "refused");
            assert!(text(&json["error"]["message"]).contains(words[1]));
            if words[0] == "unversioned" {
                // No legacy version has a table named customers.
                assert_eq!(json["identified"]["known_tables"], 0);
                assert_eq!(json["identified"]["exact"], false);
            }
            assert_eq!(db.fingerprint(), before, "verify wrote");
        }
    });
}

#[test]
fn verify_help_teaches() {
    let run = ferry(&["verify", "--help"]).expect(0);
    for w in ["scratch", "foreign keys", "exit 1", "ferry verify -d"] {
        assert!(run.stdout.contains(w), "{w:?} not in {}", run.stdout);
    }
    let run = ferry(&["upgrade", "--help"]).expect(0);
    for w in ["--assume-legacy <N>", "--force", "scratch", "ferry status"] {
        assert!(run.stdout.contains(w), "{w:?} not in {}", run.stdout);
    }
}
