//! The SQLite driver (rusqlite, bundled SQLite).
//!
//! The whole-run lock is an OS file lock on a sidecar file `<database>.ferry-lock`: every
//! ferry process sees it, the kernel drops it when its holder dies, and it holds the holder's
//! description for the message of whoever waits.

mod touched;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Connection, OpenFlags};

use super::url::{Access, DatabaseUrl};
use super::{Backup, Driver, Framing, OpenOptions, Rows, open_error};
use crate::core::guard::Object;
use crate::core::schema::{Column, Schema, Table, check_constraints, normalize_sql};
use crate::core::set::Dialect;
use crate::error::{DbError, Result};
pub use touched::ForeignKeyCheck;
use touched::{Catalog, Columns, Definition, ForeignKey, Reading, Touched};

/// `BEGIN IMMEDIATE` takes the write lock at once, so a step never fails half-way on a busy
/// database; foreign keys are off while steps run and checked before every commit.
/// `commit_check` is the whole-database check: the driver runs it per touched table where it
/// can follow what the step wrote (see [`Sqlite::last_commit_check`]), and whole otherwise.
pub const FRAMING: Framing = Framing {
    begin: "BEGIN IMMEDIATE",
    commit: "COMMIT",
    rollback: "ROLLBACK",
    commit_check: Some("PRAGMA foreign_key_check"),
    run_start: Some("PRAGMA foreign_keys = OFF"),
    run_finish: Some("PRAGMA foreign_keys = ON"),
    // `foreign_keys` only changes outside a transaction (a non-transactional revision); the
    // others take effect at once and would weaken the next statements: CHECKs ignored,
    // writes refused, renames that do not follow references.
    restore: "PRAGMA foreign_keys = OFF;\nPRAGMA query_only = OFF;\nPRAGMA ignore_check_constraints = OFF;\n\
              PRAGMA legacy_alter_table = OFF;\nPRAGMA recursive_triggers = OFF;\nPRAGMA writable_schema = OFF;\n",
    serial_primary_key: "INTEGER PRIMARY KEY",
};

pub struct Sqlite {
    conn: Connection,
    /// The database file; `None` in memory (and then there is nothing to lock).
    path: Option<PathBuf>,
    lock: Option<File>,
    /// `PRAGMA foreign_keys` before `start_run`, restored by `finish_run`.
    foreign_keys_before: Option<bool>,
    /// What the statements since the last commit or rollback wrote, as the authorizer saw them.
    touched: Arc<Mutex<Touched>>,
    /// Whether the authorizer reports to `touched` (without it every commit checks everything).
    tracking: bool,
    /// The schema the last commit left (read at that commit, or at open): each table's
    /// definition and root page and each index's uniqueness. The schema diff at the next commit
    /// finds what the authorizer cannot name.
    baseline: Option<Reading>,
    /// Each table's foreign keys, by lower-cased name, with the definition they were read
    /// from.
    foreign_key_cache: BTreeMap<String, (String, Vec<ForeignKey>)>,
    last_check: ForeignKeyCheck,
}

fn db_err(e: rusqlite::Error) -> DbError {
    DbError::new(e.to_string())
}

