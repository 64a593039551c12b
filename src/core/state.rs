//! State detection (spec §2) from what a driver read: pure, so every state is unit-tested.

use serde::Serialize;

use super::graph::Graph;
use super::identify::Identification;
use super::set::MigrationSet;

/// What detection reads from a database. Cheap: table names, the marker, the version table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// Every table except ferry's own (`ferry_history`) and the version table.
    pub tables: Vec<String>,
    pub marker: MarkerReading,
    /// The version table's rows; `None` when it does not exist.
    pub versions: Option<Vec<String>>,
    /// Whether `ferry_history` exists (so the audit trail can be read without listing again).
    pub history: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MarkerReading {
    /// No marker table, no marker row, or `user_version` 0.
    #[default]
    Absent,
    Value(i64),
    /// Not readable as one integer (the text says why).
    Invalid(String),
}

/// The database's state, as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Empty,
    Legacy {
        version: u32,
    },
    /// A marker above the cap that pre-release builds wrote, carried now by `revision`.
    Superseded {
        version: u32,
        revision: String,
    },
    Managed {
        heads: Vec<String>,
    },
    /// A marker above the cap that this set does not know.
    FutureLegacy {
        version: i64,
    },
    Unversioned {
        tables: Vec<String>,
    },
    Ahead {
        unknown: Vec<String>,
    },
    Inconsistent {
        reason: String,
    },
}

impl State {
    /// The spec's name of the state.
    pub fn name(&self) -> &'static str {
        match self {
            State::Empty => "empty",
            State::Legacy { .. } | State::Superseded { .. } | State::FutureLegacy { .. } => {
                "legacy"
            }
            State::Managed { .. } => "managed",
            State::Unversioned { .. } => "unversioned",
            State::Ahead { .. } => "ahead",
            State::Inconsistent { .. } => "inconsistent",
        }
    }

    /// Why ferry refuses to touch a database in this state, and what the operator can do;
    /// `None` for the states it upgrades.
    pub fn refusal(&self, set: &MigrationSet) -> Option<String> {
        let cap = set.cap();
        match self {
            State::Legacy { version } if *version > 0 && *version < set.floor() => {
                Some(too_old(set, *version))
            }
            State::Empty
            | State::Legacy { .. }
            | State::Superseded { .. }
            | State::Managed { .. } => None,
            // The external runner of a `[handoff]` applied them: `upgrade` hands off to it again.
            State::Ahead { .. } if set.config.handoff.is_some() => None,
            State::FutureLegacy { version } => Some(format!(
                "the legacy marker says version {version}, above this set's cap {cap}, and ferry.toml maps no revision to it \
                 (legacy.superseded); it was written by a newer or pre-release build. Upgrade with the ferry that wrote it, \
                 or map it in legacy.superseded"
            )),
            State::Unversioned { tables } => Some(unversioned_refusal(tables, None)),
            State::Ahead { unknown } => Some(format!(
                "the version table holds {}, which this migration set does not know: the database was upgraded by a newer \
                 release. Use that release's ferry (or its migration set with --migrations)",
                unknown.join(", ")
            )),
            State::Inconsistent { reason } => Some(format!(
                "{reason}. Nothing was changed; repair the bookkeeping by hand (or with `ferry stamp REV`) first"
            )),
        }
    }
}

/// Why a database whose marker is below the set's first step is refused, and what to do:
/// upgrade it first with a release that leaves a version the set bridges.
pub fn too_old(set: &MigrationSet, version: u32) -> String {
    let floor = set.floor();
    let mut text = format!(
        "the legacy marker says version {version}, older than legacy {floor}, the oldest version this migration set bridges \
         (its legacy steps are {}; the versions before {floor} were squashed into step {floor}, so ferry cannot replay \
         them). Nothing was changed. ",
        set.steps_text()
    );
    let through = set
        .config
        .releases
        .iter()
        .filter_map(|r| {
            let n = r.legacy?;
            let version = semver::Version::parse(&r.version).ok()?;
            (floor..=set.cap()).contains(&n).then_some((version, n))
        })
        .min();
    match through {
        Some((release, n)) => text.push_str(&format!(
            "Upgrade it first with release {release} (which leaves legacy {n}) or any later release still on the legacy \
             chain, then run ferry again"
        )),
        None => text.push_str(&format!(
            "Upgrade it first with a release of the application that leaves legacy {floor} or later, then run ferry again"
        )),
    }
    text
}

