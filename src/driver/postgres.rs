//! The PostgreSQL driver (synchronous `postgres` crate, TLS through rustls).
//!
//! - Connections: a `postgres://` URL or a libpq `key=value` string. `sslmode` follows libpq:
//!   `disable`; `allow`/`prefer` (the default) and `require` encrypt without checking the
//!   server's certificate (as libpq does without a root certificate); `verify-ca` checks the
//!   chain and `verify-full` the chain and the host name, against `sslrootcert=FILE` or, when
//!   it is absent or `system`, the system's roots plus Mozilla's.
//! - `--schema NAME`: `search_path` is set to that schema alone, so ferry's tables, the marker
//!   and every unqualified name of the steps land there; writing commands create it.
//! - Scripts run through the simple-query protocol as one batch: never split by ferry.
//! - The whole-run lock is a session advisory lock held by a second, dedicated connection (a
//!   `CREATE INDEX CONCURRENTLY` on the main connection never waits for it); its key is derived
//!   from the database and the schema, and it dies with the connection.
//! - Statements wait for row and table locks as PostgreSQL always does (`OpenOptions::
//!   busy_timeout` is SQLite's); `options=-c lock_timeout=…` in the URL bounds that wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::config::{Host, SslMode};
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, SimpleQueryMessage};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::url::redact;
use super::{Driver, OpenOptions, Rows, quote};
use crate::core::guard::Object;
use crate::core::schema::{Column, Schema, Table, normalize_sql};
use crate::core::set::{Dialect, valid_identifier};
use crate::error::{DbError, Error, Result};

pub struct Postgres {
    client: Client,
    /// How to open another connection to the same database (for the lock).
    target: Target,
    /// `current_database()`.
    database: String,
    /// The schema ferry manages (`--schema`, else the connection's current schema).
    schema: String,
    /// The dedicated connection holding the advisory lock, while held.
    lock: Option<Client>,
}

/// A parsed connection string and the TLS it asks for.
#[derive(Clone)]
struct Target {
    config: Config,
    tls: Tls,
}

#[derive(Clone)]
enum Tls {
    Off,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// The libpq `sslmode` values, the ones tokio-postgres does not parse included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslChoice {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Target {
    fn parse(conn: &str) -> Result<Target, String> {
        let (cleaned, sslmode, rootcert) = take_ssl_params(conn)?;
        let mut config: Config = cleaned
            .parse()
            .map_err(|e: postgres::Error| format!("invalid connection string: {}", chain(&e)))?;
        let choice = match sslmode.as_deref() {
            None | Some("prefer") | Some("allow") => SslChoice::Prefer,
            Some("disable") => SslChoice::Disable,
            Some("require") => SslChoice::Require,
            Some("verify-ca") => SslChoice::VerifyCa,
            Some("verify-full") => SslChoice::VerifyFull,
            Some(other) => {
                return Err(format!(
                    "sslmode={other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ));
            }
        };
        config.ssl_mode(match choice {
            SslChoice::Disable => SslMode::Disable,
            SslChoice::Prefer => SslMode::Prefer,
            SslChoice::Require | SslChoice::VerifyCa | SslChoice::VerifyFull => SslMode::Require,
        });
        if config.get_application_name().is_none() {
            config.application_name(&format!(
                "ferry {} pid {}",
                env!("CARGO_PKG_VERSION"),
                std::process::id()
            ));
        }
        if config.get_connect_timeout().is_none() {
            // An unreachable host must not hang a run for the kernel's TCP timeout.
            config.connect_timeout(Duration::from_secs(10));
        }
        let tls = match choice {
            SslChoice::Disable => Tls::Off,
            _ => Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(
                choice,
                rootcert.as_deref(),
            )?)),
        };
        Ok(Target { config, tls })
    }

    fn connect(&self) -> Result<Client, String> {
        let result = match &self.tls {
            Tls::Off => self.config.connect(NoTls),
            Tls::Rustls(tls) => self.config.connect(tls.clone()),
        };
        result.map_err(|e| connect_message(&e, &self.config))
    }
}