impl Sqlite {
    pub fn open(url: &DatabaseUrl, options: &OpenOptions) -> Result<Sqlite> {
        without_memory_statistics();
        let (conn, path) = match url {
            DatabaseUrl::SqliteMemory => (
                Connection::open_in_memory().map_err(|e| open_error(url, e.to_string()))?,
                None,
            ),
            DatabaseUrl::SqliteFile(path, url_options) => {
                if !path.exists()
                    && let Some(other) = url_options.other_reading.as_ref().filter(|o| o.exists())
                {
                    return Err(crate::error::Error::Usage(format!(
                        "the database URL names {}, which does not exist, while {} does: SQLAlchemy reads \
                         sqlite:///PATH as a path relative to the current directory (ferry does too), and \
                         sqlite:////PATH as an absolute one. Write sqlite:///{} for the existing file, or \
                         create the relative one on purpose with sqlite:{}",
                        path.display(),
                        other.display(),
                        other.display(),
                        path.display()
                    )));
                }
                match (url_options.access, options.create) {
                    (Access::ReadOnly, true) => {
                        return Err(crate::error::Error::Usage(format!(
                            "the database URL opens {} read-only (mode=ro or immutable=1), and this command writes; \
                             remove the parameter to let ferry write",
                            path.display()
                        )));
                    }
                    (Access::ReadWrite, true) if !path.exists() => {
                        return Err(open_error(
                            url,
                            "it does not exist, and the URL's mode=rw forbids creating it",
                        ));
                    }
                    _ => {}
                }
                if path.is_dir() {
                    return Err(open_error(
                        url,
                        "it is a directory, not a SQLite database file",
                    ));
                }
                if !path.exists() && !options.create {
                    // Commands that only read never create the file: a missing database is empty.
                    (
                        Connection::open_in_memory().map_err(|e| open_error(url, e.to_string()))?,
                        None,
                    )
                } else {
                    let flags = if options.create {
                        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
                    } else {
                        OpenFlags::SQLITE_OPEN_READ_ONLY
                    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                    let conn = Connection::open_with_flags(path, flags)
                        .map_err(|e| open_error(url, why_unopenable(path, &e)))?;
                    (conn, Some(path.clone()))
                }
            }
            DatabaseUrl::Postgres(_) => return Err(open_error(url, "not a SQLite URL")),
        };
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| open_error(url, e.to_string()))?;
        // Opening is lazy: the first read tells whether this is a database at all.
        let conn = match conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())) {
            Ok(()) => conn,
            // A run killed mid-transaction left a hot journal: only a writer may roll it back
            // to the last commit (SQLite's own recovery), so a reader reopens read-write.
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly)
                    && !options.create =>
            {
                drop(conn);
                let path = path.as_deref().unwrap_or(Path::new(""));
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| open_error(url, e.to_string()))?;
                conn.busy_timeout(options.busy_timeout)
                    .map_err(|e| open_error(url, e.to_string()))?;
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                    .map_err(|e| open_error(url, format!("not a usable SQLite database ({e})")))?;
                conn
            }
            Err(e) => {
                return Err(open_error(
                    url,
                    format!("not a usable SQLite database ({e})"),
                ));
            }
        };
        let mut conn = conn;
        let touched = Arc::new(Mutex::new(Touched::default()));
        let recorder = Arc::clone(&touched);
        let tracking = conn
            .authorizer(Some(move |ctx: rusqlite::hooks::AuthContext<'_>| {
                recorder
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .record(&ctx);
                rusqlite::hooks::Authorization::Allow
            }))
            .is_ok();
        let mut sqlite = Sqlite {
            conn,
            path,
            lock: None,
            foreign_keys_before: None,
            touched,
            tracking,
            baseline: None,
            foreign_key_cache: BTreeMap::new(),
            last_check: ForeignKeyCheck::NotRun,
        };
        sqlite.baseline = sqlite.table_definitions().ok();
        Ok(sqlite)
    }

    /// The foreign-key check the last commit ran: the whole database, or the tables the step
    /// touched and their children (what `commit` pays for).
    pub fn last_commit_check(&self) -> &ForeignKeyCheck {
        &self.last_check
    }

    fn touched(&self) -> std::sync::MutexGuard<'_, Touched> {
        self.touched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Each table's definition and root page, and each index's uniqueness, by lower-cased
    /// name: one scan of `sqlite_master`. SQLite stores an index's statement as
    /// `CREATE UNIQUE INDEX …` or `CREATE INDEX …` whatever the spelling it was given; an index
    /// without one is a constraint's (unique or primary key).
    fn table_definitions(&self) -> Result<Reading, DbError> {
        let mut reading = Reading::default();
        for r in self.rows(
            "SELECT type, name, sql, rootpage FROM main.sqlite_master WHERE type IN ('table', 'index')",
            &[],
        )? {
            let name = cell(&r, 1);
            let sql = r.get(2).cloned().flatten();
            if cell(&r, 0) == "table" {
                let definition = Definition {
                    name: name.clone(),
                    sql: sql.unwrap_or_default(),
                    root: cell(&r, 3).parse().unwrap_or(-1),
                };
                reading.tables.insert(name.to_ascii_lowercase(), definition);
            } else {
                let unique = sql.is_none_or(|sql| sql.starts_with("CREATE UNIQUE INDEX"));
                reading.indexes.insert(name.to_ascii_lowercase(), unique);
            }
        }
        Ok(reading)
    }

    /// Which foreign-key check this commit needs, the schema being `after`.
    fn commit_check_plan(&mut self, after: &Reading) -> Result<ForeignKeyCheck, DbError> {
        if !self.tracking {
            return Ok(ForeignKeyCheck::Whole(
                "the authorizer could not be set".into(),
            ));
        }
        let (whole, tables) = {
            let touched = self.touched();
            (
                touched.whole().map(str::to_string),
                touched.tables().clone(),
            )
        };
        if let Some(why) = whole {
            return Ok(ForeignKeyCheck::Whole(why));
        }
        let Some(before) = self.baseline.take() else {
            return Ok(ForeignKeyCheck::Whole(
                "the schema before the step could not be read".into(),
            ));
        };
        let plan = if tables.is_empty()
            && touched::schema_changes(&before.tables, &after.tables).is_empty()
        {
            Ok(ForeignKeyCheck::Tables(Vec::new()))
        } else {
            self.foreign_keys(after).and_then(|foreign_keys| {
                let mut catalog = SqliteCatalog {
                    db: self,
                    foreign_keys,
                };
                touched::tables_to_check(&tables, &before, after, &mut catalog)
                    .map(ForeignKeyCheck::Tables)
                    .map_err(DbError::new)
            })
        };
        self.baseline = Some(before);
        plan
    }

    /// Every table's foreign keys (tables without any left out), by the table's name as
    /// stored; parents and columns lower-cased. A table's foreign keys are written in its
    /// definition, so they are read again only for a table whose definition changed.
    fn foreign_keys(
        &mut self,
        schema: &Reading,
    ) -> Result<BTreeMap<String, Vec<ForeignKey>>, DbError> {
        let mut cache = std::mem::take(&mut self.foreign_key_cache);
        cache.retain(|name, (sql, _)| schema.tables.get(name).is_some_and(|d| d.sql == *sql));
        let mut out = BTreeMap::new();
        for (key, definition) in &schema.tables {
            if !cache.contains_key(key) {
                let mut fks: BTreeMap<String, ForeignKey> = BTreeMap::new();
                for r in self.strings(
                    "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1, 'main') ORDER BY id, seq",
                    &definition.name,
                )? {
                    let fk = fks.entry(cell(&r, 0)).or_insert_with(|| ForeignKey {
                        parent: cell(&r, 1).to_ascii_lowercase(),
                        from: Vec::new(),
                        to: Vec::new(),
                    });
                    fk.from.push(cell(&r, 2).to_ascii_lowercase());
                    fk.to
                        .push(r.get(3).cloned().flatten().map(|c| c.to_ascii_lowercase()));
                }
                cache.insert(
                    key.clone(),
                    (definition.sql.clone(), fks.into_values().collect()),
                );
            }
            if let Some((_, fks)) = cache.get(key)
                && !fks.is_empty()
            {
                out.insert(definition.name.clone(), fks.clone());
            }
        }
        self.foreign_key_cache = cache;
        Ok(out)
    }

    /// The database file, if on disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock_path(&self) -> Option<PathBuf> {
        self.path.as_ref().map(|p| {
            let mut name = p.as_os_str().to_owned();
            name.push(".ferry-lock");
            PathBuf::from(name)
        })
    }

    /// Rows of a query with one text parameter, every value as text.
    fn strings(&self, sql: &str, param: &str) -> Result<Rows, DbError> {
        self.rows(sql, &[&param])
    }

    fn rows(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Rows, DbError> {
        let mut stmt = self.conn.prepare(sql).map_err(db_err)?;
        let columns = stmt.column_count();
        let rows = stmt
            .query_map(params, |row| {
                (0..columns)
                    .map(|i| row.get_ref(i).map(text))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

/// Turns off SQLite's memory statistics, once, before the process's first connection: with
/// them on, every allocation SQLite makes takes one process-wide mutex, and threads that run
/// connections side by side (`fleet -j`, `upgrade-test -j`) queue on it. ferry never reads them
/// (`sqlite3_memory_used`). When the process has already initialized SQLite (an application
/// that opened its own connection first), SQLite refuses the setting and nothing changes.
fn without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. sqlite3_config is not threadsafe
        // against other SQLite calls, which `Once` and "before the first connection" rule out
        // within ferry; after initialization it only returns SQLITE_MISUSE.
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            );
        }
    });
}

