//! The hand-off to an external revision runner (`[handoff] command = "alembic upgrade head"`
//! in ferry.toml): after the bridge, `ferry upgrade` runs that command through `sh -c`, with the
//! database in its environment, and passes its exit status on.
//!
//! The command sees `FERRY_DATABASE_URL` and `DATABASE_URL` (the URL as ferry got it),
//! `FERRY_SQLALCHEMY_URL` (the same database as an SQLAlchemy URL) and, with `--schema`,
//! `FERRY_SCHEMA`. These may carry a password: they go to the command only, never to output.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::core::plan::shown;
use crate::driver::url::DatabaseUrl;
use crate::error::{Error, Result};

/// One run of the hand-off command, prepared before the lock is taken (so a URL it cannot
/// express is refused before anything is written).
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The command as configured (run through `sh -c`).
    pub command: String,
    /// Variables added to ferry's own environment.
    pub env: Vec<(String, String)>,
    /// Send the command's stdout to ferry's stderr (with `--json`, ferry's stdout is one object).
    pub stdout_to_stderr: bool,
    /// Say on stderr that the hand-off starts (not with `--json` or `--quiet`).
    pub announce: bool,
}

/// What the hand-off did, for output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandoffReport {
    /// The command, any password in it masked.
    pub command: String,
    pub status: i32,
    pub duration_ms: u128,
    /// The version table's rows once the command finished.
    pub heads_after: Vec<String>,
}

impl Invocation {
    /// `raw` is the database URL as ferry got it; `url` is its parsed form.
    pub fn new(
        command: &str,
        raw: &str,
        url: &DatabaseUrl,
        schema: Option<&str>,
    ) -> Result<Invocation> {
        let sqlalchemy = sqlalchemy_url(url)
            .map_err(|m| Error::Usage(format!("cannot hand off to `{}`: {m}", shown(command))))?;
        let mut env = vec![
            ("FERRY_DATABASE_URL".to_string(), raw.to_string()),
            ("DATABASE_URL".to_string(), raw.to_string()),
            ("FERRY_SQLALCHEMY_URL".to_string(), sqlalchemy),
        ];
        if let Some(schema) = schema {
            env.push(("FERRY_SCHEMA".to_string(), schema.to_string()));
        }
        Ok(Invocation {
            command: command.trim().to_string(),
            env,
            stdout_to_stderr: false,
            announce: false,
        })
    }

    /// Runs the command to its end. `position` (where the bridge left the database) goes into
    /// the error when it fails. Returns the exit status (0) and how long it took.
    pub fn run(&self, position: &str) -> Result<Duration> {
        let shown = shown(&self.command);
        if self.announce {
            eprintln!("ferry: handing off to `{shown}`");
        }
        let mut command = Command::new("sh");
        command.arg("-c").arg(&self.command);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if self.stdout_to_stderr {
            command.stdout(Stdio::from(std::io::stderr()));
        }
        let started = Instant::now();
        let status = command.status().map_err(|e| Error::HandoffStart {
            command: shown.clone(),
            message: format!("{e} (ferry runs it as `sh -c COMMAND`; is sh on PATH?)"),
        })?;
        let duration = started.elapsed();
        if status.success() {
            return Ok(duration);
        }
        let (code, how) = match (status.code(), signal(&status)) {
            (Some(127), _) => (
                127,
                "exited with status 127: the shell could not find the command (is it installed, is the path right?)"
                    .to_string(),
            ),
            (Some(126), _) => (
                126,
                "exited with status 126: the command is not executable".to_string(),
            ),
            (Some(code), _) => (code, format!("exited with status {code}")),
            (None, Some(sig)) => (128 + sig, format!("was killed by signal {sig}")),
            (None, None) => (1, "ended without an exit status".to_string()),
        };
        Err(Error::HandoffFailed {
            command: shown,
            status: u8::try_from(code).ok().filter(|&c| c != 0).unwrap_or(1),
            how,
            position: position.to_string(),
        })
    }
}

