//! Loading and verifying a migration set (ferry.toml, legacy/, baseline/, revisions/).
//!
//! Pure: no database. `build.rs` compiles this very file (with `graph.rs` and `guard.rs`)
//! to refuse a tampered legacy chain at build time, so it may use only std, serde, toml,
//! sha2, semver and thiserror, and reaches its siblings through `super::`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// File contents: borrowed from the binary for the compiled-in set, owned when read from disk.
pub type Text = Cow<'static, str>;

/// What a frozen legacy chain tells anyone who tries to change it.
pub const FROZEN_HINT: &str = "the legacy chain is frozen: new schema changes go in revisions/ (a new revisions/<id>/ directory whose down is the current head)";

/// The SQL dialects ferry drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub const ALL: [Dialect; 2] = [Dialect::Sqlite, Dialect::Postgres];

    /// The name used in file names (`up.sqlite.sql`, `baseline/postgres.sql`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// Everything that can be wrong with a migration set. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    #[error("legacy/{path}: {message}; {hint}", hint = FROZEN_HINT)]
    Frozen { path: String, message: String },
    #[error("{path}: {message}")]
    Layout { path: String, message: String },
    #[error("revision {id}: {message}")]
    Revision { id: String, message: String },
    #[error("{path}: {message}")]
    Guard { path: String, message: String },
}

fn config_err(file: &str, message: impl Into<String>) -> SetError {
    SetError::Config {
        file: file.to_string(),
        message: message.into(),
    }
}

fn layout_err(path: &str, message: impl Into<String>) -> SetError {
    SetError::Layout {
        path: path.to_string(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------
// ferry.toml

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub legacy: LegacyConfig,
    pub baseline: BaselineConfig,
    #[serde(default)]
    pub revisions: RevisionsConfig,
    #[serde(default)]
    pub test: TestConfig,
    #[serde(default, rename = "release")]
    pub releases: Vec<Release>,
    /// An external revision runner (e.g. Alembic) that `upgrade` hands off to after the bridge.
    #[serde(default)]
    pub handoff: Option<HandoffConfig>,
}

/// `[handoff]`: after the bridge, `upgrade` runs this command (through `sh -c`) instead of
/// ferry's own revisions; the external runner owns every revision after the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffConfig {
    pub command: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyConfig {
    pub cap: u32,
    pub marker: Marker,
    /// Legacy versions above the cap (as TOML keys, so strings) → the revision carrying the change.
    #[serde(default)]
    pub superseded: BTreeMap<String, String>,
    #[serde(default)]
    pub write_marker_on_fresh: bool,
}

/// Where the legacy integer version lives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Marker {
    KvTable {
        table: String,
        key_column: String,
        value_column: String,
        key: String,
        /// The other columns ferry fills when it must insert the marker row: column → SQL
        /// literal. ferry only ever updates its own column of an existing row.
        #[serde(default)]
        insert: BTreeMap<String, String>,
    },
    SingleRow {
        table: String,
        column: String,
        #[serde(default)]
        insert: BTreeMap<String, String>,
    },
    /// SQLite's `PRAGMA user_version`.
    UserVersion,
}

impl Marker {
    /// The columns ferry fills besides its own when it inserts the marker row.
    pub fn insert(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Marker::KvTable { insert, .. } | Marker::SingleRow { insert, .. } => Some(insert),
            Marker::UserVersion => None,
        }
    }

    /// ferry's own columns of the marker table: the version's (and a kv-table's key).
    pub fn own_columns(&self) -> Vec<&str> {
        match self {
            Marker::KvTable {
                key_column,
                value_column,
                ..
            } => vec![key_column, value_column],
            Marker::SingleRow { column, .. } => vec![column],
            Marker::UserVersion => Vec::new(),
        }
    }

    /// The table that holds the marker, if it is a table.
    pub fn table(&self) -> Option<&str> {
        match self {
            Marker::KvTable { table, .. } | Marker::SingleRow { table, .. } => Some(table),
            Marker::UserVersion => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    pub revision: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionsConfig {
    #[serde(default = "default_version_table")]
    pub version_table: String,
}

impl Default for RevisionsConfig {
    fn default() -> Self {
        RevisionsConfig {
            version_table: default_version_table(),
        }
    }
}

fn default_version_table() -> String {
    "alembic_version".to_string()
}

/// Where the test data of a set lives (outside the frozen legacy/ directory).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    /// `NNN.sql` files: seed rows inserted right after legacy step NNN.
    pub seeds: Option<String>,
    /// `NNN.sql` / `NNN.<dialect>.sql`: what pre-release builds ran as legacy NNN > cap.
    pub superseded: Option<String>,
    /// Tables whose seeded rows a step deliberately prunes: `upgrade-test` reports their lost
    /// rows instead of failing on them.
    #[serde(default)]
    pub may_lose_rows: Vec<String>,
}

impl TestConfig {
    /// The configured directories, as written in ferry.toml.
    pub fn dirs(&self) -> impl Iterator<Item = &str> {
        self.seeds
            .iter()
            .chain(self.superseded.iter())
            .map(String::as_str)
    }
}

/// A `[test]` directory as the key prefix of its files in [`Files`]: `/`-separated, without
/// a leading `./` or a trailing `/`.
pub fn test_dir_key(configured: &str) -> String {
    let mut key = configured.replace('\\', "/");
    while let Some(rest) = key.strip_prefix("./") {
        key = rest.to_string();
    }
    key.trim_end_matches('/').to_string()
}

/// Which release left which schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub version: String,
    pub legacy: Option<u32>,
    pub revision: Option<String>,
}

/// The `revision.toml` of one revision directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevisionToml {
    down: Downs,
    #[serde(default)]
    message: String,
    #[serde(default = "yes")]
    transaction: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Downs {
    One(String),
    Many(Vec<String>),
}

/// `legacy/FROZEN.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frozen {
    pub cap: u32,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------
// The set in memory

/// SQL for one script, shared by every dialect or written per dialect.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    /// Path of the directory holding the files, relative to the set root (for messages).
    pub dir: String,
    pub shared: Option<Text>,
    pub per_dialect: BTreeMap<Dialect, Text>,
}

