//! `upgrade --sql` / `plan --sql`: the SQL a run executes, step by step, without writing
//! anything. Built from the runner's own pieces ([`step_work`], [`framing`], the bookkeeping
//! statements), so the script is what `ferry upgrade` sends, batch for batch.

use serde::Serialize;

use crate::bookkeeping::Books;
use crate::core::graph::Graph;
use crate::core::guard::{self, Segment};
use crate::core::plan::{self, Plan, Step};
use crate::core::set::{Dialect, MigrationSet};
use crate::core::state::State;
use crate::driver::{Driver, framing};
use crate::error::{Error, Result};
use crate::runner::{accept_edited_sql, describe, step_work};

/// One step of a rendered run.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedStep {
    #[serde(flatten)]
    pub step: Step,
    pub label: String,
    /// Whether the step's script runs inside the transaction of its bookkeeping.
    pub transaction: bool,
    /// The file the step's script comes from, relative to the set.
    pub source: Option<String>,
    /// Guarded blocks: ferry decides them against the live database as the step runs; a script
    /// cannot, so they are included as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<GuardNote>,
    /// What ferry sends to the database for this step, one entry per call, in order (on
    /// PostgreSQL each is one simple query).
    pub batches: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GuardNote {
    /// e.g. `if-missing column llm_models.context_length`.
    pub condition: String,
    /// With a database: whether the block would run if nothing before it changed the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_now: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcceptedEdit {
    pub revision: String,
    pub batches: Vec<String>,
}

/// A rendered run: its steps and the whole script.
#[derive(Debug, Clone, Serialize)]
pub struct Rendering {
    pub dialect: &'static str,
    /// The position the script starts from, in words.
    pub from: String,
    /// Sent once before the first step, outside any transaction.
    pub run_start: Vec<String>,
    /// Edited revisions accepted with `--accept-edited`, recorded before the first step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<AcceptedEdit>,
    pub steps: Vec<RenderedStep>,
    /// The version table's rows after the script.
    pub heads_after: Vec<String>,
    pub script: String,
}

/// What a rendering needs besides the set: where the run starts and what it does.
pub struct Request<'a> {
    pub dialect: Dialect,
    pub state: &'a State,
    pub plan: &'a Plan,
    /// `head`, `heads`, an id …: for the header.
    pub target: &'a str,
    /// Where the starting position came from: the database's URL, or `--from …`.
    pub origin: &'a str,
    /// Edited revisions accepted with `--accept-edited`: (revision, recorded, now).
    pub accepted: &'a [(String, String, String)],
    /// `--schema`: where ferry's tables are, for a PostgreSQL script rendered without a
    /// database (with one, the schema it connected to).
    pub schema: Option<&'a str>,
}

