//! `cargo bench --bench bridge`: ferry's bridge against a bare reference, measured in the same run.
//!
//! For each dialect: a legacy-1 database of the reference set filled with FERRY_BENCH_ROWS rows
//! (default 1,000,000), copied. One copy is bridged to head by the ferry binary; the others
//! run the very same SQL files with no bookkeeping at all — SQLite: rusqlite batches, one
//! transaction per file, and the `sqlite3` command-line shell, one process per file, each file
//! in BEGIN/COMMIT (the physical limit a user would compare with); PostgreSQL:
//! `psql --single-transaction -f` per file. Printed: times and the ratios ferry / reference, the
//! SQLite backup's cost, and a no-op `upgrade` against the cheapest possible process
//! (`ferry --version`).
//!
//! SQLite needs the `sqlite3` shell on the PATH (Debian: `apt-get install -y sqlite3`); the
//! bench fails without it. PostgreSQL: FERRY_BENCH_PG_URL (a maintenance-database URL), else
//! host=127.0.0.1 user=postgres.

mod common;
use common::{pg_admin_url, with_db};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry::core::graph::Graph;
use ferry::core::set::{Dialect, MigrationSet};
use ferry::driver::url::DatabaseUrl;
use ferry::driver::{self, OpenOptions};
use ferry::fixture::{self, TestDirs};
use ferry::runner::Runner;