#[cfg(unix)]
fn signal(status: &std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

#[cfg(not(unix))]
fn signal(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

/// The same database as an SQLAlchemy URL: `sqlite:////abs/path`, `postgresql://…` (a libpq
/// `key=value` string becomes a URL; a Unix socket directory goes into `?host=`).
pub fn sqlalchemy_url(url: &DatabaseUrl) -> Result<String, String> {
    match url {
        DatabaseUrl::SqliteMemory => Err(
            "sqlite::memory: is private to ferry's own connection; the hand-off command needs a database file it can open"
                .into(),
        ),
        DatabaseUrl::SqliteFile(path, _) => sqlite_url(path),
        DatabaseUrl::Postgres(text) => {
            if let Some(rest) = text.strip_prefix("postgres://") {
                Ok(format!("postgresql://{rest}"))
            } else if text.starts_with("postgresql://") {
                Ok(text.clone())
            } else {
                libpq_to_url(text)
            }
        }
    }
}

fn sqlite_url(path: &Path) -> Result<String, String> {
    let absolute = std::path::absolute(path)
        .map_err(|e| format!("cannot make {} absolute: {e}", path.display()))?;
    let text = absolute.to_str().ok_or_else(|| {
        format!(
            "the path {} is not UTF-8, so no SQLAlchemy URL can name it",
            absolute.display()
        )
    })?;
    if text.contains('?') {
        return Err(format!(
            "the path {text} contains '?', which an SQLAlchemy URL cannot carry in a SQLite path"
        ));
    }
    // sqlite:/// followed by the absolute path (which starts with `/`).
    Ok(format!("sqlite:///{text}"))
}

fn libpq_to_url(text: &str) -> Result<String, String> {
    let pairs = crate::driver::postgres::libpq_pairs(text)?;
    let get = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut url = String::from("postgresql://");
    if let Some(user) = get("user") {
        url.push_str(&encode(user));
        if let Some(password) = get("password") {
            url.push(':');
            url.push_str(&encode(password));
        }
        url.push('@');
    }
    let mut query: Vec<(String, String)> = Vec::new();
    // One TCP host goes into the authority; a socket directory or a host list into the query.
    match get("host") {
        Some(host) if !host.starts_with('/') && !host.contains(',') && !host.is_empty() => {
            if host.contains(':') {
                url.push_str(&format!("[{host}]")); // IPv6
            } else {
                url.push_str(&encode(host));
            }
            if let Some(port) = get("port").filter(|p| !p.contains(',')) {
                url.push(':');
                url.push_str(&encode(port));
            }
        }
        Some(host) => {
            query.push(("host".into(), host.into()));
            if let Some(port) = get("port") {
                query.push(("port".into(), port.into()));
            }
        }
        None => {
            if let Some(port) = get("port") {
                query.push(("port".into(), port.into()));
            }
        }
    }
    url.push('/');
    if let Some(dbname) = get("dbname") {
        url.push_str(&encode(dbname));
    }
    for (key, value) in &pairs {
        let structural = ["user", "password", "host", "port", "dbname"].contains(&key.as_str());
        if !structural && !query.iter().any(|(k, _)| k == key) {
            query.push((key.clone(), value.clone()));
        }
    }
    if !query.is_empty() {
        url.push('?');
        let parts: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        url.push_str(&parts.join("&"));
    }
    Ok(url)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(text: &str) -> Result<String, String> {
        sqlalchemy_url(&DatabaseUrl::parse(text).unwrap())
    }

    #[test]
    fn sqlite_files_become_absolute_sqlalchemy_urls() {
        assert_eq!(sa("sqlite:/tmp/a.db").unwrap(), "sqlite:////tmp/a.db");
        assert_eq!(sa("/var/x y.db").unwrap(), "sqlite:////var/x y.db");
        let relative = sa("sqlite:rel/app.db").unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            relative,
            format!("sqlite:///{}", cwd.join("rel/app.db").display())
        );
        assert!(sa("sqlite::memory:").unwrap_err().contains("memory"));
        assert!(sa("/tmp/a?b.db").unwrap_err().contains('?'));
    }

    #[test]
    fn postgres_urls_use_the_postgresql_scheme() {
        assert_eq!(
            sa("postgres://u:p@h:5432/db?sslmode=require").unwrap(),
            "postgresql://u:p@h:5432/db?sslmode=require"
        );
        assert_eq!(sa("postgresql://u@h/db").unwrap(), "postgresql://u@h/db");
    }

    #[test]
    fn libpq_strings_become_urls() {
        assert_eq!(
            sa("host=db.example port=5433 dbname=app user=alice password='s e@c:r/t'").unwrap(),
            "postgresql://alice:s%20e%40c%3Ar%2Ft@db.example:5433/app"
        );
        assert_eq!(
            sa("host=/var/run/postgresql dbname=app user=bob sslmode=disable").unwrap(),
            "postgresql://bob@/app?host=%2Fvar%2Frun%2Fpostgresql&sslmode=disable"
        );
        assert_eq!(
            sa("dbname=app application_name=x").unwrap(),
            "postgresql:///app?application_name=x"
        );
        assert_eq!(sa("host=::1 dbname=app").unwrap(), "postgresql://[::1]/app");
    }
}
