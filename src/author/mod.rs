//! Authoring: what writes the migration set's own files, beside the run-time path. The baseline
//! is generated from a replay of the legacy chain ([`baseline`]), never typed. Schemas are read
//! with the drivers' snapshot and compared with [`crate::core::schema::diff`], as `verify` does.

pub mod baseline;
