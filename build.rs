//! The build check: refuses a migration set whose frozen legacy chain was touched, whose
//! steps go above the cap, or whose revisions break the rules — with the very code ferry runs
//! before every run (src/core/{set,graph,guard}.rs) — and embeds the set in the binary.
//!
//! The set is the crate root's own (`ferry.toml`, `legacy/`, `baseline/`, `revisions/`), or the
//! one in `FERRY_EMBED_DIR` to build a ferry binary that carries another project's set.

#[allow(dead_code)]
#[path = "src/core/graph.rs"]
mod graph;
#[allow(dead_code)]
#[path = "src/core/guard.rs"]
mod guard;
#[allow(dead_code)]
#[path = "src/core/set.rs"]
mod set;

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=FERRY_EMBED_DIR");
    for source in ["set.rs", "graph.rs", "guard.rs"] {
        println!("cargo::rerun-if-changed=src/core/{source}");
    }
    let root = match std::env::var_os("FERRY_EMBED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        ),
    };
    for watched in ["ferry.toml", "legacy", "baseline", "revisions"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }

    let checked = set::Files::from_dir(&root).and_then(|files| {
        let paths: Vec<String> = files.paths().map(str::to_string).collect();
        let loaded = set::MigrationSet::load(files, set::Origin::Dir(root.clone()))?;
        loaded.verify_freeze()?;
        loaded.check_guards()?;
        Ok(paths)
    });
    let paths = match checked {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!(
                "error: the migration set in {} is refused: {e}",
                root.display()
            );
            println!(
                "cargo::error=the migration set in {} is refused: {e}",
                root.display()
            );
            std::process::exit(1);
        }
    };

    let mut code = String::from(
        "/// The compiled-in migration set: (path relative to the set root, contents).\npub static FILES: &[(&str, &str)] = &[\n",
    );
    for path in paths {
        let absolute = root.join(&path);
        writeln!(
            code,
            "    ({path:?}, include_str!({:?})),",
            absolute.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_set.rs");
    std::fs::write(&out, code).expect("writing the embedded set into OUT_DIR");
}