#[path = "../tests/common/bulk.rs"]
mod bulk;
use bulk::bulk_sql;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn main() {
    let rows: u64 = std::env::var("FERRY_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let set = ferry::reference_set();
    println!("ferry bridge benchmark: legacy 1 → head with {rows} rows\n");
    sqlite(&set, rows);
    match pg_admin_url() {
        Some(url) => postgres(&set, rows, &url),
        None => println!("postgres: no server reachable (set FERRY_BENCH_PG_URL); not measured"),
    }
}

/// Builds legacy 1 with the bulk rows at `url`.
fn build(set: &MigrationSet, url: &str, rows: u64) {
    let graph = Graph::new(set).expect("graph");
    let parsed = DatabaseUrl::parse(url).expect("url");
    let mut db = driver::open(
        &parsed,
        &OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .expect("open");
    fixture::legacy(
        &mut Runner::new(set, &graph, db.as_mut()),
        1,
        &TestDirs::default(),
    )
    .expect("fixture");
    db.begin().expect("begin");
    db.execute(&bulk_sql(parsed.dialect(), rows))
        .expect("bulk rows");
    db.commit().expect("commit");
}

/// Every SQL file the bridge runs after legacy 1, in order, with whether it may run in a transaction.
fn files(set: &MigrationSet, dialect: Dialect) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = set.legacy[1..]
        .iter()
        .map(|s| (s.up.get(dialect).expect("sql").to_string(), true))
        .collect();
    let graph = Graph::new(set).expect("graph");
    for node in graph.upgrade_path(&[0], &graph.heads()) {
        let rev = set.revision(graph.id(node)).expect("revision");
        out.push((
            rev.up.get(dialect).expect("sql").to_string(),
            rev.transaction,
        ));
    }
    out
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn run(args: &[&str]) {
    let out = Command::new(FERRY).args(args).output().expect("ferry runs");
    assert!(
        out.status.success(),
        "ferry {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn noop(url: &str) -> (Duration, Duration) {
    let floor = median((0..15).map(|_| time(|| run(&["--version"]))).collect());
    let noop = median(
        (0..15)
            .map(|_| time(|| run(&["upgrade", "-q", "-d", url])))
            .collect(),
    );
    (noop, floor)
}

/// The `sqlite3` shell's version; panics when it is missing (a reference left out would make
/// the printed ratios mean something else).
fn sqlite3_shell() -> String {
    match Command::new("sqlite3").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .to_string(),
        _ => panic!(
            "the sqlite3 command-line shell is not on the PATH; this bench compares ferry with it: \
             install it (Debian: apt-get install -y sqlite3) and run the bench again"
        ),
    }
}

/// Runs one SQL file with the `sqlite3` shell, in BEGIN/COMMIT when it may run in a transaction.
fn sqlite3_file(db: &Path, sql: &str, transaction: bool) {
    use std::io::Write as _;
    let mut child = Command::new("sqlite3")
        .arg("-bail")
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sqlite3 runs");
    let script = if transaction {
        format!("BEGIN;\n{sql}\nCOMMIT;\n")
    } else {
        sql.to_string()
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("sqlite3 reads the file");
    let out = child.wait_with_output().expect("sqlite3 finishes");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sqlite(set: &MigrationSet, rows: u64) {
    let shell = sqlite3_shell();
    let dir = tempfile::tempdir().expect("tmp");
    let template = dir.path().join("template.db");
    let t = time(|| build(set, &format!("sqlite:{}", template.display()), rows));
    let size = std::fs::metadata(&template).map(|m| m.len()).unwrap_or(0);
    println!(
        "sqlite: built legacy 1 with {rows} rows in {} ({} MiB)",
        ms(t),
        size >> 20
    );
    let copy = |name: &str| {
        let p = dir.path().join(name);
        std::fs::copy(&template, &p).expect("copy");
        p
    };
    let (reference_db, checked_db, shell_db, ferry_db, backup_db) = (
        copy("reference.db"),
        copy("checked.db"),
        copy("shell.db"),
        copy("ferry.db"),
        copy("backup.db"),
    );

    // The reference: the same files, one transaction each, nothing else. `checked` adds the
    // foreign-key check ferry runs before every commit (the guarantee that no rebuild orphans rows).
    let reference_run = |path: &Path, check: bool| {
        time(|| {
            let conn = rusqlite::Connection::open(path).expect("open");
            conn.execute_batch("PRAGMA foreign_keys = OFF")
                .expect("pragma");
            for (sql, _) in files(set, Dialect::Sqlite) {
                conn.execute_batch(&format!("BEGIN;\n{sql}\n"))
                    .expect("reference step");
                if check {
                    let mut stmt = conn.prepare("PRAGMA foreign_key_check").expect("check");
                    assert!(
                        stmt.query([])
                            .expect("check")
                            .next()
                            .expect("row")
                            .is_none()
                    );
                }
                conn.execute_batch("COMMIT").expect("commit");
            }
        })
    };
    let reference = reference_run(&reference_db, false);
    let checked = reference_run(&checked_db, true);
    let scripts = files(set, Dialect::Sqlite);
    let cli = time(|| {
        for (sql, tx) in &scripts {
            sqlite3_file(&shell_db, sql, *tx);
        }
    });
    let bare = time(|| {
        run(&[
            "upgrade",
            "-q",
            "--no-backup",
            "-d",
            ferry_db.to_str().expect("utf-8"),
        ])
    });
    let with_backup = time(|| run(&["upgrade", "-q", "-d", backup_db.to_str().expect("utf-8")]));
    println!(
        "sqlite: bridge 1 → head ({} files): sqlite3 {shell} shell, each file in BEGIN/COMMIT, {}; \
         rusqlite reference {}, rusqlite reference + whole foreign_key_check per commit {}; ferry {}",
        scripts.len(),
        ms(cli),
        ms(reference),
        ms(checked),
        ms(bare)
    );
    println!(
        "sqlite: ferry / sqlite3 shell {:.2}, ferry / rusqlite reference {:.2}, ferry / checked reference {:.2}; \
         with the verified backup {} (backup adds {:.0}% to the bridge)",
        bare.as_secs_f64() / cli.as_secs_f64(),
        bare.as_secs_f64() / reference.as_secs_f64(),
        bare.as_secs_f64() / checked.as_secs_f64(),
        ms(with_backup),
        (with_backup.as_secs_f64() / bare.as_secs_f64() - 1.0) * 100.0
    );
    let (n, floor) = noop(ferry_db.to_str().expect("utf-8"));
    println!(
        "sqlite: no-op upgrade {} (median of 15) vs `ferry --version` {} (ratio {:.2})\n",
        ms(n),
        ms(floor),
        n.as_secs_f64() / floor.as_secs_f64()
    );
}

fn postgres(set: &MigrationSet, rows: u64, admin: &str) {
    let mut client = postgres::Client::connect(admin, postgres::NoTls).expect("admin connection");
    let names = [
        "ferry_bench_template",
        "ferry_bench_reference",
        "ferry_bench_ferry",
    ];
    for n in names {
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"))
            .expect("drop");
    }
    client
        .batch_execute(&format!("CREATE DATABASE {}", names[0]))
        .expect("create");
    let t = time(|| build(set, &with_db(admin, names[0]), rows));
    println!("postgres: built legacy 1 with {rows} rows in {}", ms(t));
    for n in &names[1..] {
        client
            .batch_execute(&format!("CREATE DATABASE {n} TEMPLATE {}", names[0]))
            .expect("copy");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let scripts: Vec<(std::path::PathBuf, bool)> = files(set, Dialect::Postgres)
        .into_iter()
        .enumerate()
        .map(|(i, (sql, tx))| {
            let p = dir.path().join(format!("{i:03}.sql"));
            std::fs::write(&p, sql).expect("write");
            (p, tx)
        })
        .collect();
    let reference_url = with_db(admin, names[1]);
    let reference = time(|| {
        for (path, tx) in &scripts {
            psql(&reference_url, path, *tx);
        }
    });
    let ferry_url = with_db(admin, names[2]);
    let bridge = time(|| run(&["upgrade", "-q", "-d", &ferry_url]));
    println!(
        "postgres: bridge 1 → head: psql on the same files {}, ferry {} (ratio {:.2})",
        ms(reference),
        ms(bridge),
        bridge.as_secs_f64() / reference.as_secs_f64()
    );
    let (n, floor) = noop(&ferry_url);
    println!(
        "postgres: no-op upgrade {} (median of 15) vs `ferry --version` {} (ratio {:.2})",
        ms(n),
        ms(floor),
        n.as_secs_f64() / floor.as_secs_f64()
    );
    for n in names {
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"));
    }
}

fn psql(url: &str, file: &Path, transaction: bool) {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(file);
    if transaction {
        cmd.arg("--single-transaction");
    }
    let out = cmd.output().expect("psql runs");
    assert!(
        out.status.success(),
        "psql {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
