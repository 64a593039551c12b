//! `ferry new` and `ferry merge`: revision directories written into a set, with valid ids, on
//! the right down revision(s), and checked by loading the set again before ferry says so.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::core::graph::Graph;
use crate::core::set::{Dialect, Files, MigrationSet, Origin, check_revision_id};
use crate::error::{Error, Result};

/// Alembic's `alembic_version.version_num` is varchar(32).
pub const MAX_ID_LEN: usize = 32;

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Scaffold {
    pub revision: String,
    pub directory: PathBuf,
    pub down: Vec<String>,
    pub message: String,
    pub transaction: bool,
    /// File names inside `directory`.
    pub files: Vec<String>,
}

/// The next sequence number: one above the highest `NNNN_` prefix of the set's ids (the
/// baseline's included), or above the number of revisions when no id carries one.
pub fn next_sequence(graph: &Graph) -> u64 {
    (0..graph.len())
        .filter_map(|n| {
            let id = graph.id(n);
            let digits: String = id.chars().take_while(char::is_ascii_digit).collect();
            let rest = &id[digits.len()..];
            (rest.is_empty() || rest.starts_with('_'))
                .then(|| digits.parse::<u64>().ok())
                .flatten()
        })
        .max()
        .unwrap_or(graph.len() as u64)
        .saturating_add(1)
}

/// `[a-z0-9_]` words of `message`, joined by `_`, at most `max` characters, never empty.
pub fn slug(message: &str, max: usize) -> String {
    let mut slug = String::new();
    for c in message.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    slug.truncate(max); // ASCII only, so any index is a character boundary
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        "revision".chars().take(max.max(1)).collect()
    } else {
        slug.to_string()
    }
}

/// `NNNN_<slug of message>`, at most 32 characters.
pub fn revision_id(graph: &Graph, message: &str) -> String {
    let prefix = format!("{:04}_", next_sequence(graph));
    let room = MAX_ID_LEN.saturating_sub(prefix.len()).max(1);
    format!("{prefix}{}", slug(message, room))
}

/// A revision on the set's single head, before anything is written: where it goes, its id,
/// its down revision and its message.
#[derive(Debug, Clone)]
pub struct Planned {
    pub root: PathBuf,
    pub id: String,
    pub down: String,
    pub message: String,
}

/// Plans `ferry new`: the set's directory, the single head, a valid id.
pub fn plan_revision(set: &MigrationSet, graph: &Graph, message: &str) -> Result<Planned> {
    let root = set_dir(set, "new")?;
    let message = clean_message(message)?;
    Ok(Planned {
        root,
        id: revision_id(graph, &message),
        down: single_head(graph)?,
        message,
    })
}

/// The set's one head, which a new revision goes on; several heads are a usage error.
pub fn single_head(graph: &Graph) -> Result<String> {
    let heads = graph.heads();
    let [head] = heads.as_slice() else {
        return Err(Error::Usage(format!(
            "the set has {} heads ({}); a new revision goes on one head: join them first with `ferry merge -m MESSAGE`",
            heads.len(),
            graph.names(&heads)
        )));
    };
    Ok(graph.id(*head).to_string())
}

/// Writes a planned revision with the given files (name, text), checked like every new one.
pub fn write_planned(
    set: &MigrationSet,
    planned: &Planned,
    transaction: bool,
    files: Vec<(String, String)>,
) -> Result<Scaffold> {
    write(
        set,
        &planned.root,
        &planned.id,
        vec![planned.down.clone()],
        &planned.message,
        transaction,
        files,
    )
}

/// `ferry new`: a revision on the set's single head.
pub fn new_revision(
    set: &MigrationSet,
    graph: &Graph,
    message: &str,
    per_dialect: bool,
    transaction: bool,
) -> Result<Scaffold> {
    let Planned {
        root,
        id,
        down,
        message,
    } = plan_revision(set, graph, message)?;
    let down = vec![down];
    let header = |stem: &str, dialect: Option<Dialect>| {
        let what = match (stem, dialect) {
            ("up", None) => "Upgrade, for every dialect (or replace this file by up.sqlite.sql and up.postgres.sql)".to_string(),
            ("up", Some(d)) => format!("Upgrade, {} only", d.name()),
            (_, None) => "Downgrade: undo what up.sql does (`ferry downgrade` runs it), for every dialect".to_string(),
            (_, Some(d)) => format!("Downgrade: undo what up.{}.sql does, {} only", d.name(), d.name()),
        };
        let how = if transaction {
            "ferry runs this file as one script (never split on `;`), in one transaction together with the\n-- version-table update; a failure rolls the whole step back."
        } else {
            "transaction = false: ferry runs this file outside a transaction (e.g. CREATE INDEX CONCURRENTLY),\n-- then records the step; statements before a failing one stay applied, so keep it to one."
        };
        format!(
            "-- {id}: {message}\n-- {what}.\n-- {how}\n\
             -- To skip a change where it exists already, guard it:\n\
             --     -- ferry:if-missing column users.nickname     (or if-present; table T, index I)\n\
             --     ALTER TABLE users ADD COLUMN nickname TEXT;\n\
             --     -- ferry:end\n"
        )
    };
    let mut files = Vec::new();
    for stem in ["up", "down"] {
        if per_dialect {
            for d in Dialect::ALL {
                files.push((format!("{stem}.{}.sql", d.name()), header(stem, Some(d))));
            }
        } else {
            files.push((format!("{stem}.sql"), header(stem, None)));
        }
    }
    write(set, &root, &id, down, &message, transaction, files)
}

