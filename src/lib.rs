//! ferry carries databases from a legacy, integer-versioned migration chain onto an
//! Alembic-compatible revision history, in place, on SQLite and PostgreSQL.
//!
//! - [`core`]: the pure part — migration sets, the revision graph, state detection, planning,
//!   schema snapshots. No database in it.
//! - [`driver`]: one thin driver per dialect behind the [`driver::Driver`] trait.
//! - [`runner`]: executes a plan through a driver (lock, transactions, bookkeeping).
//! - [`handoff`]: running an external revision runner (`[handoff]`) after the bridge.
//! - [`cli`]: the `ferry` command line.

pub mod core;

/// The reference migration set compiled into the binary by build.rs.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_set.rs"));
}
pub mod bookkeeping;
pub mod cli;
pub mod driver;
pub mod error;
pub mod fixture;
pub mod handoff;
pub mod rehearse;
pub mod render;
pub mod runner;
pub mod scaffold;
pub mod scratch;
pub mod unversioned;
pub mod upgrade_test;
