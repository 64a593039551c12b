//! The `ferry` command line (spec §4). Every command returns an `Output`; errors become exit
//! codes in [`Error::exit_code`], and `--json` turns either into one JSON object on stdout.

mod baseline;
mod fixture;
mod fleet;
mod handoff;
mod history;
mod release;
mod upgrade_test;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use serde_json::{Value, json};

use crate::api::{Check, Migrator, Status, UpgradeReport};
use crate::core::graph::Graph;
use crate::core::plan::{self, Step};
use crate::core::set::{Files, MigrationSet, Need, Origin};
use crate::core::state::State;
use crate::driver::url::DatabaseUrl;
use crate::driver::{self, OpenOptions};
use crate::error::{Error, Result};
use crate::runner::{BackupPolicy, Event, RunReport, Runner, describe};
use crate::scratch::Site;

mod new;
mod rehearse;
mod sql;
mod verify;

const UPGRADE_HELP: &str = "\
Examples:
  ferry upgrade -d sqlite:app.db                 bridge as needed, then up to the single head
  ferry upgrade heads -d sqlite:app.db           apply every branch (one version-table row per head)
  ferry upgrade 0004 -d sqlite:app.db            up to the revision whose id starts with 0004
  ferry upgrade 0002_users_email_verified_at+2   two revisions above a named one
  ferry upgrade --sql -d sqlite:app.db           print the SQL it would run; write nothing
  ferry upgrade --sql --from legacy:7 --dialect postgres > upgrade.sql
                                                 the script for a legacy-7 database, no database needed
  ferry upgrade --rehearse -d postgres://u@h/app run it all, time each step, undo everything

--sql prints each step as ferry runs it: BEGIN, the migration file, the bookkeeping (legacy
marker, alembic_version, ferry_history), COMMIT; SQLite's foreign_keys pragma and
foreign_key_check; non-transactional revisions outside BEGIN/COMMIT. Guarded blocks
(-- ferry:if-missing …) are decided by ferry on the live database; a script cannot, so they
are printed as written with a note.
--rehearse: PostgreSQL runs everything in one transaction that is rolled back (each step in a
savepoint; a transaction = false step cannot run there and is reported as not rehearsed);
SQLite runs on a VACUUM INTO copy in a temporary directory, removed afterwards. Exit 4 names
the step that failed; the database is untouched either way.
--assume-legacy N: for an unversioned database (tables, no marker, no version table), see
`ferry status`, which names the legacy version whose schema it has.

Hand-off to an external runner (e.g. Alembic): with
    [handoff]
    command = \"alembic upgrade head\"