impl Sql {
    /// The script for a dialect: its own file takes precedence over the shared one.
    pub fn get(&self, dialect: Dialect) -> Option<&str> {
        self.per_dialect
            .get(&dialect)
            .or(self.shared.as_ref())
            .map(|t| t.as_ref())
    }

    /// The path of the file `get` returns (for messages).
    pub fn path(&self, stem: &str, dialect: Dialect) -> String {
        if self.per_dialect.contains_key(&dialect) {
            format!("{}/{stem}.{}.sql", self.dir, dialect.name())
        } else {
            format!("{}/{stem}.sql", self.dir)
        }
    }

    /// Every file of the script: (path, text).
    fn files<'s>(&'s self, stem: &'s str) -> impl Iterator<Item = (String, &'s str)> + 's {
        let shared = self
            .shared
            .iter()
            .map(move |t| (format!("{}/{stem}.sql", self.dir), t.as_ref()));
        let own = self
            .per_dialect
            .iter()
            .map(move |(d, t)| (format!("{}/{stem}.{}.sql", self.dir, d.name()), t.as_ref()));
        shared.chain(own)
    }

    fn is_empty(&self) -> bool {
        self.shared.is_none() && self.per_dialect.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct LegacyStep {
    pub number: u32,
    /// The directory name, e.g. `007_split_pipeline_config`.
    pub name: String,
    pub up: Sql,
}

#[derive(Debug, Clone)]
pub struct Revision {
    pub id: String,
    pub down_revisions: Vec<String>,
    pub message: String,
    pub transaction: bool,
    pub up: Sql,
    pub down: Sql,
}

/// Where a set came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The reference set compiled into the binary.
    Embedded,
    Dir(PathBuf),
}

/// A loaded, structurally valid migration set.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    pub origin: Origin,
    pub config: Config,
    /// `config.legacy.superseded`, keys parsed.
    pub superseded: BTreeMap<u32, String>,
    /// Ascending by number; the numbers may have gaps and start above 1 (see
    /// [`MigrationSet::step`] and [`MigrationSet::steps_above`]; never index it by number).
    pub legacy: Vec<LegacyStep>,
    pub baselines: BTreeMap<Dialect, Text>,
    /// Sorted by id.
    pub revisions: Vec<Revision>,
    /// `None` when legacy/FROZEN.toml does not exist yet (only `lint --freeze` accepts that).
    pub frozen: Option<Frozen>,
    /// Every file under legacy/ except FROZEN.toml: path relative to legacy/ → contents.
    legacy_files: BTreeMap<String, Text>,
    /// The `[test]` data compiled in with the set (seed and superseded SQL): path relative to
    /// the set root (under a configured `[test]` directory) → contents. Empty for a set read
    /// from a directory at run time, whose test data is read from disk.
    pub test_files: BTreeMap<String, Text>,
    /// What was read: [`Need::Graph`] leaves most revisions' SQL out.
    need: Need,
}

/// A set as a build embedded it (what [`include_migrations!`](crate::include_migrations)
/// gives [`MigrationSet::compiled`]): its files, and its revisions as the build parsed them
/// from their revision.toml, so a run parses no TOML and sorts no paths for them.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// (path relative to the set root, contents), sorted by path, `[test]` data included.
    pub files: &'static [(&'static str, &'static str)],
    /// Sorted by id.
    pub revisions: &'static [EmbeddedRevision],
}

/// One revision of an [`Embedded`] set, its revision.toml parsed by the build: (id, down
/// revisions, message, transaction, the indexes in [`Embedded::files`] of every file of
/// `revisions/<id>/`). A tuple, so that the generated code names no type.
pub type EmbeddedRevision = (
    &'static str,
    &'static [&'static str],
    &'static str,
    bool,
    &'static [u32],
);

/// The files of a set: path relative to the set root (`/`-separated) → contents.
#[derive(Debug, Clone, Default)]
pub struct Files(pub BTreeMap<String, Text>);

/// What a command needs of a set read from a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Every file: what a command that touches a database or shows SQL reads, so that every
    /// rule (guards, each revision's files) is checked before it runs.
    All,
    /// The revision graph: ferry.toml, legacy/ (its freeze is verified as always), baseline/,
    /// each `revisions/<id>/revision.toml`, and the whole directory of a revision that
    /// supersedes a legacy version (its guards are checked). The other revisions' SQL is left
    /// unread: enough for `heads` and `history`.
    Graph,
}

impl Files {
    /// The files a set consists of, read from a directory.
    pub fn from_dir(root: &Path) -> Result<Files, SetError> {
        Files::read(root, Need::All)
    }