/// Renders the run of `request.plan`. With `live`, guards are also checked against the
/// database as it is now (read only), for the notes.
pub fn render(
    set: &MigrationSet,
    graph: &Graph,
    request: &Request<'_>,
    mut live: Option<&mut dyn Driver>,
) -> Result<Rendering> {
    let dialect = request.dialect;
    plan::check_runnable(set, request.plan, dialect)?;
    let frame = framing(dialect);
    // What ferry's own statements name, and the session put back after every script.
    let (books, restore) = match live.as_deref() {
        Some(d) => (Books::of(d), d.session_restore()),
        None => {
            let books = Books::offline(dialect, request.schema);
            let mut restore = frame.restore.to_string();
            if dialect == Dialect::Postgres
                && let Some(schema) = &books.schema
            {
                restore.push_str(&format!(
                    "SET search_path TO {};\n",
                    crate::driver::quote(schema)
                ));
            }
            (books, restore)
        }
    };
    let rendered_at = crate::driver::host::now_utc();
    let note = format!(
        "from a script rendered by ferry {} at {rendered_at} (`upgrade --sql`); times and host are the rendering's",
        env!("CARGO_PKG_VERSION")
    );
    let mut out = Script::default();
    let total = request.plan.steps.len();
    out.comment(&format!(
        "ferry {}: the SQL `ferry upgrade` runs, step by step ({})",
        env!("CARGO_PKG_VERSION"),
        dialect.name()
    ));
    out.comment(&format!(
        "from:    {} ({})",
        describe(request.state),
        request.origin
    ));
    out.comment(&format!(
        "target:  {} (the version table then holds {})",
        request.target,
        request.plan.heads_after.join(", ")
    ));
    out.comment(&format!(
        "steps:   {total}; rendered {rendered_at}; nothing was written"
    ));
    out.comment("");
    out.comment(
        "Each step commits together with its bookkeeping (legacy marker, version table, ferry_history).",
    );
    out.comment(
        "Not in this script: ferry's migration lock, held for the whole run, and (SQLite files) the verified",
    );
    out.comment("backup ferry takes before the first write.");
    if let Some(check) = frame.commit_check {
        out.comment(&format!(
            "Before every COMMIT ferry runs {check} and rolls the step back if it returns any row."
        ));
    }
    out.blank();

    let mut run_start = Vec::new();
    if let Some(start) = frame.run_start {
        out.comment("Outside any transaction while the steps run, so no table rebuild cascades:");
        out.statement(start);
        run_start.push(start.to_string());
        out.blank();
    }

    let mut accepted = Vec::new();
    for (id, before, now) in request.accepted {
        out.rule(&format!(
            "accepted edit of {id}: recorded in ferry_history (--accept-edited)"
        ));
        let row = accept_edited_sql(&books, id, before, now);
        let mut batches = Vec::new();
        transaction(&mut out, &mut batches, dialect, |out, batches| {
            out.raw(&row);
            batches.push(row.clone());
        });
        accepted.push(AcceptedEdit {
            revision: id.clone(),
            batches,
        });
    }

    let mut steps = Vec::new();
    let mut heads: Vec<String> = match request.state {
        State::Managed { heads } => heads.clone(),
        _ => Vec::new(),
    };
    for (index, step) in request.plan.steps.iter().enumerate() {
        let work = step_work(set, graph, &books, step, &heads)?;
        let label = step.label(set);
        let segments = match work.sql {
            Some(sql) => {
                guard::parse(sql)
                    .map_err(|e| Error::Unsupported(format!("{label}: {e}")))?
                    .segments
            }
            None => Vec::new(),
        };
        let mut guards = Vec::new();
        for segment in &segments {
            if let Segment::Guarded { condition, .. } = segment {
                let runs_now = match live.as_deref_mut() {
                    Some(d) => Some(
                        condition.holds(
                            d.exists(&condition.object)
                                .map_err(Error::reading("checking a guard"))?,
                        ),
                    ),
                    None => None,
                };
                guards.push(GuardNote {
                    condition: condition.to_string(),
                    runs_now,
                });
            }
        }
        out.rule(&format!(
            "step {}/{total}: {label}{}",
            index + 1,
            if work.transactional {
                ""
            } else {
                " (transaction = false: the script runs outside a transaction, then its bookkeeping commits alone)"
            }
        ));
        if let Some(source) = &work.source
            && work.sql.is_some()
        {
            out.comment(source);
        }
        for g in &guards {
            out.comment(&format!(
                "NOTE: guarded block (-- ferry:{}): ferry runs it only when the condition holds on the live database.",
                g.condition
            ));
            out.comment(
                "A script cannot check it, so the block below runs as written; remove it where the condition does not hold.",
            );
            if let Some(runs) = g.runs_now {
                out.comment(&format!(
                    "On this database now, the block {} (unless an earlier step changes that).",
                    if runs {
                        "would run"
                    } else {
                        "would be SKIPPED by ferry: remove it before running this script"
                    }
                ));
            }
        }
        let books = work.books.clone()
            + &work.history_sql(
                &books,
                rendered_at.clone(),
                0,
                true,
                Some(match work.success_note() {
                    Some(n) => format!("{n}; {note}"),
                    None => note.clone(),
                }),
            );
        let mut batches = Vec::new();
        let script = |out: &mut Script, batches: &mut Vec<String>| {
            if let Some(sql) = work.sql {
                out.sql(sql);
            }
            for segment in &segments {
                batches.push(match segment {
                    Segment::Plain(text) => text.to_string(),
                    Segment::Guarded { body, .. } => body.to_string(),
                    // The statement, then its rows through COPY: shown as psql reads them.
                    Segment::CopyIn {
                        statement, data, ..
                    } => format!("{statement}\n{data}\\.\n"),
                });
            }
            if work.sql.is_some() {
                out.comment(
                    "ferry puts back the session it relies on, whatever the script changed:",
                );
                out.raw(&restore);
                batches.push(restore.clone());
            }
        };
        let bookkeeping = |out: &mut Script, batches: &mut Vec<String>| {
            out.comment("ferry's bookkeeping:");
            out.raw(&books);
            batches.push(books.clone());
        };
        if work.transactional {
            transaction(&mut out, &mut batches, dialect, |out, batches| {
                script(out, batches);
                bookkeeping(out, batches);
            });
        } else {
            script(&mut out, &mut batches);
            transaction(&mut out, &mut batches, dialect, bookkeeping);
        }
        steps.push(RenderedStep {
            step: step.clone(),
            label,
            transaction: work.transactional,
            source: work.source.clone().filter(|_| work.sql.is_some()),
            guards,
            batches,
        });
        heads = work.heads_after;
    }
    if total == 0 {
        out.comment("Nothing to do: the database is already at the target.");
    }
    if let Some(finish) = frame.run_finish {
        out.blank();
        out.comment(&format!(
            "After the last step ferry runs `{finish}` only if it was on before the run (it is off by default)."
        ));
    }
    Ok(Rendering {
        dialect: dialect.name(),
        from: describe(request.state),
        run_start,
        accepted,
        steps,
        heads_after: request.plan.heads_after.clone(),
        script: out.text,
    })
}

