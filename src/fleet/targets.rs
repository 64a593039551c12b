//! A fleet's targets: where they come from, their password-free identity, and the shard each
//! falls in.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::driver::url::DatabaseUrl;
use crate::driver::{self, OpenOptions};
use crate::error::{Error, Result};

/// One database of a fleet: a URL as given (with its password, if any), and for PostgreSQL
/// the schema that holds it, exactly as `--schema NAME` names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub schema: Option<String>,
}

impl Target {
    /// Parses `URL` or `URL --schema NAME` (a line of a `--targets` file, and what
    /// [`Target::identity`] writes).
    pub fn parse(line: &str) -> std::result::Result<Target, String> {
        let line = line.trim();
        let (url, schema) = match line.split_once(" --schema ") {
            Some((url, schema)) => {
                let schema = schema.trim();
                if schema.is_empty() || schema.contains(char::is_whitespace) {
                    return Err(format!(
                        "`--schema {schema}`: name one schema after --schema"
                    ));
                }
                (url.trim(), Some(schema.to_string()))
            }
            None => (line, None),
        };
        let parsed = DatabaseUrl::parse(url)?;
        if schema.is_some() && !matches!(parsed, DatabaseUrl::Postgres(_)) {
            return Err(format!(
                "--schema applies to PostgreSQL databases only, and {} is not one",
                parsed.display()
            ));
        }
        if matches!(parsed, DatabaseUrl::SqliteMemory) {
            return Err("sqlite::memory: is not a database a fleet can upgrade (it ends with the connection)".into());
        }
        Ok(Target {
            url: url.to_string(),
            schema,
        })
    }

    /// The target without its password: `sqlite:PATH`, `postgres://user@host/db`,
    /// `postgres://user@host/db --schema NAME`. Stable: it decides the shard.
    pub fn identity(&self) -> String {
        let url = DatabaseUrl::parse(&self.url)
            .map(|u| u.display())
            .unwrap_or_else(|_| driver::url::redact(&self.url));
        match &self.schema {
            Some(s) => format!("{url} --schema {s}"),
            None => url,
        }
    }
}

/// `--shard K/N`: this machine runs the targets whose identity hashes to K modulo N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Shard, String> {
        let bad = || {
            format!(
                "`{text}` is not a shard: write K/N with 0 ≤ K < N, e.g. 0/4 … 3/4 on four machines \
                 (a Kubernetes Indexed Job: $JOB_COMPLETION_INDEX/COUNT)"
            )
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether `target` falls in this shard: the first 8 bytes of the SHA-256 of its identity,
    /// modulo N. The same target always falls in the same shard, on every machine.
    pub fn holds(&self, target: &Target) -> bool {
        let digest = Sha256::digest(target.identity().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.count == self.index
    }
}

/// The targets of a `--targets` file's text: one per line, `URL` or `URL --schema NAME`; blank
/// lines and `#` comments ignored; a target named twice runs once. `source` names the file in
/// errors.
pub fn targets_from_text(text: &str, source: &str) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let target = Target::parse(line).map_err(|e| {
            Error::Usage(format!(
                "{source}, line {}: {e} (a line is a database URL, optionally followed by --schema NAME)",
                n + 1
            ))
        })?;
        targets.push(target);
    }
    Ok(dedup(targets))
}

/// Every SQLite file matching `pattern` (glob syntax: `*`, `?`, `[…]`, `**`), sorted.
pub fn targets_from_glob(pattern: &str) -> Result<Vec<Target>> {
    let paths = glob::glob(pattern).map_err(|e| {
        Error::Usage(format!(
            "--sqlite-glob '{pattern}' is not a valid glob: {e}"
        ))
    })?;
    let mut targets = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| Error::Io {
            path: e.path().display().to_string(),
            message: e.error().to_string(),
        })?;
        if path.is_file() {
            targets.push(Target {
                url: format!("sqlite:{}", path.display()),
                schema: None,
            });
        }
    }
    targets.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(targets)
}

/// Every schema of the PostgreSQL database `url` whose name matches the SQL LIKE `pattern`
/// (system schemas never), sorted by name; each is a target of its own.
pub fn targets_from_schemas(url: &str, pattern: &str, timeout: Duration) -> Result<Vec<Target>> {
    let parsed = DatabaseUrl::parse(url).map_err(Error::Usage)?;
    if !matches!(parsed, DatabaseUrl::Postgres(_)) {
        return Err(Error::Usage(format!(
            "--schemas lists the schemas of a PostgreSQL database, and {} is not one",
            parsed.display()
        )));
    }
    let mut db = driver::open(
        &parsed,
        &OpenOptions {
            create: false,
            schema: None,
            busy_timeout: timeout,
        },
    )?;
    let rows = db
        .query(&format!(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE '{}' \
             AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
            pattern.replace('\'', "''")
        ))
        .map_err(Error::reading("listing the schemas"))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .map(|schema| Target {
            url: url.to_string(),
            schema: Some(schema),
        })
        .collect())
}

/// Each target once, in the order first named.
fn dedup(targets: Vec<Target>) -> Vec<Target> {
    let mut seen = BTreeSet::new();
    targets
        .into_iter()
        .filter(|t| seen.insert(t.identity()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        assert!("0/1".parse::<Shard>().is_ok());
        for bad in ["1/1", "3/2", "0/0", "-1/2", "a/2", "1", "1/", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let targets: Vec<Target> = (0..200)
            .map(|i| Target::parse(&format!("sqlite:/t/{i}.db")).unwrap())
            .collect();
        let shards: Vec<Shard> = (0..7).map(|k| Shard { index: k, count: 7 }).collect();
        for t in &targets {
            assert_eq!(shards.iter().filter(|s| s.holds(t)).count(), 1);
        }
        assert!(shards.iter().all(|s| targets.iter().any(|t| s.holds(t))));
    }

    #[test]
    fn lines_and_identity() {
        let text =
            "# tenants\n\nsqlite:a.db\n postgres://u:secret@h/db --schema t1 \nsqlite:a.db\n";
        let targets = targets_from_text(text, "list").unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[1].schema.as_deref(), Some("t1"));
        assert!(!targets[1].identity().contains("secret"));
        assert_eq!(
            Target::parse(&targets[1].identity()).unwrap().schema,
            targets[1].schema
        );
        let e = targets_from_text("sqlite:a.db --schema x\n", "list").unwrap_err();
        assert!(e.to_string().contains("list, line 1"), "{e}");
    }
}