in ferry.toml, upgrade bridges as usual under the lock (fresh install, legacy replay, stamp of
the baseline) and then, instead of ferry's own revisions, runs that command with `sh -c`,
still holding the lock. The command sees FERRY_DATABASE_URL and DATABASE_URL (the URL as
ferry got it), FERRY_SQLALCHEMY_URL (sqlite:////ABS/PATH or postgresql://…) and, with
--schema, FERRY_SCHEMA. Its output goes through (with --json, its stdout goes to stderr); a
non-zero exit status is ferry's exit status. The runner owns the revisions after the
baseline: a database it took beyond ferry's set (state `ahead`) is handed off again, not
refused; a TARGET other than head is refused, and so is `ferry downgrade`.";

const PLAN_HELP: &str = "\
Examples:
  ferry plan -d sqlite:app.db                     the numbered steps upgrade would run
  ferry plan heads -d sqlite:app.db               … to every head
  ferry plan --from legacy:7 --dialect sqlite     the steps for a legacy-7 database, no database needed
  ferry plan --sql -d postgres://u@h/app          the SQL script instead (= upgrade --sql)

--from POSITION: `empty`, `legacy:N` (0, or floor..=cap, or a superseded version), or revision id(s) /
unique prefixes (comma-separated for several heads).";

const NEW_HELP: &str = "\
Examples:
  ferry --migrations ./db new \"Add bot tags\"            revisions/0007_add_bot_tags/ (up.sql, down.sql)
  ferry --migrations ./db new \"Add bot tags\" --per-dialect
  ferry --migrations ./db new \"Index runs concurrently\" --no-transaction
  ferry --migrations ./db new \"Add bot tags\" --autogenerate -d sqlite:dev.db
                                                  up/down.sqlite.sql from what dev.db has and the head lacks
  ferry --migrations ./db new \"Add bot tags\" --autogenerate -d sqlite:dev.db \\
        --dialect-db postgres://u@localhost/app_dev     both dialects' files in one revision
  ferry --migrations ./db new \"Add bot tags\" --autogenerate -d sqlite:dev.db --sql
                                                  print the files, write nothing

--autogenerate (like `alembic revision --autogenerate`): change a development database by hand
(-d DEV), then let ferry write the revision. It builds the set's head in a scratch database
beside DEV (as `verify` does), compares the schemas object by object (ferry's own tables and
the legacy marker's left out), and writes up.<dialect>.sql, which turns the head's schema into
DEV's, and down.<dialect>.sql, which turns it back. Review them before committing: `-- review:`
lines mark dropped tables and columns, types that may not hold every value, columns that
become NOT NULL, and a dropped column beside an added one of the same type (a possible rename,
with the RENAME COLUMN to use instead). On SQLite a change ALTER TABLE cannot make is written
as SQLite's table rebuild (rows copied). Without --dialect-db the other dialect's files are left
to write (`ferry lint` refuses the set until they exist). Exit 1 and nothing written when DEV
has the head's schema.

The id is the next 4-digit sequence number, `_`, and the message's slug ([a-z0-9_], cut so
the id fits alembic_version's 32 characters). The down revision is the set's single head; with
several heads, run `ferry merge` first. Never writes into legacy/.";

const MERGE_HELP: &str = "\
Examples:
  ferry --migrations ./db heads                   two heads: 0007_a, 0007_b
  ferry --migrations ./db merge -m \"Join reporting and billing\"
                                                  revisions/0008_join_reporting_and_billing/, down = both heads

A merge revision's up/down SQL files start empty (comments only); upgrading through it replaces
its parents' rows in alembic_version with its own, as Alembic does.";

const ABOUT: &str = "Carry databases from a legacy, integer-versioned migration chain onto an Alembic-compatible revision history, in place, on SQLite and PostgreSQL.";

const AFTER_HELP: &str = "\
Examples:
  ferry status   -d sqlite:app.db          what state is it in, what would upgrade do
  ferry upgrade  -d sqlite:app.db          bridge a legacy database and upgrade it to head
  ferry check    -d postgres://u@h/app     exit 1 while anything is pending (for CI)
  ferry downgrade -1 -d sqlite:app.db      undo the newest revision
  ferry fixture --legacy 7 old.db          build a database as legacy version 7 left it
  ferry fixture --release 4.1 old.db       … or as the newest 4.1.x release left it
  ferry upgrade --to-release 4.2 -d app.db upgrade to the revision of the newest 4.2.x release
  ferry upgrade-test                       prove every old version upgrades to a fresh install
  ferry --migrations ./db lint             check another project's migration set

Databases: sqlite:PATH, sqlite://PATH, sqlite::memory:, a bare path (SQLite file),
postgres://… or postgresql://… (libpq key=value strings too).
Exit codes: 0 ok · 1 pending work or differences · 2 usage/configuration/migration-set error ·
3 database state refused · 4 a step failed (rolled back) · 5 lock not acquired ·
6 cannot open or connect to the database.";

#[derive(Debug, Parser)]
#[command(name = "ferry", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// Database URL [env: FERRY_DATABASE_URL, then DATABASE_URL]
    #[arg(short = 'd', long, global = true, value_name = "URL")]
    database: Option<String>,
    /// Migration set directory (default: the set compiled into this binary)
    #[arg(long, global = true, env = "FERRY_MIGRATIONS", value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text
    #[arg(long, global = true)]
    json: bool,
    /// Print nothing but errors
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Seconds to wait for another ferry holding the migration lock (then exit 5)
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60)]
    lock_timeout: u64,
    /// PostgreSQL schema that holds the application (and ferry's tables)
    #[arg(long, global = true, value_name = "NAME")]
    schema: Option<String>,
    /// PostgreSQL: a server (whose role may create databases) or an empty database for the
    /// scratch databases of verify, identification, --assume-legacy and upgrade-test
    #[arg(
        long,
        global = true,
        env = "FERRY_SCRATCH_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    scratch_url: Option<String>,
    /// Where the verified SQLite backup taken before the first write goes (default: beside the file)
    #[arg(long, global = true, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Skip the SQLite backup before the first write
    #[arg(long, global = true, conflicts_with = "backup_dir")]
    no_backup: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the database's state, versions, heads and pending steps (writes nothing)
    Status,
    /// Bridge a legacy or empty database as needed, then apply revisions up to TARGET (or, with
    /// [handoff] in ferry.toml, hand off to the external runner after the bridge)
    #[command(after_help = UPGRADE_HELP)]
    Upgrade {
        /// `head` (default), `heads` (every branch), `+N`, `REV+N`, `REV-N`, a revision id or unique prefix
        #[arg(default_value = "head", allow_hyphen_values = true)]
        target: String,
        /// Upgrade to the revision of the newest release matching REQ (ferry.toml [[release]]):
        /// a bare version means that version (4.1 = any 4.1.x), or a semver requirement
        #[arg(long, value_name = "REQ", conflicts_with_all = ["target", "sql", "rehearse"])]
        to_release: Option<String>,
        /// Accept that applied revision REV's SQL changed since it ran (recorded in ferry_history)
        #[arg(long, value_name = "REV")]
        accept_edited: Vec<String>,
        /// For an unversioned database (tables, no marker, no version table): take it to be at
        /// legacy version N (a step number). Under the lock ferry builds legacy N in a scratch
        /// database and compares schemas; equal, it records the marker N and upgrades; different,
        /// it refuses (exit 3) listing the differences. `ferry status` names the N that matches.
        #[arg(long, value_name = "N", conflicts_with_all = ["sql", "rehearse"])]
        assume_legacy: Option<u32>,
        /// For an unversioned database whose schema is a revision's (created by an ORM, or
        /// restored without its version table): take it to be at REV. Under the lock ferry builds
        /// REV in a scratch database and compares schemas; equal, it stamps REV (recorded in
        /// ferry_history) and upgrades; different, it refuses (exit 3) listing the differences.
        #[arg(long, value_name = "REV", conflicts_with_all = ["sql", "rehearse", "assume_legacy"])]
        assume_revision: Option<String>,
        /// With --assume-legacy or --assume-revision: proceed even though the schema differs
        /// (the differences are recorded in ferry_history)
        #[arg(long)]
        force: bool,
        /// Print the SQL script the upgrade would run (bookkeeping and transactions included); write nothing
        #[arg(long, conflicts_with = "rehearse")]
        sql: bool,
        /// With --sql: render from this position without any database: `empty`, `legacy:N`, or revision id(s)
        #[arg(long, value_name = "POSITION", requires = "sql")]
        from: Option<String>,
        /// With --from: the SQL dialect of the script (default: the scheme of --database, which is not opened)
        #[arg(long, value_enum, requires = "from")]
        dialect: Option<sql::DialectArg>,
        /// Run the whole upgrade, time every step, then undo it all: the database is left untouched
        #[arg(long)]
        rehearse: bool,
    },
    /// Undo revisions down to TARGET: a revision id or unique prefix, `-N`, `REV-N`, or `base` (the baseline; never below)
    Downgrade {
        #[arg(allow_hyphen_values = true)]
        target: String,
        /// Accept that applied revision REV's SQL changed since it ran (recorded in ferry_history)
        #[arg(long, value_name = "REV")]
        accept_edited: Vec<String>,
    },
    /// Show the revision(s) in the version table
    Current {
        /// Also each revision's message, down revision(s), and when, by which ferry and on
        /// which host it was applied (from ferry_history)
        #[arg(short, long)]
        verbose: bool,
    },
    /// Show the head revision(s) of the migration set
    Heads,
    /// Show the revision history of the migration set, newest first
    History {
        /// Also show the database's audit trail (ferry_history: every step ferry ran)
        #[arg(long)]
        audit: bool,
        /// Each revision in full: down revision(s), head/branchpoint/mergepoint, message,
        /// transaction flag, and every SQL file it uses per dialect with its sha256
        #[arg(short, long)]
        verbose: bool,
    },
    /// Set the version table to REV without running any SQL
    Stamp {
        #[arg(allow_hyphen_values = true)]
        revision: String,
    },
    /// Exit 0 when the database is at head, 1 when anything is pending
    Check,
    /// List the steps `upgrade` would run, or with --sql their SQL, without writing
    #[command(after_help = PLAN_HELP)]
    Plan {
        /// `head` (default), `heads`, `+N`, `REV+N`, `REV-N`, a revision id or unique prefix
        #[arg(default_value = "head", allow_hyphen_values = true)]
        target: String,
        /// Print the SQL script instead of the step list (what `upgrade --sql` prints)
        #[arg(long)]
        sql: bool,
        /// Plan from this position without any database: `empty`, `legacy:N`, or revision id(s)
        #[arg(long, value_name = "POSITION")]
        from: Option<String>,
        /// With --from: the SQL dialect (default: the scheme of --database, which is not opened)
        #[arg(long, value_enum, requires = "from")]
        dialect: Option<sql::DialectArg>,
    },
    /// Scaffold a new revision on the current head (needs --migrations DIR)
    #[command(after_help = NEW_HELP)]
    New {
        /// What the revision does; its slug becomes part of the id
        #[arg(value_name = "MESSAGE")]
        message: String,
        /// Write up.sqlite.sql / up.postgres.sql / down.<dialect>.sql instead of up.sql / down.sql
        #[arg(long)]
        per_dialect: bool,
        /// Mark the revision `transaction = false` (e.g. CREATE INDEX CONCURRENTLY)
        #[arg(long)]
        no_transaction: bool,
        /// Write the SQL from the difference between the head and the development database -d DEV
        #[arg(long, conflicts_with = "per_dialect")]
        autogenerate: bool,
        /// With --autogenerate: a development database of the other dialect, for both dialects' files
        #[arg(long, value_name = "URL", requires = "autogenerate")]
        dialect_db: Option<String>,
        /// With --autogenerate: print the files instead of writing them
        #[arg(long, requires = "autogenerate")]
        sql: bool,
    },
    /// Write a merge revision whose down revisions are all current heads (needs --migrations DIR)
    #[command(after_help = MERGE_HELP)]
    Merge {
        /// What the merge is for; its slug becomes part of the id
        #[arg(short, long, value_name = "MESSAGE", default_value = "merge heads")]
        message: String,
    },
    /// Compare the live schema with the one the migration set gives at the database's position
    /// (exit 0 equal, 1 different; writes nothing)
    #[command(after_help = "\