/// Removes `sslmode` and `sslrootcert` from a URL or key=value string (tokio-postgres knows
/// neither `verify-ca`/`verify-full` nor `sslrootcert`) and returns them apart.
fn take_ssl_params(conn: &str) -> Result<(String, Option<String>, Option<String>), String> {
    let conn = conn.trim();
    let mut sslmode = None;
    let mut rootcert = None;
    let mut take = |key: &str, value: String| -> Result<bool, String> {
        match key {
            "sslmode" => sslmode = Some(value),
            "sslrootcert" => rootcert = Some(value),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(format!(
                    "{key}: client certificates are not supported by ferry; authenticate with a password"
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let Some((base, query)) = conn.split_once('?') else {
            return Ok((conn.to_string(), None, None));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(&percent_decode(k), percent_decode(v))? {
                kept.push(pair);
            }
        }
        let cleaned = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((cleaned, sslmode, rootcert));
    }
    let mut kept = Vec::new();
    for (k, v) in libpq_pairs(conn)? {
        if !take(&k, v.clone())? {
            kept.push(format!(
                "{k}='{}'",
                v.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Ok((kept.join(" "), sslmode, rootcert))
}

/// Splits a libpq `key = value` string (values bare or single-quoted, `\` escapes).
pub(crate) fn libpq_pairs(conn: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = conn.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "invalid connection string: expected `=` after {key:?}"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "invalid connection string: unterminated quoted value of {key:?}"
                        ));
                    }
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_config(choice: SslChoice, rootcert: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match choice {
        SslChoice::VerifyCa | SslChoice::VerifyFull => {
            let roots = Arc::new(root_store(rootcert)?);
            let webpki =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| format!("TLS setup: {e}"))?;
            if choice == SslChoice::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
        _ => Arc::new(EncryptOnly(provider)),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `sslrootcert=FILE` (PEM), or the system's roots plus Mozilla's.
fn root_store(rootcert: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match rootcert {
        Some(path) if path != "system" => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert={path}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("sslrootcert={path}: {e}"))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert={path}: no usable certificate in the file"
                ));
            }
        }
        _ => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    Ok(roots)
}

/// libpq's `prefer`/`require`: the connection is encrypted, the certificate is not checked
/// (the handshake's signature still is).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// libpq's `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// An error and its causes, one after the other.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Where a configuration points, for messages (`127.0.0.1:5432`, `/var/run/postgresql`).
fn describe_hosts(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{} (port {port})", path.display()),
            }
        })
        .collect();
    if hosts.is_empty() {
        "the default host".into()
    } else {
        hosts.join(", ")
    }
}

