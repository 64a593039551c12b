//! Identifying an unversioned database: which position's schema it has — a legacy version,
//! the baseline or a revision. Pure: the schema of every position comes from replaying the set
//! in a scratch database (never from a list kept by hand); ranking them against the live
//! schema happens here.

use serde::Serialize;

use super::schema::{Difference, Schema, diff};

/// The legacy version(s) whose schema is nearest to a live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identification {
    /// The nearest legacy versions, ascending. Several when they have the identical schema
    /// (the steps between them change only data): the schema cannot tell them apart.
    pub versions: Vec<u32>,
    /// The revisions (the baseline first, then in the graph's order) with that same schema.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// Whether their schema equals the live one.
    pub exact: bool,
    /// How the live schema differs from theirs (expected: the legacy version's, actual: the
    /// live one); empty when exact.
    pub differences: Vec<Difference>,
    /// The next nearest candidates, nearest first (at most [`RUNNERS_UP`]).
    pub runners_up: Vec<Candidate>,
    /// How many of the live tables some legacy version has; 0 suggests another
    /// application's database (or another migration set).
    pub known_tables: usize,
}

/// Legacy versions sharing one schema, and how many differences it has from the live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub versions: Vec<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    pub differences: usize,
}

/// How many candidates after the nearest an identification lists.
pub const RUNNERS_UP: usize = 3;

impl Identification {
    /// `legacy 7`, `legacy 12 and 13`, `revision 0004_x`, `legacy 25 and revision 0001_baseline`.
    pub fn names(&self) -> String {
        positions(&self.versions, &self.revisions)
    }

    /// The revision `--assume-revision` should be given: the nearest schema is a revision's
    /// and no legacy version's (a legacy version with the same schema is bridged instead).
    pub fn single_revision(&self) -> Option<&str> {
        match (self.versions.as_slice(), self.revisions.as_slice()) {
            ([], [one]) => Some(one),
            _ => None,
        }
    }