/// Why an unversioned database is refused, and how `--assume-legacy` takes it on: with the
/// legacy version(s) its schema was identified as, when known.
pub fn unversioned_refusal(tables: &[String], identified: Option<&Identification>) -> String {
    let mut text = format!(
        "the database has tables ({}) but no legacy marker and no version table, so its version is unknown. ",
        preview(tables)
    );
    let Some(id) = identified else {
        text.push_str(
            "`ferry status` names the legacy version whose schema it has; `ferry upgrade --assume-legacy N` then checks \
             that the schema is legacy N's, records the marker N and upgrades",
        );
        return text;
    };
    match (id.exact, id.single()) {
        (true, None) if id.versions.is_empty() => match id.single_revision() {
            Some(rev) => text.push_str(&format!(
                "Its schema is exactly revision {rev}'s (it was created or restored without its version table): \
                 `ferry upgrade --assume-revision {rev}` checks that again under the lock, stamps {rev} and upgrades"
            )),
            None => text.push_str(&format!(
                "Its schema is exactly that of {} (the revisions between them change only data, so the schema \
                 cannot tell them apart): run `ferry upgrade --assume-revision REV` with REV the last of them that \
                 ran on this database",
                id.names()
            )),
        },
        (true, Some(n)) => text.push_str(&format!(
            "Its schema is exactly legacy {n}'s: `ferry upgrade --assume-legacy {n}` checks that again under the lock, \
             records the marker {n} and upgrades"
        )),
        (true, None) => text.push_str(&format!(
            "Its schema is exactly that of {} (the steps between them change only data, so the schema cannot tell \
             them apart): run `ferry upgrade --assume-legacy N` with N the last of them whose step ran on this \
             database (a lower N runs the later steps again, a higher one skips them)",
            id.names()
        )),
        (false, _) if id.known_tables == 0 => text.push_str(
            "None of its tables is a table of any legacy version of this migration set: check that --database names \
             the right database (and --migrations the right set)",
        ),
        (false, _) => {
            let n = id.versions.first().copied().unwrap_or(1);
            let shown: Vec<String> = id.differences.iter().take(3).map(ToString::to_string).collect();
            let more = id.differences.len().saturating_sub(shown.len());
            text.push_str(&format!(
                "No legacy version's schema matches it; the nearest is {} with {} difference(s): {}{}. \
                 Repair them and run again, or, if it is legacy {n} all the same, \
                 `ferry upgrade --assume-legacy {n} --force` proceeds anyway and records the differences in ferry_history",
                id.names(),
                id.differences.len(),
                shown.join("; "),
                if more > 0 { format!("; … {more} more (`ferry status` lists them)") } else { String::new() }
            ));
        }
    }
    text
}

fn preview(tables: &[String]) -> String {
    if tables.len() <= 5 {
        tables.join(", ")
    } else {
        format!("{}, … {} in all", tables[..5].join(", "), tables.len())
    }
}

/// A point of the migration set a database can stand at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Legacy version N (0 = empty), or a superseded version above the cap.
    Legacy(u32),
    /// The version table's rows (one per head).
    Revisions(Vec<String>),
}