The expected schema is built in a scratch database (SQLite: in memory; PostgreSQL: a throwaway
database on the same server, which needs CREATEDB, or --scratch-url), never in the live one.
Differences are listed object by object: tables, columns (type, nullability, default),
constraints (primary, unique, foreign keys with their actions, checks), indexes, triggers,
views, and on PostgreSQL functions, types and sequences.
An unversioned database has no position: verify names the legacy version its schema matches
(or the nearest) and exits 3, as for ahead, inconsistent and unknown future databases.

Examples:
  ferry verify -d sqlite:app.db            exit 1 and the differences if someone altered it by hand
  ferry verify --json -d postgres://u@h/app")]
    Verify,
    /// Check a migration set: freeze, numbering, revision ids and graph, guards
    Lint {
        /// Write legacy/FROZEN.toml for a set that has none (never overwrites one)
        #[arg(long)]
        freeze: bool,
    },
    /// Build a database exactly as a legacy version, a revision or a release left it
    #[command(after_help = fixture::AFTER_HELP)]
    Fixture(fixture::FixtureArgs),
    /// Build every old version with seed data, upgrade it to head, compare with a fresh install
    #[command(after_help = upgrade_test::AFTER_HELP)]
    UpgradeTest(upgrade_test::UpgradeTestArgs),
    /// Run status, upgrade, check or verify on many databases at once: SQLite files, PostgreSQL
    /// databases or schemas, in parallel, with one report
    #[command(after_help = fleet::AFTER_HELP)]
    Fleet(fleet::FleetArgs),
    /// Write the baseline from a replay of the legacy chain, or check the committed one against it
    #[command(after_help = baseline::AFTER_HELP)]
    Baseline(baseline::BaselineArgs),
    /// Print a shell completion script (needs no migration set or database)
    #[command(after_help = "\