    /// The version `--assume-legacy` should be given when exactly one fits.
    pub fn single(&self) -> Option<u32> {
        match self.versions.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// `legacy 7`, `legacy 12 and 13`, `legacy 3, 4 and 5`.
pub fn names(versions: &[u32]) -> String {
    let text: Vec<String> = versions.iter().map(u32::to_string).collect();
    match text.as_slice() {
        [] => "no legacy version".into(),
        [one] => format!("legacy {one}"),
        [init @ .., last] => format!("legacy {} and {last}", init.join(", ")),
    }
}

/// `legacy 7`, `revision 0004_x`, `legacy 25 and revision 0001_baseline`.
pub fn positions(versions: &[u32], revisions: &[String]) -> String {
    let revisions = match revisions {
        [] => None,
        [one] => Some(format!("revision {one}")),
        [init @ .., last] => Some(format!("revisions {} and {last}", init.join(", "))),
    };
    match (versions, revisions) {
        (_, None) => names(versions),
        ([], Some(r)) => r,
        (_, Some(r)) => format!("{} and {r}", names(versions)),
    }
}

/// Ranks the legacy schemas (each with its version number, ascending: every step number of
/// the chain; version 0, the empty database, is never a candidate) by their number of
/// differences from `live`, fewest first, versions with the identical schema grouped. `None`
/// when the set has no legacy version.
pub fn identify(legacy: &[(u32, Schema)], live: &Schema) -> Option<Identification> {
    identify_at(legacy, &[], live)
}

/// [`identify`] over every position: the legacy versions, then the baseline and each revision
/// (`revisions`, in that order). Positions with the identical schema are one candidate; on a
/// tie the earlier comes first. `None` when there is no position at all.
pub fn identify_at(
    legacy: &[(u32, Schema)],
    revisions: &[(String, Schema)],
    live: &Schema,
) -> Option<Identification> {
    // Group positions by identical schema, in order of first appearance.
    let mut groups: Vec<(Vec<u32>, Vec<String>, &Schema)> = Vec::new();
    let mut add = |version: Option<u32>, revision: Option<&String>, schema| {
        let i = match groups.iter().position(|(_, _, s)| *s == schema) {
            Some(i) => i,
            None => {
                groups.push((Vec::new(), Vec::new(), schema));
                groups.len() - 1
            }
        };
        groups[i].0.extend(version);
        groups[i].1.extend(revision.cloned());
    };
    for (version, schema) in legacy.iter().filter(|(n, _)| *n > 0) {
        add(Some(*version), None, schema);
    }
    for (id, schema) in revisions {
        add(None, Some(id), schema);
    }
    let mut ranked: Vec<(Vec<u32>, Vec<String>, Vec<Difference>)> = groups
        .into_iter()
        .map(|(versions, revisions, schema)| (versions, revisions, diff(schema, live)))
        .collect();
    // Stable: on a tie the earlier position comes first.
    ranked.sort_by_key(|(_, _, differences)| differences.len());
    let known_tables = live
        .tables
        .keys()
        .filter(|t| {
            legacy.iter().any(|(_, s)| s.tables.contains_key(*t))
                || revisions.iter().any(|(_, s)| s.tables.contains_key(*t))
        })
        .count();
    let mut ranked = ranked.into_iter();
    let (versions, revisions, differences) = ranked.next()?;
    Some(Identification {
        exact: differences.is_empty(),
        versions,
        revisions,
        differences,
        runners_up: ranked
            .take(RUNNERS_UP)
            .map(|(versions, revisions, d)| Candidate {
                versions,
                revisions,
                differences: d.len(),
            })
            .collect(),
        known_tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::schema::{Column, Table};

    /// A schema holding one table per name, each with one column.
    fn schema(tables: &[&str]) -> Schema {
        let mut s = Schema::default();
        for t in tables {
            let mut table = Table::default();
            table.columns.insert(
                "id".into(),
                Column {
                    data_type: "INTEGER".into(),
                    not_null: true,
                    default: None,
                },
            );
            s.tables.insert(t.to_string(), table);
        }
        s
    }

    /// Schemas numbered by their position: index N is legacy version N.
    fn numbered(schemas: Vec<Schema>) -> Vec<(u32, Schema)> {
        (0..).zip(schemas).collect()
    }

    /// Legacy 0 (empty) .. 4; 3 changes only data, so 2 and 3 share a schema.
    fn chain() -> Vec<(u32, Schema)> {
        numbered(vec![
            schema(&[]),
            schema(&["users"]),
            schema(&["users", "bots"]),
            schema(&["users", "bots"]),
            schema(&["users", "bots", "tags"]),
        ])
    }

    #[test]
    fn an_exact_match_names_its_version() {
        let id = identify(&chain(), &schema(&["users", "bots", "tags"])).unwrap();
        assert_eq!(id.versions, vec![4]);
        assert!(id.exact);
        assert!(id.differences.is_empty());
        assert_eq!(id.single(), Some(4));
        assert_eq!(id.names(), "legacy 4");
        assert_eq!(
            id.runners_up[0],
            Candidate {
                versions: vec![2, 3],
                revisions: vec![],
                differences: 1
            }
        );
    }

    #[test]
    fn versions_with_the_identical_schema_are_named_together() {
        let id = identify(&chain(), &schema(&["users", "bots"])).unwrap();
        assert_eq!(id.versions, vec![2, 3]);
        assert!(id.exact);
        assert_eq!(id.single(), None);
        assert_eq!(id.names(), "legacy 2 and 3");
        // 1 and 4 are one difference away each; the lower comes first.
        let runners: Vec<Vec<u32>> = id.runners_up.iter().map(|c| c.versions.clone()).collect();
        assert_eq!(runners, vec![vec![1], vec![4]]);
    }

    #[test]
    fn without_a_match_the_nearest_and_its_differences_are_given() {
        let mut live = schema(&["users", "bots", "tags"]);
        live.tables.remove("tags");
        live.tables.insert("notes".into(), Table::default());
        let id = identify(&chain(), &live).unwrap();
        // {users, bots, notes}: one extra table from 2/3; two differences from 4.
        assert_eq!(id.versions, vec![2, 3]);
        assert!(!id.exact);
        let d: Vec<String> = id.differences.iter().map(|d| d.to_string()).collect();
        assert_eq!(d, vec!["table notes is extra (0 columns)"]);
        assert_eq!(
            id.runners_up,
            vec![
                Candidate {
                    versions: vec![1],
                    revisions: vec![],
                    differences: 2
                },
                Candidate {
                    versions: vec![4],
                    revisions: vec![],
                    differences: 2
                },
            ]
        );
    }

    #[test]
    fn a_tie_between_different_schemas_prefers_the_lower_version() {
        let legacy = numbered(vec![schema(&[]), schema(&["a"]), schema(&["b"])]);
        let id = identify(&legacy, &schema(&["c"])).unwrap();
        assert_eq!(id.versions, vec![1]);
        assert_eq!(id.differences.len(), 2);
        assert_eq!(id.runners_up[0].versions, vec![2]);
        assert_eq!(id.known_tables, 0, "no legacy version has table c");
        let id = identify(&chain(), &schema(&["users", "notes"])).unwrap();
        assert_eq!(id.known_tables, 1);
    }

    #[test]
    fn the_empty_database_is_never_a_candidate() {
        assert_eq!(
            identify(&numbered(vec![schema(&[])]), &schema(&["users"])),
            None
        );
        let id = identify(
            &numbered(vec![schema(&[]), schema(&["users"])]),
            &schema(&[]),
        )
        .unwrap();
        assert_eq!(id.versions, vec![1]);
        assert!(!id.exact);
    }

    #[test]
    fn the_unversioned_refusal_points_to_assume_legacy_with_the_identified_version() {
        use crate::core::state::unversioned_refusal;
        let tables = vec!["users".to_string(), "bots".to_string()];
        let text = |live: &Schema| unversioned_refusal(&tables, identify(&chain(), live).as_ref());

        let generic = unversioned_refusal(&tables, None);
        assert!(generic.contains("(users, bots)") && generic.contains("--assume-legacy N"));

        let exact = text(&schema(&["users"]));
        assert!(
            exact.contains("exactly legacy 1's: `ferry upgrade --assume-legacy 1`"),
            "{exact}"
        );

        let shared = text(&schema(&["users", "bots"]));
        assert!(
            shared.contains("exactly that of legacy 2 and 3")
                && shared.contains("--assume-legacy N"),
            "{shared}"
        );

        let mut live = schema(&["users", "bots", "tags", "a", "b", "c"]);
        live.tables.remove("tags");
        let nearest = text(&live);
        assert!(
            nearest.contains("nearest is legacy 2 and 3 with 3 difference(s)")
                && nearest.contains("--assume-legacy 2 --force"),
            "{nearest}"
        );
        let mut many = live.clone();
        many.tables.insert("d".into(), Table::default());
        assert!(text(&many).contains("; … 1 more (`ferry status` lists them)"));

        let foreign = text(&schema(&["customers"]));
        assert!(foreign.contains("check that --database"), "{foreign}");
    }

    #[test]
    fn revisions_are_positions_too() {
        let revisions = vec![
            (
                "0001_baseline".to_string(),
                schema(&["users", "bots", "tags"]),
            ),
            (
                "0002_notes".to_string(),
                schema(&["users", "bots", "tags", "notes"]),
            ),
            (
                "0003_data".to_string(),
                schema(&["users", "bots", "tags", "notes"]),
            ),
            (
                "0004_x".to_string(),
                schema(&["users", "bots", "tags", "notes", "x"]),
            ),
        ];
        // The baseline has legacy 4's schema: one candidate, the legacy version named first.
        let id = identify_at(&chain(), &revisions, &schema(&["users", "bots", "tags"])).unwrap();
        assert_eq!(id.versions, vec![4]);
        assert_eq!(id.revisions, vec!["0001_baseline"]);
        assert_eq!(id.names(), "legacy 4 and revision 0001_baseline");
        assert_eq!(id.single(), Some(4));
        assert_eq!(id.single_revision(), None);
        // A revision alone.
        let live = schema(&["users", "bots", "tags", "notes", "x"]);
        let id = identify_at(&chain(), &revisions, &live).unwrap();
        assert!(id.exact);
        assert_eq!(id.single_revision(), Some("0004_x"));
        assert_eq!(id.names(), "revision 0004_x");
        // Two revisions with one schema (a data-only revision between).
        let live = schema(&["users", "bots", "tags", "notes"]);
        let id = identify_at(&chain(), &revisions, &live).unwrap();
        assert_eq!(id.revisions, vec!["0002_notes", "0003_data"]);
        assert_eq!(id.single_revision(), None);
        assert_eq!(id.names(), "revisions 0002_notes and 0003_data");
        let text = crate::core::state::unversioned_refusal(&["users".into()], Some(&id));
        assert!(text.contains("--assume-revision REV"), "{text}");
        let id = identify_at(
            &chain(),
            &revisions,
            &schema(&["users", "bots", "tags", "notes", "x"]),
        )
        .unwrap();
        let text = crate::core::state::unversioned_refusal(&["users".into()], Some(&id));
        assert!(
            text.contains("exactly revision 0004_x's")
                && text.contains("`ferry upgrade --assume-revision 0004_x`"),
            "{text}"
        );
    }

    #[test]
    fn names_read_as_a_list() {
        assert_eq!(names(&[]), "no legacy version");
        assert_eq!(names(&[3, 4, 5]), "legacy 3, 4 and 5");
    }

    #[test]
    fn a_chain_with_gaps_and_a_floor_names_the_real_step_numbers() {
        let legacy = vec![
            (0, schema(&[])),
            (72, schema(&["users"])),
            (73, schema(&["users", "bots"])),
            (76, schema(&["users", "bots", "tags"])),
        ];
        let id = identify(&legacy, &schema(&["users", "bots", "tags"])).unwrap();
        assert_eq!(id.versions, vec![76]);
        assert!(id.exact);
        assert_eq!(id.runners_up[0].versions, vec![73]);
    }
}