    /// The files of a set a command needs, read from a directory: each file is opened and
    /// read once, directories are listed once, and nothing is stat'ed that the listing tells.
    pub fn read(root: &Path, need: Need) -> Result<Files, SetError> {
        let mut files = BTreeMap::new();
        let mut buf = Vec::with_capacity(64 * 1024);
        let toml = root.join("ferry.toml");
        let config = match read_text(&toml, &mut buf) {
            Ok(text) => text,
            Err(_) if !toml.is_file() => {
                return Err(SetError::Read {
                    path: toml.display().to_string(),
                    message:
                        "no ferry.toml here; is this a migration set directory? (pass --migrations DIR)"
                            .into(),
                });
            }
            Err(e) => return Err(e),
        };
        // Which revisions supersede a legacy version (read whole even for the graph); a
        // ferry.toml that does not parse is reported by the loader.
        let superseding: BTreeSet<String> = match need {
            Need::All => BTreeSet::new(),
            Need::Graph => toml::from_str::<Config>(&config)
                .map(|c| c.legacy.superseded.into_values().collect())
                .unwrap_or_default(),
        };
        files.insert("ferry.toml".to_string(), config);
        let mut paths = Vec::new();
        for top in ["legacy", "baseline"] {
            let dir = root.join(top);
            if dir.is_dir() {
                walk(&dir, top, &mut paths)?;
            }
        }
        let revisions = root.join("revisions");
        // The revision.toml files of a graph-only read: a missing one is named by the loader.
        let mut tomls = Vec::new();
        if revisions.is_dir() {
            match need {
                Need::All => walk(&revisions, "revisions", &mut paths)?,
                Need::Graph => {
                    for (name, path, is_dir) in list(&revisions)? {
                        let rel = format!("revisions/{name}");
                        if !is_dir {
                            paths.push((rel, path));
                        } else if superseding.contains(&name) {
                            walk(&path, &rel, &mut paths)?;
                        } else {
                            tomls
                                .push((format!("{rel}/revision.toml"), path.join("revision.toml")));
                        }
                    }
                }
            }
        }
        files.extend(read_all(&paths, false)?);
        let read = read_all(&tomls, true)?;
        if read.len() < tomls.len() {
            // The loader would name it; it never sees the directory here, so name it now.
            let found: BTreeSet<&str> = read.iter().map(|(rel, _)| rel.as_str()).collect();
            if let Some((rel, _)) = tomls.iter().find(|(rel, _)| !found.contains(rel.as_str())) {
                let id = rel
                    .trim_start_matches("revisions/")
                    .trim_end_matches("/revision.toml");
                check_revision_id(id).map_err(|message| SetError::Revision {
                    id: id.to_string(),
                    message,
                })?;
                return Err(SetError::Revision {
                    id: id.to_string(),
                    message: "revision.toml is missing".into(),
                });
            }
        }
        files.extend(read);
        Ok(Files(files))
    }

    /// The compiled-in set (paths and contents generated by build.rs).
    pub fn from_static(entries: &'static [(&'static str, &'static str)]) -> Files {
        Files(
            entries
                .iter()
                .map(|(p, t)| (p.to_string(), Cow::Borrowed(*t)))
                .collect(),
        )
    }

