//! Database URLs: which dialect, where, and how to show one without its password.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file, and what its URL's query said.
    SqliteFile(PathBuf, SqliteOptions),
    SqliteMemory,
    /// A `postgres://` URL or a libpq `key=value` string, passed to the driver as written.
    Postgres(String),
}

/// What a SQLite URL's query string and form say besides the path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqliteOptions {
    /// `mode=ro` / `immutable=1`: never written; `mode=rw`: never created.
    pub access: Access,
    /// The other reading of an ambiguous URL (`sqlite:///data/app.db` is `data/app.db` as
    /// SQLAlchemy reads it, and `/data/app.db` as a plain path would be): when the chosen file
    /// does not exist and this one does, ferry refuses rather than guess.
    pub other_reading: Option<PathBuf>,
}

/// How a SQLite file may be opened, from its URL's `mode=` (SQLite's URI parameter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// `mode=rwc` (the default): read, write, and create when a writing command needs to.
    #[default]
    ReadWriteCreate,
    /// `mode=rw`: read and write an existing file, never create one.
    ReadWrite,
    /// `mode=ro` or `immutable=1`: only read.
    ReadOnly,
}

/// Query parameters of SQLAlchemy's SQLite drivers (pysqlite, aiosqlite) that concern the
/// Python connection only: accepted and ignored.
const SQLITE_DRIVER_ONLY: &[&str] = &[
    "check_same_thread",
    "timeout",
    "isolation_level",
    "detect_types",
    "uri",
    "cached_statements",
    "factory",
];

/// Query parameters of SQLAlchemy's PostgreSQL drivers that concern the Python connection only
/// (psycopg2, psycopg, asyncpg): accepted and ignored.
const POSTGRES_DRIVER_ONLY: &[&str] = &[
    "prepared_statement_cache_size",
    "prepared_statement_name_func",
    "statement_cache_size",
    "max_cached_statement_lifetime",
    "max_cacheable_statement_size",
    "async_fallback",
];

impl DatabaseUrl {
    /// Parses `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:`, a bare path, `postgres://…`,
    /// `postgresql://…`, `host=… dbname=…`, and SQLAlchemy's URLs: `postgresql+DRIVER://…`,
    /// `sqlite+DRIVER://…`, `sqlite:///relative.db`, `sqlite:////absolute.db`, with their
    /// query parameters.
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the database URL is empty".into());
        }
        if text == "sqlite::memory:" || text == "sqlite://:memory:" || text == ":memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        // SQLAlchemy's `dialect+driver://`: the driver is the Python one; ferry has its own.
        let (scheme, rest, driver) = match text.split_once("://") {
            Some((scheme, rest)) => {
                let base = scheme.split_once('+').map_or(scheme, |(b, _)| b);
                (Some(base.to_ascii_lowercase()), rest, base != scheme)
            }
            None => (None, text, false),
        };
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => return postgres_url(text, rest, driver),
            Some("sqlite") => return sqlite_url(text, rest, true),
            Some(other) => {
                return Err(format!(
                    "unsupported database scheme {other:?}; ferry speaks sqlite:PATH, sqlite::memory:, postgres:// and postgresql:// (SQLAlchemy's +driver forms too)"
                ));
            }
            None => {}
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            return sqlite_url(text, rest, false);
        }
        if looks_like_libpq(text) {
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        Ok(DatabaseUrl::SqliteFile(
            PathBuf::from(text),
            SqliteOptions::default(),
        ))
    }

    pub fn dialect(&self) -> crate::core::set::Dialect {
        match self {
            DatabaseUrl::SqliteFile(..) | DatabaseUrl::SqliteMemory => {
                crate::core::set::Dialect::Sqlite
            }
            DatabaseUrl::Postgres(_) => crate::core::set::Dialect::Postgres,
        }
    }

    /// A SQLite file that does not exist yet (absolute): the one a writing command creates,
    /// and says so.
    pub fn missing_file(&self) -> Option<PathBuf> {
        match self {
            DatabaseUrl::SqliteFile(path, _) if !path.exists() => {
                Some(std::path::absolute(path).unwrap_or_else(|_| path.clone()))
            }
            _ => None,
        }
    }

    /// How the database is named in output: never with its password.
    pub fn display(&self) -> String {
        match self {
            DatabaseUrl::SqliteFile(p, _) => format!("sqlite:{}", p.display()),
            DatabaseUrl::SqliteMemory => "sqlite::memory:".into(),
            DatabaseUrl::Postgres(s) => redact(s),
        }
    }
}

