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