Examples:
  ferry completions bash > /etc/bash_completion.d/ferry
  ferry completions zsh > \"${fpath[1]}/_ferry\"
  ferry completions fish > ~/.config/fish/completions/ferry.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, in roff (needs no migration set or database)
    #[command(after_help = "Example:\n  ferry man > /usr/local/share/man/man1/ferry.1")]
    Man,
}

/// What a command prints, and its exit code.
struct Output {
    text: String,
    json: Value,
    code: u8,
}

impl Output {
    fn ok(text: String, json: Value) -> Output {
        Output {
            text,
            json,
            code: 0,
        }
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    ExitCode::from(execute(&args, &mut Terminal))
}

/// Runs a `ferry` command line in process, as the binary would (`args[0]` is the program
/// name), and returns its exit code with what it printed on stdout and on stderr. For
/// embedding ferry (the Python module). What is not ferry's own output still goes to the
/// process's stderr/stdout: a progress bar (only without --json, on a terminal) and the output
/// of a `[handoff]` command.
pub fn run_captured<I, T>(args: I) -> (u8, String, String)
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut captured = Captured::default();
    let code = execute(&args, &mut captured);
    (code, captured.out, captured.err)
}

/// Where the command line's output goes: the terminal, or strings (for [`run_captured`]).
trait Console {
    /// One block of text on stdout; a newline is added.
    fn out(&mut self, text: &str);
    /// One block of text on stderr; a newline is added.
    fn err(&mut self, text: &str);
    /// Clap's help, version or usage message.
    fn clap(&mut self, e: &clap::Error);
}

struct Terminal;

impl Console for Terminal {
    fn out(&mut self, text: &str) {
        print_out(text);
    }
    fn err(&mut self, text: &str) {
        eprintln!("{text}");
    }
    fn clap(&mut self, e: &clap::Error) {
        let _ = e.print();
    }
}

#[derive(Default)]
struct Captured {
    out: String,
    err: String,
}

impl Console for Captured {
    fn out(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }
    fn err(&mut self, text: &str) {
        self.err.push_str(text);
        self.err.push('\n');
    }
    fn clap(&mut self, e: &clap::Error) {
        let text = e.render().to_string();
        if e.use_stderr() {
            self.err.push_str(&text);
        } else {
            self.out.push_str(&text);
        }
    }
}

/// Parses and runs one command line; prints through `console`; returns the exit code.
fn execute(args: &[String], console: &mut dyn Console) -> u8 {
    let json = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            if json && e.use_stderr() {
                console.out(&pretty(
                    &json!({"ok": false, "error": {"code": 2, "kind": "usage", "message": e.to_string().trim()}}),
                ));
                return 2;
            }
            console.clap(&e);
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run_to(&cli, console) {
        Ok(code) => code,
        Err(e) => {
            if cli.json {
                let mut object = json!({"ok": false, "command": command_name(&cli.command), "error": {"code": e.exit_code(), "kind": e.kind(), "message": e.to_string()}});
                handoff::error_detail(&e, &mut object);
                console.out(&pretty(&object));
            } else {
                console.err(&format!("error: {e}"));
            }
            e.exit_code()
        }
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into())
}

/// Prints to stdout; a reader that went away (`ferry upgrade --sql | head`) is not an error.
fn print_out(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Status => "status",
        Command::Upgrade { .. } => "upgrade",
        Command::Downgrade { .. } => "downgrade",
        Command::Current { .. } => "current",
        Command::Heads => "heads",
        Command::History { .. } => "history",
        Command::Stamp { .. } => "stamp",
        Command::Check => "check",
        Command::Plan { .. } => "plan",
        Command::Verify => "verify",
        Command::New { .. } => "new",
        Command::Merge { .. } => "merge",
        Command::Lint { .. } => "lint",
        Command::Fixture(_) => "fixture",
        Command::UpgradeTest(_) => "upgrade-test",
        Command::Fleet(_) => "fleet",
        Command::Baseline(_) => "baseline",
        Command::Completions { .. } => "completions",
        Command::Man => "man",
    }
}

/// Runs the parsed command; prints its output.
pub fn run(cli: &Cli) -> Result<ExitCode> {
    run_to(cli, &mut Terminal).map(ExitCode::from)
}

fn run_to(cli: &Cli, console: &mut dyn Console) -> Result<u8> {
    // A fleet prints as it goes: one line (or JSON line) per target, then the summary.
    if let Command::Fleet(args) = &cli.command {
        return fleet::run(cli, args, console);
    }
    let out = dispatch(cli)?;
    if cli.json {
        let mut object = json!({"ok": true, "command": command_name(&cli.command)});
        if let (Some(o), Value::Object(extra)) = (object.as_object_mut(), out.json) {
            o.extend(extra);
        }
        console.out(&pretty(&object));
    } else if !cli.quiet && !out.text.is_empty() {
        console.out(out.text.trim_end());
    }
    Ok(out.code)
}

