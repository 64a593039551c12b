//! PostgreSQL scratch databases (spec §6.5): where ferry builds what a position of the migration
//! set looks like, on the live database's server (or the one `--scratch-url` names), never in
//! the live database.
//!
//! - A scratch is a throwaway database, `CREATE DATABASE … TEMPLATE template0` with the live
//!   database's encoding, LC_COLLATE and LC_CTYPE, opened with the live target's managed schema
//!   and dropped (`WITH (FORCE)`) afterwards. Its connection is the live one's configuration
//!   with only the database name changed: host, user, password and TLS carry over.
//! - Its name carries the connection that created it, which stays open while the scratch lives:
//!   `ferry_scratch_<backend pid>_<backend start, epoch µs>_<ferry pid>_<n>`. Before each new
//!   scratch, the scratch databases whose creator is no longer in `pg_stat_activity` (left by a
//!   killed run) are dropped; one whose creator is alive is never touched.
//! - A role that may not create databases is refused, unless `--scratch-url` names a server
//!   where its role may, or a database: that database is then the scratch itself, used under
//!   an advisory lock (one build at a time), empty at the start and emptied again afterwards.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use postgres::Client;
use sha2::{Digest, Sha256};

use super::{Postgres, Target, db_error, describe_hosts};
use crate::driver::url::redact;
use crate::driver::{OpenOptions, literal, quote};
use crate::error::{Error, Result};

const PREFIX: &str = "ferry_scratch_";

/// How scratch databases are made for one live database.
pub struct ScratchSpace {
    /// Where the creator connects: the live database, or `--scratch-url`.
    host: Target,
    /// The host's connection string without its password, for messages.
    shown: String,
    mode: Mode,
    /// The managed schema every scratch is opened with (created there when missing).
    schema: String,
    /// `DROP DATABASE … WITH (FORCE)` exists (PostgreSQL 13 and later).
    force: bool,
}

enum Mode {
    /// A new database per scratch, created like the live one.
    Databases {
        encoding: String,
        collate: String,
        ctype: String,
    },
    /// `--scratch-url`'s database itself, whose role may not create databases.
    Shared { database: String },
}

/// What one connection tells about its database, server and role.
struct Facts {
    database: String,
    oid: String,
    encoding: String,
    collate: String,
    ctype: String,
    schema: Option<String>,
    role: String,
    may_create: bool,
    started: String,
    force: bool,
}

fn facts(client: &mut Client) -> std::result::Result<Facts, String> {
    let row = client
        .query_one(
            "SELECT current_database()::text, d.oid::text, pg_encoding_to_char(d.encoding)::text, \
             d.datcollate::text, d.datctype::text, current_schema()::text, current_user::text, \
             coalesce((SELECT r.rolsuper OR r.rolcreatedb FROM pg_roles r WHERE r.rolname = current_user), false), \
             pg_postmaster_start_time()::text, current_setting('server_version_num')::int >= 130000 \
             FROM pg_database d WHERE d.datname = current_database()",
            &[],
        )
        .map_err(|e| db_error(&e, None).message)?;
    Ok(Facts {
        database: row.get(0),
        oid: row.get(1),
        encoding: row.get(2),
        collate: row.get(3),
        ctype: row.get(4),
        schema: row.get(5),
        role: row.get(6),
        may_create: row.get(7),
        started: row.get(8),
        force: row.get(9),
    })
}