/// The schema at commit, read for the foreign-key check's plan.
struct SqliteCatalog<'a> {
    db: &'a Sqlite,
    foreign_keys: BTreeMap<String, Vec<ForeignKey>>,
}

impl Catalog for SqliteCatalog<'_> {
    fn foreign_keys(&self) -> &BTreeMap<String, Vec<ForeignKey>> {
        &self.foreign_keys
    }

    fn columns(&mut self, table: &str) -> Result<Option<Columns>, String> {
        let err = |e: DbError| e.to_string();
        let rows = self
            .db
            .strings(
                "SELECT lower(name), pk, hidden FROM pragma_table_xinfo(?1, 'main')",
                table,
            )
            .map_err(err)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut columns = Columns {
            keys: Some(BTreeSet::new()),
            ..Columns::default()
        };
        for r in &rows {
            let name = cell(r, 0);
            // hidden 2 and 3: generated columns (1: a virtual table's hidden column).
            columns.generated |= matches!(cell(r, 2).as_str(), "2" | "3");
            if cell(r, 1) != "0"
                && let Some(keys) = columns.keys.as_mut()
            {
                keys.insert(name.clone());
            }
            columns.all.insert(name);
        }
        for r in self
            .db
            .strings(
                "SELECT i.cid, lower(i.name) FROM pragma_index_list(?1, 'main') AS l, \
                 pragma_index_xinfo(l.name, 'main') AS i WHERE l.\"unique\" AND i.key",
                table,
            )
            .map_err(err)?
        {
            match (cell(&r, 0).parse::<i64>(), r.get(1).cloned().flatten()) {
                (Ok(cid), Some(name)) if cid >= 0 => {
                    if let Some(keys) = columns.keys.as_mut() {
                        keys.insert(name);
                    }
                }
                // An expression (-2) or the rowid (-1): any column may feed the key.
                _ => columns.keys = None,
            }
        }
        Ok(Some(columns))
    }
}

