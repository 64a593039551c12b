//! `ferry fleet status|upgrade|check|verify`: one operation over many databases (spec §6.4).
//! The work is [`crate::fleet`]'s; this prints the progress, the per-target lines or JSON
//! lines, and the summary.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::{Cli, Console, backup_policy, load_set};
use crate::error::{Error, Result};
use crate::fleet::{self, Operation, Options, Outcome, Shard, Target, TargetReport};

pub const AFTER_HELP: &str = "\
Targets (one of):
  --targets FILE          one database URL a line (`URL --schema NAME` for a schema); blank
                          lines and # comments ignored; `-` reads standard input
  --sqlite-glob PATTERN   every SQLite file matching the glob (quote it: 'tenants/*.db')
  -d URL --schemas LIKE   every schema of that PostgreSQL database whose name matches the SQL
                          LIKE pattern (e.g. 'tenant_%'), each as --schema NAME

Each target runs exactly as the single command (its own lock, backup and refusal); a failing
target never stops another (--fail-fast only stops starting new ones). Re-running continues
where a run stopped: targets at head cost one look each.
Output: a progress bar on a terminal, one line per target that did anything or went wrong,
then a summary; --json: one JSON object per target per line, then {\"summary\": {…}}.
Exit: 0 when every target succeeded (check: is at head), else the highest exit code of any
target (6 connection > 5 lock > 4 step failed > 3 refused > 2 > 1 pending).

Examples:
  ferry fleet upgrade --sqlite-glob '/srv/tenants/*.db' -j 4
  ferry fleet check -d postgres://ops@db/app --schemas 'tenant_%'
  ferry fleet upgrade --targets tenants.txt --shard 2/8 --json > report.jsonl";

#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    operation: FleetOperation,
    /// A file of targets, one database URL a line (`-`: standard input)
    #[arg(long, global = true, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Every SQLite file matching this glob
    #[arg(long, global = true, value_name = "PATTERN")]
    sqlite_glob: Option<String>,
    /// Every schema of the PostgreSQL database --database whose name matches this LIKE pattern
    #[arg(long, global = true, value_name = "LIKE-PATTERN")]
    schemas: Option<String>,
    /// Parallel workers (default: the number of cores)
    #[arg(short = 'j', long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Only the targets of shard K of N (0 ≤ K < N), by a stable hash of each target's
    /// password-free identity
    #[arg(long, global = true, value_name = "K/N", value_parser = clap::value_parser!(Shard))]
    shard: Option<Shard>,
    /// Stop starting new targets after the first one that does not succeed
    #[arg(long, global = true)]
    fail_fast: bool,
}

#[derive(Debug, clap::Subcommand)]
enum FleetOperation {
    /// Where every target stands and what upgrade would do (writes nothing)
    Status,
    /// Upgrade every target to TARGET, each as `ferry upgrade` would
    Upgrade {
        /// `head` (default), `heads`, a revision id or unique prefix, …
        #[arg(default_value = "head", allow_hyphen_values = true)]
        target: String,
    },
    /// Exit 0 when every target is at head, else 1 (or the highest error's code)
    Check,
    /// Compare every target's live schema with the one the set gives at its position
    Verify,
}