/// `postgres[ql][+driver]://…`: the driver suffix dropped, SQLAlchemy's driver-only query
/// parameters left out, asyncpg's `ssl=` read as libpq's `sslmode=`; every other parameter goes
/// to the connection, which refuses one it does not know.
fn postgres_url(text: &str, rest: &str, driver: bool) -> Result<DatabaseUrl, String> {
    let Some((base, query)) = rest.split_once('?') else {
        return Ok(DatabaseUrl::Postgres(if driver {
            format!("postgresql://{rest}")
        } else {
            text.to_string()
        }));
    };
    let mut kept = Vec::new();
    let mut changed = driver;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if POSTGRES_DRIVER_ONLY.contains(&key) {
            changed = true;
            continue;
        }
        if key == "ssl" {
            let mode = match value {
                "true" | "require" => "require",
                "false" | "disable" => "disable",
                "prefer" | "allow" | "verify-ca" | "verify-full" => value,
                other => {
                    return Err(format!(
                        "ssl={other:?} in the database URL: use one of require, disable, prefer, allow, verify-ca, verify-full (or sslmode=…)"
                    ));
                }
            };
            kept.push(format!("sslmode={mode}"));
            changed = true;
            continue;
        }
        kept.push(pair.to_string());
    }
    if !changed {
        // Ferry's own form, passed to the driver as written.
        return Ok(DatabaseUrl::Postgres(text.to_string()));
    }
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    Ok(DatabaseUrl::Postgres(format!("postgresql://{base}{query}")))
}

/// `sqlite:PATH`, `sqlite://PATH`, `sqlite[+driver]:///PATH` (SQLAlchemy: relative),
/// `sqlite[+driver]:////PATH` (absolute), each with an optional query string.
fn sqlite_url(text: &str, rest: &str, slashes: bool) -> Result<DatabaseUrl, String> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut options = SqliteOptions::default();
    let mut memory = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (key, value) {
            ("mode", "ro") => options.access = Access::ReadOnly,
            ("mode", "rw") => options.access = Access::ReadWrite,
            ("mode", "rwc") => options.access = Access::ReadWriteCreate,
            ("mode", "memory") => memory = true,
            ("immutable", "1" | "true" | "yes" | "on") => options.access = Access::ReadOnly,
            ("immutable", "0" | "false" | "no" | "off") => {}
            // One connection: a shared cache changes nothing for ferry.
            ("cache", "shared" | "private") => {}
            (key, _) if SQLITE_DRIVER_ONLY.contains(&key) => {}
            ("mode" | "immutable" | "cache", value) => {
                return Err(format!(
                    "{key}={value:?} in the SQLite URL {text:?} is not a value SQLite knows"
                ));
            }
            ("nolock" | "vfs" | "psow", _) => {
                return Err(format!(
                    "{key}= in the SQLite URL {text:?} is not supported by ferry (its lock and backup need SQLite's default file handling); remove it"
                ));
            }
            (key, _) => {
                return Err(format!(
                    "unknown parameter {key:?} in the SQLite URL {text:?}: ferry knows SQLite's mode, immutable and cache, and ignores the Python drivers' {}",
                    SQLITE_DRIVER_ONLY.join(", ")
                ));
            }
        }
    }
    if memory || (slashes && path == ":memory:") {
        return Ok(DatabaseUrl::SqliteMemory);
    }
    if slashes && path.is_empty() {
        // SQLAlchemy's in-memory `sqlite://`: nothing ferry does there would last.
        return Err(format!(
            "{text:?} names no file (to SQLAlchemy it is an in-memory database, where nothing ferry writes would \
             last); write sqlite:PATH (e.g. sqlite:app.db), or sqlite::memory: if an in-memory database is meant"
        ));
    }
    let path = if slashes {
        match path.strip_prefix('/') {
            // SQLAlchemy: `sqlite:///data/app.db` is relative, `sqlite:////data/app.db` absolute.
            Some(relative) if !relative.starts_with('/') => {
                options.other_reading = Some(PathBuf::from(path));
                relative
            }
            Some(absolute) => absolute,
            None => path,
        }
    } else {
        path
    };
    if path.is_empty() {
        return Err(format!(
            "{text:?} names no file; write sqlite:PATH (e.g. sqlite:app.db)"
        ));
    }
    Ok(DatabaseUrl::SqliteFile(PathBuf::from(path), options))
}