/// Why a connection failed, in words an operator can act on (never with a password).
fn connect_message(e: &postgres::Error, config: &Config) -> String {
    if let Some(db) = e.as_db_error() {
        let user = config.get_user().unwrap_or("?");
        let advice = match db.code().code() {
            "28P01" => format!(" — the password for user {user:?} was refused; check the user and password"),
            "28000" => " — the server refused this user, host or database (its pg_hba.conf), or the role does not exist".into(),
            "3D000" => " — create the database first (e.g. createdb), or fix the database name".into(),
            "57P03" => " — the server is starting up or shutting down; try again".into(),
            "53300" => " — the server has no free connection slots".into(),
            _ => String::new(),
        };
        let mut text = format!(
            "{}: {}{advice} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        return redact(&text);
    }
    let mut text = chain(e);
    if text.starts_with("error connecting to server") || text.starts_with("timeout") {
        text.push_str(&format!(
            " — is PostgreSQL running on {} and accepting connections?",
            describe_hosts(config)
        ));
    } else if text.starts_with("error performing TLS handshake") {
        text.push_str(" — check sslmode (and sslrootcert for verify-ca/verify-full)");
    }
    redact(&text)
}

/// A database error with the server's severity, message, detail, hint, context and SQLSTATE,
/// and the statement it points at when the server gives a position in `script`.
fn db_error(e: &postgres::Error, script: Option<&str>) -> DbError {
    let Some(db) = e.as_db_error() else {
        return DbError::new(redact(&chain(e)));
    };
    let mut message = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    if let Some(detail) = db.detail() {
        message.push_str(&format!("\nDETAIL: {detail}"));
    }
    if let Some(hint) = db.hint() {
        message.push_str(&format!("\nHINT: {hint}"));
    }
    if let Some(context) = db.where_() {
        message.push_str(&format!("\nCONTEXT: {context}"));
    }
    let statement = match (db.position(), script) {
        (Some(postgres::error::ErrorPosition::Original(at)), Some(script)) => {
            Some(statement_at(script, *at as usize))
        }
        (Some(postgres::error::ErrorPosition::Internal { query, .. }), _) => {
            Some(shorten(&normalize_sql(query)))
        }
        (None, Some(script))
            if script.trim().len() <= 300 && !script.trim().trim_end_matches(';').contains(';') =>
        {
            // A single statement: that is the one.
            Some(shorten(&normalize_sql(script)))
        }
        _ => None,
    };
    DbError {
        message: redact(&message),
        statement: statement.map(|s| redact(&s)),
    }
}

/// The statement around a 1-based character position of a script: its line, extended to the
/// neighbouring lines of the same statement, cut at the `;` around the position; at most 300
/// characters, whitespace collapsed.
fn statement_at(script: &str, position: usize) -> String {
    let at = script
        .char_indices()
        .nth(position.saturating_sub(1))
        .map_or(script.len(), |(i, _)| i);
    // (start, end) byte offsets of every line, end without the newline.
    let mut lines = Vec::new();
    let mut start = 0;
    for line in script.split_inclusive('\n') {
        lines.push((start, start + line.trim_end_matches(['\n', '\r']).len()));
        start += line.len();
    }
    if lines.is_empty() {
        return String::new();
    }
    let current = lines
        .iter()
        .position(|&(s, e)| at >= s && at <= e)
        .unwrap_or(lines.len() - 1);
    let text = |i: usize| &script[lines[i].0..lines[i].1];
    let ends_statement = |i: usize| {
        let t = text(i).trim();
        t.is_empty() || t.ends_with(';')
    };
    let mut first = current;
    while first > 0 && !ends_statement(first - 1) && current - first < 30 {
        first -= 1;
    }
    let mut last = current;
    while last + 1 < lines.len() && !ends_statement(last) && last - current < 30 {
        last += 1;
    }
    let (region_start, region_end) = (lines[first].0, lines[last].1);
    let at = at.clamp(region_start, region_end);
    // Several statements on one line: cut at the semicolons around the position.
    let from = script[region_start..at]
        .rfind(';')
        .map_or(region_start, |i| region_start + i + 1);
    let to = script[at..region_end]
        .find(';')
        .map_or(region_end, |i| at + i);
    let mut statement: String = script[from..to]
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    if statement.trim().is_empty() {
        statement = script[region_start..region_end].to_string();
    }
    shorten(&normalize_sql(&statement))
}

fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX - 1).collect();
    short.push('…');
    short
}

