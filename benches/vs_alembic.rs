//! `cargo bench --bench vs_alembic`: ferry against Alembic on the same revision history, in
//! the same run.
//!
//! For each size N (default 30 and 10,000; `VS_ALEMBIC_N=30,2000` overrides), it generates an
//! Alembic project (alembic.ini, env.py, versions/ with a baseline revision running the
//! reference set's SQLite baseline and N linear revisions, each an `op.execute` of a small
//! CREATE TABLE or ALTER TABLE) and the equivalent ferry set (the reference set's ferry.toml
//! settings, legacy/ and baseline/, and revisions/ with the same N revisions). On SQLite it
//! times, as the median of a few runs (`VS_ALEMBIC_RUNS`, default 5): a no-op `upgrade` of a
//! database at head, `heads`, `history`, and for N ≤ 100 a full upgrade from an empty
//! database; ferry reads the set with `--migrations DIR`. For the largest N it also builds a
//! ferry binary with the set compiled in (`FERRY_EMBED_DIR`, in a target directory of its
//! own under `target/vs-alembic/`), prints that build's duration, and times the same commands
//! with it. Every row prints both times and the ratio ferry / Alembic.
//!
//! Alembic comes from `.ci/venv` (created by `.ci/install-alembic`); without it the bench
//! panics naming the script. Generated projects and databases stay in `target/vs-alembic/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn main() {
    let sizes: Vec<usize> = std::env::var("VS_ALEMBIC_N")
        .unwrap_or_else(|_| "30,10000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("VS_ALEMBIC_N: {s:?} is not a number"))
        })
        .collect();
    let runs: usize = std::env::var("VS_ALEMBIC_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let alembic = alembic_bin();
    let cache = target_dir().join("vs-alembic");
    std::fs::create_dir_all(&cache).expect("cache dir");
    println!(
        "ferry vs Alembic ({}), SQLite, median of {runs} runs; ratio = ferry / Alembic\n",
        version(&alembic)
    );
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for &n in &sizes {
        let project = Project::generate(&cache.join(format!("n{n}")), n);
        let embedded = (n == largest && n > 100).then(|| embedded_binary(&cache, &project));
        compare(&project, &alembic, embedded.as_deref(), runs);
    }
}

/// `.ci/venv/bin/alembic`, or a panic naming the script that installs it.
fn alembic_bin() -> PathBuf {
    let bin = Path::new(ROOT).join(".ci/venv/bin/alembic");
    let works = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        works,
        "Alembic is missing: {} does not run. This bench compares ferry with it: run \
         `.ci/install-alembic` (it creates .ci/venv) and run the bench again",
        bin.display()
    );
    bin
}

