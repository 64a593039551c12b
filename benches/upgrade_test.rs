//! `cargo bench --bench upgrade_test`: the whole `ferry upgrade-test` matrix of the reference
//! set on SQLite, against a bare reference measured in the same run, and against its budget.
//!
//! The reference does the same SQL work with nothing else: for every case of the matrix (a
//! fresh install, every legacy version 1..=cap), an in-memory rusqlite database runs the
//! legacy files and seed files up to the version, then the rest of the chain and every
//! revision's up script, as plain batches; then the revisions' down and up scripts once. No
//! bookkeeping, no foreign-key checks, no schema snapshots, no comparisons, one thread.
//! ferry's matrix additionally snapshots and compares every case and walks the round trip
//! revision by revision.

use std::process::Command;
use std::time::{Duration, Instant};

use ferry::core::graph::Graph;
use ferry::core::set::{Dialect, MigrationSet};
use ferry::fixture::numbered_file;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
/// The goal: the whole SQLite matrix of the reference set within a minute on 2 cores.
const BUDGET: Duration = Duration::from_secs(60);

fn main() {
    let set = ferry::reference_set();
    let graph = Graph::new(&set).expect("graph");
    let runs = 5;
    println!("ferry upgrade-test benchmark: the reference set's SQLite matrix, median of {runs}\n");
    let ferry = median((0..runs).map(|_| time(upgrade_test)).collect());
    let one_job = median((0..runs).map(|_| time(upgrade_test_one_job)).collect());
    let bare = median(
        (0..runs)
            .map(|_| time(|| reference(&set, &graph)))
            .collect(),
    );
    println!("  ferry upgrade-test (all cores)     {:>9}", ms(ferry));
    println!("  ferry upgrade-test -j 1            {:>9}", ms(one_job));
    println!("  bare replay of the same SQL        {:>9}", ms(bare));
    println!(
        "  ratio ferry -j 1 / bare            {:>9.2}",
        one_job.as_secs_f64() / bare.as_secs_f64()
    );
    println!(
        "  ratio ferry / budget (60 s)        {:>9.4}",
        ferry.as_secs_f64() / BUDGET.as_secs_f64()
    );
    assert!(ferry < BUDGET, "the matrix exceeds its 60-second budget");
}

fn upgrade_test() {
    ferry_run(&["upgrade-test", "--json"]);
}

fn upgrade_test_one_job() {
    ferry_run(&["upgrade-test", "--json", "-j", "1"]);
}

fn ferry_run(args: &[&str]) {
    let out = Command::new(FERRY)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("FERRY_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .output()
        .expect("ferry runs");
    assert!(
        out.status.success(),
        "ferry {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same SQL as the matrix, as bare batches in memory.
fn reference(set: &MigrationSet, graph: &Graph) {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seeds");
    let sqlite = Dialect::Sqlite;
    let revisions: Vec<_> = graph.order()[1..]
        .iter()
        .filter_map(|&n| set.revision(graph.id(n)))
        .collect();
    let ups = |db: &rusqlite::Connection| {
        for r in &revisions {
            db.execute_batch(r.up.get(sqlite).expect("up")).expect("up");
        }
    };
    let fresh = rusqlite::Connection::open_in_memory().expect("memory");
    fresh
        .execute_batch(set.baselines.get(&sqlite).expect("baseline"))
        .expect("baseline");
    ups(&fresh);
    for r in revisions.iter().rev() {
        fresh
            .execute_batch(r.down.get(sqlite).expect("down"))
            .expect("down");
    }
    ups(&fresh);
    for n in 1..=set.cap() {
        let db = rusqlite::Connection::open_in_memory().expect("memory");
        for (i, step) in set.legacy.iter().enumerate() {
            db.execute_batch(step.up.get(sqlite).expect("legacy"))
                .expect("legacy");
            let number = i as u32 + 1;
            if number <= n
                && let Some((_, sql)) = numbered_file(&seeds, number, sqlite).expect("seeds")
            {
                db.execute_batch(&sql).expect("seed");
            }
        }
        ups(&db);
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