impl Position {
    /// `legacy 7`, `legacy 26 (superseded)`, `legacy 75 (inside a gap of the chain)`,
    /// `revision 0003_x`, `empty`.
    pub fn describe(&self, set: &MigrationSet) -> String {
        match self {
            Position::Legacy(n) if *n > set.cap() => format!("{self} (superseded)"),
            Position::Legacy(n) if *n > 0 && *n < set.floor() => {
                format!("{self} (older than the first step {})", set.floor())
            }
            Position::Legacy(n) if *n > 0 && set.step(*n).is_none() => {
                format!("{self} (inside a gap of the chain)")
            }
            _ => self.to_string(),
        }
    }

    /// Where a database in `state` stands; `None` for states without a defined position.
    pub fn of_state(state: &State) -> Option<Position> {
        match state {
            State::Empty => Some(Position::Legacy(0)),
            State::Legacy { version } | State::Superseded { version, .. } => {
                Some(Position::Legacy(*version))
            }
            State::Managed { heads } => Some(Position::Revisions(heads.clone())),
            _ => None,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Legacy(0) => write!(f, "empty"),
            Position::Legacy(n) => write!(f, "legacy {n}"),
            Position::Revisions(r) => write!(f, "revision {}", r.join(", ")),
        }
    }
}

/// Classifies a probe. Reads nothing, writes nothing.
pub fn detect(set: &MigrationSet, graph: &Graph, probe: &Probe) -> State {
    let cap = set.cap();
    let version_table = &set.config.revisions.version_table;
    if let MarkerReading::Invalid(why) = &probe.marker {
        return State::Inconsistent {
            reason: format!("the legacy marker cannot be read: {why}"),
        };
    }
    match &probe.versions {
        Some(rows) if rows.is_empty() => {
            if probe.tables.is_empty() && probe.marker == MarkerReading::Absent {
                State::Empty
            } else {
                State::Inconsistent {
                    reason: format!("the version table {version_table} exists but is empty"),
                }
            }
        }
        Some(rows) => {
            let unknown: Vec<String> = rows
                .iter()
                .filter(|r| graph.node(r).is_none())
                .cloned()
                .collect();
            if !unknown.is_empty() {
                return State::Ahead { unknown };
            }
            let nodes: Vec<usize> = rows.iter().filter_map(|r| graph.node(r)).collect();
            let mut sorted = nodes.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != nodes.len() {
                return State::Inconsistent {
                    reason: format!(
                        "the version table {version_table} holds the same revision twice"
                    ),
                };
            }
            for &a in &nodes {
                let below = graph.ancestors(&[a]);
                if let Some(&b) = nodes.iter().find(|&&b| b != a && below[b]) {
                    return State::Inconsistent {
                        reason: format!(
                            "the version table {version_table} holds {} and {}, but {} descends from {}: it must hold one row per head",
                            graph.id(b),
                            graph.id(a),
                            graph.id(a),
                            graph.id(b)
                        ),
                    };
                }
            }
            if let MarkerReading::Value(n) = probe.marker
                && n < i64::from(cap)
            {
                return State::Inconsistent {
                    reason: format!(
                        "the version table {version_table} says {} but the legacy marker says {n}, below the cap {cap}: \
                         the legacy chain was never finished",
                        rows.join(", ")
                    ),
                };
            }
            let mut heads = rows.clone();
            heads.sort();
            State::Managed { heads }
        }
        None => match probe.marker {
            MarkerReading::Value(n) if n < 0 => State::Inconsistent {
                reason: format!("the legacy marker says {n}, which is not a version"),
            },
            MarkerReading::Value(n) if n <= i64::from(cap) => State::Legacy { version: n as u32 },
            MarkerReading::Value(n) => match u32::try_from(n)
                .ok()
                .and_then(|v| set.superseded.get(&v).map(|r| (v, r)))
            {
                Some((version, revision)) => State::Superseded {
                    version,
                    revision: revision.clone(),
                },
                None => State::FutureLegacy { version: n },
            },
            _ if probe.tables.is_empty() => State::Empty,
            _ => State::Unversioned {
                tables: probe.tables.clone(),
            },
        },
    }
}
