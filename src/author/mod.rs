//! Authoring: what writes the migration set's own files, beside the run-time path. The baseline
//! is generated from a replay of the legacy chain ([`baseline`]), never typed; a revision's SQL
//! is generated from the difference between the set's head and a development database
//! ([`autogenerate`]). Schemas are read with the drivers' snapshot and compared with
//! [`crate::core::schema::diff`], as `verify` does; `catalog` reads how to create each object.

pub mod autogenerate;
pub mod baseline;
pub(crate) mod catalog;