fn version(alembic: &Path) -> String {
    let out = Command::new(alembic)
        .arg("--version")
        .output()
        .expect("alembic runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The target directory the bench was built in (`…/target/release/ferry` → `…/target`).
fn target_dir() -> PathBuf {
    Path::new(FERRY)
        .parent()
        .and_then(Path::parent)
        .expect("the ferry binary sits in target/<profile>/")
        .to_path_buf()
}

/// One size: a ferry set and the equivalent Alembic project.
struct Project {
    n: usize,
    dir: PathBuf,
    set: PathBuf,
    alembic: PathBuf,
}

fn id(i: usize) -> String {
    format!("r{i:05}")
}

/// Revision `i`'s SQL (up, down): odd revisions create a table, even ones add a column to it.
fn step_sql(i: usize) -> (String, String) {
    if i % 2 == 1 {
        (
            format!("CREATE TABLE t{i:05} (id INTEGER PRIMARY KEY, name TEXT)"),
            format!("DROP TABLE t{i:05}"),
        )
    } else {
        (
            format!("ALTER TABLE t{:05} ADD COLUMN c{i:05} TEXT", i - 1),
            format!("ALTER TABLE t{:05} DROP COLUMN c{i:05}", i - 1),
        )
    }
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

impl Project {
    /// Writes both projects under `dir`, or keeps those a previous run wrote (with its
    /// databases: bringing one through 10,000 revisions takes minutes). ferry.toml is written
    /// again either way, so the embedded build below compiles the set again, and so is
    /// alembic.ini, which names the database by its absolute path.
    fn generate(dir: &Path, n: usize) -> Project {
        let started = Instant::now();
        let root = Path::new(ROOT);
        let set = dir.join("set");
        let alembic = dir.join("alembic");
        let stamp = dir.join("generated");
        let this = format!("vs_alembic 1: {n} revisions\n");
        let project = Project {
            n,
            dir: dir.to_path_buf(),
            set: set.clone(),
            alembic: alembic.clone(),
        };
        let ini = format!(
            "[alembic]\nscript_location = %(here)s\nsqlalchemy.url = sqlite:///{}\n",
            dir.join("alembic.db").display()
        );
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s == this) {
            write(&set.join("ferry.toml"), FERRY_TOML);
            write(&alembic.join("alembic.ini"), &ini);
            println!("N = {n}: reusing the projects in {}", dir.display());
            return project;
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).expect("remove the previous run's project");
        }
        copy_dir(&root.join("legacy"), &set.join("legacy"));
        copy_dir(&root.join("baseline"), &set.join("baseline"));
        write(&set.join("ferry.toml"), FERRY_TOML);
        write(&alembic.join("alembic.ini"), &ini);
        write(&alembic.join("env.py"), ENV_PY);
        write(&alembic.join("script.py.mako"), SCRIPT_MAKO);
        let versions = alembic.join("versions");
        write(
            &versions.join("baseline.sqlite.sql"),
            &std::fs::read_to_string(root.join("baseline/sqlite.sql")).expect("baseline"),
        );
        write(&versions.join("0001_baseline.py"), BASELINE_PY);
        for i in 1..=n {
            let (up, down) = step_sql(i);
            let down_id = if i == 1 {
                "0001_baseline".to_string()
            } else {
                id(i - 1)
            };
            let rev = set.join("revisions").join(id(i));
            write(
                &rev.join("revision.toml"),
                &format!("down = \"{down_id}\"\nmessage = \"Step {i}\"\n"),
            );
            write(&rev.join("up.sql"), &format!("{up};\n"));
            write(&rev.join("down.sql"), &format!("{down};\n"));
            let mut py = String::new();
            writeln!(
                py,
                "\"\"\"Step {i}\"\"\"\nfrom alembic import op\n\nrevision = \"{}\"\ndown_revision = \"{down_id}\"\n\
                 branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute(\"{up}\")\n\n\n\
                 def downgrade():\n    op.execute(\"{down}\")",
                id(i)
            )
            .expect("string");
            write(&versions.join(format!("{}_step.py", id(i))), &py);
        }
        write(&stamp, &this);
        println!(
            "N = {n}: generated the ferry set and the Alembic project in {} ({})",
            dir.display(),
            secs(started.elapsed())
        );
        project
    }

    fn alembic(&self, bin: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.arg("-c")
            .arg(self.alembic.join("alembic.ini"))
            .args(args);
        cmd
    }

    /// ferry with `--migrations DIR`, or the binary with the set compiled in.
    fn ferry(&self, embedded: Option<&Path>, db: &Path, args: &[&str]) -> Command {
        let mut cmd = match embedded {
            Some(bin) => Command::new(bin),
            None => {
                let mut c = Command::new(FERRY);
                c.arg("--migrations").arg(&self.set);
                c
            }
        };
        cmd.arg("-d")
            .arg(format!("sqlite:{}", db.display()))
            .args(args);
        cmd
    }
}

/// The reference set's settings, without its releases and superseded version.
const FERRY_TOML: &str = "[legacy]\ncap = 25\nmarker = { kind = \"kv-table\", table = \"metadata\", \
    key_column = \"key\", value_column = \"value\", key = \"database_version\" }\n\
    write_marker_on_fresh = true\n\n[baseline]\nrevision = \"0001_baseline\"\n";

const ENV_PY: &str = r#"from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(
    config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"#;

const SCRIPT_MAKO: &str = r#""""${message}"""
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
"#;

/// The baseline revision: the reference set's SQLite baseline, statement by statement.
const BASELINE_PY: &str = r#""""Baseline: the schema of a fresh install"""
import pathlib
import sqlite3

from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

SQL = pathlib.Path(__file__).with_name("baseline.sqlite.sql").read_text()


def upgrade():
    bind = op.get_bind()
    statement = ""
    for line in SQL.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            bind.exec_driver_sql(statement)
            statement = ""


def downgrade():
    raise NotImplementedError("the baseline is not undone")
"#;

/// Runs a command that must succeed; returns its duration.
fn timed(mut cmd: Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output().expect("the command runs");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn median(runs: usize, mut once: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs.max(1)).map(|_| once()).collect();
    times.sort();
    times[times.len() / 2]
}

fn secs(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}

/// ferry / Alembic, written `1/k` when ferry is faster.
fn ratio(ferry: Duration, alembic: Duration) -> String {
    let r = ferry.as_secs_f64() / alembic.as_secs_f64();
    if r < 1.0 {
        format!("1/{:.0}", 1.0 / r)
    } else {
        format!("{r:.2}")
    }
}

fn row(what: &str, ferry: Duration, alembic: Duration) {
    println!(
        "  {what:<44} ferry {:>10}   Alembic {:>10}   ratio {}",
        secs(ferry),
        secs(alembic),
        ratio(ferry, alembic)
    );
}

/// Builds ferry with the project's set compiled in, in a target directory of its own; prints
/// the build's duration (dependencies compiled already) and returns the binary.
fn embedded_binary(cache: &Path, project: &Project) -> PathBuf {
    let target = cache.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = |embed: &Path| {
        let mut cmd = Command::new(&cargo);
        cmd.args(["build", "--release", "--quiet", "-j", "2", "--bin", "ferry"])
            .arg("--manifest-path")
            .arg(Path::new(ROOT).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env("FERRY_EMBED_DIR", embed);
        timed(cmd)
    };
    let binary = target.join("release/ferry");
    if !binary.exists() {
        // Dependencies first (with the reference set), so the timed build is ferry's own.
        println!(
            "N = {}: compiling ferry's dependencies into {} once (minutes)",
            project.n,
            target.display()
        );
        build(Path::new(ROOT));
    }
    let took = build(&project.set);
    println!(
        "N = {}: `FERRY_EMBED_DIR=… cargo build --release` with the {} revisions compiled in: {} \
         (dependencies compiled already)",
        project.n,
        project.n,
        secs(took)
    );
    let copy = project.dir.join("ferry-embedded");
    std::fs::copy(&binary, &copy).expect("copy the embedded binary");
    copy
}

fn compare(project: &Project, alembic: &Path, embedded: Option<&Path>, runs: usize) {
    let n = project.n;
    let ferry_db = project.dir.join("ferry.db");
    let alembic_db = project.dir.join("alembic.db");
    println!("N = {n} revisions:");
    if n <= 100 {
        let full_ferry = median(runs, || {
            let _ = std::fs::remove_file(&ferry_db);
            timed(project.ferry(None, &ferry_db, &["upgrade", "-q"]))
        });
        let full_alembic = median(runs, || {
            let _ = std::fs::remove_file(&alembic_db);
            timed(project.alembic(alembic, &["upgrade", "head"]))
        });
        row("full upgrade from empty", full_ferry, full_alembic);
    } else {
        // ferry brings its database to head through every revision (a previous run's is kept),
        // with every checksum in ferry_history, which a no-op upgrade compares. Alembic's
        // no-op runs on a copy of it: the same schema, and alembic_version at the same head.
        let took = timed(project.ferry(None, &ferry_db, &["upgrade", "-q", "--no-backup"]));
        println!(
            "  (set-up: ferry brought its database through all {n} revisions to head in {})",
            secs(took)
        );
        std::fs::copy(&ferry_db, &alembic_db).expect("copy the database for Alembic");
    }
    let alembic_noop = median(runs, || {
        timed(project.alembic(alembic, &["upgrade", "head"]))
    });
    let alembic_heads = median(runs, || timed(project.alembic(alembic, &["heads"])));
    let alembic_history = median(runs, || timed(project.alembic(alembic, &["history"])));
    let variants: Vec<(&str, Option<&Path>)> = std::iter::once(("--migrations DIR", None))
        .chain(embedded.map(|e| ("compiled in", Some(e))))
        .collect();
    for (how, bin) in variants {
        let noop = median(runs, || {
            timed(project.ferry(bin, &ferry_db, &["upgrade", "-q"]))
        });
        let heads = median(runs, || timed(project.ferry(bin, &ferry_db, &["heads"])));
        let history = median(runs, || timed(project.ferry(bin, &ferry_db, &["history"])));
        row(&format!("no-op upgrade, {how}"), noop, alembic_noop);
        row(&format!("heads, {how}"), heads, alembic_heads);
        row(&format!("history, {how}"), history, alembic_history);
    }
    println!();
}
