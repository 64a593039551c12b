//! `ferry new MESSAGE --autogenerate -d DEV`: a development database at head is changed by hand,
//! the revision is generated, and a seeded database at the old head upgraded by it has exactly
//! DEV's schema with its rows, downgrades back to the old head's schema, and the new set passes
//! `upgrade-test`. Each kind of change, on both dialects.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ferry::core::set::Dialect;

const OLD_HEAD: &str = "0006_kb_documents_status_index";

/// A copy of the reference set (with its seeds) supporting one dialect, and a development
/// database of that dialect upgraded to its head.
struct Case {
    _tmp: tempfile::TempDir,
    set: PathBuf,
    dev: TestDb,
    dialect: Dialect,
}

impl Case {
    fn new(dialect: Dialect) -> Case {
        Case::with_dialects(dialect, &[dialect])
    }

    /// `supported`: the dialects whose baseline the copy keeps.
    fn with_dialects(dialect: Dialect, supported: &[Dialect]) -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let set = copy_reference_set(tmp.path());
        let seeds = set.join("tests/seeds");
        std::fs::create_dir_all(&seeds).unwrap();
        for entry in std::fs::read_dir(repo().join("tests/seeds")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), seeds.join(entry.file_name())).unwrap();
        }
        // tests/superseded is named by ferry.toml too.
        let superseded = set.join("tests/superseded");
        std::fs::create_dir_all(&superseded).unwrap();
        for entry in std::fs::read_dir(repo().join("tests/superseded")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), superseded.join(entry.file_name())).unwrap();
        }
        for d in DIALECTS {
            if !supported.contains(&d) {
                std::fs::remove_file(set.join(format!("baseline/{}.sql", d.name()))).unwrap();
            }
        }
        let dev = TestDb::new(dialect);
        let case = Case {
            _tmp: tmp,
            set,
            dev,
            dialect,
        };
        case.ferry(&["upgrade", "-d", &case.dev.url, "--no-backup"])
            .expect(0);
        case
    }

    fn set_arg(&self) -> &str {
        self.set.to_str().unwrap()
    }

    /// `ferry --migrations SET ARGS…`.
    fn ferry(&self, args: &[&str]) -> Run {
        let mut all = vec!["--migrations", self.set_arg()];
        all.extend(args);
        ferry(&all)
    }

    fn autogenerate(&self, message: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "new",
            message,
            "--autogenerate",
            "-d",
            self.dev.url.as_str(),
        ];
        args.extend(extra);
        self.ferry(&args)
    }

    fn revisions(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.set.join("revisions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The generated revision's directory (the one revision after the old head).
    fn generated(&self) -> PathBuf {
        let names = self.revisions();
        let last = names.last().unwrap();
        assert!(
            last.as_str() > OLD_HEAD,
            "no revision was generated: {names:?}"
        );
        self.set.join("revisions").join(last)
    }

    fn file(&self, stem: &str) -> String {
        let path = self
            .generated()
            .join(format!("{stem}.{}.sql", self.dialect.name()));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Generates the revision, then proves it on a seeded database at the old head: upgrade
    /// gives DEV's schema with every row of the tables that stay, `verify` agrees, downgrade
    /// gives the old head's schema and rows back; and the new set passes upgrade-test.
    fn generate_and_prove(&self, message: &str) -> Run {
        let run = self.autogenerate(message, &[]).expect(0);
        self.prove();
        run
    }

    fn prove(&self) {
        let reference = reference_set();
        let dev_schema = self.dev.snapshot(&reference);
        let target = TestDb::new(self.dialect);
        let seeds = self.set.join("tests/seeds");
        self.ferry(&[
            "fixture",
            "--legacy",
            "25",
            "--seeds",
            seeds.to_str().unwrap(),
            "-d",
            &target.url,
        ])
        .expect(0);
        self.ferry(&["upgrade", OLD_HEAD, "-d", &target.url, "--no-backup"])
            .expect(0);
        let old_schema = target.snapshot(&reference);
        let rows_before = target.row_counts();
        assert!(
            rows_before.values().sum::<i64>() > 20,
            "the old head is seeded: {rows_before:?}"
        );

        self.ferry(&["upgrade", "-d", &target.url, "--no-backup"])
            .expect(0);
        assert_same_schema(
            &dev_schema,
            &target.snapshot(&reference),
            "the old head upgraded by the generated revision against DEV",
        );
        self.ferry(&["verify", "-d", &target.url]).expect(0);
        let rows_after = target.row_counts();
        for (table, n) in &rows_after {
            if let Some(before) = rows_before.get(table) {
                assert_eq!(n, before, "rows of {table} after the upgrade");
            }
        }

        self.ferry(&["downgrade", "-1", "-d", &target.url, "--no-backup"])
            .expect(0);
        assert_same_schema(
            &old_schema,
            &target.snapshot(&reference),
            "downgraded by the generated revision against the old head",
        );
        let rows_back = target.row_counts();
        for (table, n) in &rows_before {
            if rows_after.contains_key(table) {
                assert_eq!(
                    rows_back.get(table),
                    Some(n),
                    "rows of {table} after the downgrade"
                );
            }
        }

        let scratch = TestDb::new(self.dialect);
        let mut args = vec!["upgrade-test"];
        if self.dialect == Dialect::Postgres {
            // Every case is a database on the server: the last legacy release and the
            // revisions' releases (with the round trip through every revision) keep it short.
            args.extend(["-d", scratch.url.as_str(), "--releases", ">=3.12"]);
        }
        let run = self.ferry(&args);
        assert_eq!(run.code, 0, "upgrade-test on the new set:\n{}", run.stdout);
    }
}

/// SQLite's table rebuild, by hand, in a development database: the table made again from
/// `create` with the rows of the columns both have.
fn sqlite_rebuild(db: &TestDb, table: &str, create: &str, columns: &str) {
    db.exec(&format!(
        "PRAGMA foreign_keys = OFF;\n\
         BEGIN;\n\
         {create};\n\
         INSERT INTO new_{table} ({columns}) SELECT {columns} FROM {table};\n\
         DROP TABLE {table};\n\
         ALTER TABLE new_{table} RENAME TO {table};\n\
         COMMIT;"
    ));
}

fn has_line(text: &str, needle: &str) -> bool {
    text.lines().any(|l| l.contains(needle))
}

#[test]
fn tables_and_columns_add_drop_type_nullability_default() {
    on_both(|dialect| {
        let case = Case::new(dialect);
        match dialect {
            Dialect::Sqlite => {
                case.dev.exec(
                    "CREATE TABLE tags (id INTEGER PRIMARY KEY, bot_id INTEGER NOT NULL REFERENCES bots (id) ON DELETE CASCADE, name TEXT NOT NULL);\n\
                     DROP TABLE audit_logs;\n\
                     ALTER TABLE users ADD COLUMN nickname TEXT NOT NULL DEFAULT 'anon';\n\
                     DROP INDEX idx_kb_documents_kb_status;\n\
                     ALTER TABLE kb_documents DROP COLUMN chunk_count;\n\
                     ALTER TABLE kb_documents ADD COLUMN chunks INTEGER;\n\
                     CREATE INDEX idx_kb_documents_kb_status ON kb_documents (knowledge_base_id, status);",
                );
                sqlite_rebuild(
                    &case.dev,
                    "user_profiles",
                    "CREATE TABLE new_user_profiles (\n    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,\n    \
                     avatar_url VARCHAR(500),\n    bio TEXT NOT NULL DEFAULT 'none',\n    timezone TEXT,\n    \
                     updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n)",
                    "user_id, avatar_url, bio, timezone, updated_at",
                );
            }
            Dialect::Postgres => case.dev.exec(
                "CREATE TABLE tags (id serial PRIMARY KEY, bot_id integer NOT NULL REFERENCES bots (id) ON DELETE CASCADE, name text NOT NULL);\n\
                 DROP TABLE audit_logs;\n\
                 ALTER TABLE users ADD COLUMN nickname text NOT NULL DEFAULT 'anon';\n\
                 ALTER TABLE kb_documents DROP COLUMN chunk_count;\n\
                 ALTER TABLE kb_documents ADD COLUMN chunks integer;\n\
                 ALTER TABLE user_profiles ALTER COLUMN avatar_url TYPE varchar(500), ALTER COLUMN timezone DROP NOT NULL, \
                   ALTER COLUMN bio SET DEFAULT 'none';\n\
                 ALTER TABLE users ALTER COLUMN role TYPE varchar(20);",
            ),
        }
        let run = case.generate_and_prove("Tags and profile changes");
        let up = case.file("up");
        assert!(has_line(&up, "-- review: drops table audit_logs"), "{up}");
        assert!(
            has_line(&up, "-- review: drops column kb_documents.chunk_count"),
            "{up}"
        );
        // The dropped column beside an added one of the same type: a possible rename.
        assert!(
            up.contains("`ALTER TABLE kb_documents RENAME COLUMN chunk_count TO chunks;`"),
            "{up}"
        );
        assert!(
            run.stdout.contains("RENAME COLUMN chunk_count TO chunks"),
            "{}",
            run.stdout
        );
        if dialect == Dialect::Postgres {
            // A narrowing type change is flagged.
            assert!(
                has_line(&up, "-- review: changes the type of users.role"),
                "{up}"
            );
        } else {
            // What ALTER TABLE can do stays an ALTER TABLE; the rest is a rebuild.
            assert!(
                up.contains("ALTER TABLE users ADD COLUMN nickname TEXT NOT NULL DEFAULT 'anon';"),
                "{up}"
            );
            assert!(
                up.contains("ALTER TABLE ferry_new_user_profiles RENAME TO user_profiles;"),
                "{up}"
            );
        }
        // Only DEV's dialect is written.
        let names: Vec<String> = std::fs::read_dir(case.generated())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    });
}

#[test]
fn keys_checks_and_indexes() {
    on_both(|dialect| {
        let case = Case::new(dialect);
        match dialect {
            Dialect::Sqlite => {
                sqlite_rebuild(
                    &case.dev,
                    "api_keys",
                    "CREATE TABLE new_api_keys (\n    id INTEGER PRIMARY KEY,\n    \
                     user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n    name TEXT NOT NULL,\n    \
                     key_prefix TEXT NOT NULL CHECK (length(key_prefix) > 0),\n    key_hash TEXT NOT NULL,\n    \
                     scopes TEXT NOT NULL DEFAULT '*',\n    last_used_at TIMESTAMP,\n    expires_at TIMESTAMP,\n    \
                     revoked_at TIMESTAMP,\n    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n    \
                     bot_id INTEGER REFERENCES bots (id) ON DELETE SET NULL,\n    UNIQUE (key_prefix, key_hash)\n)",
                    "id, user_id, name, key_prefix, key_hash, scopes, last_used_at, expires_at, revoked_at, created_at, bot_id",
                );
                case.dev.exec(
                    "CREATE INDEX idx_api_keys_bot_id ON api_keys (bot_id);\n\
                     CREATE INDEX idx_api_keys_user_id ON api_keys (user_id) WHERE revoked_at IS NULL;\n\
                     CREATE UNIQUE INDEX ux_api_keys_key_hash ON api_keys (key_hash);\n\
                     CREATE INDEX idx_api_keys_last_used_at ON api_keys (last_used_at);\n\
                     CREATE UNIQUE INDEX ux_users_lower_email ON users (lower(email));\n\
                     CREATE INDEX ix_bots_enabled_name ON bots (name) WHERE enabled = 1;\n\
                     CREATE UNIQUE INDEX ux_users_username_role ON users (username, role);\n\
                     DROP INDEX idx_bots_platform;",
                );
            }
            Dialect::Postgres => case.dev.exec(
                "ALTER TABLE api_keys ADD CONSTRAINT api_keys_prefix_hash_key UNIQUE (key_prefix, key_hash);\n\
                 ALTER TABLE api_keys DROP CONSTRAINT api_keys_bot_id_fkey;\n\
                 ALTER TABLE api_keys ADD CONSTRAINT api_keys_bot_id_fkey FOREIGN KEY (bot_id) REFERENCES bots (id) ON DELETE SET NULL;\n\
                 ALTER TABLE api_keys ADD CONSTRAINT api_keys_prefix_check CHECK (length(key_prefix) > 0);\n\
                 CREATE UNIQUE INDEX ux_users_lower_email ON users (lower(email));\n\
                 CREATE INDEX ix_bots_enabled_name ON bots (name) WHERE enabled;\n\
                 CREATE UNIQUE INDEX ux_users_username_role ON users (username, role);\n\
                 DROP INDEX idx_bots_platform;",
            ),
        }
        case.generate_and_prove("Keys checks and indexes");
        let up = case.file("up");
        assert!(up.contains("ux_users_lower_email"), "{up}");
        assert!(up.contains("DROP INDEX idx_bots_platform;"), "{up}");
    });
}

#[test]
fn triggers_functions_and_views() {
    on_both(|dialect| {
        let case = Case::new(dialect);
        match dialect {
            Dialect::Sqlite => case.dev.exec(
                "CREATE TRIGGER kb_documents_touch_kb AFTER UPDATE ON kb_documents FOR EACH ROW\n\
                 BEGIN UPDATE knowledge_bases SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.knowledge_base_id; END;\n\
                 DROP TRIGGER plugin_settings_set_updated_at;\n\
                 DROP VIEW bot_overview;\n\
                 CREATE VIEW bot_overview AS SELECT b.id, b.name, u.username FROM bots b JOIN users u ON u.id = b.owner_id;\n\
                 CREATE VIEW named_bots AS SELECT id, name FROM bot_overview;",
            ),
            Dialect::Postgres => case.dev.exec(
                "CREATE FUNCTION touch_knowledge_base() RETURNS trigger LANGUAGE plpgsql AS $$\n\
                 BEGIN\n  UPDATE knowledge_bases SET updated_at = now() WHERE id = NEW.knowledge_base_id;\n  RETURN NEW;\nEND $$;\n\
                 CREATE TRIGGER kb_documents_touch_kb AFTER UPDATE ON kb_documents FOR EACH ROW EXECUTE FUNCTION touch_knowledge_base();\n\
                 DROP TRIGGER plugin_settings_set_updated_at ON plugin_settings;\n\
                 DROP VIEW bot_overview;\n\
                 CREATE VIEW bot_overview AS SELECT b.id, b.name, u.username FROM bots b JOIN users u ON u.id = b.owner_id;\n\
                 CREATE VIEW named_bots AS SELECT id, name FROM bot_overview;",
            ),
        }
        case.generate_and_prove("Triggers and views");
        // Views are created in dependency order and dropped in reverse.
        let up = case.file("up");
        let at = |s: &str| up.find(s).unwrap_or_else(|| panic!("{s} in\n{up}"));
        assert!(at("CREATE VIEW bot_overview") < at("CREATE VIEW named_bots"));
        let down = case.file("down");
        let at = |s: &str| down.find(s).unwrap_or_else(|| panic!("{s} in\n{down}"));
        assert!(at("DROP VIEW named_bots") < at("DROP VIEW bot_overview"));
    });
}

#[test]
fn postgres_enum_types_functions_and_sequences() {
    // These kinds exist on PostgreSQL only.
    let case = Case::new(Dialect::Postgres);
    case.dev.exec(
        "CREATE TYPE bot_mood AS ENUM ('calm', 'busy');\n\
         ALTER TABLE bots ADD COLUMN mood bot_mood NOT NULL DEFAULT 'calm';\n\
         CREATE SEQUENCE ticket_numbers START 100 INCREMENT BY 5;\n\
         ALTER TABLE pipeline_runs ADD COLUMN ticket bigint DEFAULT nextval('ticket_numbers');\n\
         CREATE FUNCTION bot_label(name text, platform text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT name || ' (' || platform || ')' $$;\n\
         CREATE INDEX ix_bots_label ON bots (bot_label(name, platform));",
    );
    case.generate_and_prove("Moods tickets labels");
    let up = case.file("up");
    let at = |s: &str| up.find(s).unwrap_or_else(|| panic!("{s} in\n{up}"));
    assert!(at("CREATE TYPE bot_mood") < at("ADD COLUMN mood"));
    assert!(at("CREATE SEQUENCE ticket_numbers") < at("ADD COLUMN ticket"));
    assert!(at("FUNCTION bot_label") < at("CREATE INDEX ix_bots_label"));
    let down = case.file("down");
    let at = |s: &str| down.find(s).unwrap_or_else(|| panic!("{s} in\n{down}"));
    assert!(at("DROP COLUMN mood") < at("DROP TYPE bot_mood"));

    // A second revision on top: the enum gains a value (ALTER TYPE … ADD VALUE), and its down
    // makes the type again without it.
    case.dev
        .exec("ALTER TYPE bot_mood ADD VALUE 'asleep' AFTER 'calm';");
    let run = case.autogenerate("Bots sleep", &[]).expect(0);
    let up = case.file("up");
    assert!(
        up.contains("ALTER TYPE bot_mood ADD VALUE 'asleep' AFTER 'calm';"),
        "{up}\n{}",
        run.stdout
    );
    let down = case.file("down");
    assert!(
        has_line(
            &down,
            "-- review: enum type bot_mood loses the value(s) 'asleep'"
        ),
        "{down}"
    );
    let target = TestDb::new(Dialect::Postgres);
    case.ferry(&["upgrade", "-d", &target.url]).expect(0);
    assert_same_schema(
        &case.dev.snapshot(&reference_set()),
        &target.snapshot(&reference_set()),
        "a fresh install with both generated revisions against DEV",
    );
    case.ferry(&["downgrade", "-1", "-d", &target.url])
        .expect(0);
    case.ferry(&["verify", "-d", &target.url]).expect(0);
}

#[test]
fn a_rebuilt_parent_keeps_its_cascading_childrens_rows() {
    on_both(|dialect| {
        let case = Case::new(dialect);
        // bots: parent of api_keys, bot_knowledge_bases and pipeline_runs (ON DELETE CASCADE /
        // SET NULL), named by the view bot_overview, with a trigger of its own. A new default
        // is a rebuild on SQLite.
        match dialect {
            Dialect::Sqlite => {
                let create: String = case
                    .dev
                    .scalar("SELECT sql FROM sqlite_master WHERE name = 'bots'")
                    .unwrap()
                    .replace("CREATE TABLE bots", "CREATE TABLE new_bots")
                    .replace(
                        "description TEXT NOT NULL DEFAULT ''",
                        "description TEXT NOT NULL DEFAULT 'none'",
                    );
                let columns = "id, uuid, owner_id, pipeline_id, name, description, platform, platform_config, config, \
                               enabled, created_at, updated_at, llm_model_id, deleted_at, last_active_at";
                case.dev.exec("DROP VIEW bot_overview;");
                sqlite_rebuild(&case.dev, "bots", &create, columns);
                case.dev.exec(
                    &std::fs::read_to_string(repo().join("baseline/sqlite.sql"))
                        .unwrap()
                        .split("CREATE VIEW bot_overview AS")
                        .nth(1)
                        .and_then(|rest| rest.split(';').next())
                        .map(|body| format!("CREATE VIEW bot_overview AS{body};"))
                        .unwrap(),
                );
                let indexes = std::fs::read_to_string(repo().join("baseline/sqlite.sql"))
                    .unwrap()
                    .lines()
                    .filter(|l| l.starts_with("CREATE") && l.contains(" ON bots "))
                    .collect::<Vec<_>>()
                    .join("\n");
                case.dev.exec(&indexes);
                case.dev.exec(
                    "CREATE TRIGGER bots_set_updated_at\nAFTER UPDATE ON bots\nFOR EACH ROW\nWHEN NEW.updated_at = OLD.updated_at\nBEGIN\n    \
                     UPDATE bots SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;\nEND;",
                );
            }
            Dialect::Postgres => case
                .dev
                .exec("ALTER TABLE bots ALTER COLUMN description SET DEFAULT 'none';"),
        }
        case.generate_and_prove("Bots describe themselves");
        if dialect == Dialect::Sqlite {
            let up = case.file("up");
            assert!(up.contains("DROP TABLE bots;"), "{up}");
            assert!(up.contains("DROP VIEW bot_overview;"), "{up}");
            assert!(up.contains("CREATE TRIGGER bots_set_updated_at"), "{up}");
        }
    });
}

#[test]
fn no_difference_exits_1_and_writes_nothing() {
    on_both(|dialect| {
        let case = Case::new(dialect);
        let before = case.revisions();
        let run = case.autogenerate("Nothing", &[]).expect(1);
        assert!(
            run.stdout.contains("no difference between the head"),
            "{}",
            run.stdout
        );
        assert_eq!(case.revisions(), before);
    });
}

#[test]
fn sql_prints_the_files_and_writes_nothing() {
    let case = Case::new(Dialect::Sqlite);
    case.dev.exec("ALTER TABLE users ADD COLUMN nickname TEXT;");
    let before = case.revisions();
    let run = case.autogenerate("Nicknames", &["--sql"]).expect(0);
    assert_eq!(case.revisions(), before, "--sql wrote a revision");
    assert!(
        run.stdout.contains("up.sqlite.sql <==")
            && run.stdout.contains("down.sqlite.sql <==")
            && run
                .stdout
                .contains("ALTER TABLE users ADD COLUMN nickname TEXT;"),
        "{}",
        run.stdout
    );
    let json = case
        .autogenerate("Nicknames", &["--sql", "--json"])
        .expect(0)
        .json();
    assert_eq!(json["written"], false);
    assert_eq!(case.revisions(), before);
}

#[test]
fn dialect_db_writes_both_dialects_and_lint_accepts_the_set() {
    let case = Case::with_dialects(Dialect::Sqlite, &DIALECTS);
    let pg = TestDb::new(Dialect::Postgres);
    case.ferry(&["upgrade", "-d", &pg.url]).expect(0);
    case.dev.exec("ALTER TABLE users ADD COLUMN nickname TEXT;");
    pg.exec("ALTER TABLE users ADD COLUMN nickname text;");

    // Without --dialect-db the PostgreSQL files are left to write, and lint says so.
    let run = case.autogenerate("Nicknames", &["--sql"]).expect(0);
    assert!(
        run.stdout
            .contains("the postgres files (up.postgres.sql, down.postgres.sql) are left to write"),
        "{}",
        run.stdout
    );

    let run = case
        .autogenerate("Nicknames", &["--dialect-db", &pg.url])
        .expect(0);
    let dir = case.generated();
    for name in [
        "up.sqlite.sql",
        "down.sqlite.sql",
        "up.postgres.sql",
        "down.postgres.sql",
    ] {
        assert!(dir.join(name).is_file(), "{name}: {}", run.stdout);
    }
    case.ferry(&["lint"]).expect(0);
    for db in [TestDb::new(Dialect::Sqlite), TestDb::new(Dialect::Postgres)] {
        case.ferry(&["upgrade", "-d", &db.url, "--no-backup"])
            .expect(0);
        let dev = if db.dialect == Dialect::Sqlite {
            &case.dev
        } else {
            &pg
        };
        assert_same_schema(
            &dev.snapshot(&reference_set()),
            &db.snapshot(&reference_set()),
            db.dialect.name(),
        );
    }
}

#[test]
fn lint_refuses_a_set_whose_other_dialect_is_left_to_write() {
    let case = Case::with_dialects(Dialect::Sqlite, &DIALECTS);
    case.dev.exec("ALTER TABLE users ADD COLUMN nickname TEXT;");
    case.autogenerate("Nicknames", &[]).expect(0);
    let run = case.ferry(&["lint"]).expect(2);
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("no up SQL for postgres"),
        "{}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let case = Case::new(Dialect::Sqlite);
    let before = case.revisions();
    let set = case.set_arg();
    // No development database.
    let run = ferry(&["--migrations", set, "new", "X", "--autogenerate"]).expect(2);
    assert!(run.stderr.contains("-d DEV_URL"), "{}", run.stderr);
    // --dialect-db of the same dialect as DEV.
    let other = TestDb::new(Dialect::Sqlite);
    let run = case
        .autogenerate("X", &["--dialect-db", &other.url])
        .expect(2);
    assert!(run.stderr.contains("other dialect"), "{}", run.stderr);
    // DEV that cannot be reached: the connection's exit code.
    ferry(&[
        "--migrations",
        set,
        "new",
        "X",
        "--autogenerate",
        "-d",
        "postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
    ])
    .expect(6);
    let missing: PathBuf = Path::new(set).join("missing.db");
    ferry(&[
        "--migrations",
        set,
        "new",
        "X",
        "--autogenerate",
        "-d",
        &format!("sqlite:{}", missing.display()),
    ])
    .expect(6);
    assert!(!missing.exists(), "a missing DEV file was created");
    // --sql and --dialect-db need --autogenerate.
    ferry(&["--migrations", set, "new", "X", "--sql"]).expect(2);
    assert_eq!(case.revisions(), before);
}