/// Every libpq connection keyword, so a key=value string is never taken for a file name.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "keepalives_retries",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "requiressl",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

/// `host=x dbname=y`: the first word is a libpq keyword followed by `=` (spaces allowed).
fn looks_like_libpq(text: &str) -> bool {
    let text = text.trim_start();
    let key_len = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let (key, rest) = text.split_at(key_len);
    LIBPQ_KEYWORDS.contains(&key) && rest.trim_start().starts_with('=')
}

/// Replaces every password in a URL or libpq string — and in any text quoting one, such as a
/// driver's error — by `***`. Idempotent: a masked text is masked the same way again.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if let Some(end) =
            mask_userinfo(text, i, &mut out).or_else(|| mask_password(text, i, &mut out))
        {
            i = end;
            continue;
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// At `postgres://user:password@host`, writes the scheme and user and `***`; returns where the
/// host starts.
fn mask_userinfo(text: &str, at: usize, out: &mut String) -> Option<usize> {
    let rest = &text[at..];
    let scheme = ["postgresql://", "postgres://"]
        .into_iter()
        .find(|s| rest.starts_with(s))?;
    let start = at + scheme.len();
    let authority_end = text[start..]
        // Not `?` or `#`: an unencoded password may hold them; the last `@` ends it.
        .find(|c: char| matches!(c, '/' | '"' | '\'') || c.is_whitespace())
        .map_or(text.len(), |n| start + n);
    let at_sign = start + text[start..authority_end].rfind('@')?;
    let colon = start + text[start..at_sign].find(':')?;
    if text[start..colon].to_ascii_lowercase().contains("password") {
        return None; // a `password=` in the user name is masked, whole, by mask_password
    }
    out.push_str(&text[at..=colon]);
    out.push_str("***");
    Some(at_sign)
}

/// At a `password` keyword followed by `=`, writes the keyword and the masked value (quotes
/// kept); returns where the value ends.
fn mask_password(text: &str, at: usize, out: &mut String) -> Option<usize> {
    const KEY: &str = "password";
    let rest = &text[at..];
    if rest.len() < KEY.len()
        || !rest.is_char_boundary(KEY.len())
        || !rest[..KEY.len()].eq_ignore_ascii_case(KEY)
    {
        return None;
    }
    // Whatever precedes it: `sslpassword=` is a secret too.
    let before = text[..at].chars().next_back();
    let in_query = matches!(before, Some('?' | '&'));
    let mut i = at + KEY.len();
    i += text[i..].len() - text[i..].trim_start().len();
    if !text[i..].starts_with('=') {
        return None;
    }
    i += 1;
    out.push_str(&text[at..i]);
    if !in_query {
        // libpq skips white space before a value; the mask follows `=` directly.
        i += text[i..].len() - text[i..].trim_start().len();
    }
    let value = &text[i..];
    let len = if in_query {
        value
            .find(|c: char| c == '&' || c.is_whitespace())
            .unwrap_or(value.len())
    } else if let Some(quoted) = value.strip_prefix('\'') {
        // libpq: a quoted value ends at the first unescaped quote; anything glued to it (which
        // libpq would refuse) is masked too, so a second pass finds the same value.
        let mut escaped = false;
        let close = quoted.char_indices().find(|&(_, c)| {
            let end = c == '\'' && !escaped;
            escaped = c == '\\' && !escaped;
            end
        });
        let after = close.map_or(value.len(), |(n, _)| n + 2);
        after
            + value[after..]
                .find(char::is_whitespace)
                .unwrap_or(value.len() - after)
    } else {
        // libpq: an unquoted value ends at unescaped white space.
        let mut escaped = false;
        value
            .char_indices()
            .find(|&(_, c)| {
                let end = c.is_whitespace() && !escaped;
                escaped = c == '\\' && !escaped;
                end
            })
            .map_or(value.len(), |(n, _)| n)
    };
    out.push_str("***");
    Some(i + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> DatabaseUrl {
        DatabaseUrl::SqliteFile(path.into(), SqliteOptions::default())
    }

    #[test]
    fn sqlite_forms() {
        assert_eq!(DatabaseUrl::parse("sqlite:app.db"), Ok(file("app.db")));
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/a.db"),
            Ok(file("/tmp/a.db"))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://rel/a.db"),
            Ok(file("rel/a.db"))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:"),
            Ok(DatabaseUrl::SqliteMemory)
        );
        assert_eq!(
            DatabaseUrl::parse("data/app.sqlite3"),
            Ok(file("data/app.sqlite3"))
        );
        assert!(DatabaseUrl::parse("sqlite:").is_err());
        assert!(DatabaseUrl::parse("  ").is_err());
    }

    #[test]
    fn sqlalchemy_sqlite_forms_have_sqlalchemys_meaning() {
        // Three slashes: relative (the absolute reading is kept to refuse a wrong guess).
        let relative = DatabaseUrl::SqliteFile(
            "data/app.db".into(),
            SqliteOptions {
                other_reading: Some("/data/app.db".into()),
                ..SqliteOptions::default()
            },
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///data/app.db"),
            Ok(relative.clone())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite+aiosqlite:///data/app.db"),
            Ok(relative)
        );
        // Four: absolute.
        assert_eq!(
            DatabaseUrl::parse("sqlite:////data/app.db"),
            Ok(file("/data/app.db"))
        );
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        // The query is parsed, never part of the file name.
        let ro = DatabaseUrl::parse("sqlite:app.db?mode=ro&check_same_thread=false").unwrap();
        let DatabaseUrl::SqliteFile(path, options) = ro else {
            panic!("a file")
        };
        assert_eq!(path, PathBuf::from("app.db"));
        assert_eq!(options.access, Access::ReadOnly);
        let DatabaseUrl::SqliteFile(_, options) =
            DatabaseUrl::parse("sqlite:app.db?immutable=1&timeout=20&cache=shared").unwrap()
        else {
            panic!("a file")
        };
        assert_eq!(options.access, Access::ReadOnly);
        assert_eq!(
            DatabaseUrl::parse("sqlite:x.db?mode=memory"),
            Ok(DatabaseUrl::SqliteMemory)
        );
        for bad in [
            "sqlite:app.db?colour=blue",
            "sqlite:app.db?mode=readonly",
            "sqlite:app.db?nolock=1",
        ] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sqlalchemy_postgres_forms_drop_the_python_driver() {
        for (given, read) in [
            ("postgresql+psycopg2://u@h/db", "postgresql://u@h/db"),
            ("postgresql+asyncpg://u@h/db", "postgresql://u@h/db"),
            (
                "postgresql+psycopg://u:p@h:5432/db",
                "postgresql://u:p@h:5432/db",
            ),
            (
                "postgresql+asyncpg://u@h/db?ssl=require&prepared_statement_cache_size=0",
                "postgresql://u@h/db?sslmode=require",
            ),
            (
                "postgresql+psycopg2://u@h/db?application_name=x",
                "postgresql://u@h/db?application_name=x",
            ),
        ] {
            assert_eq!(
                DatabaseUrl::parse(given),
                Ok(DatabaseUrl::Postgres(read.into())),
                "{given}"
            );
        }
        assert!(DatabaseUrl::parse("postgresql+asyncpg://u@h/db?ssl=maybe").is_err());
        // A `+` after the scheme is no driver: ferry's own forms pass as written.
        assert_eq!(
            DatabaseUrl::parse("POSTGRES://+"),
            Ok(DatabaseUrl::Postgres("POSTGRES://+".into()))
        );
    }

    #[test]
    fn postgres_forms_and_bad_schemes() {
        for s in [
            "postgres://u@h/db",
            "postgresql://u:p@h:5432/db?sslmode=require",
            "host=/tmp dbname=x user=y",
        ] {
            assert_eq!(DatabaseUrl::parse(s), Ok(DatabaseUrl::Postgres(s.into())));
        }
        let e = DatabaseUrl::parse("mysql://root@localhost/x").unwrap_err();
        assert!(e.contains("\"mysql\""), "{e}");
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://alice:s3cr3t@db:5432/app"),
            "postgres://alice:***@db:5432/app"
        );
        assert_eq!(
            redact("postgresql://alice@db/app"),
            "postgresql://alice@db/app"
        );
        assert_eq!(
            redact("host=db password=s3cr3t dbname=app"),
            "host=db password=*** dbname=app"
        );
        assert_eq!(
            redact("host=db password='a b c' dbname=app"),
            "host=db password=*** dbname=app"
        );
        assert_eq!(
            redact("postgres://h/db?user=a&password=zz&x=1"),
            "postgres://h/db?user=a&password=***&x=1"
        );
        let shown = DatabaseUrl::parse("postgres://a:pw@h/d").unwrap().display();
        assert!(!shown.contains("pw"), "{shown}");
    }
}
