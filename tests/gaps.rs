//! A real-world legacy chain: numbered by the marker value each step leaves behind, with gaps
//! (75 and 78 were abandoned) and a floor (72, a full-schema snapshot of everything older).
//! The set is built here, not the reference set; every scenario runs on SQLite and PostgreSQL.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ferry::core::set::{Dialect, Files, MigrationSet, Origin};
use serde_json::{Value, json};

const TOML: &str = r#"[legacy]
cap = 79
marker = { kind = "kv-table", table = "metadata", key_column = "key", value_column = "value", key = "database_version" }
write_marker_on_fresh = true

[baseline]
revision = "0001_baseline"

[[release]]
version = "7.0.0"
legacy = 72

[[release]]
version = "7.1.0"
legacy = 74

[[release]]
version = "8.0.0"
revision = "0002_add_bots_priority"
"#;

/// The steps: directory, shared SQL or (SQLite, PostgreSQL) SQL.
const STEPS: [(&str, &str, &str); 6] = [
    (
        "072_full_schema",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
         CREATE TABLE bots (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id), title TEXT);\n",
        "",
    ),
    (
        "073_add_users_email",
        "ALTER TABLE users ADD COLUMN email TEXT;\n",
        "",
    ),
    (
        "074_create_tags",
        "CREATE TABLE tags (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL);\n",
        "CREATE TABLE tags (id SERIAL PRIMARY KEY, label TEXT NOT NULL);\n",
    ),
    (
        "076_create_bot_tags",
        "CREATE TABLE bot_tags (bot_id INTEGER NOT NULL, tag_id INTEGER NOT NULL, PRIMARY KEY (bot_id, tag_id));\n",
        "",
    ),
    (
        "077_add_bots_created_at",
        "ALTER TABLE bots ADD COLUMN created_at TEXT;\n",
        "",
    ),
    (
        "079_index_users_email",
        "CREATE INDEX idx_users_email ON users (email);\n",
        "",
    ),
];

const NUMBERS: [u32; 6] = [72, 73, 74, 76, 77, 79];

/// The migration set, written into a temporary directory and frozen with `ferry lint --freeze`.
struct GapSet {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl GapSet {
    fn new() -> GapSet {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        write(&root.join("ferry.toml"), TOML);
        let mut baseline = [String::new(), String::new()];
        for (name, shared, postgres) in STEPS {
            let step = root.join("legacy").join(name);
            if postgres.is_empty() {
                write(&step.join("up.sql"), shared);
            } else {
                write(&step.join("up.sqlite.sql"), shared);
                write(&step.join("up.postgres.sql"), postgres);
            }
            baseline[0].push_str(shared);
            baseline[1].push_str(if postgres.is_empty() {
                shared
            } else {
                postgres
            });
        }
        write(&root.join("baseline/sqlite.sql"), &baseline[0]);
        write(&root.join("baseline/postgres.sql"), &baseline[1]);
        add_revision(
            &root,
            "0002_add_bots_priority",
            "0001_baseline",
            "ALTER TABLE bots ADD COLUMN priority INTEGER;\n",
            "ALTER TABLE bots DROP COLUMN priority;\n",
        );
        let set = GapSet { _dir: dir, root };
        set.ferry(&["lint", "--freeze"]).expect(0);
        set
    }

    fn dir(&self) -> &str {
        self.root.to_str().unwrap()
    }

    /// Runs ferry with `--migrations` naming this set.
    fn ferry(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--migrations", self.dir()]);
        ferry(&all)
    }

    fn load(&self) -> MigrationSet {
        MigrationSet::load(
            Files::from_dir(&self.root).unwrap(),
            Origin::Dir(self.root.clone()),
        )
        .unwrap()
    }

    /// A database built as legacy `n` left it.
    fn fixture(&self, dialect: Dialect, n: u32) -> TestDb {
        let db = TestDb::new(dialect);
        self.ferry(&["fixture", "--legacy", &n.to_string(), "-d", &db.url])
            .expect(0);
        assert_eq!(db.marker().as_deref(), Some(n.to_string().as_str()));
        db
    }

