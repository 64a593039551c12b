//! Releases: which release of the application left which schema (`[[release]]` in ferry.toml),
//! semver requirements over them, and where a position of the migration set stands among them.
//! Pure: no database.

use std::cmp::Ordering;
use std::fmt;

use semver::{Version, VersionReq};

use super::graph::Graph;
use super::set::MigrationSet;
use super::state::Position;

/// One `[[release]]`, its version parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: Version,
    pub position: Position,
}

impl Release {
    /// The revision the release sits on, if it sits on one.
    pub fn revision(&self) -> Option<&str> {
        match &self.position {
            Position::Revisions(r) => r.first().map(String::as_str),
            Position::Legacy(_) => None,
        }
    }
}

/// What can be wrong with a release requirement, or with what was asked of a release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error(
        "{text:?} is not a release requirement ({message}); write a version (3.2 means 3.2.x, 3 means 3.x.x, 3.2.1 exactly that release) or a semver requirement such as \">=3.4, <4\""
    )]
    Requirement { text: String, message: String },
    #[error(
        "ferry.toml lists no [[release]]: add one per release (version = \"X.Y.Z\" with legacy = N or revision = \"ID\")"
    )]
    NoReleases,
    #[error("no release matches {requirement:?}; the known releases are {known}")]
    NoMatch { requirement: String, known: String },
    #[error(
        "release {version} sits on legacy version {legacy}, and upgrade goes to revisions only (a legacy database is bridged to the cap first); pick a release on a revision, or build that release's database with `ferry fixture --release {version}`"
    )]
    OnLegacy { version: Version, legacy: u32 },
    #[error(
        "release {version} ({revision}) is below the database's position ({position}); upgrade never goes down: use `ferry downgrade {revision}` to go back to it"
    )]
    Below {
        version: Version,
        revision: String,
        position: String,
    },
    #[error("ferry.toml: release {version}: {message}")]
    Invalid { version: String, message: String },
}

/// A semver requirement over release versions, where a bare version means that version:
/// `3.2` = `=3.2` = any 3.2.x, `3` = any 3.x.x, `3.2.1` = exactly 3.2.1 (semver's own default
/// would be the caret `^3.2`, which also matches 3.9.0: never what a pipeline means by "3.2").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub text: String,
    req: VersionReq,
}

impl Requirement {
    pub fn parse(text: &str) -> Result<Requirement, ReleaseError> {
        let bad = |message: String| ReleaseError::Requirement {
            text: text.to_string(),
            message,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(bad("it is empty".into()));
        }
        let mut parts = Vec::new();
        for part in trimmed.split(',') {
            let part = part.trim();
            // `v3.2` is how tags are often written.
            let part = match part.strip_prefix(['v', 'V']) {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
                _ => part,
            };
            let bare = part.starts_with(|c: char| c.is_ascii_digit());
            // A wildcard (`3.2.*`, `3.x`) already means "that version, any patch".
            let wildcard = part.contains(['*', 'x', 'X']);
            parts.push(if bare && !wildcard {
                format!("={part}")
            } else {
                part.to_string()
            });
        }
        let req = VersionReq::parse(&parts.join(", ")).map_err(|e| bad(e.to_string()))?;
        Ok(Requirement {
            text: trimmed.to_string(),
            req,
        })
    }

    pub fn matches(&self, version: &Version) -> bool {
        self.req.matches(version)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The releases of a set, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Releases {
    list: Vec<Release>,
}

/// Where a position stands among the releases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Around<'a> {
    /// Releases whose schema the position has (the very same position).
    pub at: Vec<&'a Release>,
    /// When `at` is empty: the nearest releases below and above the position.
    pub before: Vec<&'a Release>,
    pub after: Vec<&'a Release>,
}

impl Around<'_> {
    /// `4.2.0`, or `none (between 4.1.0 and 4.2.0)`, `none (before 3.0.0)`.
    pub fn describe(&self) -> String {
        if !self.at.is_empty() {
            return versions(&self.at);
        }
        match (self.before.is_empty(), self.after.is_empty()) {
            (false, false) => format!(
                "none (between {} and {})",
                versions(&self.before),
                versions(&self.after)
            ),
            (false, true) => format!("none (after {})", versions(&self.before)),
            (true, false) => format!("none (before {})", versions(&self.after)),
            (true, true) => "none".into(),
        }
    }
}