fn cell(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

/// Removes the schema qualification `schema.` / `"schema".` from a definition, so the same
/// objects in two schemas compare equal. Inside a string literal only a qualification right
/// after the opening quote is removed (`nextval('app.seq'::regclass)`).
fn unqualify(definition: &str, schema: &str) -> String {
    let patterns = [format!("{}.", quote(schema)), format!("{schema}.")];
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '"' || c == '$' || c == '.';
    let mut out = String::with_capacity(definition.len());
    let mut in_string = false;
    let mut previous: Option<char> = None;
    let mut rest = definition;
    while let Some(c) = rest.chars().next() {
        let boundary = if in_string {
            previous == Some('\'')
        } else {
            !previous.is_some_and(is_ident)
        };
        if boundary && let Some(p) = patterns.iter().find(|p| rest.starts_with(p.as_str())) {
            rest = &rest[p.len()..];
            previous = Some('.');
            // A name follows: it cannot itself start a qualification.
            continue;
        }
        if c == '\'' {
            in_string = !in_string;
        }
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

impl Postgres {
    pub fn connect(conn: &str, options: &OpenOptions) -> Result<Postgres> {
        let shown = redact(conn);
        let open = |message: String| Error::Open {
            target: shown.clone(),
            message: redact(&message),
        };
        if let Some(schema) = &options.schema
            && !valid_identifier(schema)
        {
            return Err(Error::Usage(format!(
                "--schema {schema:?} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters)"
            )));
        }
        // A connection string that cannot be used as written is a configuration error (exit 2).
        let target = Target::parse(conn)
            .map_err(|m| Error::Usage(format!("database URL {shown}: {}", redact(&m))))?;
        let mut client = target.connect().map_err(&open)?;
        let setup = |e: postgres::Error| {
            open(format!(
                "preparing the session: {}",
                db_error(&e, None).message
            ))
        };
        if let Some(schema) = &options.schema {
            let present = !client
                .query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[schema])
                .map_err(setup)?
                .is_empty();
            if !present && options.create {
                client
                    .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema)))
                    .map_err(|e| {
                        open(format!(
                            "creating schema {schema}: {}",
                            db_error(&e, None).message
                        ))
                    })?;
            }
            // A missing schema (commands that only read) leaves current_schema() NULL: the
            // database then reads as empty.
            client
                .batch_execute(&format!("SET search_path TO {}", quote(schema)))
                .map_err(setup)?;
        }
        // `busy_timeout` is deliberately not turned into `lock_timeout`: a CREATE INDEX
        // CONCURRENTLY cut short by it would leave an invalid index behind. Operators who want
        // bounded waits put `options=-c lock_timeout=5s` in the URL.
        let row = client
            .query_one(
                "SELECT current_database()::text, current_schema()::text",
                &[],
            )
            .map_err(setup)?;
        let database: String = row.get(0);
        let current: Option<String> = row.get(1);
        let schema = options
            .schema
            .clone()
            .or(current)
            .unwrap_or_else(|| "public".into());
        Ok(Postgres {
            client,
            target,
            database,
            schema,
            lock: None,
        })
    }

    /// The schema ferry manages.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The advisory-lock key of this database and schema.
    fn lock_key(&self) -> i64 {
        lock_key(&self.database, &self.schema)
    }

    /// A catalog query with parameters; every column must be text.
    fn fetch(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Rows, DbError> {
        let rows = self
            .client
            .query(sql, params)
            .map_err(|e| db_error(&e, Some(sql)))?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        row.try_get::<_, Option<String>>(i)
                            .map_err(|e| DbError::new(chain(&e)))
                    })
                    .collect()
            })
            .collect()
    }

    /// The schema that unqualified names resolve to now (`None`: it does not exist yet).
    fn current_schema(&mut self) -> Result<Option<String>, DbError> {
        Ok(self
            .fetch("SELECT current_schema()::text", &[])?
            .first()
            .and_then(|r| r.first().cloned().flatten()))
    }

    /// Who holds the advisory lock `key` of this database.
    fn holder(client: &mut Client, key: i64) -> Result<Option<String>, DbError> {
        let (high, low) = ((key as u64 >> 32) as u32, key as u64 as u32);
        let rows = client
            .query(
                "SELECT a.pid::text, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), \
                 coalesce(host(a.client_addr), 'local socket'), coalesce(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '') \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND l.classid = $1::text::oid AND l.objid = $2::text::oid",
                &[&high.to_string(), &low.to_string()],
            )
            .map_err(|e| db_error(&e, None))?;
        Ok(rows.first().map(|r| {
            let (pid, app, user, from, since): (String, String, String, String, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            let app = if app.is_empty() { String::new() } else { format!("application_name \"{app}\", ") };
            format!("held by PostgreSQL backend pid {pid} ({app}user {user}, from {from}, connected since {since})")
        }))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing the dedicated connection releases the advisory lock at once.
        if let Some(lock) = self.lock.take() {
            let _ = lock.close();
        }
    }
}