/// `ferry merge`: a revision whose down revisions are all current heads.
pub fn merge_revision(set: &MigrationSet, graph: &Graph, message: &str) -> Result<Scaffold> {
    let root = set_dir(set, "merge")?;
    let message = clean_message(message)?;
    let heads = graph.heads();
    if heads.len() < 2 {
        return Err(Error::Usage(format!(
            "the set has a single head ({}): there is nothing to merge; `ferry new MESSAGE` adds a revision on it",
            graph.names(&heads)
        )));
    }
    let id = revision_id(graph, &message);
    let down: Vec<String> = heads.iter().map(|&n| graph.id(n).to_string()).collect();
    let header = |stem: &str| {
        format!(
            "-- {id}: {message}\n\
             -- Merge of {}: nothing to run. Upgrading through it replaces its parents' rows in\n\
             -- alembic_version with its own, as Alembic does. Add SQL here only to reconcile the branches\n\
             -- ({stem}.sql runs for every dialect; up.<dialect>.sql files take precedence).\n\
             -- ferry:empty\n",
            down.join(", ")
        )
    };
    let files = vec![
        ("up.sql".to_string(), header("up")),
        ("down.sql".to_string(), header("down")),
    ];
    write(set, &root, &id, down.clone(), &message, true, files)
}

fn set_dir(set: &MigrationSet, command: &str) -> Result<PathBuf> {
    match &set.origin {
        Origin::Dir(dir) => Ok(dir.clone()),
        Origin::Embedded => Err(Error::Usage(format!(
            "`ferry {command}` writes into a migration set directory: pass --migrations DIR (the set compiled into this binary cannot change)"
        ))),
    }
}

fn clean_message(message: &str) -> Result<String> {
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if message.is_empty() {
        return Err(Error::Usage(
            "the message is empty; say what the revision does, e.g. \"Add bot tags\"".into(),
        ));
    }
    Ok(message)
}

/// Writes `revisions/<id>/`, then loads the set again: a directory that would break it is
/// removed and the reason reported.
fn write(
    set: &MigrationSet,
    root: &Path,
    id: &str,
    down: Vec<String>,
    message: &str,
    transaction: bool,
    files: Vec<(String, String)>,
) -> Result<Scaffold> {
    check_revision_id(id).map_err(|m| Error::Usage(format!("revision id {id}: {m}")))?;
    let revisions = root.join("revisions");
    let dir = revisions.join(id);
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if dir.exists() {
        return Err(Error::Usage(format!(
            "{} exists already; ferry never writes into an existing revision",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&revisions).map_err(|e| io(&revisions, e))?;
    // create_dir (not _all): it fails if another process made the directory meanwhile.
    std::fs::create_dir(&dir).map_err(|e| io(&dir, e))?;
    let downs = match down.as_slice() {
        [one] => toml_string(one),
        many => format!(
            "[{}]",
            many.iter()
                .map(|d| toml_string(d))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let toml = format!(
        "down = {downs}\nmessage = {}\ntransaction = {transaction}\n",
        toml_string(message)
    );
    let mut written = vec!["revision.toml".to_string()];
    let result = (|| {
        let path = dir.join("revision.toml");
        std::fs::write(&path, toml).map_err(|e| io(&path, e))?;
        for (name, text) in &files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
            written.push(name.clone());
        }
        let reloaded = MigrationSet::load(Files::from_dir(root)?, set.origin.clone())?;
        Graph::new(&reloaded)?;
        reloaded.verify_freeze()?;
        reloaded.check_guards()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(Scaffold {
        revision: id.to_string(),
        directory: dir,
        down,
        message: message.to_string(),
        transaction,
        files: written,
    })
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_are_lowercase_words_cut_to_fit_and_never_empty() {
        assert_eq!(slug("Add bot tags", 27), "add_bot_tags");
        assert_eq!(
            slug("  Ünïcode -- and   PUNCT!! 42 ", 27),
            "n_code_and_punct_42"
        );
        assert_eq!(slug("a_b__c", 27), "a_b_c");
        assert_eq!(slug("???", 27), "revision");
        assert_eq!(slug("abcdef ghij", 7), "abcdef");
        assert_eq!(
            slug("index kb documents by knowledge base and status", 27),
            "index_kb_documents_by_knowl"
        );
        for m in ["x", "Hello world", "!!!", "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p"] {
            for max in 1..30 {
                let s = slug(m, max);
                assert!(
                    !s.is_empty() && s.len() <= max.max(1),
                    "{m:?} {max} → {s:?}"
                );
                assert!(!s.starts_with('_') && !s.ends_with('_'), "{s}");
                assert!(
                    s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                );
            }
        }
    }
}
