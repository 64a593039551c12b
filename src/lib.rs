//! ferry carries databases from a legacy, integer-versioned migration chain onto an
//! Alembic-compatible revision history, in place, on SQLite and PostgreSQL.
//!
//! # Embedding ferry in a Rust application
//!
//! An application carries its own migration set and upgrades its database at start-up, with
//! the same lock, backup, refusals and crash-resume as `ferry upgrade`:
//!
//! - in its `build.rs`, [`build::embed_migrations`]`("db")` checks the set in `db/` (the checks
//!   of ferry's own build: a touched frozen legacy chain fails the build, saying new schema
//!   changes go in `revisions/`) and embeds it;
//! - [`include_migrations!`]`()` gives the embedded [`MigrationSet`];
//! - [`Migrator`] runs it: [`Migrator::status`], [`Migrator::upgrade`],
//!   [`Migrator::upgrade_to`], [`Migrator::check`], [`Migrator::verify`].
//!
//! ```toml
//! [dependencies]
//! ferry = { path = "../ferry" }
//! [build-dependencies]
//! ferry = { path = "../ferry", default-features = false }   # only what build.rs needs
//! ```
//!
//! Here with the set compiled into ferry itself (an application writes
//! `ferry::include_migrations!()` instead of [`reference_set`]):
//!
//! ```
//! # fn main() -> Result<(), ferry::Error> {
//! let set = ferry::reference_set();
//! let report = ferry::Migrator::new(set)
//!     .database("sqlite::memory:")
//!     .upgrade()?;
//! assert_eq!(report.before, ferry::State::Empty);
//! assert_eq!(report.heads, ["0006_kb_documents_status_index"]);
//! for step in &report.steps {
//!     println!("{} ({} ms)", step.label, step.duration_ms);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Layers
//!
//! - [`core`]: the pure part — migration sets, the revision graph, state detection, planning,
//!   schema snapshots. No database in it.
//! - [`driver`]: one thin driver per dialect behind the [`driver::Driver`] trait.
//! - [`runner`]: executes a plan through a driver (lock, transactions, bookkeeping).
//! - [`api`]: the operations of [`Migrator`] (status, upgrade, check, verify) and [`build`].
//! - [`fleet`]: one operation over many databases in parallel, a [`Migrator`] per target.
//! - [`handoff`]: running an external revision runner (`[handoff]`) after the bridge.
//! - [`cli`]: the `ferry` command line, a user of [`api`].
//!
//! Without the default feature `drivers` (`default-features = false`, for a build
//! dependency) only [`core`] and [`build`] are compiled.

pub mod api;
pub mod core;

pub use api::build;
pub use core::set::MigrationSet;

/// The embedded migration set of the crate calling it: the [`MigrationSet`] its build script
/// embedded with [`build::embed_migrations`], `[test]` data included.
///
/// ```ignore
/// let set: ferry::MigrationSet = ferry::include_migrations!();
/// ```
#[macro_export]
macro_rules! include_migrations {
    () => {{
        const SET: (&[(&str, &str)], &[$crate::core::set::EmbeddedRevision]) =
            include!(concat!(env!("OUT_DIR"), "/ferry_migrations.rs"));
        $crate::MigrationSet::compiled($crate::core::set::Embedded {
            files: SET.0,
            revisions: SET.1,
        })
        .unwrap_or_else(|e| {
            panic!("the embedded migration set does not load (the build checked it): {e}")
        })
    }};
}

/// The reference migration set compiled into ferry itself (with its `[test]` data).
pub fn reference_set() -> MigrationSet {
    MigrationSet::compiled(embedded::SET).unwrap_or_else(|e| {
        panic!("the compiled-in migration set does not load (the build checked it): {e}")
    })
}

/// The reference migration set compiled into the binary by build.rs.
pub mod embedded {
    use crate::core::set::{Embedded, EmbeddedRevision};

    const GENERATED: (&[(&str, &str)], &[EmbeddedRevision]) =
        include!(concat!(env!("OUT_DIR"), "/ferry_migrations.rs"));

    /// The compiled-in set: (path relative to the set root, contents), `[test]` data included.
    pub static FILES: &[(&str, &str)] = GENERATED.0;

    /// The compiled-in set as the build embedded it: its files, and its revisions parsed.
    pub const SET: Embedded = Embedded {
        files: GENERATED.0,
        revisions: GENERATED.1,
    };
}

#[cfg(feature = "drivers")]
pub use api::{
    BackupPolicy, Check, Edited, Migrator, Progress, Status, UpgradeReport, Verification,
};
pub use core::state::State;
#[cfg(feature = "drivers")]
pub use driver::Backup;
#[cfg(feature = "drivers")]
pub use error::Error;
#[cfg(feature = "drivers")]
pub use runner::StepReport;

#[cfg(feature = "drivers")]
pub mod author;
#[cfg(feature = "drivers")]
pub mod bookkeeping;
#[cfg(feature = "drivers")]
pub mod cli;
#[cfg(feature = "drivers")]
pub mod driver;
/// Without the drivers, only the URL handling the pure core uses (masking passwords).
#[cfg(not(feature = "drivers"))]
pub mod driver {
    #[allow(dead_code)]
    #[path = "url.rs"]
    pub mod url;
}
#[cfg(feature = "drivers")]
pub mod error;
#[cfg(feature = "drivers")]
pub mod fixture;
#[cfg(feature = "drivers")]
pub mod fleet;
#[cfg(feature = "drivers")]
pub mod handoff;
#[cfg(feature = "drivers")]
pub mod rehearse;
#[cfg(feature = "drivers")]
pub mod render;
#[cfg(feature = "drivers")]
pub mod runner;
#[cfg(feature = "drivers")]
pub mod scaffold;
#[cfg(feature = "drivers")]
pub mod scratch;
#[cfg(feature = "drivers")]
pub mod unversioned;
#[cfg(feature = "drivers")]
pub mod upgrade_test;
