//! The build check: refuses a migration set whose frozen legacy chain was touched, whose
//! steps go above the cap, or whose revisions break the rules — with the very code ferry runs
//! before every run (src/core/{set,graph,guard}.rs) — and embeds the set in the binary, with
//! the code an application's build script runs through `ferry::build::embed_migrations`
//! (src/api/build.rs).
//!
//! The set is the crate root's own (`ferry.toml`, `legacy/`, `baseline/`, `revisions/`, and
//! the `[test]` data), or the one in `FERRY_EMBED_DIR` to build a ferry binary that carries
//! another project's set.

#[allow(dead_code)]
#[path = "src/api/build.rs"]
mod embed;
#[allow(dead_code)]
#[path = "src/core/graph.rs"]
mod graph;
#[allow(dead_code)]
#[path = "src/core/guard.rs"]
mod guard;
#[allow(dead_code)]
#[path = "src/core/set.rs"]
mod set;

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=FERRY_EMBED_DIR");
    for source in [
        "src/core/set.rs",
        "src/core/graph.rs",
        "src/core/guard.rs",
        "src/api/build.rs",
    ] {
        println!("cargo::rerun-if-changed={source}");
    }
    let root = match std::env::var_os("FERRY_EMBED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        ),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join(embed::GENERATED);
    if let Err(e) = embed::embed(&root, &out) {
        // embed() printed it as a cargo::error already; this is for older cargo versions.
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