/// `3.2.0, 3.2.1`.
pub fn versions(list: &[&Release]) -> String {
    list.iter()
        .map(|r| r.version.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Releases {
    /// The set's `[[release]]` entries (already validated when the set loaded).
    pub fn of(set: &MigrationSet) -> Result<Releases, ReleaseError> {
        let mut list = Vec::with_capacity(set.config.releases.len());
        for r in &set.config.releases {
            let invalid = |message: String| ReleaseError::Invalid {
                version: r.version.clone(),
                message,
            };
            let version = Version::parse(&r.version).map_err(|e| invalid(e.to_string()))?;
            let position = match (r.legacy, &r.revision) {
                (Some(n), None) => Position::Legacy(n),
                (None, Some(id)) => Position::Revisions(vec![id.clone()]),
                _ => {
                    return Err(invalid(
                        "needs exactly one of legacy = N or revision = \"ID\"".into(),
                    ));
                }
            };
            list.push(Release { version, position });
        }
        list.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(Releases { list })
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Oldest first.
    pub fn all(&self) -> &[Release] {
        &self.list
    }

    /// The releases a requirement matches, oldest first.
    pub fn matching(&self, req: &Requirement) -> Vec<&Release> {
        self.list
            .iter()
            .filter(|r| req.matches(&r.version))
            .collect()
    }

    /// Like [`Releases::matching`], but none matching is an error listing the known releases.
    pub fn matching_some(&self, req: &Requirement) -> Result<Vec<&Release>, ReleaseError> {
        if self.list.is_empty() {
            return Err(ReleaseError::NoReleases);
        }
        let found = self.matching(req);
        if found.is_empty() {
            return Err(ReleaseError::NoMatch {
                requirement: req.text.clone(),
                known: versions(&self.list.iter().collect::<Vec<_>>()),
            });
        }
        Ok(found)
    }

    /// The newest release a requirement matches.
    pub fn newest(&self, req: &Requirement) -> Result<&Release, ReleaseError> {
        let found = self.matching_some(req)?;
        found.last().copied().ok_or(ReleaseError::NoReleases)
    }

    /// Where `position` stands among the releases.
    pub fn around(&self, graph: &Graph, position: &Position) -> Around<'_> {
        let mut around = Around::default();
        let mut below = Vec::new();
        let mut above = Vec::new();
        for r in &self.list {
            match compare(graph, &r.position, position) {
                Some(Ordering::Equal) => around.at.push(r),
                Some(Ordering::Less) => below.push(r),
                Some(Ordering::Greater) => above.push(r),
                None => {}
            }
        }
        if around.at.is_empty() {
            // The nearest: no other candidate lies between it and the position.
            around.before = below
                .iter()
                .copied()
                .filter(|r| {
                    !below
                        .iter()
                        .any(|o| compare(graph, &r.position, &o.position) == Some(Ordering::Less))
                })
                .collect();
            around.after = above
                .iter()
                .copied()
                .filter(|r| {
                    !above
                        .iter()
                        .any(|o| compare(graph, &o.position, &r.position) == Some(Ordering::Less))
                })
                .collect();
        }
        around
    }

    /// The revision `upgrade --to-release` goes to: the newest matching release, which must sit
    /// on a revision that is not below `current` (the database's position, when known).
    pub fn upgrade_target(
        &self,
        graph: &Graph,
        req: &Requirement,
        current: Option<&Position>,
    ) -> Result<(&Release, String), ReleaseError> {
        let release = self.newest(req)?;
        let revision = match &release.position {
            Position::Legacy(legacy) => {
                return Err(ReleaseError::OnLegacy {
                    version: release.version.clone(),
                    legacy: *legacy,
                });
            }
            Position::Revisions(r) => r.join(", "),
        };
        if let Some(current) = current
            && compare(graph, &release.position, current) == Some(Ordering::Less)
        {
            return Err(ReleaseError::Below {
                version: release.version.clone(),
                revision,
                position: current.to_string(),
            });
        }
        Ok((release, revision))
    }
}

/// Orders two positions: legacy versions by number, every legacy version below every revision,
/// revisions by ancestry (`None` for sibling branches or an id the graph does not know).
pub fn compare(graph: &Graph, a: &Position, b: &Position) -> Option<Ordering> {
    match (a, b) {
        (Position::Legacy(x), Position::Legacy(y)) => Some(x.cmp(y)),
        (Position::Legacy(_), Position::Revisions(_)) => Some(Ordering::Less),
        (Position::Revisions(_), Position::Legacy(_)) => Some(Ordering::Greater),
        (Position::Revisions(x), Position::Revisions(y)) => {
            let nodes = |ids: &[String]| -> Option<Vec<usize>> {
                ids.iter().map(|id| graph.node(id)).collect()
            };
            let (x, y) = (graph.ancestors(&nodes(x)?), graph.ancestors(&nodes(y)?));
            let x_in_y = x.iter().zip(&y).all(|(a, b)| !a || *b);
            let y_in_x = y.iter().zip(&x).all(|(a, b)| !a || *b);
            match (x_in_y, y_in_x) {
                (true, true) => Some(Ordering::Equal),
                (true, false) => Some(Ordering::Less),
                (false, true) => Some(Ordering::Greater),
                (false, false) => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use super::*;
    use crate::core::set::{Files, Origin, digest};

    /// Legacy 1..=2, baseline, 0002_a → 0003_b, and a branch 0004_c on 0002_a.
    fn set(releases: &str) -> MigrationSet {
        let mut f: BTreeMap<String, String> = BTreeMap::new();
        f.insert(
            "ferry.toml".into(),
            format!(
                "[legacy]\ncap = 2\nmarker = {{ kind = \"user-version\" }}\n[baseline]\nrevision = \"0001_base\"\n{releases}"
            ),
        );
        f.insert(
            "legacy/001_a/up.sql".into(),
            "CREATE TABLE a(x INT);".into(),
        );
        f.insert(
            "legacy/002_b/up.sql".into(),
            "CREATE TABLE b(x INT);".into(),
        );
        f.insert(
            "baseline/sqlite.sql".into(),
            "CREATE TABLE a(x INT); CREATE TABLE b(x INT);".into(),
        );
        for (id, down) in [
            ("0002_a", "0001_base"),
            ("0003_b", "0002_a"),
            ("0004_c", "0002_a"),
        ] {
            f.insert(
                format!("revisions/{id}/revision.toml"),
                format!("down = \"{down}\""),
            );
            f.insert(format!("revisions/{id}/up.sql"), "SELECT 1;".into());
        }
        let mut frozen = String::from("cap = 2\n[files]\n");
        for (p, t) in &f {
            if let Some(rel) = p.strip_prefix("legacy/") {
                frozen.push_str(&format!("\"{rel}\" = \"{}\"\n", digest(t)));
            }
        }
        f.insert("legacy/FROZEN.toml".into(), frozen);
        let files = Files(f.into_iter().map(|(k, v)| (k, Cow::Owned(v))).collect());
        MigrationSet::load(files, Origin::Embedded).expect("a valid set")
    }

    const RELEASES: &str = r#"
[[release]]
version = "1.0.0"
legacy = 1
[[release]]
version = "1.1.0"
legacy = 2
[[release]]
version = "2.0.0"
revision = "0001_base"
[[release]]
version = "2.1.0"
revision = "0003_b"
[[release]]
version = "2.1.1"
revision = "0003_b"
[[release]]
version = "10.0.0"
revision = "0004_c"
"#;

    fn versions_of(list: &[&Release]) -> Vec<String> {
        list.iter().map(|r| r.version.to_string()).collect()
    }

    fn req(text: &str) -> Requirement {
        Requirement::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_bare_version_means_that_version_not_a_caret() {
        let s = set(RELEASES);
        let r = Releases::of(&s).unwrap();
        let m = |t: &str| versions_of(&r.matching(&req(t)));
        assert_eq!(m("2.1"), ["2.1.0", "2.1.1"]);
        assert_eq!(m("=2.1"), m("2.1"));
        assert_eq!(m("v2.1"), m("2.1"));
        assert_eq!(m("2"), ["2.0.0", "2.1.0", "2.1.1"]);
        assert_eq!(m("2.1.0"), ["2.1.0"]);
        assert_eq!(m("1.*"), ["1.0.0", "1.1.0"]);
        assert_eq!(m("2.1.x"), ["2.1.0", "2.1.1"]);
        assert_eq!(m("^1"), ["1.0.0", "1.1.0"]);
        assert_eq!(m(">=1.1, <2.1"), ["1.1.0", "2.0.0"]);
        assert_eq!(m(" >=2.1 ,2 "), ["2.1.0", "2.1.1"]);
        assert_eq!(m("*").len(), 6);
        assert!(m("1.2").is_empty());
        for bad in ["", "  ", "three", "2.1.0.0", ">=", "2..1", "=v"] {
            let e = Requirement::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("not a release requirement"), "{bad}: {e}");
            assert!(e.contains("3.2 means 3.2.x"), "{bad}: {e}");
        }
    }

    #[test]
    fn newest_match_and_errors_list_the_known_releases() {
        let s = set(RELEASES);
        let r = Releases::of(&s).unwrap();
        assert_eq!(
            r.all()[5].version.to_string(),
            "10.0.0",
            "semver order, not text"
        );
        assert_eq!(r.newest(&req("2.1")).unwrap().version.to_string(), "2.1.1");
        assert_eq!(r.newest(&req("<2")).unwrap().version.to_string(), "1.1.0");
        let e = r.newest(&req("3")).unwrap_err().to_string();
        assert!(
            e.contains("no release matches \"3\"")
                && e.contains("1.0.0, 1.1.0, 2.0.0, 2.1.0, 2.1.1, 10.0.0"),
            "{e}"
        );
        let none = Releases::of(&set("")).unwrap();
        assert!(none.is_empty());
        assert_eq!(none.newest(&req("1")), Err(ReleaseError::NoReleases));
    }

    #[test]
    fn positions_find_their_releases_and_neighbours() {
        let s = set(RELEASES);
        let g = Graph::new(&s).unwrap();
        let r = Releases::of(&s).unwrap();
        let rev = |ids: &[&str]| Position::Revisions(ids.iter().map(|i| i.to_string()).collect());
        let around = |p: &Position| {
            let a = r.around(&g, p);
            (
                versions_of(&a.at),
                versions_of(&a.before),
                versions_of(&a.after),
                a.describe(),
            )
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(around(&Position::Legacy(1)).0, s(&["1.0.0"]));
        assert_eq!(around(&rev(&["0003_b"])).0, s(&["2.1.0", "2.1.1"]));
        assert_eq!(around(&rev(&["0003_b"])).3, "2.1.0, 2.1.1");
        let empty = around(&Position::Legacy(0));
        assert_eq!((empty.1, empty.2), (s(&[]), s(&["1.0.0"])));
        assert_eq!(empty.3, "none (before 1.0.0)");
        // Between the baseline (2.0.0) and both branches: 0003_b and 0004_c descend from 0002_a.
        let mid = around(&rev(&["0002_a"]));
        assert_eq!(mid.0, s(&[]));
        assert_eq!(mid.1, s(&["2.0.0"]));
        assert_eq!(mid.2, s(&["2.1.0", "2.1.1", "10.0.0"]));
        assert_eq!(mid.3, "none (between 2.0.0 and 2.1.0, 2.1.1, 10.0.0)");
        // Both heads applied: above every release, and equal to none.
        let both = around(&rev(&["0003_b", "0004_c"]));
        assert_eq!(both.1, s(&["2.1.0", "2.1.1", "10.0.0"]));
        assert_eq!(both.3, "none (after 2.1.0, 2.1.1, 10.0.0)");
        // Legacy 2 sits below every revision.
        assert_eq!(around(&Position::Legacy(2)).0, s(&["1.1.0"]));
        assert_eq!(
            compare(&g, &Position::Legacy(2), &rev(&["0001_base"])),
            Some(Ordering::Less)
        );
        assert_eq!(compare(&g, &rev(&["0003_b"]), &rev(&["0004_c"])), None);
        assert_eq!(compare(&g, &rev(&["nosuch"]), &rev(&["0004_c"])), None);
    }

    #[test]
    fn upgrade_targets_are_revisions_not_below_the_database() {
        let s = set(RELEASES);
        let g = Graph::new(&s).unwrap();
        let r = Releases::of(&s).unwrap();
        let at = |id: &str| Position::Revisions(vec![id.to_string()]);
        let (release, revision) = r.upgrade_target(&g, &req("2.1"), None).unwrap();
        assert_eq!(
            (release.version.to_string(), revision.as_str()),
            ("2.1.1".into(), "0003_b")
        );
        assert!(
            r.upgrade_target(&g, &req("2.1"), Some(&Position::Legacy(1)))
                .is_ok()
        );
        assert!(
            r.upgrade_target(&g, &req("2.1"), Some(&at("0003_b")))
                .is_ok(),
            "already there"
        );
        let e = r
            .upgrade_target(&g, &req("1.1"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("release 1.1.0 sits on legacy version 2"), "{e}");
        assert!(e.contains("ferry fixture --release 1.1.0"), "{e}");
        let e = r
            .upgrade_target(&g, &req("2.0"), Some(&at("0003_b")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("release 2.0.0 (0001_base) is below"), "{e}");
        assert!(
            e.contains("revision 0003_b") && e.contains("ferry downgrade 0001_base"),
            "{e}"
        );
        // A sibling branch is not below: upgrade may apply it next to the current one.
        assert!(
            r.upgrade_target(&g, &req("10"), Some(&at("0003_b")))
                .is_ok()
        );
    }
}
