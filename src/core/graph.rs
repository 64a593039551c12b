//! The revision graph: the baseline at its root, revisions above it, Alembic's notion of heads.
//!
//! Pure, and shared with build.rs. Node 0 is the baseline; node `i ≥ 1` is `set.revisions[i-1]`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::set::{MigrationSet, SetError};

#[derive(Debug, Clone)]
pub struct Graph {
    ids: Ids,
    /// Every node, sorted by id: [`Graph::node`] searches it.
    by_id: Vec<usize>,
    downs: Lists,
    children: Lists,
    /// Topological order (every node after its downs), ties broken by id.
    order: Vec<usize>,
}

/// The ids of the nodes in one buffer (a large set's graph is built on every run).
#[derive(Debug, Clone, Default)]
struct Ids {
    text: String,
    /// Where id `n` ends in `text` (it starts where id `n - 1` ends).
    ends: Vec<usize>,
}

impl Ids {
    fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

impl std::ops::Index<usize> for Ids {
    type Output = str;

    fn index(&self, n: usize) -> &str {
        let start = if n == 0 { 0 } else { self.ends[n - 1] };
        &self.text[start..self.ends[n]]
    }
}

/// A list of nodes per node, in one buffer.
#[derive(Debug, Clone, Default)]
struct Lists {
    items: Vec<usize>,
    /// Where list `n` ends in `items`.
    ends: Vec<usize>,
}

impl Lists {
    /// From (node, item) pairs, in the order given for each node.
    fn from_pairs(nodes: usize, pairs: &[(usize, usize)]) -> Lists {
        let mut ends = vec![0; nodes];
        for &(n, _) in pairs {
            ends[n] += 1;
        }
        let mut total = 0;
        for end in &mut ends {
            total += *end;
            *end = total;
        }
        let mut next: Vec<usize> = (0..nodes)
            .map(|n| if n == 0 { 0 } else { ends[n - 1] })
            .collect();
        let mut items = vec![0; pairs.len()];
        for &(n, item) in pairs {
            items[next[n]] = item;
            next[n] += 1;
        }
        Lists { items, ends }
    }
}

impl std::ops::Index<usize> for Lists {
    type Output = [usize];

    fn index(&self, n: usize) -> &[usize] {
        let start = if n == 0 { 0 } else { self.ends[n - 1] };
        &self.items[start..self.ends[n]]
    }
}

/// A target that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("unknown revision {0:?}; `ferry history` lists the revisions")]
    Unknown(String),
    #[error("{prefix:?} matches several revisions: {matches}; give more of the id")]
    Ambiguous { prefix: String, matches: String },
    #[error(
        "there are several heads ({0}); name one, use `heads` to apply every branch, or merge them with `ferry merge`"
    )]
    MultipleHeads(String),
    #[error("{0}")]
    Invalid(String),
}

impl Graph {
    /// Builds the graph and checks it: every down revision exists, exactly one revision sits on
    /// the baseline, no revision lacks a down, no cycles.
    pub fn new(set: &MigrationSet) -> Result<Graph, SetError> {
        let baseline = set.baseline_id();
        let mut ids = Ids {
            text: String::with_capacity(
                baseline.len() + set.revisions.iter().map(|r| r.id.len()).sum::<usize>(),
            ),
            ends: Vec::with_capacity(set.revisions.len() + 1),
        };
        ids.push(baseline);
        for rev in &set.revisions {
            ids.push(&rev.id);
        }
        // The revisions come sorted by id, so this sort only confirms it.
        let mut by_id: Vec<usize> = (0..ids.len()).collect();
        by_id.sort_by(|a, b| ids[*a].cmp(&ids[*b]));
        let find = |id: &str| {
            by_id
                .binary_search_by(|&n| ids[n].cmp(id))
                .ok()
                .map(|i| by_id[i])
        };
        // (node, down) pairs, each node's downs in the order written, once each.
        let mut edges: Vec<(usize, usize)> = Vec::with_capacity(set.revisions.len());
        let mut roots = Vec::new();
        for (i, rev) in set.revisions.iter().enumerate() {
            let node = i + 1;
            if rev.down_revisions.is_empty() {
                return Err(SetError::Revision {
                    id: rev.id.clone(),
                    message: format!(
                        "has no down revision; every revision descends from the baseline {baseline}"
                    ),
                });
            }
            let first = edges.len();
            for down in &rev.down_revisions {
                let d = find(down).ok_or_else(|| SetError::Revision {
                    id: rev.id.clone(),
                    message: format!("its down revision {down:?} does not exist"),
                })?;
                if d == node {
                    return Err(SetError::Revision {
                        id: rev.id.clone(),
                        message: "is its own down revision".into(),
                    });
                }
                if !edges[first..].iter().any(|&(_, e)| e == d) {
                    if d == 0 {
                        roots.push(rev.id.clone());
                    }
                    edges.push((node, d));
                }
            }
        }
        let downs = Lists::from_pairs(ids.len(), &edges);
        // Each node's children in node order (the edges come by node).
        let reversed: Vec<(usize, usize)> = edges.iter().map(|&(n, d)| (d, n)).collect();
        let children = Lists::from_pairs(ids.len(), &reversed);
        if roots.len() > 1 {
            return Err(SetError::Revision {
                id: roots.join(", "),
                message: format!(
                    "two roots: only one revision may have the baseline {baseline} as its down"
                ),
            });
        }
        // Kahn's algorithm; what is left over sits on a cycle.
        let mut pending: Vec<usize> = (0..ids.len()).map(|n| downs[n].len()).collect();
        // The ready nodes by the rank of their id, so the smallest id is taken first.
        let mut rank = vec![0; ids.len()];
        for (r, &n) in by_id.iter().enumerate() {
            rank[n] = r;
        }
        let mut ready = BinaryHeap::from([Reverse(rank[0])]);
        let mut order = Vec::with_capacity(ids.len());
        while let Some(Reverse(r)) = ready.pop() {
            let n = by_id[r];
            order.push(n);
            for &c in &children[n] {
                pending[c] -= 1;
                if pending[c] == 0 {
                    ready.push(Reverse(rank[c]));
                }
            }
        }
        if order.len() != ids.len() {
            let mut placed = vec![false; ids.len()];
            for &n in &order {
                placed[n] = true;
            }
            let stuck: Vec<&str> = (0..ids.len())
                .filter(|&n| !placed[n])
                .map(|n| &ids[n])
                .collect();
            return Err(SetError::Revision {
                id: stuck.join(", "),
                message: "these revisions form a cycle (or descend from one)".into(),
            });
        }
        Ok(Graph {
            ids,
            by_id,
            downs,
            children,
            order,
        })
    }