impl Driver for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn tables(&mut self) -> Result<Vec<String>, DbError> {
        let rows = self.fetch(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[],
        )?;
        Ok(rows.iter().map(|r| cell(r, 0)).collect())
    }

    fn exists(&mut self, object: &Object) -> Result<bool, DbError> {
        let rows = match object {
            Object::Table(t) => self.fetch(
                "SELECT '1' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = $1",
                &[t],
            )?,
            Object::Index(i) => self.fetch(
                "SELECT '1' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('i', 'I') AND c.relname = $1",
                &[i],
            )?,
            Object::Column { table, column } => self.fetch(
                "SELECT '1' FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = $1 \
                 AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
                &[table, column],
            )?,
        };
        Ok(!rows.is_empty())
    }

    fn query(&mut self, sql: &str) -> Result<Rows, DbError> {
        let messages = self
            .client
            .simple_query(sql)
            .map_err(|e| db_error(&e, Some(sql)))?;
        Ok(text_rows(&messages))
    }

    fn execute(&mut self, script: &str) -> Result<(), DbError> {
        // One simple query: the server parses `$$` bodies, triggers and strings itself.
        self.client
            .batch_execute(script)
            .map_err(|e| db_error(&e, Some(script)))
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.client
            .batch_execute("BEGIN")
            .map_err(|e| db_error(&e, None))
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.client
            .batch_execute("COMMIT")
            .map_err(|e| db_error(&e, None))
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.client
            .batch_execute("ROLLBACK")
            .map_err(|e| db_error(&e, None))
    }

    fn lock(&mut self, timeout: Duration) -> Result<Result<(), String>, DbError> {
        if self.lock.is_some() {
            return Ok(Ok(()));
        }
        let key = self.lock_key();
        let mut client = self
            .target
            .connect()
            .map_err(|m| DbError::new(format!("opening the lock connection: {m}")))?;
        let started = Instant::now();
        loop {
            let taken: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map_err(|e| db_error(&e, None))?
                .get(0);
            if taken {
                self.lock = Some(client);
                return Ok(Ok(()));
            }
            let waited = started.elapsed();
            if waited >= timeout {
                let holder = Self::holder(&mut client, key)?;
                let _ = client.close();
                return Ok(Err(holder.unwrap_or_else(|| {
                    format!(
                        "another session holds the advisory lock {key} of database {}",
                        self.database
                    )
                })));
            }
            std::thread::sleep((timeout - waited).min(Duration::from_millis(100)));
        }
    }

    fn unlock(&mut self) -> Result<(), DbError> {
        if let Some(mut lock) = self.lock.take() {
            let key = self.lock_key();
            let released = lock
                .query_one("SELECT pg_advisory_unlock($1)", &[&key])
                .map_err(|e| db_error(&e, None));
            lock.close().map_err(|e| db_error(&e, None))?;
            released?;
        }
        Ok(())
    }

    fn lock_holder(&mut self) -> Result<Option<String>, DbError> {
        if self.lock.is_some() {
            return Ok(None);
        }
        let key = self.lock_key();
        Self::holder(&mut self.client, key)
    }

    fn lock_progress(&mut self, step: &str) {
        if let Some(lock) = &mut self.lock {
            // application_name is what a waiting process reads from pg_stat_activity (≤ 63 bytes).
            let mut name = format!("ferry pid {}: {step}", std::process::id());
            while name.len() > 63 {
                name.pop();
            }
            let _ = lock.batch_execute(&format!(
                "SET application_name TO {}",
                super::literal(&name)
            ));
        }
    }

    fn snapshot(&mut self, skip: &[&str]) -> Result<Schema, DbError> {
        let mut schema = Schema::default();
        let Some(ns) = self.current_schema()? else {
            return Ok(schema); // the schema does not exist: nothing in it
        };
        let skipped = |t: &str| skip.contains(&t);
        let strip = |s: &str| normalize_sql(&unqualify(s, &ns));

        for r in self.fetch(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
            &[&ns],
        )? {
            let name = cell(&r, 0);
            if !skipped(&name) {
                schema.tables.insert(name, Table::default());
            }
        }

        for r in self.fetch(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
             CASE WHEN a.attnotnull THEN 't' ELSE 'f' END, pg_get_expr(d.adbin, d.adrelid), \
             a.attidentity::text, a.attgenerated::text \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
            &[&ns],
        )? {
            let Some(table) = schema.tables.get_mut(&cell(&r, 0)) else { continue };
            let expression = r.get(4).cloned().flatten().map(|e| strip(&e));
            let default = match (cell(&r, 5).as_str(), cell(&r, 6).as_str()) {
                ("a", _) => Some("GENERATED ALWAYS AS IDENTITY".to_string()),
                ("d", _) => Some("GENERATED BY DEFAULT AS IDENTITY".to_string()),
                (_, "s") => expression.map(|e| format!("GENERATED ALWAYS AS ({e}) STORED")),
                (_, "v") => expression.map(|e| format!("GENERATED ALWAYS AS ({e}) VIRTUAL")),
                _ => expression,
            };
            table.columns.insert(
                cell(&r, 1),
                Column {
                    data_type: strip(&cell(&r, 2)),
                    not_null: cell(&r, 3) == "t",
                    default,
                },
            );
        }

        // Primary, foreign, unique, check and exclusion constraints (not PostgreSQL 18's
        // NOT NULL constraints: the columns carry those).
        for r in self.fetch(
            "SELECT c.relname::text, con.conname::text, pg_get_constraintdef(con.oid, true) \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND con.contype IN ('p', 'f', 'u', 'c', 'x')",
            &[&ns],
        )? {
            if let Some(table) = schema.tables.get_mut(&cell(&r, 0)) {
                table.constraints.insert(cell(&r, 1), strip(&cell(&r, 2)));
            }
        }

        // Indexes that do not back a constraint.
        for r in self.fetch(
            "SELECT i.relname::text, t.relname::text, pg_get_indexdef(i.oid) \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint con \
               WHERE con.conindid = i.oid AND con.conrelid = t.oid AND con.contype IN ('p', 'u', 'x'))",
            &[&ns],
        )? {
            if !skipped(&cell(&r, 1)) {
                schema.indexes.insert(cell(&r, 0), strip(&cell(&r, 2)));
            }
        }

        for r in self.fetch(
            "SELECT t.tgname::text, c.relname::text, pg_get_triggerdef(t.oid) \
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND NOT t.tgisinternal",
            &[&ns],
        )? {
            let table = cell(&r, 1);
            if !skipped(&table) {
                // Trigger names are unique per table only.
                schema.triggers.insert(format!("{} on {table}", cell(&r, 0)), strip(&cell(&r, 2)));
            }
        }

        for r in self.fetch(
            "SELECT c.relname::text, c.relkind::text, pg_get_viewdef(c.oid, true) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('v', 'm')",
            &[&ns],
        )? {
            let kind = if cell(&r, 1) == "m" {
                "MATERIALIZED VIEW AS "
            } else {
                ""
            };
            schema.views.insert(
                cell(&r, 0),
                format!("{kind}{}", normalize_sql(&cell(&r, 2))),
            );
        }

        // Functions and procedures (not aggregates, not those of an extension). Only the
        // header is unqualified: the body is the author's text.
        for r in self.fetch(
            "SELECT p.proname::text || '(' || pg_get_function_identity_arguments(p.oid) || ')', pg_get_functiondef(p.oid) \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.prokind IN ('f', 'p', 'w') \
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
            &[&ns],
        )? {
            let definition = cell(&r, 1);
            let body = definition.find('$').unwrap_or(definition.len());
            let (header, body) = definition.split_at(body);
            schema.routines.insert(cell(&r, 0), normalize_sql(&format!("{}{body}", unqualify(header, &ns))));
        }

        // Enum and domain types live with the routines.
        for r in self.fetch(
            "SELECT t.typname::text, CASE t.typtype \
               WHEN 'e' THEN 'ENUM (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) \
                 FROM pg_enum e WHERE e.enumtypid = t.oid) || ')' \
               ELSE 'DOMAIN ' || format_type(t.typbasetype, t.typtypmod) \
                 || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END \
                 || coalesce(' DEFAULT ' || t.typdefault, '') \
                 || coalesce((SELECT ' ' || string_agg(pg_get_constraintdef(c.oid, true), ' ' ORDER BY c.conname) \
                   FROM pg_constraint c WHERE c.contypid = t.oid), '') END \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname = $1 AND t.typtype IN ('e', 'd') \
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')",
            &[&ns],
        )? {
            schema.routines.insert(format!("type {}", cell(&r, 0)), strip(&cell(&r, 1)));
        }

        // Sequences: type, increment, bounds, start, cycle and the column owning them.
        for r in self.fetch(
            "SELECT c.relname::text, format_type(s.seqtypid, NULL), s.seqincrement::text, s.seqmin::text, \
             s.seqmax::text, s.seqstart::text, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END, \
             t.relname::text, a.attname::text \
             FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid \
               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
             LEFT JOIN pg_class t ON t.oid = d.refobjid \
             LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
             WHERE n.nspname = $1",
            &[&ns],
        )? {
            let owner = cell(&r, 7);
            if skipped(&owner) {
                continue;
            }
            let owned = if owner.is_empty() { String::new() } else { format!(" OWNED BY {owner}.{}", cell(&r, 8)) };
            schema.sequences.insert(
                cell(&r, 0),
                format!(
                    "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {}{}{owned}",
                    cell(&r, 1),
                    cell(&r, 2),
                    cell(&r, 3),
                    cell(&r, 4),
                    cell(&r, 5),
                    cell(&r, 6)
                ),
            );
        }
        Ok(schema)
    }

    fn serial_primary_key(&self) -> &'static str {
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    }
}