/// Loads the migration set: `--migrations DIR`, fully verified, or the compiled-in one,
/// which build.rs already verified. `heads` and `history` (without `--verbose` or `--audit`)
/// read a directory's revision graph only: they neither touch a database nor show SQL.
fn load_set(cli: &Cli) -> Result<MigrationSet> {
    match &cli.migrations {
        Some(dir) => {
            let need = match cli.command {
                Command::Heads
                | Command::History {
                    audit: false,
                    verbose: false,
                } => Need::Graph,
                _ => Need::All,
            };
            let set =
                MigrationSet::load_for(Files::read(dir, need)?, Origin::Dir(dir.clone()), need)?;
            // `lint` verifies (or, with --freeze, writes) the freeze itself.
            if !matches!(cli.command, Command::Lint { .. }) {
                set.verify_freeze()?;
                set.check_guards()?;
            }
            Ok(set)
        }
        None => Ok(MigrationSet::compiled(crate::embedded::SET)?),
    }
}

/// The database URL as given: `explicit`, `--database`, then the environment.
fn database_text(cli: &Cli, explicit: Option<&str>) -> Result<String> {
    explicit
        .map(str::to_string)
        .or_else(|| cli.database.clone())
        .or_else(|| std::env::var("FERRY_DATABASE_URL").ok())
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or_else(|| {
            Error::Usage("no database given: pass --database URL (e.g. -d sqlite:app.db), or set FERRY_DATABASE_URL or DATABASE_URL".into())
        })
}

fn database_url(cli: &Cli, explicit: Option<&str>) -> Result<DatabaseUrl> {
    let url = DatabaseUrl::parse(&database_text(cli, explicit)?).map_err(Error::Usage)?;
    if cli.schema.is_some() && !matches!(url, DatabaseUrl::Postgres(_)) {
        return Err(Error::Usage(
            "--schema applies to PostgreSQL databases only".into(),
        ));
    }
    Ok(url)
}

/// Where the scratch databases of the live database `url` are made: beside it (SQLite: in
/// memory), or with `--scratch-url` on that server or in that database.
fn scratch_site(cli: &Cli, url: &DatabaseUrl) -> Result<Site> {
    let server = match cli.scratch_url.as_deref() {
        None => None,
        Some(text) => Some(
            DatabaseUrl::parse(text).map_err(|e| Error::Usage(format!("--scratch-url: {e}")))?,
        ),
    };
    Ok(Site {
        live: url.clone(),
        server,
        schema: cli.schema.clone(),
    })
}

fn open(cli: &Cli, url: &DatabaseUrl, create: bool) -> Result<Box<dyn driver::Driver>> {
    driver::open(
        url,
        &OpenOptions {
            create,
            schema: cli.schema.clone(),
            busy_timeout: Duration::from_secs(cli.lock_timeout),
        },
    )
}

fn dispatch(cli: &Cli) -> Result<Output> {
    // Generated from the clap definition alone: no migration set, no database.
    match &cli.command {
        Command::Completions { shell } => return Ok(completions(*shell)),
        Command::Man => return man(),
        _ => {}
    }
    let set = load_set(cli)?;
    let graph = Graph::new(&set)?;
    match &cli.command {
        Command::Lint { freeze } => lint(cli, &set, *freeze),
        Command::Heads => {
            let heads: Vec<&str> = graph.heads().iter().map(|&n| graph.id(n)).collect();
            Ok(Output::ok(
                heads.iter().map(|h| format!("{h} (head)\n")).collect(),
                json!({"heads": heads}),
            ))
        }
        Command::History { audit, verbose } => {
            history::history(cli, &set, &graph, *audit, *verbose)
        }
        Command::Current { verbose } => history::current(cli, &set, &graph, *verbose),
        Command::Plan {
            target,
            sql: print_sql,
            from,
            dialect,
        } if *print_sql || from.is_some() || dialect.is_some() => sql::run(
            cli,
            &set,
            &graph,
            &sql::Ask {
                target,
                sql: *print_sql,
                from: from.as_deref(),
                dialect: *dialect,
                check_edited: false,
                accept_edited: &[],
            },
        ),
        Command::Upgrade {
            target,
            accept_edited,
            sql: true,
            from,
            dialect,
            ..
        } => sql::run(
            cli,
            &set,
            &graph,
            &sql::Ask {
                target,
                sql: true,
                from: from.as_deref(),
                dialect: *dialect,
                check_edited: true,
                accept_edited,
            },
        ),
        Command::Upgrade {
            target,
            accept_edited,
            rehearse: true,
            ..
        } => rehearse::run(cli, &set, &graph, target, accept_edited),
        Command::New {
            message,
            autogenerate: true,
            no_transaction,
            dialect_db,
            sql,
            ..
        } => new::autogenerate(
            cli,
            &set,
            &graph,
            message,
            !*no_transaction,
            dialect_db.as_deref(),
            *sql,
        ),
        Command::New {
            message,
            per_dialect,
            no_transaction,
            ..
        } => new::new(&set, &graph, message, *per_dialect, !*no_transaction),
        Command::Merge { message } => new::merge(&set, &graph, message),
        Command::Status => {
            let mut migrator = migrator(cli, set, &graph)?;
            let status = migrator.status()?;
            let set = migrator.migration_set();
            let state = status.state.clone();
            let mut out = self::status(set, &graph, status)?;
            handoff::annotate(cli, set, &state, &mut out);
            Ok(out)
        }
        Command::Check => {
            let mut migrator = migrator(cli, set, &graph)?;
            let check = migrator.check()?;
            let state = check.state.clone();
            let mut out = self::check(check);
            handoff::annotate(cli, migrator.migration_set(), &state, &mut out);
            Ok(out)
        }
        Command::Plan { target, .. } => {
            let url = database_url(cli, None)?;
            let mut db = open(cli, &url, false)?;
            let (state, _) = runner(cli, &set, &graph, db.as_mut(), false).inspect()?;
            let plan = plan::upgrade(&set, &graph, &state, target)?;
            plan::check_runnable(&set, &plan, url.dialect())?;
            let mut out = Output::ok(
                numbered_steps(&set, &plan.steps),
                json!({"database": url.display(), "state": state, "steps": plan.steps, "heads_after": plan.heads_after}),
            );
            handoff::annotate(cli, &set, &state, &mut out);
            Ok(out)
        }
        Command::Upgrade {
            target,
            to_release,
            accept_edited,
            assume_legacy,
            assume_revision,
            force,
            ..
        } => {
            let assume = verify::assume_option(
                cli,
                &set,
                &graph,
                *assume_legacy,
                assume_revision.as_deref(),
                *force,
            )?;
            let mut migrator = migrator(cli, set, &graph)?;
            for rev in accept_edited {
                migrator = migrator.accept_edited(rev.clone());
            }
            if let Some(assume) = assume {
                migrator = migrator.assume(assume);
            }
            let report = match to_release {
                Some(requirement) => migrator.upgrade_to_release(requirement)?,
                None => migrator.upgrade_to(target)?,
            };
            Ok(upgraded(report))
        }
        Command::Verify => verify::verify(migrator(cli, set, &graph)?),
        Command::Downgrade {
            target,
            accept_edited,
        } => write(cli, &set, &graph, |r| {
            r.accept_edited = accept_edited.clone();
            r.downgrade(target)
        }),
        Command::Stamp { revision } => write(cli, &set, &graph, |r| r.stamp(revision)),
        Command::Fixture(args) => fixture::run(cli, &set, &graph, args),
        Command::UpgradeTest(args) => upgrade_test::run(cli, &set, &graph, args),
        Command::Baseline(args) => baseline::run(cli, &set, &graph, args),
        Command::Completions { .. } | Command::Man => unreachable!("answered before the set loads"),
        Command::Fleet(_) => unreachable!("run_to runs a fleet itself"),
    }
}