impl ScratchSpace {
    /// Checks where scratch databases for the live database `live` can be made, before any is:
    /// a role that may create databases (the live one's, or `scratch_url`'s), or the empty
    /// database `scratch_url` names. `schema` is the live target's `--schema`. `purpose` names
    /// the command in the refusal (exit 2) when there is no such place.
    pub fn prepare(
        live: &str,
        scratch_url: Option<&str>,
        schema: Option<&str>,
        purpose: &str,
    ) -> Result<ScratchSpace> {
        let live_shown = redact(live);
        let live_target = Target::parse(live)
            .map_err(|m| Error::Usage(format!("database URL {live_shown}: {}", redact(&m))))?;
        let mut client = live_target.connect().map_err(|m| Error::Open {
            target: live_shown.clone(),
            message: m,
        })?;
        let live_facts = facts(&mut client).map_err(|m| Error::Database {
            context: format!("reading the settings of {live_shown}"),
            source: crate::error::DbError::new(m),
        })?;
        drop(client);
        let schema = schema
            .map(str::to_string)
            .or_else(|| live_facts.schema.clone())
            .unwrap_or_else(|| "public".into());
        let databases = Mode::Databases {
            encoding: live_facts.encoding.clone(),
            collate: live_facts.collate.clone(),
            ctype: live_facts.ctype.clone(),
        };

        let Some(url) = scratch_url else {
            if !live_facts.may_create {
                return Err(Error::Usage(refusal(
                    purpose,
                    &live_facts.role,
                    &live_target,
                )));
            }
            return Ok(ScratchSpace {
                host: live_target,
                shown: live_shown,
                mode: databases,
                schema,
                force: live_facts.force,
            });
        };
        let shown = redact(url);
        let host = Target::parse(url)
            .map_err(|m| Error::Usage(format!("--scratch-url {shown}: {}", redact(&m))))?;
        let mut client = host.connect().map_err(|m| Error::Open {
            target: format!("{shown} (--scratch-url)"),
            message: m,
        })?;
        let host_facts = facts(&mut client).map_err(|m| Error::Database {
            context: format!("reading the settings of {shown} (--scratch-url)"),
            source: crate::error::DbError::new(m),
        })?;
        if host_facts.may_create {
            return Ok(ScratchSpace {
                host,
                shown,
                mode: databases,
                schema,
                force: host_facts.force,
            });
        }
        if host_facts.oid == live_facts.oid && host_facts.started == live_facts.started {
            return Err(Error::Usage(format!(
                "--scratch-url {shown} names the live database itself; ferry never builds scratch work there. \
                 Name an empty database of its own (or a server where the role may create databases)"
            )));
        }
        // Checked under the lock: another ferry building there right now is waited for.
        lock_shared(&mut client, &host_facts.database, &shown)?;
        let objects = user_objects(&mut client).map_err(|e| Error::Database {
            context: format!("listing what database {} holds", host_facts.database),
            source: e,
        })?;
        drop(client);
        if !objects.is_empty() {
            return Err(not_empty(&shown, &host_facts, &objects));
        }
        Ok(ScratchSpace {
            host,
            shown,
            mode: Mode::Shared {
                database: host_facts.database,
            },
            schema,
            force: host_facts.force,
        })
    }

    /// The schema scratch databases are opened with.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Makes a scratch database and opens a driver on it (with the managed schema, created
    /// when missing). The [`ScratchHolder`] removes it again; drop the driver first.
    pub fn create(&self) -> Result<(Postgres, ScratchHolder)> {
        let open_error = |message: String| Error::Open {
            target: format!("{} (for a scratch database)", self.shown),
            message,
        };
        let mut creator = self.host.connect().map_err(open_error)?;
        let options = OpenOptions {
            create: true,
            schema: Some(self.schema.clone()),
            busy_timeout: Duration::from_secs(5),
        };
        match &self.mode {
            Mode::Databases {
                encoding,
                collate,
                ctype,
            } => {
                let context =
                    |what: &str| format!("{what} on {}", describe_hosts(&self.host.config));
                let row = creator
                    .query_one(
                        "SELECT pg_backend_pid(), (extract(epoch FROM backend_start) * 1000000)::bigint \
                         FROM pg_stat_activity WHERE pid = pg_backend_pid()",
                        &[],
                    )
                    .map_err(|e| Error::Database {
                        context: context("reading the scratch creator's backend"),
                        source: db_error(&e, None),
                    })?;
                let (pid, start): (i32, i64) = (row.get(0), row.get(1));
                remove_stale(&mut creator, self.force);
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "{PREFIX}{pid}_{start}_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                let create = format!(
                    "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
                    quote(&name),
                    literal(encoding),
                    literal(collate),
                    literal(ctype)
                );
                creator.batch_execute(&create).map_err(|e| Error::Database {
                    context: context(&format!(
                        "creating the scratch database {name} (encoding {encoding}, LC_COLLATE {collate}, \
                         LC_CTYPE {ctype}, as the live database has)"
                    )),
                    source: db_error(&e, Some(&create)),
                })?;
                let holder = ScratchHolder {
                    creator,
                    name: name.clone(),
                    shared: false,
                    force: self.force,
                };
                let mut target = self.host.clone();
                target.config.dbname(&name);
                let shown = format!(
                    "scratch database {name} on {}",
                    describe_hosts(&target.config)
                );
                let driver = Postgres::open_target(target, shown, &options)?;
                Ok((driver, holder))
            }
            Mode::Shared { database } => {
                lock_shared(&mut creator, database, &self.shown)?;
                let objects = user_objects(&mut creator).map_err(|e| Error::Database {
                    context: format!("listing what database {database} holds"),
                    source: e,
                })?;
                if !objects.is_empty() {
                    let facts = facts(&mut creator).map_err(|m| Error::Database {
                        context: format!("reading the settings of {}", self.shown),
                        source: crate::error::DbError::new(m),
                    })?;
                    return Err(not_empty(&self.shown, &facts, &objects));
                }
                let holder = ScratchHolder {
                    creator,
                    name: database.clone(),
                    shared: true,
                    force: self.force,
                };
                let shown = format!("scratch database {database} (--scratch-url)");
                let driver = Postgres::open_target(self.host.clone(), shown, &options)?;
                Ok((driver, holder))
            }
        }
    }
}

