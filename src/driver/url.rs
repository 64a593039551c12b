//! Database URLs: which dialect, where, and how to show one without its password.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    SqliteFile(PathBuf),
    SqliteMemory,
    /// A `postgres://` URL or a libpq `key=value` string, passed to the driver as written.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:`, a bare path, `postgres://…`,
    /// `postgresql://…` or `host=… dbname=…`.
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the database URL is empty".into());
        }
        if text == "sqlite::memory:" || text == "sqlite://:memory:" || text == ":memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        if let Some(rest) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                return Err(format!(
                    "{text:?} names no file; write sqlite:PATH (e.g. sqlite:app.db)"
                ));
            }
            return Ok(DatabaseUrl::SqliteFile(PathBuf::from(rest)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "unsupported database scheme {scheme:?}; ferry speaks sqlite:PATH, sqlite::memory:, postgres:// and postgresql://"
            ));
        }
        if looks_like_libpq(text) {
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        Ok(DatabaseUrl::SqliteFile(PathBuf::from(text)))
    }

    pub fn dialect(&self) -> crate::core::set::Dialect {
        match self {
            DatabaseUrl::SqliteFile(_) | DatabaseUrl::SqliteMemory => {
                crate::core::set::Dialect::Sqlite
            }
            DatabaseUrl::Postgres(_) => crate::core::set::Dialect::Postgres,
        }
    }

    /// How the database is named in output: never with its password.
    pub fn display(&self) -> String {
        match self {
            DatabaseUrl::SqliteFile(p) => format!("sqlite:{}", p.display()),
            DatabaseUrl::SqliteMemory => "sqlite::memory:".into(),
            DatabaseUrl::Postgres(s) => redact(s),
        }
    }
}

/// `host=x dbname=y` (every word a known libpq keyword followed by `=`).
fn looks_like_libpq(text: &str) -> bool {
    const KEYS: &[&str] = &[
        "host",
        "hostaddr",
        "port",
        "user",
        "password",
        "dbname",
        "sslmode",
        "application_name",
        "connect_timeout",
        "options",
        "target_session_attrs",
        "channel_binding",
        "keepalives",
        "keepalives_idle",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "load_balance_hosts",
    ];
    text.split_whitespace()
        .next()
        .and_then(|w| w.split_once('='))
        .is_some_and(|(k, _)| KEYS.contains(&k))
}

/// Replaces every password in a URL or libpq string (and any text containing one) by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    // URL userinfo: scheme://user:password@host
    for scheme in ["postgres://", "postgresql://"] {
        let mut from = 0;
        while let Some(start) = out[from..].find(scheme).map(|i| i + from + scheme.len()) {
            let end = out[start..]
                .find(['/', '?', ' ', '"', '\''])
                .map_or(out.len(), |i| i + start);
            if let Some(at) = out[start..end].rfind('@').map(|i| i + start)
                && let Some(colon) = out[start..at].find(':').map(|i| i + start)
            {
                out.replace_range(colon + 1..at, "***");
            }
            from = start.min(out.len());
        }
    }
    // key=value and ?password=… forms
    for key in ["password=", "PASSWORD="] {
        let mut from = 0;
        while let Some(pos) = out[from..].find(key).map(|i| i + from) {
            let value_start = pos + key.len();
            let quoted = out[value_start..].starts_with('\'');
            let value_end = if quoted {
                out[value_start + 1..]
                    .find('\'')
                    .map_or(out.len(), |i| value_start + 2 + i)
            } else {
                out[value_start..]
                    .find([' ', '&', '"'])
                    .map_or(out.len(), |i| i + value_start)
            };
            out.replace_range(value_start..value_end, "***");
            from = value_start + 3;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_forms() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:app.db"),
            Ok(DatabaseUrl::SqliteFile("app.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/a.db"),
            Ok(DatabaseUrl::SqliteFile("/tmp/a.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://rel/a.db"),
            Ok(DatabaseUrl::SqliteFile("rel/a.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:"),
            Ok(DatabaseUrl::SqliteMemory)
        );
        assert_eq!(
            DatabaseUrl::parse("data/app.sqlite3"),
            Ok(DatabaseUrl::SqliteFile("data/app.sqlite3".into()))
        );
        assert!(DatabaseUrl::parse("sqlite:").is_err());
        assert!(DatabaseUrl::parse("  ").is_err());
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