/// BEGIN, `body`, the pre-commit check and COMMIT, as the driver runs them.
fn transaction(
    out: &mut Script,
    batches: &mut Vec<String>,
    dialect: Dialect,
    body: impl FnOnce(&mut Script, &mut Vec<String>),
) {
    let frame = framing(dialect);
    out.statement(frame.begin);
    batches.push(frame.begin.to_string());
    body(out, batches);
    if let Some(check) = frame.commit_check {
        out.comment("must return no rows (ferry rolls the step back otherwise):");
        out.statement(check);
        batches.push(check.to_string());
    }
    out.statement(frame.commit);
    batches.push(frame.commit.to_string());
}

/// The script text being built.
#[derive(Default)]
struct Script {
    text: String,
}

impl Script {
    fn comment(&mut self, line: &str) {
        if line.is_empty() {
            self.text.push_str("--\n");
        } else {
            self.text.push_str("-- ");
            self.text.push_str(line);
            self.text.push('\n');
        }
    }

    fn blank(&mut self) {
        self.text.push('\n');
    }

    fn rule(&mut self, title: &str) {
        self.blank();
        self.text.push_str(&format!("-- {}\n", "=".repeat(76)));
        self.comment(title);
    }

    fn statement(&mut self, sql: &str) {
        self.text.push_str(sql);
        self.text.push_str(";\n");
    }

    /// Statements ferry built, already terminated.
    fn raw(&mut self, sql: &str) {
        self.text.push_str(sql);
        if !sql.ends_with('\n') {
            self.text.push('\n');
        }
    }

    /// A migration file as written, terminated so the next statement cannot run into it.
    fn sql(&mut self, sql: &str) {
        self.raw(sql);
        // A script that ends in COPY data (and perhaps `\unrestrict`) is complete as it is.
        let last = guard::parse(sql)
            .ok()
            .and_then(|s| s.segments.last().cloned());
        let complete = match last {
            Some(Segment::CopyIn { .. }) => true,
            Some(Segment::Plain(text)) => terminated(text),
            _ => terminated(sql),
        };
        if !complete {
            self.text.push_str(";\n");
        }
    }
}

/// Whether the last statement of a script ends with `;` (trailing blank and `--` comment lines
/// ignored). When unsure it says no: an extra `;` is an empty statement, which is harmless.
fn terminated(sql: &str) -> bool {
    sql.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("--"))
        .is_none_or(|l| l.ends_with(';'))
}

#[cfg(test)]
mod tests {
    use super::terminated;

    #[test]
    fn terminated_sees_the_last_statement_through_trailing_comments() {
        assert!(terminated("CREATE TABLE a(x INT);\n-- done\n\n"));
        assert!(terminated("-- only a comment\n"));
        assert!(terminated(""));
        assert!(!terminated("CREATE TABLE a(x INT)"));
        assert!(!terminated("SELECT 1; -- trailing"));
    }
}