/// Keeps a scratch database alive, and removes it when dropped: a throwaway database is
/// dropped; `--scratch-url`'s own database is emptied of everything built in it and unlocked.
pub struct ScratchHolder {
    /// The connection that created the scratch (and, for a shared one, holds its lock).
    creator: Client,
    name: String,
    shared: bool,
    force: bool,
}

impl ScratchHolder {
    /// The scratch database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchHolder {
    fn drop(&mut self) {
        if self.shared {
            empty(&mut self.creator);
        } else {
            drop_database(&mut self.creator, &self.name, self.force);
        }
    }
}

/// Why a role without CREATEDB gets no scratch database, and what to do about it.
fn refusal(purpose: &str, role: &str, target: &Target) -> String {
    let plain = role
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !role.starts_with(|c: char| c.is_ascii_digit());
    let shown_role = if plain { role.to_string() } else { quote(role) };
    format!(
        "{purpose} needs a scratch database: ferry builds what the migration set gives in a throwaway database on the \
         server ({}), never in the live database, and role {role:?} may not create databases (it has neither CREATEDB nor SUPERUSER). \
         Nothing was built or written. Grant it, as a superuser: `ALTER ROLE {shown_role} CREATEDB`; or pass \
         --scratch-url URL (env FERRY_SCRATCH_URL) naming a server whose role may create databases, or an empty \
         database this role may use for scratch work",
        describe_hosts(&target.config)
    )
}

/// The exit-2 error for a `--scratch-url` database that is not empty.
fn not_empty(shown: &str, facts: &Facts, objects: &[String]) -> Error {
    let listed: Vec<&str> = objects.iter().take(8).map(String::as_str).collect();
    let more = if objects.len() > listed.len() {
        format!(" and {} more", objects.len() - listed.len())
    } else {
        String::new()
    };
    Error::Usage(format!(
        "--scratch-url {shown}: role {:?} may not create databases there, so ferry builds its scratch work in database \
         {:?} itself and removes it again afterwards, which needs the database to start empty; it holds {}{more}. \
         Empty it (or name another, empty database, or a server where the role may create databases) and run again",
        facts.role,
        facts.database,
        listed.join(", ")
    ))
}

/// Takes the advisory lock that makes a shared scratch database one build's at a time
/// (waiting for another build to finish); released when `client` closes.
fn lock_shared(client: &mut Client, database: &str, shown: &str) -> Result<()> {
    let digest = Sha256::new()
        .chain_update(b"ferry scratch database\0")
        .chain_update(database.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    let key = i64::from_be_bytes(bytes);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .map(|_| ())
        .map_err(|e| Error::Database {
            context: format!("locking the scratch database {database} ({shown}) for this run"),
            source: db_error(&e, None),
        })
}

/// `ferry_scratch_<pid>_<start>_…` → (pid, start).
fn creator_of(name: &str) -> Option<(i32, i64)> {
    let mut parts = name.strip_prefix(PREFIX)?.split('_');
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    let rest: Vec<&str> = parts.collect();
    (rest.len() == 2 && rest.iter().all(|p| p.parse::<u64>().is_ok())).then_some((pid, start))
}

/// Drops the scratch databases whose creator backend is gone (a killed run's). A backend of
/// that pid whose start this role may not see counts as alive: never drop one in doubt.
fn remove_stale(creator: &mut Client, force: bool) {
    let Ok(rows) = creator.query(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'ferry\\_scratch\\_%'",
        &[],
    ) else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let Some((pid, start)) = creator_of(&name) else {
            continue;
        };
        let alive = creator.query(
            "SELECT 1 FROM pg_stat_activity WHERE pid = $1 \
             AND (backend_start IS NULL OR (extract(epoch FROM backend_start) * 1000000)::bigint = $2)",
            &[&pid, &start],
        );
        if matches!(alive, Ok(r) if r.is_empty()) {
            drop_database(creator, &name, force);
        }
    }
}

fn drop_database(client: &mut Client, name: &str, force: bool) {
    if force {
        let _ = client.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote(name)
        ));
    } else {
        // Before PostgreSQL 13: end the sessions still on it, then drop.
        let _ = client.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        );
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote(name)));
    }
}

/// Everything a user (or a build) put in the database, each with the statement that removes it:
/// extensions (but plpgsql), schemas (but public and the system's), and in public relations,
/// routines, types, domains, collations, operators and text search objects (not those of an
/// extension).
const USER_OBJECTS: &str = "
WITH public_ns AS (SELECT oid FROM pg_namespace WHERE nspname = 'public'),
own AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
SELECT 'extension ' || quote_ident(extname), 'DROP EXTENSION IF EXISTS ' || quote_ident(extname) || ' CASCADE'
  FROM pg_extension WHERE extname <> 'plpgsql'