/// Runs the fleet command; prints as it goes; returns the exit code.
pub(super) fn run(cli: &Cli, args: &FleetArgs, console: &mut dyn Console) -> Result<u8> {
    let operation = match &args.operation {
        FleetOperation::Status => Operation::Status,
        FleetOperation::Upgrade { target } => Operation::Upgrade(target.clone()),
        FleetOperation::Check => Operation::Check,
        FleetOperation::Verify => Operation::Verify,
    };
    let set = load_set(cli)?;
    let lock_timeout = Duration::from_secs(cli.lock_timeout);
    let mut targets = targets(cli, args, lock_timeout)?;
    if let Some(shard) = &args.shard {
        targets.retain(|t| shard.holds(t));
    }
    let options = Options {
        jobs: args.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            usize::from,
        ),
        fail_fast: args.fail_fast,
        lock_timeout,
        backup: backup_policy(cli),
        scratch_url: cli.scratch_url.clone(),
    };
    let bar = (!cli.json && !cli.quiet && std::io::stderr().is_terminal() && !targets.is_empty())
        .then(|| {
            let bar = indicatif::ProgressBar::new(targets.len() as u64)
                .with_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} targets {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                )
                .with_finish(indicatif::ProgressFinish::AndClear);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
    let report = fleet::run(&set, &targets, &operation, &options, |t| {
        if let Some(b) = &bar {
            b.inc(1);
            if !t.ok {
                b.set_message(format!("({} not ok)", t.target));
            }
        }
        if cli.json {
            console.out(&json_line(t));
        } else if let Some(line) = text_line(t, cli.quiet) {
            match &bar {
                Some(b) => b.suspend(|| console.out(&line)),
                None => console.out(&line),
            }
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let s = &report.summary;
    // Targets --fail-fast never started: listed too, so the report names every target.
    for t in report
        .targets
        .iter()
        .filter(|t| t.outcome == Outcome::NotStarted)
    {
        if cli.json {
            console.out(&json_line(t));
        } else if !cli.quiet {
            console.out(&format!("  {}: not started", t.target));
        }
    }
    if cli.json {
        console.out(
            &json!({"summary": {
                "operation": operation.name(), "targets": s.targets, "ok": s.ok, "failed": s.failed,
                "refused": s.refused, "pending": s.pending, "not_started": s.not_started,
                "duration_ms": s.duration_ms, "exit": s.exit,
            }})
            .to_string(),
        );
    } else if !cli.quiet {
        let mut text = format!(
            "fleet {}: {} target(s) in {:.1} s: {} ok, {} failed, {} refused, {} pending",
            operation.name(),
            s.targets,
            s.duration_ms as f64 / 1000.0,
            s.ok,
            s.failed,
            s.refused,
            s.pending
        );
        if s.not_started > 0 {
            text.push_str(&format!(", {} not started (--fail-fast)", s.not_started));
        }
        let slowest = report.slowest(3);
        if !slowest.is_empty() {
            text.push_str(&format!(
                "\nslowest: {}",
                slowest
                    .iter()
                    .map(|t| format!("{} ({} ms)", t.target, t.duration_ms))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        text.push_str(&format!("\nexit {}", s.exit));
        console.out(&text);
    }
    Ok(s.exit)
}

/// The targets from the one source given.
fn targets(cli: &Cli, args: &FleetArgs, timeout: Duration) -> Result<Vec<Target>> {
    let given = [
        args.targets.is_some(),
        args.sqlite_glob.is_some(),
        args.schemas.is_some(),
    ]
    .iter()
    .filter(|&&g| g)
    .count();
    if given != 1 {
        return Err(Error::Usage(
            "name the fleet's targets with exactly one of --targets FILE, --sqlite-glob 'PATTERN', \
             or -d URL --schemas 'LIKE-PATTERN'"
                .into(),
        ));
    }
    if cli.database.is_some() && args.schemas.is_none() {
        return Err(Error::Usage(
            "-d URL names the database whose schemas --schemas 'LIKE-PATTERN' lists; with --targets \
             or --sqlite-glob the targets name their databases themselves: leave -d out"
                .into(),
        ));
    }
    if cli.schema.is_some() {
        return Err(Error::Usage(
            "--schema names one schema; a fleet of schemas is -d URL --schemas 'LIKE-PATTERN' \
             (or `URL --schema NAME` lines in a --targets file)"
                .into(),
        ));
    }
    let (targets, source) = if let Some(file) = &args.targets {
        let (text, name) = if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                Error::Io {
                    path: "standard input".into(),
                    message: e.to_string(),
                }
            })?;
            (text, "standard input".to_string())
        } else {
            let text = std::fs::read_to_string(file).map_err(|e| Error::Io {
                path: file.display().to_string(),
                message: format!("cannot read the --targets file: {e}"),
            })?;
            (text, file.display().to_string())
        };
        (fleet::targets_from_text(&text, &name)?, name)
    } else if let Some(pattern) = &args.sqlite_glob {
        (
            fleet::targets_from_glob(pattern)?,
            format!("--sqlite-glob '{pattern}'"),
        )
    } else {
        let pattern = args.schemas.as_deref().unwrap_or_default();
        let url = cli.database.clone().ok_or_else(|| {
            Error::Usage(format!(
                "--schemas '{pattern}' lists the schemas of one PostgreSQL database: name it with -d URL"
            ))
        })?;
        (
            fleet::targets_from_schemas(&url, pattern, timeout)?,
            format!("--schemas '{pattern}'"),
        )
    };
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "{source} names no target: check the pattern or the file (a fleet of none is most likely a mistake)"
        )));
    }
    Ok(targets)
}

fn json_line(t: &TargetReport) -> String {
    json!({
        "target": t.target, "ok": t.ok, "exit": t.exit, "outcome": t.outcome,
        "state_before": t.state_before, "state_after": t.state_after, "steps": t.steps,
        "duration_ms": t.duration_ms, "error": t.error,
    })
    .to_string()
}

/// A target's line: when it did anything or went wrong (`quiet`: only when it went wrong).
fn text_line(t: &TargetReport, quiet: bool) -> Option<String> {
    if t.outcome == Outcome::NotStarted || (quiet && t.ok) {
        return None;
    }
    let before = t.state_before.as_deref().unwrap_or("?");
    if let Some(e) = &t.error {
        let label = match t.outcome {
            Outcome::Refused => "refused",
            Outcome::Pending => "pending",
            _ => "FAILED",
        };
        let exit = t
            .exit
            .filter(|&c| c != 0)
            .map(|c| format!(" (exit {c})"))
            .unwrap_or_default();
        return Some(format!(
            "  {}: {label}{exit}: {}",
            t.target,
            e.replace('\n', "\n      ")
        ));
    }
    if t.steps == 0 {
        return None;
    }
    Some(match &t.state_after {
        Some(after) => format!(
            "  {}: {before} → {after} ({} steps, {} ms)",
            t.target, t.steps, t.duration_ms
        ),
        None => format!("  {}: {before}, {} step(s) pending", t.target, t.steps),
    })
}