/// `ferry completions SHELL`: the completion script clap_complete generates for the command line.
fn completions(shell: clap_complete::Shell) -> Output {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ferry", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    Output::ok(
        script.clone(),
        json!({"shell": shell.to_string(), "script": script}),
    )
}

/// `ferry man`: the roff man page clap_mangen renders from the command line.
fn man() -> Result<Output> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Error::Io {
            path: "the man page".into(),
            message: e.to_string(),
        })?;
    let page = String::from_utf8_lossy(&page).into_owned();
    Ok(Output::ok(page.clone(), json!({"man": page})))
}

fn runner<'a>(
    cli: &Cli,
    set: &'a MigrationSet,
    graph: &'a Graph,
    db: &'a mut dyn driver::Driver,
    progress: bool,
) -> Runner<'a> {
    let mut runner = Runner::new(set, graph, db);
    runner.lock_timeout = Duration::from_secs(cli.lock_timeout);
    runner.backup = backup_policy(cli);
    runner.on_event = Box::new(progress_bar(progress && !cli.quiet && !cli.json));
    runner
}

/// `--backup-dir DIR`, `--no-backup`, or beside the file.
fn backup_policy(cli: &Cli) -> BackupPolicy {
    match (&cli.backup_dir, cli.no_backup) {
        (_, true) => BackupPolicy::Off,
        (Some(dir), false) => BackupPolicy::Into(dir.clone()),
        (None, false) => BackupPolicy::Beside,
    }
}

/// The [`Migrator`] of `status`, `upgrade`, `check` and `verify`, set up from the options.
fn migrator(cli: &Cli, set: MigrationSet, graph: &Graph) -> Result<Migrator> {
    // The options' own checks and messages.
    scratch_site(cli, &database_url(cli, None)?)?;
    let mut migrator = Migrator::new(set)
        .database(&database_text(cli, None)?)
        .lock_timeout(Duration::from_secs(cli.lock_timeout))
        .backup(backup_policy(cli))
        .on_progress(progress_bar(!cli.quiet && !cli.json));
    if let Some(schema) = &cli.schema {
        migrator = migrator.schema(schema.clone());
    }
    if let Some(url) = &cli.scratch_url {
        migrator = migrator.scratch_url(url);
    }
    migrator.handoff_stdout_to_stderr = cli.json;
    migrator.handoff_announce = !cli.json && !cli.quiet;
    migrator.graph = Some(graph.clone());
    Ok(migrator)
}

/// A progress bar on stderr, when `enabled` and stderr is a terminal.
fn progress_bar(enabled: bool) -> impl FnMut(Event<'_>) + Send + 'static {
    let enabled = enabled && std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    move |event| match event {
        // Created once the plan is known, so a no-op shows nothing; cleared when dropped, so
        // an error message never sits under a stale bar.
        Event::Planned { total } if enabled && total > 0 => {
            let b = indicatif::ProgressBar::new(total as u64)
                .with_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                )
                .with_finish(indicatif::ProgressFinish::AndClear);
            b.enable_steady_tick(Duration::from_millis(120));
            bar = Some(b);
        }
        Event::Planned { .. } => {}
        Event::Started { label, .. } => {
            if let Some(b) = &bar {
                b.set_message(label.to_string());
            }
        }
        Event::Finished {
            index,
            label,
            duration,
        } => {
            if let Some(b) = &bar {
                b.set_position(index as u64 + 1);
                b.println(format!("  {label} ({} ms)", duration.as_millis()));
            }
        }
    }
}