fn cell(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

impl Driver for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn managed_schema(&self) -> Option<String> {
        Some("main".into())
    }

    fn session_restore(&self) -> String {
        FRAMING.restore.into()
    }

    fn required_columns(&mut self, table: &str) -> Result<Vec<String>, DbError> {
        let rows = self.query(&format!(
            "SELECT name FROM pragma_table_xinfo({}, 'main') WHERE \"notnull\" AND dflt_value IS NULL AND hidden = 0 \
             AND NOT (pk = 1 AND upper(type) = 'INTEGER')",
            super::literal(table)
        ))?;
        Ok(rows.iter().map(|r| cell(r, 0)).collect())
    }

    fn tables(&mut self) -> Result<Vec<String>, DbError> {
        let rows = self.query("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")?;
        Ok(rows.iter().map(|r| cell(r, 0)).collect())
    }

    fn exists(&mut self, object: &Object) -> Result<bool, DbError> {
        let rows = match object {
            Object::Table(t) => self.strings(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                t,
            )?,
            Object::Index(i) => self.strings(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1",
                i,
            )?,
            Object::Column { table, column } => self
                .strings("SELECT name FROM pragma_table_info(?1)", table)?
                .into_iter()
                .filter(|r| cell(r, 0) == *column)
                .collect(),
        };
        Ok(!rows.is_empty())
    }

    fn query(&mut self, sql: &str) -> Result<Rows, DbError> {
        self.rows(sql, &[])
    }

    fn execute(&mut self, script: &str) -> Result<(), DbError> {
        // SQLite's own batch: each statement is prepared from the remaining text, so triggers
        // and `;` inside strings are the parser's business, not ours.
        let mut batch = Batch::new(&self.conn, script);
        loop {
            let mut stmt = match batch.next() {
                Ok(Some(stmt)) => stmt,
                Ok(None) => return Ok(()),
                Err(e) => return Err(db_err(e)),
            };
            let mut rows = stmt.raw_query();
            loop {
                match rows.next() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        drop(rows);
                        let statement = stmt.expanded_sql().map(|s| normalize_sql(&s));
                        return Err(DbError {
                            message: e.to_string(),
                            statement,
                        });
                    }
                }
            }
        }
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.conn.execute_batch(FRAMING.begin).map_err(db_err)?;
        // The step starts from the schema the last commit left (read then). Writes outside a
        // transaction, by a non-transactional script, stay recorded against that reading; so
        // would another connection's schema change, which then only adds tables to check.
        if self.baseline.is_none() {
            self.baseline = self.table_definitions().ok();
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), DbError> {
        // Only the tables the step changed, and their children, can hold a row whose foreign
        // key the step left pointing nowhere; the whole check when that set is not known.
        let after = self.table_definitions()?;
        self.last_check = self.commit_check_plan(&after)?;
        let violations = match (&self.last_check, FRAMING.commit_check) {
            (ForeignKeyCheck::Tables(tables), Some(_)) => {
                let mut rows = Vec::new();
                for table in tables {
                    rows.extend(
                        self.strings("SELECT * FROM pragma_foreign_key_check(?1, 'main')", table)?,
                    );
                }
                rows
            }
            (_, Some(check)) => self.query(check)?,
            (_, None) => Vec::new(),
        };
        if let Some(first) = violations.first() {
            return Err(DbError::new(format!(
                "PRAGMA foreign_key_check found {} row(s) whose foreign key points nowhere, e.g. table {} rowid {} → {}; \
                 the step must keep every reference valid (a parent row deleted, changed or lost in a table rebuild, \
                 directly or by a trigger, orphans its children)",
                violations.len(),
                cell(first, 0),
                cell(first, 1),
                cell(first, 2)
            )));
        }
        self.conn.execute_batch(FRAMING.commit).map_err(db_err)?;
        self.touched().reset();
        self.baseline = Some(after);
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        // What was recorded stays recorded: a non-transactional script's writes were not rolled
        // back, and the next commit checks them (a superset is always sound).
        if self.conn.is_autocommit() {
            return Ok(()); // SQLite already rolled back (e.g. after SQLITE_FULL)
        }
        self.conn.execute_batch(FRAMING.rollback).map_err(db_err)
    }

    fn start_run(&mut self) -> Result<(), DbError> {
        // Outside any transaction (it is a no-op inside one): no table rebuild may cascade.
        let on = self
            .query("PRAGMA foreign_keys")?
            .first()
            .is_some_and(|r| cell(r, 0) == "1");
        self.foreign_keys_before = Some(on);
        match FRAMING.run_start {
            Some(sql) => self.conn.execute_batch(sql).map_err(db_err),
            None => Ok(()),
        }
    }

    fn finish_run(&mut self) -> Result<(), DbError> {
        if let (Some(true), Some(sql)) = (self.foreign_keys_before.take(), FRAMING.run_finish) {
            self.conn.execute_batch(sql).map_err(db_err)?;
        }
        Ok(())
    }

    fn lock(&mut self, timeout: Duration) -> Result<Result<(), String>, DbError> {
        let Some(lock_path) = self.lock_path() else {
            return Ok(Ok(())); // in memory: no other process can see the database
        };
        let io =
            |e: std::io::Error| DbError::new(format!("lock file {}: {e}", lock_path.display()));
        let started = Instant::now();
        loop {
            let mut file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {
                    // The previous holder may have removed the file between our open and lock.
                    if !same_file(&file, &lock_path) {
                        continue;
                    }
                    file.set_len(0).map_err(io)?;
                    file.write_all(super::host::holder_description().as_bytes())
                        .map_err(io)?;
                    file.flush().map_err(io)?;
                    self.lock = Some(file);
                    return Ok(Ok(()));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    if started.elapsed() >= timeout {
                        let mut holder = String::new();
                        let _ = file.rewind();
                        let _ = file.read_to_string(&mut holder);
                        let holder = holder.trim();
                        return Ok(Err(if holder.is_empty() {
                            format!("another ferry process holds {}", lock_path.display())
                        } else {
                            format!("held by {holder} ({})", lock_path.display())
                        }));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }

    fn lock_holder(&mut self) -> Result<Option<String>, DbError> {
        let Some(path) = self.lock_path() else {
            return Ok(None);
        };
        let Ok(mut file) = File::open(&path) else {
            return Ok(None); // no lock file: nobody holds it
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(None), // a file left by a finished or killed run: free
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Ok(Some(format!(
                    "held by {} ({})",
                    holder.trim(),
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(DbError::new(format!("lock file {}: {e}", path.display())))
            }
        }
    }

    fn lock_progress(&mut self, step: &str) {
        if let Some(file) = &mut self.lock {
            // Best effort: the description is for people, the lock itself is the kernel's.
            let text = format!("{}, at step {step}", super::host::holder_description());
            let _ = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(text.as_bytes()));
        }
    }

    fn unlock(&mut self) -> Result<(), DbError> {
        if let (Some(file), Some(path)) = (self.lock.take(), self.lock_path()) {
            // Remove while still holding it, so no one takes a lock on a file about to vanish.
            let _ = std::fs::remove_file(&path);
            drop(file);
        }
        Ok(())
    }

    fn snapshot(&mut self, skip: &[&str]) -> Result<Schema, DbError> {
        let mut schema = Schema::default();
        let objects = self.query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )?;
        for row in &objects {
            let (kind, name, table, sql) = (cell(row, 0), cell(row, 1), cell(row, 2), cell(row, 3));
            if skip.contains(&table.as_str()) {
                continue;
            }
            match kind.as_str() {
                "table" => {
                    let mut t = self.table(&name)?;
                    for check in check_constraints(&sql) {
                        t.constraints
                            .insert(format!("check {check}"), format!("CHECK {check}"));
                    }
                    schema.tables.insert(name, t);
                }
                "trigger" => {
                    schema.triggers.insert(name, normalize_sql(&sql));
                }
                "view" => {
                    schema.views.insert(name, normalize_sql(&sql));
                }
                _ => {} // indexes are read per table
            }
        }
        for table in schema.tables.keys().cloned().collect::<Vec<_>>() {
            for (name, unique, origin) in self
                .strings(
                    "SELECT name, \"unique\", origin FROM pragma_index_list(?1)",
                    &table,
                )?
                .iter()
                .map(|r| (cell(r, 0), cell(r, 1) == "1", cell(r, 2)))
            {
                let columns: Vec<String> = self
                    .strings("SELECT coalesce(name, '<expression>'), \"desc\" FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno", &name)?
                    .iter()
                    .map(|r| if cell(r, 1) == "1" { format!("{} DESC", cell(r, 0)) } else { cell(r, 0) })
                    .collect();
                match origin.as_str() {
                    "pk" => {}
                    "u" => {
                        let t = schema.tables.get_mut(&table).expect("table listed above");
                        t.constraints.insert(
                            format!("unique ({})", columns.join(", ")),
                            format!("UNIQUE ({})", columns.join(", ")),
                        );
                    }
                    _ => {
                        let sql = objects
                            .iter()
                            .find(|r| cell(r, 1) == name)
                            .map(|r| cell(r, 3))
                            .unwrap_or_default();
                        let normalized = normalize_sql(&sql);
                        let upper = normalized.to_ascii_uppercase();
                        let predicate = upper
                            .rfind(" WHERE ")
                            .map(|at| format!(" WHERE {}", &normalized[at + 7..]))
                            .unwrap_or_default();
                        let unique = if unique { "UNIQUE " } else { "" };
                        // The catalog hides expressions: their text comes from the index's SQL,
                        // so two indexes on different expressions never compare equal.
                        let keys = match upper
                            .find(" ON ")
                            .and_then(|on| normalized[on..].find('(').map(|p| on + p))
                        {
                            Some(open) if columns.iter().any(|c| c.starts_with("<expression>")) => {
                                normalized[open..].to_string()
                            }
                            _ => format!("({}){predicate}", columns.join(", ")),
                        };
                        schema
                            .indexes
                            .insert(name, format!("{unique}ON {table} {keys}"));
                    }
                }
            }
        }
        Ok(schema)
    }

    fn backup(&mut self, dir: Option<&Path>) -> Result<Option<Backup>, DbError> {
        let Some(db_path) = self.path.clone() else {
            return Ok(None); // in memory: nothing outlives the process anyway
        };
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => db_path.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let name = db_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "database".into());
        let stamp: String = super::host::now_utc()
            .chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect();
        // A new file, never an existing one: reserve the name with create_new.
        let mut attempt = 0;
        let path = loop {
            let suffix = if attempt == 0 {
                String::new()
            } else {
                format!("-{attempt}")
            };
            let candidate = dir.join(format!("{name}.ferry-backup-{stamp}{suffix}"));
            match File::options()
                .write(true)
                .create_new(true)
                .open(&candidate)
            {
                Ok(_) => break candidate,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1
                }
                Err(e) => {
                    return Err(DbError::new(format!(
                        "cannot create the backup {}: {e}; nothing was changed",
                        candidate.display()
                    )));
                }
            }
        };
        if let Err((what, e)) = copy_and_verify(&self.conn, &path) {
            // Whatever the copy left (a partial file, its journal) would only take the space
            // that was missing: a backup that did not complete leaves nothing behind.
            let removed = remove_with_companions(&path);
            let left = match removed {
                Ok(()) => "no partial backup was left".to_string(),
                Err(leftover) => format!("remove the partial backup {leftover} by hand"),
            };
            return Err(DbError::new(format!(
                "the backup {} failed ({what}): {e}; nothing was changed and {left}",
                path.display()
            )));
        }
        let restore = format!(
            "stop the application, then copy {} over {} (and remove any {}-wal / -journal file)",
            path.display(),
            db_path.display(),
            db_path.display()
        );
        Ok(Some(Backup { path, restore }))
    }
}

