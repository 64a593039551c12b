//! ferry inside applications: [`Migrator`], the operations `status`, `upgrade`, `check` and
//! `verify` (the `ferry` command line formats what they return), and [`build`], the build-time
//! half that checks and embeds a set.

pub mod build;

#[cfg(feature = "drivers")]
mod migrator;

#[cfg(feature = "drivers")]
pub use migrator::*;

// `build` reaches the set loader as `super::set`, here as in ferry's own build script.
use crate::core::set::{self, Files, MigrationSet, Origin, SetError};

impl MigrationSet {
    /// A set from its files: (path relative to the set root, contents), `[test]` data
    /// included. [`include_migrations!`](crate::include_migrations) gives
    /// [`MigrationSet::compiled`] what the build generated instead, with the revisions parsed.
    ///
    /// # Panics
    ///
    /// When the files are not a valid set. They are what [`build::embed_migrations`] checked
    /// with this very loader, so that happens only to hand-written `files`; use
    /// [`MigrationSet::load`] for those.
    pub fn embedded(files: &'static [(&'static str, &'static str)]) -> MigrationSet {
        MigrationSet::load(Files::from_static(files), Origin::Embedded).unwrap_or_else(|e| {
            panic!("the embedded migration set does not load (the build checked it): {e}")
        })
    }

    /// Reads the migration set in `dir` at run time and checks it as every run does (layout,
    /// numbering, revision rules, the freeze, guards). Its `[test]` data stays on disk.
    pub fn from_dir(dir: impl AsRef<std::path::Path>) -> Result<MigrationSet, SetError> {
        let dir = dir.as_ref();
        let set = MigrationSet::load(set::Files::from_dir(dir)?, Origin::Dir(dir.to_path_buf()))?;
        set.verify_freeze()?;
        set.check_guards()?;
        Ok(set)
    }
}