    pub fn id(&self, node: usize) -> &str {
        &self.ids[node]
    }

    pub fn node(&self, id: &str) -> Option<usize> {
        self.by_id
            .binary_search_by(|&n| self.ids[n].cmp(id))
            .ok()
            .map(|i| self.by_id[i])
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        false // the baseline is always there
    }

    /// Nodes without children, in id order.
    pub fn heads(&self) -> Vec<usize> {
        let mut heads: Vec<usize> = (0..self.ids.len())
            .filter(|&n| self.children[n].is_empty())
            .collect();
        heads.sort_by(|a, b| self.ids[*a].cmp(&self.ids[*b]));
        heads
    }

    pub fn downs(&self, node: usize) -> &[usize] {
        &self.downs[node]
    }

    /// The nodes whose down revisions include `node`.
    pub fn children(&self, node: usize) -> &[usize] {
        &self.children[node]
    }

    /// Topological order: every revision after the ones it descends from.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The nodes are themselves and all they descend from.
    pub fn ancestors(&self, nodes: &[usize]) -> Vec<bool> {
        let mut seen = vec![false; self.ids.len()];
        let mut stack: Vec<usize> = nodes.to_vec();
        while let Some(n) = stack.pop() {
            if !seen[n] {
                seen[n] = true;
                stack.extend(&self.downs[n]);
            }
        }
        seen
    }

    /// Revisions to apply to go from `current` (heads) up to `target`, in order.
    pub fn upgrade_path(&self, current: &[usize], target: &[usize]) -> Vec<usize> {
        let have = self.ancestors(current);
        let want = self.ancestors(target);
        self.order
            .iter()
            .copied()
            .filter(|&n| want[n] && !have[n])
            .collect()
    }

    /// Revisions to undo to go from `current` down to `target`, in order (newest first).
    pub fn downgrade_path(
        &self,
        current: &[usize],
        target: &[usize],
    ) -> Result<Vec<usize>, TargetError> {
        let have = self.ancestors(current);
        if let Some(&t) = target.iter().find(|&&t| !have[t]) {
            return Err(TargetError::Invalid(format!(
                "{} is not below the current revision; downgrade goes only down (use upgrade)",
                &self.ids[t]
            )));
        }
        let keep = self.ancestors(target);
        Ok(self
            .order
            .iter()
            .rev()
            .copied()
            .filter(|&n| have[n] && !keep[n])
            .collect())
    }

    /// The heads after applying `node` on top of `heads` (Alembic's version-table rule).
    pub fn heads_after_up(&self, heads: &[usize], node: usize) -> Vec<usize> {
        let below = self.ancestors(&[node]);
        let mut out: Vec<usize> = heads.iter().copied().filter(|&h| !below[h]).collect();
        out.push(node);
        self.sorted(out)
    }