/// Copies the database into the new file at `path` with the online backup API and verifies
/// the copy; `Err((stage, error))` when either does not complete.
fn copy_and_verify(conn: &Connection, path: &Path) -> Result<(), (&'static str, String)> {
    let mut copy = Connection::open(path).map_err(|e| ("open", e.to_string()))?;
    {
        let backup =
            rusqlite::backup::Backup::new(conn, &mut copy).map_err(|e| ("start", e.to_string()))?;
        // -1: every page in one step, under one read lock, so the copy is consistent.
        match backup.step(-1).map_err(|e| ("copy", e.to_string()))? {
            rusqlite::backup::StepResult::Done => {}
            other => return Err(("copy", format!("{other:?}"))),
        }
    }
    let check: String = copy
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| ("verify", e.to_string()))?;
    if check != "ok" {
        return Err(("PRAGMA quick_check of the copy", check));
    }
    copy.close().map_err(|(_, e)| ("close", e.to_string()))
}

/// Removes a file that did not become a backup and every companion SQLite may have made
/// beside it; `Err` names what could not be removed.
fn remove_with_companions(path: &Path) -> Result<(), String> {
    let mut left = Vec::new();
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => left.push(format!("{} ({e})", file.display())),
        }
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(left.join(", "))
    }
}

