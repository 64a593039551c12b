//! Database URLs as applications already write them (SQLAlchemy's forms), both ways: each
//! accepted form reaches the database the application uses, and each dangerous or unknown one
//! is refused with exit 2 and nothing changed.

mod common;

use common::*;
use ferry::core::set::Dialect;

/// The same database under SQLAlchemy's name for it, with a Python driver and `query`.
fn sqlalchemy(db: &TestDb, driver: &str, query: &str) -> String {
    match db.dialect {
        Dialect::Sqlite => format!(
            "sqlite+{driver}:///{}{query}",
            db.path.as_ref().unwrap().display()
        ),
        Dialect::Postgres => {
            let rest = db
                .url
                .strip_prefix("postgres://")
                .or_else(|| db.url.strip_prefix("postgresql://"))
                .expect("the test server's URL is a postgres:// URL");
            format!("postgresql+{driver}://{rest}{query}")
        }
    }
}

#[test]
fn sqlalchemy_urls_reach_the_applications_database() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["upgrade", "-d", &db.url]).expect(0);
        let (driver, ignored) = match dialect {
            Dialect::Sqlite => ("aiosqlite", "?check_same_thread=false&timeout=20"),
            Dialect::Postgres => ("asyncpg", "?prepared_statement_cache_size=0"),
        };
        // SQLite: `sqlite+aiosqlite:///` followed by the absolute path: four slashes, as an
        // application writes an absolute file.
        let url = sqlalchemy(&db, driver, ignored);
        let status = ferry(&["status", "--json", "-d", &url]).expect(0).json();
        assert_eq!(status["state"], "managed", "{status}");
        ferry(&["check", "-d", &url]).expect(0);

        // An unknown query parameter is refused, and nothing is created or changed.
        let before = db.fingerprint();
        let bad = if dialect == Dialect::Sqlite {
            url.replace(ignored, "?colour=blue")
        } else {
            sqlalchemy(&db, "psycopg2", "?colour=blue")
        };
        let run = ferry(&["upgrade", "-d", &bad]).expect(2);
        assert!(run.stderr.contains("colour"), "{}", run.stderr);
        assert_eq!(db.fingerprint(), before);
    });
}

#[test]
fn three_slashes_are_relative_and_the_other_reading_is_refused_when_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    // sqlite:///app.db is app.db in the current directory, as SQLAlchemy reads it; upgrade
    // says it created the file, in text and JSON.
    let run = ferry_in(&work, &["upgrade", "-d", "sqlite:///app.db"]).expect(0);
    assert!(
        run.stdout.contains("created the new database file") && run.stdout.contains("app.db"),
        "{}",
        run.stdout
    );
    assert!(work.join("app.db").exists());
    let json = ferry_in(&work, &["upgrade", "--json", "-d", "sqlite:///new.db"])
        .expect(0)
        .json();
    assert!(
        json["created"].as_str().unwrap().ends_with("new.db"),
        "{json}"
    );
    let again = ferry_in(&work, &["upgrade", "--json", "-d", "sqlite:///new.db"])
        .expect(0)
        .json();
    assert!(again["created"].is_null(), "{again}");

    // An existing absolute file named with three slashes: the relative file does not exist,
    // the absolute one does; ferry refuses rather than install a fresh schema elsewhere.
    let absolute = dir.path().join("live.db");
    ferry(&["upgrade", "-d", &format!("sqlite:{}", absolute.display())]).expect(0);
    let before = std::fs::read(&absolute).unwrap();
    let ambiguous = format!("sqlite://{}", absolute.display()); // sqlite:///tmp/…/live.db
    for command in ["upgrade", "status"] {
        let run = ferry_in(&work, &[command, "-d", &ambiguous]).expect(2);
        assert!(
            run.stderr.contains(&absolute.display().to_string())
                && run.stderr.contains("does not exist"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read(&absolute).unwrap(), before);
    let relative_reading = work.join(absolute.strip_prefix("/").unwrap());
    assert!(!relative_reading.exists(), "nothing was created");
    // Four slashes name it.
    ferry_in(
        &work,
        &["check", "-d", &format!("sqlite:///{}", absolute.display())],
    )
    .expect(0);

    // The query is never part of the file name; mode=ro is honoured.
    ferry_in(&work, &["status", "-d", "sqlite:app.db?mode=ro"]).expect(0);
    let before = std::fs::read(work.join("app.db")).unwrap();
    let run = ferry_in(&work, &["upgrade", "-d", "sqlite:app.db?mode=ro"]).expect(2);
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    assert_eq!(std::fs::read(work.join("app.db")).unwrap(), before);
    let run = ferry_in(&work, &["upgrade", "-d", "sqlite:fresh.db?mode=rw"]).expect(6);
    assert!(run.stderr.contains("mode=rw"), "{}", run.stderr);
    assert!(!work.join("fresh.db").exists());
    ferry_in(
        &work,
        &["upgrade", "-d", "sqlite:q.db?check_same_thread=false"],
    )
    .expect(0);
    assert!(work.join("q.db").exists());
    let names: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains('?')),
        "no file name holds a query: {names:?}"
    );
}