    /// Every path loaded (for build.rs's rerun and embedding).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

fn read_error(path: &Path, e: impl ToString) -> SetError {
    SetError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A file's text: one open, reads into `buf` (reused from file to file) up to the end, and
/// one allocation of the file's size.
fn read_text(path: &Path, buf: &mut Vec<u8>) -> Result<Text, SetError> {
    use std::io::Read as _;
    // Not `File::read_to_end`, which asks for the size and position first (two more calls).
    let mut file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    buf.clear();
    let mut len = 0;
    loop {
        if buf.len() == len {
            buf.resize(len.max(16 * 1024) * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(path, e)),
        }
    }
    buf.truncate(len);
    std::str::from_utf8(buf)
        .map(|text| Cow::Owned(text.to_string()))
        .map_err(|_| read_error(path, "not UTF-8 text"))
}

/// Reads the files `(rel, path)`, on a few threads when there are many (a large set's time
/// goes into the system calls, which run in parallel). `optional`: a missing file is left out.
fn read_all(paths: &[(String, PathBuf)], optional: bool) -> Result<Vec<(String, Text)>, SetError> {
    let read = |chunk: &[(String, PathBuf)]| -> Result<Vec<(String, Text)>, SetError> {
        let mut buf = Vec::new();
        let mut out = Vec::with_capacity(chunk.len());
        for (rel, path) in chunk {
            match read_text(path, &mut buf) {
                Ok(text) => out.push((rel.clone(), text)),
                Err(_) if optional && !path.exists() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || paths.len() < 512 {
        return read(paths);
    }
    let chunks: Vec<Result<Vec<(String, Text)>, SetError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(paths.len().div_ceil(threads))
            .map(|chunk| scope.spawn(move || read(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(SetError::Read {
                        path: "the migration set".into(),
                        message: "a reading thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(paths.len());
    for chunk in chunks {
        out.extend(chunk?);
    }
    Ok(out)
}

/// A directory's entries: (name, path, whether it is a directory). The listing's file type
/// answers that without a stat, except for a symbolic link, which is followed.
fn list(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, SetError> {
    let entries = std::fs::read_dir(dir).map_err(|e| read_error(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| read_error(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let is_dir = match entry.file_type() {
            Ok(t) if !t.is_symlink() => t.is_dir(),
            _ => path.is_dir(),
        };
        out.push((name, path, is_dir));
    }
    Ok(out)
}

/// Every file under `dir`: (path relative to the set root, path).
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), SetError> {
    for (name, path, is_dir) in list(dir)? {
        let rel_path = format!("{rel}/{name}");
        if is_dir {
            walk(&path, &rel_path, out)?;
        } else {
            out.push((rel_path, path));
        }
    }
    Ok(())
}

/// `sha256:<hex>` of text with CRLF normalized to LF, so a checkout's line endings never matter.
pub fn digest(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = if text.contains('\r') {
        Sha256::digest(text.replace("\r\n", "\n").as_bytes())
    } else {
        Sha256::digest(text.as_bytes())
    };
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash.iter() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

/// A SQL identifier ferry may put into the statements it builds: `[A-Za-z_][A-Za-z0-9_]*`, ≤ 63.
pub fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

/// A revision id: `[a-z0-9_]`, 1..=32 characters (Alembic's `version_num` is varchar(32)).
pub fn check_revision_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("a revision id cannot be empty".into());
    }
    if id.len() > 32 {
        return Err(format!(
            "id is {} characters long; at most 32 fit alembic_version.version_num (varchar(32))",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "id contains {c:?}; only lowercase letters, digits and '_' are allowed"
        ));
    }
    Ok(())
}

/// Whether a SQL file does nothing and does not say so: only blank lines and comments, and no
/// `-- ferry:empty` line.
fn is_blank(text: &str) -> bool {
    text.lines().map(str::trim).all(|l| {
        l.is_empty() || (l.starts_with("--") && l.trim_start_matches('-').trim() != "ferry:empty")
    })
}

/// Splits `up.sql` / `up.sqlite.sql` into (stem, dialect).
fn sql_file_kind(name: &str) -> Option<(&str, Option<Dialect>)> {
    let base = name.strip_suffix(".sql")?;
    match base.split_once('.') {
        None => Some((base, None)),
        Some((stem, d)) => Dialect::ALL
            .into_iter()
            .find(|x| x.name() == d)
            .map(|x| (stem, Some(x))),
    }
}

impl MigrationSet {
    /// Parses and checks the structure of a set: config, legacy numbering, revision ids and
    /// graph, guards. The freeze is checked separately by [`MigrationSet::verify_freeze`].
    pub fn load(files: Files, origin: Origin) -> Result<MigrationSet, SetError> {
        MigrationSet::load_for(files, origin, Need::All)
    }

    /// As [`MigrationSet::load`], from the files [`Files::read`] gave for `need`: with
    /// [`Need::Graph`], a revision's SQL is expected only for a revision superseding a legacy
    /// version, and the set says so ([`MigrationSet::has_sql`]).
    pub fn load_for(files: Files, origin: Origin, need: Need) -> Result<MigrationSet, SetError> {
        MigrationSet::assemble(files, Vec::new(), origin, need)
    }

    /// The set a build embedded ([`Embedded`]): its revisions as the build parsed them, its
    /// other files through the loader, and the structural checks of [`MigrationSet::load`]
    /// (ids, graph, superseding guards, releases) run again on what the build checked.
    pub fn compiled(set: Embedded) -> Result<MigrationSet, SetError> {
        let mut claimed = vec![false; set.files.len()];
        let mut revisions = Vec::with_capacity(set.revisions.len());
        for &(id, downs, message, transaction, indexes) in set.revisions {
            let dir = format!("revisions/{id}");
            let mut up = Sql {
                dir: dir.clone(),
                ..Sql::default()
            };
            let mut down = Sql {
                dir,
                ..Sql::default()
            };
            for &index in indexes {
                let index = index as usize;
                let (Some((path, text)), Some(claim)) =
                    (set.files.get(index), claimed.get_mut(index))
                else {
                    return Err(layout_err(
                        &up.dir,
                        format!(
                            "the embedded set names file {index}, which it does not have; build it again"
                        ),
                    ));
                };
                *claim = true;
                let name = path.rsplit('/').next().unwrap_or(path);
                match sql_file_kind(name) {
                    Some(("up", d)) => put(&mut up, d, Cow::Borrowed(*text)),
                    Some(("down", d)) => put(&mut down, d, Cow::Borrowed(*text)),
                    _ => {} // revision.toml, parsed by the build
                }
            }
            revisions.push(Revision {
                id: id.to_string(),
                down_revisions: downs.iter().map(|d| d.to_string()).collect(),
                message: message.to_string(),
                transaction,
                up,
                down,
            });
        }
        let files = set
            .files
            .iter()
            .zip(claimed)
            .filter(|(_, claimed)| !claimed)
            .map(|((path, text), _)| (path.to_string(), Cow::Borrowed(*text)))
            .collect();
        MigrationSet::assemble(Files(files), revisions, Origin::Embedded, Need::All)
    }

    /// Loads `files`; `parsed` are revisions whose revision.toml was parsed already (by the
    /// build), checked here as those read from `files` are.
    fn assemble(
        files: Files,
        parsed: Vec<Revision>,
        origin: Origin,
        need: Need,
    ) -> Result<MigrationSet, SetError> {
        let Files(mut files) = files;
        let config_text = files
            .remove("ferry.toml")
            .ok_or_else(|| layout_err("ferry.toml", "missing"))?;
        let config: Config = toml::from_str(&config_text)
            .map_err(|e| config_err("ferry.toml", e.to_string().trim_end().to_string()))?;
        let superseded = check_config(&config)?;

        let mut legacy_files = BTreeMap::new();
        let mut frozen_text = None;
        let mut legacy_dirs: BTreeMap<String, Sql> = BTreeMap::new();
        let mut baselines = BTreeMap::new();
        let mut revision_dirs: BTreeMap<String, (Option<Text>, Sql, Sql)> = BTreeMap::new();
        let test_dirs: Vec<String> = config.test.dirs().map(test_dir_key).collect();
        let mut test_files = BTreeMap::new();

        for (path, text) in files {
            if test_dirs.iter().any(|dir| {
                path.strip_prefix(dir.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            }) {
                test_files.insert(path, text);
                continue;
            }
            let parts: Vec<&str> = path.split('/').collect();
            match parts.as_slice() {
                ["legacy", "FROZEN.toml"] => frozen_text = Some(text),
                ["legacy", rest @ ..] => {
                    let rel = rest.join("/");
                    if let [dir, file] = rest {
                        let sql = legacy_dirs.entry(dir.to_string()).or_default();
                        sql.dir = format!("legacy/{dir}");
                        match sql_file_kind(file) {
                            Some(("up", None)) => sql.shared = Some(text.clone()),
                            Some(("up", Some(d))) => {
                                sql.per_dialect.insert(d, text.clone());
                            }
                            _ => {
                                return Err(layout_err(
                                    &path,
                                    "unexpected file in a legacy step; expected up.sql or up.<dialect>.sql",
                                ));
                            }
                        }
                    } else {
                        return Err(layout_err(
                            &path,
                            "unexpected file; legacy/ holds FROZEN.toml and NNN_<slug>/ step directories only",
                        ));
                    }
                    legacy_files.insert(rel, text);
                }
                ["baseline", file] => {
                    let dialect = file
                        .strip_suffix(".sql")
                        .and_then(|d| Dialect::ALL.into_iter().find(|x| x.name() == d))
                        .ok_or_else(|| {
                            layout_err(
                                &path,
                                "unexpected file; baseline/ holds sqlite.sql and postgres.sql",
                            )
                        })?;
                    baselines.insert(dialect, text);
                }
                ["revisions", dir, file] => {
                    let entry = revision_dirs.entry(dir.to_string()).or_default();
                    entry.1.dir = format!("revisions/{dir}");
                    entry.2.dir = format!("revisions/{dir}");
                    match (*file, sql_file_kind(file)) {
                        ("revision.toml", _) => entry.0 = Some(text),
                        (_, Some(("up", d))) => put(&mut entry.1, d, text),
                        (_, Some(("down", d))) => put(&mut entry.2, d, text),
                        _ => {
                            return Err(layout_err(
                                &path,
                                "unexpected file in a revision; expected revision.toml, up[.<dialect>].sql, down[.<dialect>].sql",
                            ));
                        }
                    }
                }
                _ => {
                    return Err(layout_err(
                        &path,
                        "unexpected file; a set holds ferry.toml, legacy/, baseline/ and revisions/<id>/",
                    ));
                }
            }
        }

        let legacy = number_legacy(legacy_dirs, config.legacy.cap)?;

        let frozen = match frozen_text {
            None => None,
            Some(t) => Some(toml::from_str::<Frozen>(&t).map_err(|e| {
                config_err("legacy/FROZEN.toml", e.to_string().trim_end().to_string())
            })?),
        };

        let mut revisions = Vec::with_capacity(revision_dirs.len() + parsed.len());
        for (id, (toml_text, up, down)) in revision_dirs {
            let toml_text = toml_text.ok_or_else(|| SetError::Revision {
                id: id.clone(),
                message: "revision.toml is missing".into(),
            });
            check_revision_id(&id).map_err(|message| SetError::Revision {
                id: id.clone(),
                message,
            })?;
            let meta: RevisionToml = toml::from_str(&toml_text?).map_err(|e| {
                config_err(
                    &format!("revisions/{id}/revision.toml"),
                    e.to_string().trim_end().to_string(),
                )
            })?;
            let down_revisions = match meta.down {
                Downs::One(d) => vec![d],
                Downs::Many(v) => v,
            };
            revisions.push(Revision {
                id,
                down_revisions,
                message: meta.message,
                transaction: meta.transaction,
                up,
                down,
            });
        }
        if !parsed.is_empty() {
            revisions.extend(parsed);
            revisions.sort_by(|a, b| a.id.cmp(&b.id));
        }
        for rev in &revisions {
            check_revision_id(&rev.id).map_err(|message| SetError::Revision {
                id: rev.id.clone(),
                message,
            })?;
            if rev.up.is_empty() && (need == Need::All || superseded.values().any(|s| *s == rev.id))
            {
                return Err(SetError::Revision {
                    id: rev.id.clone(),
                    message: "has no up.sql (or up.<dialect>.sql)".into(),
                });
            }
        }

        let set = MigrationSet {
            origin,
            config,
            superseded,
            legacy,
            baselines,
            revisions,
            frozen,
            legacy_files,
            test_files,
            need,
        };
        set.check_revisions()?;
        Ok(set)
    }

    fn check_revisions(&self) -> Result<(), SetError> {
        let baseline = &self.config.baseline.revision;
        if self.revision(baseline).is_some() {
            return Err(SetError::Revision {
                id: baseline.clone(),
                message: "the baseline revision has no directory in revisions/; its schema is baseline/<dialect>.sql".into(),
            });
        }
        // The graph's own checks: downs exist, one root on the baseline, no cycles.
        super::graph::Graph::new(self)?;
        for (number, id) in &self.superseded {
            let rev = self.revision(id).ok_or_else(|| {
                config_err(
                    "ferry.toml",
                    format!(
                        "legacy.superseded maps {number} to revision {id}, which does not exist"
                    ),
                )
            })?;
            let mut guarded = true;
            for (path, sql) in rev.up.files("up") {
                let script = super::guard::parse(sql).map_err(|e| SetError::Guard {
                    path,
                    message: e.to_string(),
                })?;
                guarded &= script.is_guarded();
            }
            if !guarded {
                return Err(SetError::Revision {
                    id: id.clone(),
                    message: format!(
                        "supersedes legacy version {number}, so its up SQL must be guarded (-- ferry:if-missing ...) to be skipped where legacy {number} already made the change"
                    ),
                });
            }
        }
        for release in &self.config.releases {
            match (&release.legacy, &release.revision) {
                (Some(n), None)
                    if *n == 0
                        || (self.floor()..=self.cap()).contains(n)
                        || self.superseded.contains_key(n) => {}
                (Some(n), None) if *n < self.floor() => {
                    return Err(config_err(
                        "ferry.toml",
                        format!(
                            "release {} names legacy {n}, below the oldest legacy version this set bridges ({}); \
                             list only releases at legacy {} or later (steps {})",
                            release.version,
                            self.floor(),
                            self.floor(),
                            self.steps_text()
                        ),
                    ));
                }
                (Some(n), None) => {
                    return Err(config_err(
                        "ferry.toml",
                        format!(
                            "release {} names legacy {n}, above the cap and not superseded",
                            release.version
                        ),
                    ));
                }
                (None, Some(r)) if r == baseline || self.revision(r).is_some() => {}
                (None, Some(r)) => {
                    return Err(config_err(
                        "ferry.toml",
                        format!(
                            "release {} names revision {r}, which does not exist",
                            release.version
                        ),
                    ));
                }
                _ => {
                    return Err(config_err(
                        "ferry.toml",
                        format!(
                            "release {} needs exactly one of legacy = N or revision = \"ID\"",
                            release.version
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Parses every guard directive of every script, so a malformed one is refused before any run.
    pub fn check_guards(&self) -> Result<(), SetError> {
        let legacy = self.legacy.iter().map(|s| (&s.up, "up"));
        let revs = self
            .revisions
            .iter()
            .flat_map(|r| [(&r.up, "up"), (&r.down, "down")]);
        let scripts = legacy.chain(revs).flat_map(|(sql, stem)| sql.files(stem));
        let baselines = self
            .baselines
            .iter()
            .map(|(d, t)| (format!("baseline/{}.sql", d.name()), t.as_ref()));
        for (path, text) in scripts.chain(baselines) {
            super::guard::parse(text).map_err(|e| SetError::Guard {
                path,
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// What `lint` refuses beyond the structure the loader checks, every problem named by its
    /// file: a step or revision with no SQL for a dialect the set supports (the dialects its
    /// baseline has files for), a shared file that per-dialect files shadow for every supported
    /// dialect (ferry never reads it), and an empty SQL file or baseline (an intended no-op is a
    /// file holding the line `-- ferry:empty`).
    pub fn check_complete(&self) -> Result<(), SetError> {
        let dialects: Vec<Dialect> = self.baselines.keys().copied().collect();
        let mut problems = Vec::new();
        let mut script = |sql: &Sql, stem: &str| {
            for d in &dialects {
                if sql.get(*d).is_none() {
                    problems.push(format!(
                        "{}: no {stem} SQL for {} ({stem}.sql or {stem}.{}.sql), and the set supports {} (its baseline/ has {}.sql)",
                        sql.dir,
                        d.name(),
                        d.name(),
                        d.name(),
                        d.name()
                    ));
                }
            }
            if sql.shared.is_some()
                && !dialects.is_empty()
                && dialects.iter().all(|d| sql.per_dialect.contains_key(d))
            {
                problems.push(format!(
                    "{}/{stem}.sql: never read, since {} take precedence for every dialect the set supports; remove it",
                    sql.dir,
                    dialects
                        .iter()
                        .map(|d| format!("{stem}.{}.sql", d.name()))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
            for (path, text) in sql.files(stem) {
                if is_blank(text) {
                    problems.push(format!(
                        "{path}: empty; write the SQL, or the line `-- ferry:empty` if the step does nothing on purpose"
                    ));
                }
            }
        };
        for step in &self.legacy {
            script(&step.up, "up");
        }
        for rev in &self.revisions {
            script(&rev.up, "up");
            script(&rev.down, "down");
        }
        for (d, text) in &self.baselines {
            if is_blank(text) {
                problems.push(format!(
                    "baseline/{}.sql: empty; the baseline is the complete schema at {}",
                    d.name(),
                    self.baseline_id()
                ));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        let origin = match &self.origin {
            Origin::Embedded => "the compiled-in set".to_string(),
            Origin::Dir(dir) => dir.display().to_string(),
        };
        Err(layout_err(
            &origin,
            format!(
                "{} problem(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            ),
        ))
    }

    /// Every legacy file is listed in FROZEN.toml with its digest, nothing else is, and the
    /// freeze's cap is the configured cap.
    pub fn verify_freeze(&self) -> Result<(), SetError> {
        let frozen = self.frozen.as_ref().ok_or_else(|| SetError::Frozen {
            path: "FROZEN.toml".into(),
            message: "missing; write it once with `ferry lint --freeze`".into(),
        })?;
        if frozen.cap != self.config.legacy.cap {
            return Err(SetError::Frozen {
                path: "FROZEN.toml".into(),
                message: format!(
                    "freezes cap {} but ferry.toml says cap = {} (the highest legacy step); the cap never moves",
                    frozen.cap, self.config.legacy.cap
                ),
            });
        }
        for (path, text) in &self.legacy_files {
            match frozen.files.get(path) {
                None => {
                    return Err(SetError::Frozen {
                        path: path.clone(),
                        message: "was added after the freeze (it is not in FROZEN.toml)".into(),
                    });
                }
                Some(expected) => {
                    let actual = digest(text);
                    if &actual != expected {
                        return Err(SetError::Frozen {
                            path: path.clone(),
                            message: format!(
                                "was edited after the freeze (FROZEN.toml has {expected}, the file has {actual})"
                            ),
                        });
                    }
                }
            }
        }
        // A whole step removed: name the step and the frozen chain it belonged to.
        let frozen_steps: BTreeMap<u32, &str> = frozen
            .files
            .keys()
            .filter_map(|p| {
                let dir = p.split('/').next()?;
                let digits: String = dir.chars().take_while(char::is_ascii_digit).collect();
                Some((digits.parse().ok()?, dir))
            })
            .collect();
        if let Some((number, dir)) = frozen_steps.iter().find(|(n, _)| self.step(**n).is_none()) {
            let numbers: Vec<u32> = frozen_steps.keys().copied().collect();
            return Err(SetError::Frozen {
                path: format!("{dir}/"),
                message: format!(
                    "step {number} is missing: FROZEN.toml freezes legacy steps {}, and a frozen step is never removed",
                    compact_versions(&numbers)
                ),
            });
        }
        if let Some(path) = frozen
            .files
            .keys()
            .find(|p| !self.legacy_files.contains_key(*p))
        {
            return Err(SetError::Frozen {
                path: path.clone(),
                message: "is listed in FROZEN.toml but was removed".into(),
            });
        }
        Ok(())
    }

    /// The text of FROZEN.toml for this set's legacy files, in the exact format of the spec.
    pub fn freeze_text(&self) -> String {
        let mut out = format!("cap = {}\n[files]\n", self.config.legacy.cap);
        for (path, text) in &self.legacy_files {
            // A TOML basic string, escaped, as key and value.
            let key = toml::Value::String(path.clone()).to_string();
            out.push_str(&format!("{key} = \"{}\"\n", digest(text)));
        }
        out
    }

    /// Whether every revision's SQL was read (a set loaded for [`Need::Graph`] has the SQL
    /// of its superseding revisions only, and serves `heads` and `history`).
    pub fn has_sql(&self) -> bool {
        self.need == Need::All
    }

    pub fn revision(&self, id: &str) -> Option<&Revision> {
        self.revisions
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.revisions[i])
    }

    pub fn cap(&self) -> u32 {
        self.config.legacy.cap
    }

    /// The oldest legacy version the set bridges: its first step's number (1 for a chain that
    /// starts at the beginning). A database whose marker is below it is too old.
    pub fn floor(&self) -> u32 {
        self.legacy.first().map_or(1, |s| s.number)
    }

    /// The legacy step numbered `number` (the marker value it leaves behind), if there is one.
    pub fn step(&self, number: u32) -> Option<&LegacyStep> {
        self.legacy
            .binary_search_by_key(&number, |s| s.number)
            .ok()
            .map(|i| &self.legacy[i])
    }

    /// The legacy steps above marker value `m`, in order: what a database at legacy `m` runs
    /// (a marker inside a gap runs the next step above it).
    pub fn steps_above(&self, m: u32) -> &[LegacyStep] {
        let from = self.legacy.partition_point(|s| s.number <= m);
        &self.legacy[from..]
    }

    /// The step numbers, ascending.
    pub fn step_numbers(&self) -> Vec<u32> {
        self.legacy.iter().map(|s| s.number).collect()
    }

    /// The step numbers written compactly: `1..=25`, or `72–74, 76–77, 79` with gaps.
    pub fn steps_text(&self) -> String {
        compact_versions(&self.step_numbers())
    }

    pub fn baseline_id(&self) -> &str {
        &self.config.baseline.revision
    }
}

fn put(sql: &mut Sql, dialect: Option<Dialect>, text: Text) {
    match dialect {
        None => sql.shared = Some(text),
        Some(d) => {
            sql.per_dialect.insert(d, text);
        }
    }
}

/// Validates ferry.toml beyond its shape; returns the parsed superseded map.
fn check_config(config: &Config) -> Result<BTreeMap<u32, String>, SetError> {
    let mut names = vec![(
        "revisions.version_table",
        config.revisions.version_table.as_str(),
    )];
    match &config.legacy.marker {
        Marker::KvTable {
            table,
            key_column,
            value_column,
            ..
        } => {
            names.push(("legacy.marker.table", table));
            names.push(("legacy.marker.key_column", key_column));
            names.push(("legacy.marker.value_column", value_column));
        }
        Marker::SingleRow { table, column, .. } => {
            names.push(("legacy.marker.table", table));
            names.push(("legacy.marker.column", column));
        }
        Marker::UserVersion => {}
    }
    if let Some(insert) = config.legacy.marker.insert() {
        let own = config.legacy.marker.own_columns();
        for (column, value) in insert {
            names.push(("legacy.marker.insert", column));
            if own.contains(&column.as_str()) {
                return Err(config_err(
                    "ferry.toml",
                    format!(
                        "legacy.marker.insert names {column:?}, which is ferry's own column of the marker; list only the other columns"
                    ),
                ));
            }
            if value.trim().is_empty() {
                return Err(config_err(
                    "ferry.toml",
                    format!(
                        "legacy.marker.insert.{column} is empty; give an SQL literal such as \"false\", \"0\" or \"'X'\""
                    ),
                ));
            }
        }
    }
    for (field, name) in names {
        if !valid_identifier(name) {
            return Err(config_err(
                "ferry.toml",
                format!(
                    "{field} = {name:?} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters)"
                ),
            ));
        }
    }
    check_revision_id(&config.baseline.revision)
        .map_err(|m| config_err("ferry.toml", format!("baseline.revision: {m}")))?;
    if let Some(handoff) = &config.handoff
        && handoff.command.trim().is_empty()
    {
        return Err(config_err(
            "ferry.toml",
            "handoff.command is empty; name the external runner's command (e.g. command = \"alembic upgrade head\"), or remove [handoff]",
        ));
    }
    let mut superseded = BTreeMap::new();
    for (key, id) in &config.legacy.superseded {
        let number: u32 = key.parse().map_err(|_| {
            config_err(
                "ferry.toml",
                format!("legacy.superseded key {key:?} is not a legacy version number"),
            )
        })?;
        if number <= config.legacy.cap {
            return Err(config_err(
                "ferry.toml",
                format!(
                    "legacy.superseded maps {number}, which is not above the cap {}",
                    config.legacy.cap
                ),
            ));
        }
        if superseded.insert(number, id.clone()).is_some() {
            return Err(config_err(
                "ferry.toml",
                format!(
                    "legacy.superseded names version {number} twice (as {key:?} and another spelling)"
                ),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for release in &config.releases {
        semver::Version::parse(&release.version).map_err(|e| {
            config_err(
                "ferry.toml",
                format!(
                    "release version {:?} is not semver (X.Y.Z): {e}",
                    release.version
                ),
            )
        })?;
        if !seen.insert(release.version.as_str()) {
            return Err(config_err(
                "ferry.toml",
                format!("release {} is listed twice", release.version),
            ));
        }
    }
    Ok(superseded)
}

/// Orders legacy step directories by number: gaps and a first step above 1 are allowed,
/// nothing is above the cap, and the cap is the highest step.
fn number_legacy(dirs: BTreeMap<String, Sql>, cap: u32) -> Result<Vec<LegacyStep>, SetError> {
    let mut by_number: BTreeMap<u32, LegacyStep> = BTreeMap::new();
    for (name, up) in dirs {
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        let rest = &name[digits.len()..];
        let number: u32 = match digits.parse() {
            Ok(n) if rest.is_empty() || rest.starts_with('_') => n,
            _ => {
                return Err(layout_err(
                    &format!("legacy/{name}"),
                    "a legacy step directory is named NNN_<slug> (e.g. 007_add_bot_tags), NNN being the marker value the step leaves behind",
                ));
            }
        };
        if number == 0 {
            return Err(layout_err(
                &format!("legacy/{name}"),
                "legacy steps are numbered from 1 (by the marker value they leave behind)",
            ));
        }
        if number > cap {
            return Err(SetError::Frozen {
                path: name,
                message: format!("step {number} is above the cap {cap}"),
            });
        }
        if up.is_empty() {
            return Err(layout_err(
                &format!("legacy/{name}"),
                "has no up.sql (or up.<dialect>.sql)",
            ));
        }
        if let Some(other) = by_number.get(&number) {
            return Err(layout_err(
                &format!("legacy/{name}"),
                format!(
                    "step {number} is also legacy/{}: each marker value has one step directory",
                    other.name
                ),
            ));
        }
        by_number.insert(number, LegacyStep { number, name, up });
    }
    let highest = by_number.keys().next_back().copied().unwrap_or(0);
    if highest != cap {
        return Err(SetError::Frozen {
            path: format!("{cap:03}_*"),
            message: if by_number.is_empty() {
                format!(
                    "step {cap} is missing: ferry.toml says cap = {cap}, and legacy/ has no step"
                )
            } else {
                format!(
                    "step {cap} is missing: ferry.toml says cap = {cap}, and the highest legacy step is {highest}; \
                     the cap is the highest step (the marker value the last step leaves behind)"
                )
            },
        });
    }
    Ok(by_number.into_values().collect())
}

/// Version numbers written compactly: `1..=25` for one unbroken run, else runs and single
/// numbers, e.g. `72–74, 76–77, 79`.
pub fn compact_versions(numbers: &[u32]) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &n in numbers {
        match runs.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(n) => *end = n,
            _ => runs.push((n, n)),
        }
    }
    match runs.as_slice() {
        [] => "none".into(),
        [(a, b)] if a == b => a.to_string(),
        [(a, b)] => format!("{a}..={b}"),
        _ => runs
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}–{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}