    /// The schema of a fresh install at head.
    fn fresh(&self, dialect: Dialect) -> ferry::core::schema::Schema {
        let db = TestDb::new(dialect);
        self.ferry(&["upgrade", "-d", &db.url]).expect(0);
        db.snapshot(&self.load())
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn set_marker(db: &TestDb, value: u32) {
    db.exec(&format!(
        "UPDATE metadata SET value = '{value}' WHERE key = 'database_version'"
    ));
}

fn legacy_steps_run(run: &Value) -> Vec<u64> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "legacy")
        .map(|s| s["number"].as_u64().unwrap())
        .collect()
}

/// Every step number builds with `fixture --legacy N` and upgrades to exactly a fresh install,
/// running only the steps above it; numbers that are no step are refused with exit 2.
#[test]
fn every_step_builds_and_upgrades_to_a_fresh_install() {
    let set = GapSet::new();
    on_both(|dialect| {
        let fresh = set.fresh(dialect);
        for n in NUMBERS {
            let db = set.fixture(dialect, n);
            if n == 74 {
                // The per-dialect file ran.
                let own = match dialect {
                    Dialect::Sqlite => db.scalar("SELECT sql FROM sqlite_master WHERE name = 'tags'"),
                    Dialect::Postgres => db.scalar(
                        "SELECT column_default FROM information_schema.columns WHERE table_name = 'tags' AND column_name = 'id'",
                    ),
                };
                let own = own.unwrap_or_default();
                assert!(
                    own.contains("AUTOINCREMENT") || own.contains("nextval"),
                    "{own}"
                );
            }
            let run = set
                .ferry(&["upgrade", "--json", "-d", &db.url])
                .expect(0)
                .json();
            let above: Vec<u64> = NUMBERS
                .iter()
                .filter(|&&k| k > n)
                .map(|&k| u64::from(k))
                .collect();
            assert_eq!(legacy_steps_run(&run), above, "from legacy {n}");
            assert_same_schema(&fresh, &db.snapshot(&set.load()), &format!("legacy {n}"));
            assert_eq!(db.marker().as_deref(), Some("79"));
            assert_eq!(db.versions(), ["0002_add_bots_priority"]);
        }

        // Not a step number: exit 2, naming the valid numbers; nothing is created.
        for n in ["75", "50", "1", "80"] {
            let db = TestDb::new(dialect);
            let before = db.fingerprint();
            let run = set
                .ferry(&["fixture", "--legacy", n, "-d", &db.url])
                .expect(2);
            assert!(
                run.stderr.contains(&format!("--legacy {n}"))
                    && run.stderr.contains("72–74, 76–77, 79"),
                "{}",
                run.stderr
            );
            assert_eq!(db.fingerprint(), before);
        }
    });
}

/// A marker inside a gap (75: an abandoned version) runs the next step above it onward.
#[test]
fn a_marker_inside_a_gap_runs_from_the_next_step() {
    let set = GapSet::new();
    on_both(|dialect| {
        let db = set.fixture(dialect, 74);
        set_marker(&db, 75);
        let status = set
            .ferry(&["status", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(status["state"], "legacy");
        assert_eq!(status["legacy_version"], 75);
        assert_eq!(status["floor"], 72);
        assert_eq!(status["refusal"], Value::Null);
        let pending: Vec<&str> = status["pending"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kind"].as_str().unwrap())
            .collect();
        assert_eq!(pending, ["legacy", "legacy", "legacy", "stamp", "up"]);
        assert_eq!(status["pending"][0]["number"], 76);
        // Its expected schema is legacy 74's: the steps below the marker.
        set.ferry(&["verify", "-d", &db.url]).expect(0);

        let run = set
            .ferry(&["upgrade", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(legacy_steps_run(&run), [76, 77, 79]);
        assert_same_schema(&set.fresh(dialect), &db.snapshot(&set.load()), "from 75");
        let ran: Vec<Option<String>> = db
            .query("SELECT CAST(legacy_version AS TEXT) FROM ferry_history WHERE kind = 'legacy' ORDER BY id")
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        let ran: Vec<&str> = ran.iter().flatten().map(String::as_str).collect();
        // The fixture's 72..74, then the upgrade's 76, 77, 79.
        assert_eq!(ran, ["72", "73", "74", "76", "77", "79"]);

        // The SQL of the same upgrade renders without a database.
        let sql = set
            .ferry(&[
                "plan",
                "--sql",
                "--from",
                "legacy:75",
                "--dialect",
                dialect.name(),
            ])
            .expect(0)
            .stdout;
        assert!(
            sql.contains("CREATE TABLE bot_tags") && !sql.contains("CREATE TABLE tags"),
            "{sql}"
        );
    });
}

/// A marker below the floor is refused as too old (exit 3), naming the floor and the release to
/// upgrade through first; nothing is written. Above the cap and not superseded: refused as today.
#[test]
fn below_the_floor_and_above_the_cap_are_refused() {
    let set = GapSet::new();
    on_both(|dialect| {
        let db = set.fixture(dialect, 72);
        set_marker(&db, 50);
        let before = db.fingerprint();
        let run = set.ferry(&["upgrade", "-d", &db.url]).expect(3);
        assert!(
            run.stderr.contains("version 50")
                && run
                    .stderr
                    .contains("legacy 72, the oldest version this migration set bridges")
                && run.stderr.contains("release 7.0.0"),
            "{}",
            run.stderr
        );
        let json = set
            .ferry(&["upgrade", "--json", "-d", &db.url])
            .expect(3)
            .json();
        assert_eq!(json["error"]["code"], 3);
        let status = set
            .ferry(&["status", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(status["legacy_version"], 50);
        assert!(
            status["refusal"]
                .as_str()
                .unwrap()
                .contains("older than legacy 72"),
            "{status}"
        );
        let run = set.ferry(&["verify", "-d", &db.url]).expect(3);
        assert!(
            run.stderr.contains("older than legacy 72"),
            "{}",
            run.stderr
        );
        assert_eq!(db.fingerprint(), before, "a refused database is unchanged");
        let e = set
            .ferry(&[
                "plan",
                "--sql",
                "--from",
                "legacy:50",
                "--dialect",
                dialect.name(),
            ])
            .expect(2);
        assert!(e.stderr.contains("older than legacy 72"), "{}", e.stderr);

        set_marker(&db, 80);
        let before = db.fingerprint();
        let run = set.ferry(&["upgrade", "-d", &db.url]).expect(3);
        assert!(
            run.stderr.contains("above this set's cap 79"),
            "{}",
            run.stderr
        );
        assert_eq!(db.fingerprint(), before);
    });
}

/// `upgrade-test` walks every step number, one marker inside a gap, the empty database and
/// the round trip, on SQLite and (with `-d postgres://…`) on PostgreSQL.
#[test]
fn upgrade_test_covers_every_step_and_the_gap() {
    let set = GapSet::new();
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        let before = db.fingerprint();
        let mut args = vec!["upgrade-test", "--json"];
        if dialect == Dialect::Postgres {
            args.extend(["-d", db.url.as_str()]);
        }
        let run = set.ferry(&args);
        let json = run.json();
        let paths: Vec<String> = json["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["dialect"] == dialect.name())
            .inspect(|c| assert_eq!(c["ok"], true, "{c}"))
            .map(|c| c["path"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(run.code, 0, "{}", run.stdout);
        assert_eq!(
            paths,
            [
                "fresh install → head",
                "legacy 72 (7.0.0) → head",
                "legacy 73 → head",
                "legacy 74 (7.1.0) → head",
                "legacy 75 (inside a gap of the chain) → head",
                "legacy 76 → head",
                "legacy 77 → head",
                "legacy 79 → head",
                "round trip head → 0001_baseline → head",
            ]
        );
        assert_eq!(db.fingerprint(), before);
    });
}

/// `status` reports each state of the chain in its real numbers.
#[test]
fn status_reports_the_state_in_real_numbers() {
    let set = GapSet::new();
    on_both(|dialect| {
        let empty = TestDb::new(dialect);
        let status = set
            .ferry(&["status", "--json", "-d", &empty.url])
            .expect(0)
            .json();
        assert_eq!(status["state"], "empty");

        let db = set.fixture(dialect, 76);
        let run = set.ferry(&["status", "-d", &db.url]).expect(0);
        assert!(
            run.stdout
                .contains("legacy 76 (steps 72–74, 76–77, 79, cap 79)")
                && run.stdout.contains("legacy 077_add_bots_created_at"),
            "{}",
            run.stdout
        );
        let status = set
            .ferry(&["status", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(status["legacy_version"], 76);
        assert_eq!(status["cap"], 79);
        assert_eq!(status["pending"].as_array().unwrap().len(), 4);

        set.ferry(&["upgrade", "-d", &db.url]).expect(0);
        let status = set
            .ferry(&["status", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(status["state"], "managed");
        assert_eq!(status["pending"], json!([]));
    });
}

/// An unversioned copy of legacy 76 (its marker table dropped) is identified as 76, and
/// `--assume-legacy` takes a step number only.
#[test]
fn an_unversioned_copy_of_legacy_76_is_identified_as_76() {
    let set = GapSet::new();
    on_both(|dialect| {
        let db = set.fixture(dialect, 76);
        db.exec("DROP TABLE metadata");
        let before = db.fingerprint();
        let status = set
            .ferry(&["status", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(status["state"], "unversioned");
        assert_eq!(status["identified"]["versions"], json!([76]));
        assert_eq!(status["identified"]["exact"], true);
        assert_eq!(
            status["identified"]["runners_up"][0]["versions"],
            json!([74])
        );
        let run = set.ferry(&["upgrade", "-d", &db.url]).expect(3);
        assert!(run.stderr.contains("--assume-legacy 76"), "{}", run.stderr);
        for wrong in ["75", "50"] {
            let run = set
                .ferry(&["upgrade", "--assume-legacy", wrong, "-d", &db.url])
                .expect(2);
            assert!(run.stderr.contains("72–74, 76–77, 79"), "{}", run.stderr);
        }
        assert_eq!(db.fingerprint(), before);

        let run = set
            .ferry(&["upgrade", "--assume-legacy", "76", "--json", "-d", &db.url])
            .expect(0)
            .json();
        assert_eq!(legacy_steps_run(&run), [77, 79]);
        assert_same_schema(&set.fresh(dialect), &db.snapshot(&set.load()), "assumed 76");
    });
}

/// `lint` accepts the gaps and names the steps; a step above the cap, a duplicate number and a
/// FROZEN.toml cap that is not the highest step are refused with exit 2.
#[test]
fn lint_accepts_gaps_and_refuses_a_broken_chain() {
    let set = GapSet::new();
    let run = set.ferry(&["lint"]).expect(0);
    assert!(
        run.stdout.contains("6 legacy steps, cap 79")
            && run
                .stdout
                .contains("legacy steps 72–74, 76–77, 79 (floor 72"),
        "{}",
        run.stdout
    );
    let json = set.ferry(&["lint", "--json"]).expect(0).json();
    assert_eq!(json["steps"], json!(NUMBERS));
    assert_eq!(json["floor"], 72);

    let root = set.root.clone();
    let frozen = root.join("legacy/FROZEN.toml");
    let frozen_text = std::fs::read_to_string(&frozen).unwrap();
    type Change = (&'static str, Box<dyn Fn(&Path)>, Box<dyn Fn(&Path)>);
    let changes: Vec<Change> = vec![
        (
            "step 80 is above the cap 79",
            Box::new(|r| write(&r.join("legacy/080_more/up.sql"), "SELECT 1;\n")),
            Box::new(|r| std::fs::remove_dir_all(r.join("legacy/080_more")).unwrap()),
        ),
        (
            "step 73 is also legacy/073_add_users_email",
            Box::new(|r| write(&r.join("legacy/073_other/up.sql"), "SELECT 1;\n")),
            Box::new(|r| std::fs::remove_dir_all(r.join("legacy/073_other")).unwrap()),
        ),
        (
            "freezes cap 77 but ferry.toml says cap = 79",
            Box::new(move |_| {
                std::fs::write(&frozen, frozen_text.replacen("cap = 79", "cap = 77", 1)).unwrap()
            }),
            Box::new(|r| {
                let f = r.join("legacy/FROZEN.toml");
                let t = std::fs::read_to_string(&f).unwrap();
                std::fs::write(&f, t.replacen("cap = 77", "cap = 79", 1)).unwrap();
            }),
        ),
        (
            "step 79 is missing: ferry.toml says cap = 79, and the highest legacy step is 77",
            Box::new(|r| {
                std::fs::rename(
                    r.join("legacy/079_index_users_email"),
                    r.join("079_moved_away"),
                )
                .unwrap()
            }),
            Box::new(|r| {
                std::fs::rename(
                    r.join("079_moved_away"),
                    r.join("legacy/079_index_users_email"),
                )
                .unwrap()
            }),
        ),
    ];
    for (words, change, undo) in changes {
        change(&root);
        let run = set.ferry(&["lint"]).expect(2);
        assert!(run.stderr.contains(words), "{words}: {}", run.stderr);
        undo(&root);
        set.ferry(&["lint"]).expect(0);
    }
}