UNION ALL
SELECT 'schema ' || quote_ident(nspname), 'DROP SCHEMA IF EXISTS ' || quote_ident(nspname) || ' CASCADE'
  FROM pg_namespace WHERE nspname NOT IN ('public', 'pg_catalog', 'information_schema')
  AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'
UNION ALL
SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view '
         WHEN 'c' THEN 'type ' WHEN 'f' THEN 'foreign table ' ELSE 'table ' END || 'public.' || quote_ident(c.relname),
       'DROP ' || CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
         WHEN 'c' THEN 'TYPE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END
       || ' IF EXISTS public.' || quote_ident(c.relname) || ' CASCADE'
  FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM public_ns)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.oid NOT IN (SELECT objid FROM own)
UNION ALL
SELECT 'routine public.' || p.oid::regprocedure::text, 'DROP ROUTINE IF EXISTS ' || p.oid::regprocedure::text || ' CASCADE'
  FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM public_ns) AND p.oid NOT IN (SELECT objid FROM own)
UNION ALL
SELECT 'type public.' || quote_ident(t.typname),
       'DROP ' || CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END || ' IF EXISTS public.' || quote_ident(t.typname) || ' CASCADE'
  FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM public_ns) AND t.typtype IN ('e', 'd', 'r')
  AND t.oid NOT IN (SELECT objid FROM own)
UNION ALL
SELECT 'collation public.' || quote_ident(collname), 'DROP COLLATION IF EXISTS public.' || quote_ident(collname) || ' CASCADE'
  FROM pg_collation WHERE collnamespace IN (SELECT oid FROM public_ns) AND oid NOT IN (SELECT objid FROM own)
UNION ALL
SELECT 'operator ' || o.oid::regoperator::text, 'DROP OPERATOR IF EXISTS ' || o.oid::regoperator::text || ' CASCADE'
  FROM pg_operator o WHERE o.oprnamespace IN (SELECT oid FROM public_ns) AND o.oid NOT IN (SELECT objid FROM own)
UNION ALL
SELECT 'text search configuration public.' || quote_ident(cfgname),
       'DROP TEXT SEARCH CONFIGURATION IF EXISTS public.' || quote_ident(cfgname) || ' CASCADE'
  FROM pg_ts_config WHERE cfgnamespace IN (SELECT oid FROM public_ns) AND oid NOT IN (SELECT objid FROM own)
UNION ALL
SELECT 'text search dictionary public.' || quote_ident(dictname),
       'DROP TEXT SEARCH DICTIONARY IF EXISTS public.' || quote_ident(dictname) || ' CASCADE'
  FROM pg_ts_dict WHERE dictnamespace IN (SELECT oid FROM public_ns) AND oid NOT IN (SELECT objid FROM own)
";

/// What [`USER_OBJECTS`] finds: (what it is, how to remove it).
fn user_object_rows(client: &mut Client) -> Result<Vec<(String, String)>, crate::error::DbError> {
    let messages = client
        .simple_query(USER_OBJECTS)
        .map_err(|e| db_error(&e, None))?;
    Ok(super::text_rows(&messages)
        .into_iter()
        .map(|r| {
            let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            (get(0), get(1))
        })
        .collect())
}

/// The user objects of a database, named (empty: the database is empty).
pub fn user_objects(client: &mut Client) -> Result<Vec<String>, crate::error::DbError> {
    Ok(user_object_rows(client)?
        .into_iter()
        .map(|(what, _)| what)
        .collect())
}

/// Removes every user object (see [`USER_OBJECTS`]); a few rounds, since one drop may need
/// another's to go first.
fn empty(client: &mut Client) {
    for _ in 0..5 {
        let Ok(rows) = user_object_rows(client) else {
            return;
        };
        if rows.is_empty() {
            return;
        }
        for (_, statement) in rows {
            let _ = client.batch_execute(&statement);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ferrys_own_names_are_read_as_scratch_databases() {
        assert_eq!(
            creator_of("ferry_scratch_4242_1764412345123456_77_0"),
            Some((4242, 1764412345123456))
        );
        assert_eq!(creator_of("ferry_scratch_4242_1764412345123456"), None);
        assert_eq!(creator_of("ferry_scratch_app_1_2_3"), None);
        assert_eq!(creator_of("ferry_scratch_1_2_3_4_5"), None);
        assert_eq!(creator_of("app"), None);
        // Linux pids have at most 7 digits, a backend start in µs 16 until the year 2286.
        let longest = format!(
            "{PREFIX}{}_{}_{}_{}",
            4_194_304,
            9_999_999_999_999_999i64,
            4_194_304,
            u32::MAX
        );
        assert!(longest.len() <= 63, "{} bytes", longest.len());
    }
}