    /// The heads after undoing `node`, which must be one of `heads`.
    pub fn heads_after_down(&self, heads: &[usize], node: usize) -> Vec<usize> {
        let mut candidates: Vec<usize> = heads.iter().copied().filter(|&h| h != node).collect();
        candidates.extend(&self.downs[node]);
        candidates.sort_unstable();
        candidates.dedup();
        // Keep only those no other candidate descends from.
        let reduced: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&c| {
                !candidates
                    .iter()
                    .any(|&o| o != c && self.ancestors(&[o])[c])
            })
            .collect();
        self.sorted(reduced)
    }

    fn sorted(&self, mut nodes: Vec<usize>) -> Vec<usize> {
        nodes.sort_by(|a, b| self.ids[*a].cmp(&self.ids[*b]));
        nodes
    }

    /// An id or a unique prefix of one.
    pub fn lookup(&self, id: &str) -> Result<usize, TargetError> {
        if let Some(n) = self.node(id) {
            return Ok(n);
        }
        let matches: Vec<usize> = (0..self.ids.len())
            .filter(|&n| !id.is_empty() && self.ids[n].starts_with(id))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(TargetError::Unknown(id.to_string())),
            many => Err(TargetError::Ambiguous {
                prefix: id.to_string(),
                matches: self.names(many),
            }),
        }
    }

    pub fn names(&self, nodes: &[usize]) -> String {
        nodes
            .iter()
            .map(|&n| &self.ids[n])
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Resolves a target against the current heads: `head`, `heads`, `base`, `+N` / `-N`
    /// (relative to the current revision), `REV+N` / `REV-N` (relative to a named revision, an
    /// id or unique prefix, or `head` / `base`), an id or a unique prefix.
    pub fn resolve(&self, spec: &str, current: &[usize]) -> Result<Vec<usize>, TargetError> {
        let spec = spec.trim();
        match spec {
            "head" => match self.heads().as_slice() {
                [one] => Ok(vec![*one]),
                many => Err(TargetError::MultipleHeads(self.names(many))),
            },
            "heads" => Ok(self.heads()),
            "base" => Ok(vec![0]),
            _ if spec.starts_with('+') || spec.starts_with('-') => {
                let (up, steps) = relative(spec, &spec[1..])?;
                let node = match current {
                    [one] => *one,
                    [] => {
                        return Err(TargetError::Invalid(format!(
                            "{spec} is relative to the current revision, and the database has none"
                        )));
                    }
                    many => {
                        let example = &self.ids[many[0]];
                        return Err(TargetError::Invalid(format!(
                            "{spec} is ambiguous with several current heads ({}); name the branch, e.g. {example}{spec}",
                            self.names(many)
                        )));
                    }
                };
                self.walk(spec, node, up, steps)
            }
            _ => match spec.rfind(['+', '-']) {
                // `REV+N` / `REV-N`: ids are [a-z0-9_], so a sign always starts the offset.
                Some(at) => {
                    let (base, offset) = spec.split_at(at);
                    let (up, steps) = relative(spec, &offset[1..])?;
                    let node = match base {
                        "head" | "base" => self.resolve(base, current)?[0],
                        "heads" => {
                            return Err(TargetError::Invalid(format!(
                                "{spec:?}: `heads` names every head; count from one revision instead (REV{}N or head{}N)",
                                &offset[..1],
                                &offset[..1]
                            )));
                        }
                        _ => self.lookup(base)?,
                    };
                    self.walk(spec, node, up, steps)
                }
                None => Ok(vec![self.lookup(spec)?]),
            },
        }
    }

    /// `steps` revisions up (towards the heads) or down (towards the baseline) from `node`.
    /// The last step down from a merge revision lands on all its parents, as in Alembic.
    fn walk(
        &self,
        spec: &str,
        mut node: usize,
        up: bool,
        steps: usize,
    ) -> Result<Vec<usize>, TargetError> {
        for step in 0..steps {
            let next = if up {
                &self.children[node]
            } else {
                &self.downs[node]
            };
            node = match next {
                [one] => *one,
                [] if up => {
                    return Err(TargetError::Invalid(format!(
                        "{spec} goes past the head {}",
                        &self.ids[node]
                    )));
                }
                [] => {
                    return Err(TargetError::Invalid(format!(
                        "{spec} goes below the baseline {}; ferry never downgrades below it",
                        &self.ids[0]
                    )));
                }
                many if up => {
                    return Err(TargetError::Invalid(format!(
                        "{spec} is ambiguous at {}: it branches to {}; name the revision",
                        &self.ids[node],
                        self.names(many)
                    )));
                }
                many if step + 1 == steps => return Ok(self.sorted(many.to_vec())),
                many => {
                    return Err(TargetError::Invalid(format!(
                        "{spec} goes below the merge {} of {}; name the revision",
                        &self.ids[node],
                        self.names(many)
                    )));
                }
            };
        }
        Ok(vec![node])
    }
}

/// The direction and count of a relative target's `+N` / `-N` part (`digits` is N).
fn relative(spec: &str, digits: &str) -> Result<(bool, usize), TargetError> {
    let up = !spec[..spec.len() - digits.len()].ends_with('-');
    Some(digits)
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .map(|n| (up, n))
        .ok_or_else(|| {
            TargetError::Invalid(format!(
                "{spec:?} is not a valid target; write +N or -N (relative to the current revision) or REV+N / REV-N with a whole number N"
            ))
        })
}
