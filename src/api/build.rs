//! Embedding a migration set at build time: the checks ferry runs before every run, then the
//! set's files (and its `[test]` data) compiled into the binary.
//!
//! In an application's `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), ferry::build::EmbedError> {
//!     // The set in `db/` beside the application's Cargo.toml.
//!     ferry::build::embed_migrations("db")
//! }
//! ```
//!
//! and in the application, [`include_migrations!`](crate::include_migrations) gives the set.
//! A refused set (a touched frozen legacy chain, a step above the cap, a broken revision rule
//! or guard, a dialect without its SQL) fails the application's build with the same message
//! `ferry lint` gives.
//!
//! ferry's own build script compiles this very file (with `src/core/{set,graph,guard}.rs`) to
//! check and embed the reference set, so it reaches the set loader through `super::set` and
//! uses only std and the loader's dependencies.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::set::{Files, MigrationSet, Origin, SetError};

/// The file `embed_migrations` writes into `OUT_DIR`, which `include_migrations!` includes.
pub const GENERATED: &str = "ferry_migrations.rs";

/// Why a set could not be embedded. Its `Debug` is its message, so a build script's
/// `fn main() -> Result<(), EmbedError>` prints it as it is.
pub enum EmbedError {
    /// Not run by cargo as a build script (an environment variable is missing).
    Environment(String),
    /// The set breaks a rule: the build must not go on.
    Refused { dir: PathBuf, source: SetError },
    /// The generated file cannot be written.
    Write { path: PathBuf, message: String },
}

impl std::fmt::Display for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbedError::Environment(m) => write!(f, "{m}"),
            EmbedError::Refused { dir, source } => {
                write!(
                    f,
                    "the migration set in {} is refused: {source}",
                    dir.display()
                )
            }
            EmbedError::Write { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::fmt::Debug for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for EmbedError {}

/// Checks the migration set in `dir` (relative to the application's `CARGO_MANIFEST_DIR`, or
/// absolute) and embeds it: writes the generated Rust into `OUT_DIR` for
/// [`include_migrations!`](crate::include_migrations), and tells cargo to build again when a
/// file of the set changes. A refused set is an error (and a `cargo::error`), so the build
/// fails with the message, which says that new schema changes go in `revisions/`.
pub fn embed_migrations(dir: impl AsRef<Path>) -> Result<(), EmbedError> {
    let var = |name: &str| {
        std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
            EmbedError::Environment(format!(
                "{name} is not set: embed_migrations runs in a build script (build.rs), run by cargo"
            ))
        })
    };
    let root = var("CARGO_MANIFEST_DIR")?.join(dir);
    let out = var("OUT_DIR")?.join(GENERATED);
    embed(&root, &out)
}

/// Checks the set at `root` and writes its embedding to `out` (ferry's own build script
/// calls this with its crate root or `FERRY_EMBED_DIR`).
pub fn embed(root: &Path, out: &Path) -> Result<(), EmbedError> {
    for watched in ["ferry.toml", "legacy", "baseline", "revisions"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    let (files, set) = match checked(root) {
        Ok(checked) => checked,
        Err(source) => {
            let error = EmbedError::Refused {
                dir: root.to_path_buf(),
                source,
            };
            println!("cargo::error={error}");
            return Err(error);
        }
    };
    let code = generated_code(root, &files, &set);
    std::fs::write(out, code).map_err(|e| EmbedError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    })
}

/// The checks of every build: the set loads (layout, numbering, nothing above the cap,
/// revision ids and graph), its freeze holds, its guards parse, and every dialect it supports
/// has its SQL. Returns the set's files with its `[test]` data (the `*.sql` files of the
/// configured directories that exist), paths relative to `root`.
pub fn check(root: &Path) -> Result<Files, SetError> {
    checked(root).map(|(files, _)| files)
}

/// [`check`], with the set it loaded.
fn checked(root: &Path) -> Result<(Files, MigrationSet), SetError> {
    let mut files = Files::from_dir(root)?;
    let set = MigrationSet::load(files.clone(), Origin::Dir(root.to_path_buf()))?;
    set.verify_freeze()?;
    set.check_guards()?;
    set.check_complete()?;
    for configured in set.config.test.dirs() {
        let key = super::set::test_dir_key(configured);
        let dir = root.join(&key);
        println!("cargo::rerun-if-changed={}", dir.display());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue; // not there: upgrade-test and fixture then say the data is missing
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".sql") || !entry.path().is_file() {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).map_err(|e| SetError::Read {
                path: entry.path().display().to_string(),
                message: e.to_string(),
            })?;
            files.0.insert(format!("{key}/{name}"), text.into());
        }
    }
    Ok((files, set))
}

/// One Rust expression, a pair: the slice of (path relative to the set root, contents), each
/// file through `include_str!` so cargo tracks it; and the slice of revisions as
/// [`EmbeddedRevision`](super::set::EmbeddedRevision)s (what their revision.toml says, and
/// the indexes of their files), so a run parses no TOML.
fn generated_code(root: &Path, files: &Files, set: &MigrationSet) -> String {
    let mut code = String::from(
        "// Generated by ferry::build::embed_migrations: the migration set and its [test] data,\n\
         // and the revisions as parsed from their revision.toml.\n(\n&[\n",
    );
    let test_dirs: Vec<String> = set
        .config
        .test
        .dirs()
        .map(super::set::test_dir_key)
        .collect();
    let mut of_revision: std::collections::BTreeMap<&str, Vec<usize>> =
        std::collections::BTreeMap::new();
    for (index, path) in files.paths().enumerate() {
        let absolute = root.join(path);
        writeln!(
            code,
            "    ({path:?}, include_str!({:?})),",
            absolute.display().to_string()
        )
        .expect("writing to a String");
        let in_test_dir = test_dirs.iter().any(|dir| {
            path.strip_prefix(dir.as_str())
                .is_some_and(|r| r.starts_with('/'))
        });
        if let ["revisions", id, _] = path.split('/').collect::<Vec<_>>().as_slice()
            && !in_test_dir
        {
            of_revision.entry(id).or_default().push(index);
        }
    }
    code.push_str("],\n&[\n");
    for rev in &set.revisions {
        let indexes = of_revision
            .get(rev.id.as_str())
            .map_or(&[][..], Vec::as_slice);
        writeln!(
            code,
            "    ({:?}, &{:?}, {:?}, {}, &{:?}),",
            rev.id, rev.down_revisions, rev.message, rev.transaction, indexes
        )
        .expect("writing to a String");
    }
    code.push_str("],\n)\n");
    code
}