fn write(
    cli: &Cli,
    set: &MigrationSet,
    graph: &Graph,
    work: impl FnOnce(&mut Runner) -> Result<RunReport>,
) -> Result<Output> {
    let url = database_url(cli, None)?;
    let created = url.missing_file();
    let mut db = open(cli, &url, true)?;
    let mut runner = runner(cli, set, graph, db.as_mut(), true);
    let report = work(&mut runner)?;
    Ok(upgraded(UpgradeReport::of_run(
        url.display(),
        created,
        report,
    )))
}

/// What a writing command prints: its steps, where the database went, the backup.
fn upgraded(report: UpgradeReport) -> Output {
    if let Some(h) = &report.handoff {
        return handoff::upgraded(&report, h);
    }
    let mut text = String::new();
    // A writing command creates a missing SQLite file: said plainly, since a mistyped path
    // would otherwise pass for a fresh install.
    if let Some(path) = &report.created {
        text.push_str(&format!(
            "created the new database file {} (it did not exist)\n",
            path.display()
        ));
    }
    if report.steps.is_empty() {
        text.push_str(&format!(
            "{}: nothing to do, at {}\n",
            report.database,
            describe(&report.before)
        ));
    } else {
        text.push_str(&step_lines(&report.steps));
        text.push_str(&format!(
            "{}: {} → revision {} ({} steps)\n",
            report.database,
            describe(&report.before),
            report.heads.join(", "),
            report.steps.len()
        ));
    }
    if let Some(b) = &report.backup {
        text.push_str(&format!("backup:  {} (verified)\n", b.path.display()));
    }
    let out = Output::ok(
        text,
        json!({"database": report.database, "created": report.created, "before": report.before, "steps": report.steps, "heads": report.heads, "backup": report.backup}),
    );
    verify::with_assumed(out, report.assumed)
}