/// The advisory-lock key of an installation: one per database and schema.
fn lock_key(database: &str, schema: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"ferry migration lock\0")
        .chain_update(database.as_bytes())
        .chain_update(b"\0")
        .chain_update(schema.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Opens a plain client with ferry's connection handling (URL or key=value, TLS, timeouts,
/// application name), for tools and tests that need one outside a [`Driver`].
pub fn connect_client(conn: &str) -> Result<Client, String> {
    Target::parse(conn)
        .and_then(|t| t.connect())
        .map_err(|m| redact(&m))
}

/// The rows of a simple-query answer, every value as text (`None` for NULL).
pub fn text_rows(messages: &[SimpleQueryMessage]) -> Rows {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_is_found_around_the_position() {
        let script = "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nINSERT INTO nosuch\n  VALUES (2);\nSELECT 1;\n";
        let at = script.find("nosuch").unwrap() + 1;
        assert_eq!(statement_at(script, at), "INSERT INTO nosuch VALUES (2)");
        let one_line = "CREATE TABLE b (x INT); INSERT INTO nosuch VALUES ('a;b'); SELECT 2;";
        let at = one_line.find("nosuch").unwrap() + 1;
        assert_eq!(statement_at(one_line, at), "INSERT INTO nosuch VALUES ('a");
        let long = format!("SELECT {} FROM nosuch;", "x, ".repeat(200));
        let s = statement_at(&long, long.find("nosuch").unwrap() + 1);
        assert_eq!(s.chars().count(), 300);
        assert!(s.ends_with('…'));
        // Positions count characters, not bytes.
        let unicode = "SELECT 'ééé';\nSELECT * FROM nosuch;";
        let at = unicode.chars().position(|c| c == 'n').unwrap() + 1;
        assert_eq!(statement_at(unicode, at), "SELECT * FROM nosuch");
    }

    #[test]
    fn schema_names_are_removed_from_definitions() {
        assert_eq!(
            unqualify("CREATE INDEX ix ON app.t USING btree (a)", "app"),
            "CREATE INDEX ix ON t USING btree (a)"
        );
        assert_eq!(
            unqualify("nextval('app.t_id_seq'::regclass)", "app"),
            "nextval('t_id_seq'::regclass)"
        );
        assert_eq!(
            unqualify("FOREIGN KEY (x) REFERENCES \"App\".t(id)", "App"),
            "FOREIGN KEY (x) REFERENCES t(id)"
        );
        assert_eq!(
            unqualify("CHECK (email LIKE '%app.com')", "app"),
            "CHECK (email LIKE '%app.com')"
        );
        assert_eq!(
            unqualify("SELECT myapp.x FROM t", "app"),
            "SELECT myapp.x FROM t"
        );
    }

    #[test]
    fn ssl_parameters_are_taken_out() {
        let (c, mode, root) =
            take_ssl_params("postgres://u:p@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem").unwrap();
        assert_eq!(c, "postgres://u:p@h/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/tmp/ca.pem"));
        let (c, mode, _) = take_ssl_params(
            "host=/var/run/postgresql dbname = 'my db' sslmode=require password='a\\'b'",
        )
        .unwrap();
        assert_eq!(
            c,
            "host='/var/run/postgresql' dbname='my db' password='a\\'b'"
        );
        assert_eq!(mode.as_deref(), Some("require"));
        assert!(c.parse::<Config>().is_ok());
        assert!(take_ssl_params("host=h sslcert=/x").is_err());
        assert!(Target::parse("host=h sslmode=sometimes").is_err());
        assert!(Target::parse("host=h sslmode=verify-ca sslrootcert=/nonexistent/ca.pem").is_err());
    }

    #[test]
    fn the_lock_key_depends_on_database_and_schema() {
        assert_ne!(lock_key("app", "a"), lock_key("app", "b"));
        assert_ne!(lock_key("app", "a"), lock_key("ap", "pa"));
        assert_eq!(lock_key("app", "a"), lock_key("app", "a"));
    }
}
