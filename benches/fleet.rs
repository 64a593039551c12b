//! `cargo bench --bench fleet`: a fleet of tenant databases at mixed legacy versions → head,
//! three ways, measured in the same run: `ferry fleet upgrade -j 1`, `-j 2`, and a shell loop
//! running `ferry upgrade` once per database with `xargs -P 2`.
//!
//! SQLite: FERRY_BENCH_TENANTS files (default 1,000), copied anew from templates for each way.
//! PostgreSQL: FERRY_BENCH_SCHEMAS schemas of one database (default 200), the database cloned
//! from a template for each way. FERRY_BENCH_PG_URL (a maintenance-database URL), else
//! host=127.0.0.1 user=postgres. Every way runs with --no-backup (the same work for all three).

mod common;
use common::{pg_admin_url, with_db};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry::core::graph::Graph;
use ferry::core::set::MigrationSet;
use ferry::driver::url::DatabaseUrl;
use ferry::driver::{self, OpenOptions};
use ferry::fixture::{self, TestDirs};
use ferry::runner::Runner;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
/// The legacy versions the tenants are at, round robin.
const VERSIONS: [u32; 6] = [1, 5, 10, 15, 20, 25];

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let set = ferry::reference_set();
    let tenants = count("FERRY_BENCH_TENANTS", 1000);
    let schemas = count("FERRY_BENCH_SCHEMAS", 200);
    println!(
        "ferry fleet benchmark: tenants at legacy {VERSIONS:?} (round robin) → head, {} cores\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    sqlite(&set, tenants);
    match pg_admin_url() {
        Some(url) => postgres(&set, schemas, &url),
        None => println!("postgres: no server reachable (set FERRY_BENCH_PG_URL); not measured"),
    }
}

/// Builds legacy `version` (seeded from the set's test data) at `url`, in `schema`.
fn build(set: &MigrationSet, url: &str, schema: Option<&str>, version: u32) {
    let graph = Graph::new(set).expect("graph");
    let parsed = DatabaseUrl::parse(url).expect("url");
    let mut db = driver::open(
        &parsed,
        &OpenOptions {
            create: true,
            schema: schema.map(str::to_string),
            busy_timeout: Duration::from_secs(30),
        },
    )
    .expect("open");
    fixture::legacy(
        &mut Runner::new(set, &graph, db.as_mut()),
        i64::from(version),
        &TestDirs::default(),
    )
    .expect("fixture");
}

fn timed(what: &str, mut command: Command) -> Duration {
    let started = Instant::now();
    let out = command.output().expect("runs");
    let took = started.elapsed();
    // A fleet's exit code is the highest of its targets: every tenant here must reach head.
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn report(label: &str, n: usize, j1: Duration, j2: Duration, loop2: Duration) {
    let s = |d: Duration| d.as_secs_f64();
    println!("{label}: {n} databases → head");
    println!(
        "  ferry fleet upgrade -j 1          {:>8.2} s  ({:.1} ms a database)",
        s(j1),
        s(j1) * 1000.0 / n as f64
    );
    println!(
        "  ferry fleet upgrade -j 2          {:>8.2} s  ({:.1} ms a database)",
        s(j2),
        s(j2) * 1000.0 / n as f64
    );
    println!(
        "  xargs -P 2 ferry upgrade (loop)   {:>8.2} s  ({:.1} ms a database)",
        s(loop2),
        s(loop2) * 1000.0 / n as f64
    );
    println!(
        "  -j 2 vs -j 1: {:.2}× faster (goal ≥ 1.7×); -j 2 vs xargs -P 2: {:.2}× faster (goal ≥ 2×)\n",
        s(j1) / s(j2),
        s(loop2) / s(j2)
    );
}

fn sqlite(set: &MigrationSet, n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let templates: Vec<_> = VERSIONS
        .iter()
        .map(|v| {
            let path = dir.path().join(format!("legacy{v}.template"));
            build(set, &format!("sqlite:{}", path.display()), None, *v);
            path
        })
        .collect();
    let fresh = |name: &str| {
        let tenants = dir.path().join(name);
        std::fs::create_dir_all(&tenants).expect("mkdir");
        for i in 0..n {
            std::fs::copy(
                &templates[i % templates.len()],
                tenants.join(format!("t{i:05}.db")),
            )
            .expect("copy");
        }
        tenants
    };
    let fleet = |tenants: &Path, jobs: &str| {
        let mut c = Command::new(FERRY);
        c.args([
            "fleet",
            "upgrade",
            "-q",
            "--no-backup",
            "-j",
            jobs,
            "--sqlite-glob",
        ])
        .arg(format!("{}/*.db", tenants.display()));
        c
    };
    let j1 = timed("fleet -j 1", fleet(&fresh("j1"), "1"));
    let j2 = timed("fleet -j 2", fleet(&fresh("j2"), "2"));
    let tenants = fresh("loop");
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(format!(
        "ls -1 '{}'/*.db | xargs -P 2 -I{{}} '{FERRY}' upgrade -q --no-backup -d 'sqlite:{{}}'",
        tenants.display()
    ));
    let loop2 = timed("xargs -P 2", shell);
    report("sqlite", n, j1, j2, loop2);
}

fn postgres(set: &MigrationSet, n: usize, admin: &str) {
    let mut client = postgres::Client::connect(admin, postgres::NoTls).expect("admin connection");
    let template = "ferry_bench_fleet_template";
    let runs = [
        "ferry_bench_fleet_j1",
        "ferry_bench_fleet_j2",
        "ferry_bench_fleet_loop",
    ];
    for name in std::iter::once(template).chain(runs) {
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .expect("drop");
    }
    client
        .batch_execute(&format!("CREATE DATABASE {template}"))
        .expect("create");
    let template_url = with_db(admin, template);
    let names: Vec<String> = (0..n).map(|i| format!("tenant_{i:04}")).collect();
    for (i, schema) in names.iter().enumerate() {
        build(
            set,
            &template_url,
            Some(schema),
            VERSIONS[i % VERSIONS.len()],
        );
    }
    for name in runs {
        client
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .expect("clone");
    }
    let fleet = |db: &str, jobs: &str| {
        let mut c = Command::new(FERRY);
        c.args(["fleet", "upgrade", "-q", "-j", jobs, "-d"])
            .arg(with_db(admin, db))
            .args(["--schemas", "tenant_%"]);
        c
    };
    let j1 = timed("fleet -j 1", fleet(runs[0], "1"));
    let j2 = timed("fleet -j 2", fleet(runs[1], "2"));
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(format!(
        "printf '%s\\n' {} | xargs -P 2 -I{{}} '{FERRY}' upgrade -q -d '{}' --schema {{}}",
        names.join(" "),
        with_db(admin, runs[2])
    ));
    let loop2 = timed("xargs -P 2", shell);
    report("postgres", n, j1, j2, loop2);
    for name in std::iter::once(template).chain(runs) {
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}
