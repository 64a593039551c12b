//! Crash-resume: ferry stopped at any instant — at named points inside and between steps, or
//! by SIGKILL at random moments of a large bridge — always finishes when run again, and the
//! result equals an uninterrupted run with every row kept. Both dialects.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Where FERRY_CRASH_AT stops the process: every point of a transactional step on legacy steps,
/// the stamp and revisions, and the gap between a non-transactional revision and its bookkeeping.
const POINTS: &[(&str, &str)] = &[
    ("after-begin", "legacy 011"),
    ("before-commit", "legacy 011"),
    ("after-commit", "legacy 011"),
    ("after-begin", "legacy 012"),
    ("before-commit", "legacy 012"),
    ("after-commit", "legacy 012"),
    ("before-commit", "legacy 017"),
    ("before-commit", "legacy 025"),
    ("after-commit", "legacy 025"),
    ("after-begin", "stamp 0001_baseline"),
    ("before-commit", "stamp 0001_baseline"),
    ("after-commit", "stamp 0001_baseline"),
    ("after-begin", "upgrade 0002"),
    ("before-commit", "upgrade 0004"),
    ("after-commit", "upgrade 0004"),
    ("before-commit", "upgrade 0005"),
    ("after-script", "upgrade 0006"),
    ("before-commit", "upgrade 0006"),
    ("after-commit", "upgrade 0006"),
];

#[test]
fn stopped_at_every_named_point_the_rerun_finishes_with_every_row() {
    let set = reference_set();
    on_both(|dialect| {
        let clean = TestDb::new(dialect);
        ferry(&[
            "fixture",
            "--legacy",
            "10",
            "--seeds",
            "tests/seeds",
            "-d",
            &clean.url,
        ])
        .expect(0);
        ferry(&["upgrade", "-d", &clean.url]).expect(0);
        let (schema, rows, head) = (clean.snapshot(&set), clean.row_counts(), clean.versions());
        for (point, step) in POINTS {
            let db = TestDb::new(dialect);
            ferry(&[
                "fixture",
                "--legacy",
                "10",
                "--seeds",
                "tests/seeds",
                "-d",
                &db.url,
            ])
            .expect(0);
            let spec = format!("{point}:{step}");
            let crashed = ferry_env(
                &["upgrade", "--no-backup", "-d", &db.url],
                &[("FERRY_CRASH_AT", &spec)],
            );
            assert_ne!(crashed.code, 0, "{spec}: the process must have stopped");
            assert!(
                crashed.stderr.contains("FERRY_CRASH_AT: stopping at"),
                "{spec}: {}",
                crashed.stderr
            );
            let resumed = ferry(&["upgrade", "--lock-timeout", "5", "-d", &db.url]).expect(0);
            assert!(
                !resumed.stdout.contains("nothing to do") || *point == "after-commit",
                "{spec}: {}",
                resumed.stdout
            );
            assert_same_schema(
                &schema,
                &db.snapshot(&set),
                &format!("{} after a stop at {spec}", dialect.name()),
            );
            assert!(
                db.row_counts() == rows,
                "{spec}: the rows differ from an uninterrupted run"
            );
            assert_eq!(db.versions(), head, "{spec}");
        }
        eprintln!(
            "{}: {} named stop points, each resumed",
            dialect.name(),
            POINTS.len()
        );
    });
}

/// SIGKILL at increasing delays into a large bridge, resuming each time, until one run ends.
#[test]
fn killed_at_random_instants_the_rerun_finishes_with_every_row() {
    let set = reference_set();
    on_both(|dialect| {
        let rows = 200_000;
        let build = || {
            let db = TestDb::new(dialect);
            ferry(&["fixture", "--legacy", "1", "-d", &db.url]).expect(0);
            let mut d = db.open();
            d.begin().unwrap();
            d.execute(&bulk::bulk_sql(dialect, rows)).unwrap();
            d.commit().unwrap();
            db
        };
        let clean = build();
        ferry(&["upgrade", "--no-backup", "-d", &clean.url]).expect(0);
        let (schema, counts) = (clean.snapshot(&set), clean.row_counts());

        let db = build();
        // A fixed pseudo-random sequence (xorshift), so a failure can be replayed.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ (dialect as u64);
        let mut kills = 0;
        let mut positions = std::collections::BTreeSet::new();
        for attempt in 0..40 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let delay = Duration::from_millis(20 + seed % (60 + 25 * attempt));
            let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
                .args([
                    "upgrade",
                    "-q",
                    "--no-backup",
                    "--lock-timeout",
                    "30",
                    "-d",
                    &db.url,
                ])
                .current_dir(repo())
                .spawn()
                .unwrap();
            std::thread::sleep(delay);
            if child.try_wait().unwrap().is_some() {
                break; // finished before the kill
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
            let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
            positions.insert(format!(
                "{} {} {}",
                status["state"], status["legacy_version"], status["current"]
            ));
        }
        ferry(&["upgrade", "--lock-timeout", "30", "-d", &db.url]).expect(0);
        assert!(
            kills >= 5,
            "{}: only {kills} kills landed inside the run",
            dialect.name()
        );
        assert_same_schema(
            &schema,
            &db.snapshot(&set),
            &format!("{} after {kills} kills", dialect.name()),
        );
        assert!(
            db.row_counts() == counts,
            "{}: rows differ after {kills} kills",
            dialect.name()
        );
        eprintln!(
            "{}: {kills} SIGKILLs, the database seen at {} distinct positions, then finished",
            dialect.name(),
            positions.len()
        );
    });
}

/// A holder that died leaves its lock file (SQLite) or nothing (PostgreSQL): the next run takes
/// the lock at once. A live holder is shown by `status` with its pid.
#[test]
fn a_dead_holders_lock_is_taken_over_and_a_live_one_is_shown() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        ferry(&["fixture", "--legacy", "3", "-d", &db.url]).expect(0);
        let crashed = ferry_env(
            &["upgrade", "-d", &db.url],
            &[("FERRY_CRASH_AT", "after-begin:legacy 005")],
        );
        assert_ne!(crashed.code, 0);
        if let Some(path) = &db.path {
            let lock = format!("{}.ferry-lock", path.display());
            assert!(
                std::path::Path::new(&lock).exists(),
                "the dead holder's file stays"
            );
        }
        let started = std::time::Instant::now();
        ferry(&["upgrade", "--lock-timeout", "10", "-d", &db.url]).expect(0);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "no waiting for a dead holder"
        );

        let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        assert!(status["lock_holder"].is_null(), "{status}");
        let mut holder = db.open();
        assert_eq!(holder.lock(Duration::from_secs(2)).unwrap(), Ok(()));
        holder.lock_progress("upgrade 0004_bot_tags");
        let status = ferry(&["status", "--json", "-d", &db.url]).expect(0).json();
        let shown = status["lock_holder"]
            .as_str()
            .expect("the holder is shown")
            .to_string();
        assert!(
            shown.contains(&format!("pid {}", std::process::id())),
            "{shown}"
        );
        assert!(
            shown.contains("0004_bot_tags"),
            "the holder's step is shown: {shown}"
        );
        let waiting = ferry(&["upgrade", "--lock-timeout", "1", "-d", &db.url]).expect(5);
        assert!(
            waiting.stderr.contains("0004_bot_tags"),
            "{}",
            waiting.stderr
        );
        holder.unlock().unwrap();
    });
}