/// The plan as `plan` prints it: one numbered line per step, or `nothing to do`.
fn numbered_steps(set: &MigrationSet, steps: &[Step]) -> String {
    if steps.is_empty() {
        return "nothing to do\n".into();
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{:>3}. {}\n", i + 1, s.label(set)))
        .collect()
}

/// One line per executed step: its label, its time, and the guarded blocks it skipped.
fn step_lines(steps: &[crate::runner::StepReport]) -> String {
    let mut text = String::new();
    for s in steps {
        let skipped = if s.skipped_guards.is_empty() {
            String::new()
        } else {
            format!("  [skipped: {}]", s.skipped_guards.join("; "))
        };
        text.push_str(&format!(
            "  {:<48} {:>7} ms{skipped}\n",
            s.label, s.duration_ms
        ));
    }
    text
}

/// `check`: exit 1 while anything is pending.
fn check(check: Check) -> Output {
    let text = if check.at_head() {
        format!("{}: at head ({})\n", check.database, describe(&check.state))
    } else {
        format!(
            "{}: {} pending step(s): {}\n",
            check.database,
            check.pending.len(),
            summarize(&check.pending_labels)
        )
    };
    Output {
        text,
        json: json!({"database": check.database, "state": check.state, "pending": check.pending, "at_head": check.at_head()}),
        code: u8::from(!check.at_head()),
    }
}

fn status(set: &MigrationSet, graph: &Graph, status: Status) -> Result<Output> {
    let Status {
        database,
        state,
        current,
        heads,
        pending,
        pending_labels: labels,
        plan_error,
        refusal,
        lock_holder,
        edited,
        identified,
    } = status;
    let mut text = format!("database:  {database}\nstate:     {}", state.name());
    match &state {
        State::Legacy { version } if set.floor() > 1 => text.push_str(&format!(
            " {version} (steps {}, cap {})",
            set.steps_text(),
            set.cap()
        )),
        State::Legacy { version } => text.push_str(&format!(" {version} (cap {})", set.cap())),
        State::Superseded { version, revision } => text.push_str(&format!(
            " {version}, above the cap {}, superseded by {revision}",
            set.cap()
        )),
        State::FutureLegacy { version } => {
            text.push_str(&format!(" {version}, above the cap {}", set.cap()))
        }
        _ => {}
    }
    text.push_str(&format!(
        "\ncurrent:   {}\nheads:     {}\npending:   {}\n",
        if current.is_empty() {
            "-".to_string()
        } else {
            current.join(", ")
        },
        heads.join(", "),
        if labels.is_empty() {
            "nothing".to_string()
        } else {
            format!("{} step(s): {}", labels.len(), summarize(&labels))
        }
    ));
    let (release_text, release_json) = release::status(set, graph, &state)?;
    if let Some(r) = &release_text {
        text.push_str(&format!("release:   {r}\n"));
    }
    if let Some(h) = &lock_holder {
        text.push_str(&format!("lock:      {h}\n"));
    }
    for e in &edited {
        text.push_str(&format!(
            "edited:    {id} was applied as {before}, its up SQL is now {now} (upgrade refuses it without --accept-edited {id})\n",
            id = e.revision,
            before = e.applied,
            now = e.now
        ));
    }
    if let Some(identified) = &identified {
        verify::identification_text(&mut text, identified.as_ref().map_err(String::as_str));
    }
    if heads.len() > 1 {
        text.push_str(&format!(
            "branches:  {} heads: pending counts every branch; `ferry upgrade heads` applies them, `ferry merge` joins them\n",
            heads.len()
        ));
    }
    if let Some(r) = &refusal {
        text.push_str(&format!("refused:   {r}\n"));
    } else if let Some(e) = &plan_error {
        text.push_str(&format!("note:      {e}\n"));
    }
    let legacy_version = match &state {
        State::Legacy { version } | State::Superseded { version, .. } => Some(i64::from(*version)),
        State::FutureLegacy { version } => Some(*version),
        _ => None,
    };
    Ok(Output {
        text,
        json: json!({
            "database": database, "state": state.name(), "detail": state, "legacy_version": legacy_version,
            "cap": set.cap(), "floor": set.floor(), "current": current, "heads": heads, "pending": pending, "refusal": refusal,
            "lock_holder": lock_holder, "release": release_json,
            "identified": identified.as_ref().map(|i| match i {
                Ok(id) => verify::identification_json(Some(id)),
                Err(e) => json!({"error": e}),
            }),
            "edited": edited,
        }),
        code: if matches!(state, State::Inconsistent { .. }) {
            3
        } else {
            0
        },
    })
}

/// The `ferry_history` rows, oldest first.
fn audit_trail(db: &mut dyn driver::Driver) -> Result<(String, Value)> {
    let history = crate::bookkeeping::HISTORY_TABLE;
    if !db
        .tables()
        .map_err(Error::reading("listing tables"))?
        .iter()
        .any(|t| t == history)
    {
        return Ok((
            "\naudit trail: none (ferry has not run on this database)\n".into(),
            json!([]),
        ));
    }
    let columns = [
        "id",
        "kind",
        "legacy_version",
        "revision",
        "checksum",
        "started_at",
        "finished_at",
        "duration_ms",
        "success",
        "ferry_version",
        "host",
        "os_user",
        "note",
    ];
    let rows = db
        .query(&format!(
            "SELECT {} FROM {} ORDER BY id",
            columns
                .iter()
                .map(|c| format!("CAST({c} AS TEXT)"))
                .collect::<Vec<_>>()
                .join(", "),
            crate::bookkeeping::Books::of(db).table(history)
        ))
        .map_err(Error::reading("reading ferry_history"))?;
    let mut text = String::from("\naudit trail (ferry_history):\n");
    let mut list = Vec::new();
    for row in rows {
        let get = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let what = match (get(2), get(3)) {
            (n, _) if !n.is_empty() => format!("legacy {n}"),
            (_, r) => r,
        };
        let ok = matches!(get(8).as_str(), "1" | "true" | "t");
        text.push_str(&format!(
            "  {:>4} {}  {:<9} {:<34} {:>6} ms  {}{}\n",
            get(0),
            get(5),
            get(1),
            what,
            get(7),
            if ok { "ok" } else { "FAILED" },
            if get(12).is_empty() {
                String::new()
            } else {
                format!("  ({})", get(12))
            }
        ));
        list.push(Value::Object(
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.to_string(), json!(row.get(i).cloned().flatten())))
                .collect(),
        ));
    }
    Ok((text, Value::Array(list)))
}

fn summarize(labels: &[String]) -> String {
    if labels.len() <= 4 {
        labels.join(", ")
    } else {
        format!(
            "{}, {} … {}",
            labels[0],
            labels[1],
            labels[labels.len() - 1]
        )
    }
}

fn lint(cli: &Cli, set: &MigrationSet, freeze: bool) -> Result<Output> {
    if freeze {
        let Origin::Dir(dir) = &set.origin else {
            return Err(Error::Usage(
                "lint --freeze writes into a migration set directory: pass --migrations DIR".into(),
            ));
        };
        let path = dir.join("legacy").join("FROZEN.toml");
        if set.frozen.is_some() || path.exists() {
            return Err(Error::Usage(format!(
                "{} exists already; the freeze is written once and never rewritten (new schema changes go in revisions/)",
                path.display()
            )));
        }
        std::fs::write(&path, set.freeze_text()).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        return Ok(Output::ok(
            format!(
                "wrote {} ({} legacy steps, cap {})\n",
                path.display(),
                set.legacy.len(),
                set.cap()
            ),
            json!({"frozen": path.display().to_string(), "cap": set.cap()}),
        ));
    }
    // A set from a directory was verified while loading; the compiled-in one is checked again here.
    set.verify_freeze()?;
    set.check_guards()?;
    set.check_complete()?;
    let origin = cli
        .migrations
        .as_ref()
        .map_or("the compiled-in set".to_string(), |d| {
            d.display().to_string()
        });
    Ok(Output::ok(
        format!(
            "{origin}: ok ({} legacy steps, cap {}, {} revisions)\n{}",
            set.legacy.len(),
            set.cap(),
            set.revisions.len(),
            if set.floor() > 1 || set.legacy.len() as u64 != u64::from(set.cap()) {
                format!(
                    "legacy steps {} (floor {}: a database below it is refused as too old)\n",
                    set.steps_text(),
                    set.floor()
                )
            } else {
                String::new()
            }
        ),
        json!({"set": origin, "legacy_steps": set.legacy.len(), "steps": set.step_numbers(), "floor": set.floor(),
               "cap": set.cap(), "revisions": set.revisions.len()}),
    ))
}
