//! Planning: the ordered steps that take a database from its state to a target. Pure.

use serde::Serialize;

use super::graph::{Graph, TargetError};
use super::set::{Dialect, MigrationSet};
use super::state::State;

/// One unit of work; each runs in its own transaction with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Fresh install: the baseline schema, the marker (if configured), the baseline stamp.
    Fresh,
    /// Replay one legacy step and bump the marker to its number.
    Legacy {
        number: u32,
    },
    /// Record the baseline revision in the version table after the legacy chain.
    Stamp {
        revision: String,
    },
    Up {
        revision: String,
    },
    Down {
        revision: String,
    },
}

impl Step {
    /// A short human name: `legacy 007`, `up 0005_llm_context_length`.
    pub fn label(&self, set: &MigrationSet) -> String {
        match self {
            Step::Fresh => format!("fresh install at {}", set.baseline_id()),
            Step::Legacy { number } => format!(
                "legacy {}",
                set.step(*number)
                    .map_or_else(|| number.to_string(), |s| s.name.clone())
            ),
            Step::Stamp { revision } => format!("stamp {revision}"),
            Step::Up { revision } => format!("upgrade {revision}"),
            Step::Down { revision } => format!("downgrade {revision}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// The version table's rows once the plan has run.
    pub heads_after: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The state is refused; the text says why and what to do.
    #[error("the database is {state}: {reason}")]
    Refused { state: &'static str, reason: String },
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The set cannot run this plan on this dialect.
    #[error("{0}")]
    Unsupported(String),
}

/// The revisions the database stands on once it is bridged (or already is).
fn position(
    set: &MigrationSet,
    graph: &Graph,
    state: &State,
) -> Result<(Vec<Step>, Vec<usize>), PlanError> {
    if let Some(reason) = state.refusal(set) {
        return Err(PlanError::Refused {
            state: state.name(),
            reason,
        });
    }
    Ok(match state {
        State::Empty => (vec![Step::Fresh], vec![0]),
        State::Legacy { version } => {
            let mut steps: Vec<Step> = set
                .steps_above(*version)
                .iter()
                .map(|s| Step::Legacy { number: s.number })
                .collect();
            steps.push(Step::Stamp {
                revision: set.baseline_id().to_string(),
            });
            (steps, vec![0])
        }
        State::Superseded { .. } => (
            vec![Step::Stamp {
                revision: set.baseline_id().to_string(),
            }],
            vec![0],
        ),
        State::Managed { heads } => (
            Vec::new(),
            heads.iter().filter_map(|h| graph.node(h)).collect(),
        ),
        // Not refused only with a [handoff]: bridged already, its runner owns what is there.
        State::Ahead { .. } => (Vec::new(), Vec::new()),
        _ => unreachable!("refused states return above"),
    })
}

/// A hand-off command as messages show it: trimmed, any password in it masked.
pub fn shown(command: &str) -> String {
    crate::driver::url::redact(command.trim())
}

/// With a `[handoff]`, ferry's part of `upgrade`: the bridge (fresh install, legacy replay,
/// baseline stamp) and nothing after it; the external runner takes the revisions from there.
fn bridge_only(
    set: &MigrationSet,
    graph: &Graph,
    state: &State,
    target: &str,
    command: &str,
) -> Result<Plan, PlanError> {
    if target != "head" && target != "heads" {
        return Err(TargetError::Invalid(format!(
            "this migration set hands off to `{command}` after the bridge ([handoff] in ferry.toml), and that runner chooses \
             the revisions to apply; run `ferry upgrade` without a target (or with `head`)"
        ))
        .into());
    }
    let (steps, current) = position(set, graph, state)?;
    let heads_after = match state {
        State::Ahead { unknown } => unknown.clone(),
        _ => current.iter().map(|&n| graph.id(n).to_string()).collect(),
    };
    Ok(Plan { steps, heads_after })
}

/// `upgrade TARGET`: bridge as needed, then the revisions up to TARGET.
pub fn upgrade(
    set: &MigrationSet,
    graph: &Graph,
    state: &State,
    target: &str,
) -> Result<Plan, PlanError> {
    if let Some(handoff) = &set.config.handoff {
        return bridge_only(set, graph, state, target, &shown(&handoff.command));
    }
    let (mut steps, current) = position(set, graph, state)?;
    let target_nodes = graph.resolve(target, &current)?;
    let have = graph.ancestors(&current);
    if target_nodes.iter().all(|&t| have[t]) && !target_nodes.iter().all(|t| current.contains(t)) {
        return Err(TargetError::Invalid(format!(
            "{} is below the current revision {}; use `ferry downgrade`",
            graph.names(&target_nodes),
            graph.names(&current)
        ))
        .into());
    }
    let mut heads = current.clone();
    for node in graph.upgrade_path(&current, &target_nodes) {
        heads = graph.heads_after_up(&heads, node);
        steps.push(Step::Up {
            revision: graph.id(node).to_string(),
        });
    }
    Ok(Plan {
        steps,
        heads_after: heads.iter().map(|&n| graph.id(n).to_string()).collect(),
    })
}

/// `downgrade TARGET`: undo revisions down to TARGET, never below the baseline.
pub fn downgrade(
    set: &MigrationSet,
    graph: &Graph,
    state: &State,
    target: &str,
) -> Result<Plan, PlanError> {
    if let Some(handoff) = &set.config.handoff {
        // ferry never applied the revisions after the baseline: the external runner did.
        return Err(PlanError::Unsupported(format!(
            "this migration set hands off to `{}` ([handoff] in ferry.toml): the revisions after the baseline belong to \
             that runner, so downgrade with it (e.g. `alembic downgrade -1`); ferry does not downgrade a set with a hand-off",
            shown(&handoff.command)
        )));
    }
    let State::Managed { heads } = state else {
        if let Some(reason) = state.refusal(set) {
            return Err(PlanError::Refused {
                state: state.name(),
                reason,
            });
        }
        return Err(PlanError::Refused {
            state: state.name(),
            reason: "it has no revision history to downgrade; run `ferry upgrade` first".into(),
        });
    };
    let current: Vec<usize> = heads.iter().filter_map(|h| graph.node(h)).collect();
    let target_nodes = graph.resolve(target, &current)?;
    let mut heads = current.clone();
    let mut steps = Vec::new();
    for node in graph.downgrade_path(&current, &target_nodes)? {
        heads = graph.heads_after_down(&heads, node);
        steps.push(Step::Down {
            revision: graph.id(node).to_string(),
        });
    }
    Ok(Plan {
        steps,
        heads_after: heads.iter().map(|&n| graph.id(n).to_string()).collect(),
    })
}

/// Every step of the plan has SQL for the dialect, and its guards parse: checked before the
/// first write, so a plan never stops half-way for a reason known in advance.
pub fn check_runnable(set: &MigrationSet, plan: &Plan, dialect: Dialect) -> Result<(), PlanError> {
    for step in &plan.steps {
        let (sql, what) = match step {
            Step::Fresh => match set.baselines.get(&dialect) {
                Some(text) => (
                    Some(text.as_ref()),
                    format!("baseline/{}.sql", dialect.name()),
                ),
                None => {
                    return Err(PlanError::Unsupported(format!(
                        "the migration set has no baseline/{}.sql, so it cannot install a fresh {} database",
                        dialect.name(),
                        dialect.name()
                    )));
                }
            },
            Step::Legacy { number } => {
                let step = set.step(*number).ok_or_else(|| {
                    PlanError::Unsupported(format!(
                        "legacy step {number} is not in the set (its steps are {})",
                        set.steps_text()
                    ))
                })?;
                (step.up.get(dialect), step.up.path("up", dialect))
            }
            Step::Stamp { .. } => continue,
            Step::Up { revision } | Step::Down { revision } => {
                let rev = set.revision(revision).ok_or_else(|| {
                    PlanError::Unsupported(format!("revision {revision} is not in the set"))
                })?;
                let (sql, stem) = if matches!(step, Step::Up { .. }) {
                    (&rev.up, "up")
                } else {
                    (&rev.down, "down")
                };
                (sql.get(dialect), sql.path(stem, dialect))
            }
        };
        let sql = sql.ok_or_else(|| {
            PlanError::Unsupported(format!(
                "{}: there is no {what} (nor a per-dialect file) for {}",
                step.label(set),
                dialect.name()
            ))
        })?;
        super::guard::parse(sql).map_err(|e| PlanError::Unsupported(format!("{what}: {e}")))?;
    }
    Ok(())
}