impl Sqlite {
    fn table(&self, name: &str) -> Result<Table, DbError> {
        let mut table = Table::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in self.strings(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)",
            name,
        )? {
            let column = cell(&r, 0);
            let order: i64 = cell(&r, 4).parse().unwrap_or(0);
            if order > 0 {
                pk.push((order, column.clone()));
            }
            table.columns.insert(
                column,
                Column {
                    data_type: cell(&r, 1).to_ascii_uppercase(),
                    not_null: cell(&r, 2) == "1",
                    default: r.get(3).cloned().flatten(),
                },
            );
        }
        if !pk.is_empty() {
            pk.sort();
            let cols: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();
            table.constraints.insert(
                "primary key".into(),
                format!("PRIMARY KEY ({})", cols.join(", ")),
            );
        }
        // One foreign key may span several rows (one per column).
        // id → (from columns, parent table, parent columns, on update, on delete)
        type ForeignKey = (Vec<String>, String, Vec<String>, String, String);
        let mut fks: std::collections::BTreeMap<String, ForeignKey> = Default::default();
        for r in self.strings(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
            name,
        )? {
            let entry = fks.entry(cell(&r, 0)).or_insert_with(|| (Vec::new(), cell(&r, 1), Vec::new(), cell(&r, 4), cell(&r, 5)));
            entry.0.push(cell(&r, 2));
            entry.2.push(cell(&r, 3));
        }
        for (from, to_table, to, on_update, on_delete) in fks.into_values() {
            table.constraints.insert(
                format!("foreign key ({}) → {to_table}", from.join(", ")),
                format!(
                    "FOREIGN KEY ({}) REFERENCES {to_table} ({}) ON UPDATE {on_update} ON DELETE {on_delete}",
                    from.join(", "),
                    to.join(", ")
                ),
            );
        }
        Ok(table)
    }
}

/// SQLite says only "unable to open database file"; the file system says why.
fn why_unopenable(path: &Path, e: &rusqlite::Error) -> String {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent.filter(|d| !d.is_dir()) {
        return format!(
            "the directory {} does not exist; create it first ({e})",
            dir.display()
        );
    }
    match std::fs::OpenOptions::new().read(true).open(path) {
        Err(io) if path.exists() => format!("{io} ({e})"),
        _ => match parent.map(std::fs::metadata) {
            Some(Ok(m)) if m.permissions().readonly() => {
                format!("the directory {} is not writable ({e})", path.display())
            }
            _ => e.to_string(),
        },
    }
}

/// Whether an open file is still the one at `path` (not removed and re-created meanwhile).
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}
