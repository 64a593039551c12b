//! Unit tests of the pure core over small sets built in memory.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::graph::{Graph, TargetError};
use super::plan::{self, PlanError, Step};
use super::set::{Dialect, Files, MigrationSet, Origin, SetError, digest};
use super::state::{MarkerReading, Probe, State, detect};

const TOML: &str = r#"
[legacy]
cap = 3
marker = { kind = "kv-table", table = "metadata", key_column = "key", value_column = "value", key = "database_version" }
superseded = { 4 = "0004_ctx" }
[baseline]
revision = "0001_baseline"
[[release]]
version = "1.0.0"
legacy = 2
[[release]]
version = "2.0.0"
revision = "0003_c"
"#;

/// A valid set: legacy 1..=3 (frozen), baseline, revisions 0002 → 0003 → 0004_ctx (guarded).
fn files() -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |p: &str, t: &str| {
        f.insert(p.to_string(), t.to_string());
    };
    put("ferry.toml", TOML);
    put(
        "legacy/001_init/up.sql",
        "CREATE TABLE metadata(key TEXT, value TEXT);\r\n",
    );
    put(
        "legacy/002_users/up.sqlite.sql",
        "CREATE TABLE users(id INTEGER);",
    );
    put(
        "legacy/002_users/up.postgres.sql",
        "CREATE TABLE users(id SERIAL);",
    );
    put(
        "legacy/003_email/up.sql",
        "ALTER TABLE users ADD COLUMN email TEXT;",
    );
    put(
        "baseline/sqlite.sql",
        "CREATE TABLE users(id INTEGER, email TEXT);",
    );
    put(
        "revisions/0002_a/revision.toml",
        "down = \"0001_baseline\"\nmessage = \"a\"",
    );
    put("revisions/0002_a/up.sql", "CREATE TABLE a(x INT);");
    put("revisions/0002_a/down.sql", "DROP TABLE a;");
    put("revisions/0003_c/revision.toml", "down = \"0002_a\"");
    put("revisions/0003_c/up.sql", "CREATE TABLE c(x INT);");
    put("revisions/0003_c/down.sql", "DROP TABLE c;");
    put(
        "revisions/0004_ctx/revision.toml",
        "down = \"0003_c\"\ntransaction = false",
    );
    put(
        "revisions/0004_ctx/up.sql",
        "-- ferry:if-missing column users.ctx\nALTER TABLE users ADD COLUMN ctx INT;\n-- ferry:end\n",
    );
    put(
        "revisions/0004_ctx/down.sql",
        "ALTER TABLE users DROP COLUMN ctx;",
    );
    let frozen = frozen_text(&f);
    f.insert("legacy/FROZEN.toml".into(), frozen);
    f
}

fn frozen_text(f: &BTreeMap<String, String>) -> String {
    let mut out = String::from("cap = 3\n[files]\n");
    for (p, t) in f {
        if let Some(rel) = p.strip_prefix("legacy/")
            && rel != "FROZEN.toml"
        {
            out.push_str(&format!("\"{rel}\" = \"{}\"\n", digest(t)));
        }
    }
    out
}

fn load(f: BTreeMap<String, String>) -> Result<MigrationSet, SetError> {
    let files = Files(f.into_iter().map(|(k, v)| (k, Cow::Owned(v))).collect());
    let set = MigrationSet::load(files, Origin::Embedded)?;
    set.verify_freeze()?;
    set.check_guards()?;
    Ok(set)
}

fn set() -> MigrationSet {
    load(files()).expect("the test set is valid")
}

fn err(f: BTreeMap<String, String>) -> String {
    load(f).expect_err("the set must be refused").to_string()
}

#[test]
fn loads_a_valid_set() {
    let s = set();
    assert_eq!(s.legacy.len(), 3);
    assert_eq!(s.legacy[1].name, "002_users");
    assert_eq!(
        s.legacy[1].up.get(Dialect::Postgres),
        Some("CREATE TABLE users(id SERIAL);")
    );
    assert_eq!(
        s.legacy[0].up.get(Dialect::Postgres),
        s.legacy[0].up.get(Dialect::Sqlite)
    );
    assert_eq!(s.superseded.get(&4).map(String::as_str), Some("0004_ctx"));
    assert!(!s.revision("0004_ctx").unwrap().transaction);
    assert!(s.revision("0002_a").unwrap().transaction);
    assert!(!s.baselines.contains_key(&Dialect::Postgres));
}

#[test]
fn freeze_text_round_trips_and_ignores_line_endings() {
    let s = set();
    assert_eq!(s.freeze_text(), files()["legacy/FROZEN.toml"]);
    // CRLF → LF before hashing: the CRLF file above matches an LF digest.
    assert_eq!(digest("a\r\nb"), digest("a\nb"));
    assert_ne!(digest("a\nb"), digest("a\nc"));
}

#[test]
fn tampering_with_the_legacy_chain_is_refused_with_the_revisions_hint() {
    let mut edited = files();
    edited.insert(
        "legacy/003_email/up.sql".into(),
        "ALTER TABLE users ADD COLUMN mail TEXT;".into(),
    );
    let e = err(edited);
    assert!(
        e.contains("003_email/up.sql") && e.contains("edited after the freeze"),
        "{e}"
    );
    assert!(e.contains("new schema changes go in revisions/"), "{e}");

    let mut added = files();
    added.insert("legacy/002_users/up.sql".into(), "SELECT 1;".into());
    assert!(err(added).contains("added after the freeze"));

    let mut removed = files();
    removed.remove("legacy/002_users/up.postgres.sql");
    assert!(err(removed).contains("removed"));

    let mut above = files();
    above.insert("legacy/004_more/up.sql".into(), "SELECT 1;".into());
    let e = err(above);
    assert!(
        e.contains("above the cap 3") && e.contains("revisions/"),
        "{e}"
    );

    let mut gap = files();
    gap.retain(|k, _| !k.starts_with("legacy/002"));
    assert!(err(gap).contains("step 2 is missing"));

    let mut no_freeze = files();
    no_freeze.remove("legacy/FROZEN.toml");
    assert!(err(no_freeze).contains("lint --freeze"));

    let mut cap = files();
    cap.insert(
        "legacy/FROZEN.toml".into(),
        frozen_text(&files()).replace("cap = 3", "cap = 2"),
    );
    assert!(err(cap).contains("never moves"));
}

#[test]
fn bad_revisions_are_refused() {
    let long = "0005_".to_string() + &"x".repeat(28);
    let mut too_long = files();
    too_long.insert(
        format!("revisions/{long}/revision.toml"),
        "down = \"0004_ctx\"".into(),
    );
    too_long.insert(format!("revisions/{long}/up.sql"), "SELECT 1;".into());
    let e = err(too_long);
    assert!(e.contains("33 characters") && e.contains("32"), "{e}");

    let mut upper = files();
    upper.insert(
        "revisions/0005_X/revision.toml".into(),
        "down = \"0004_ctx\"".into(),
    );
    upper.insert("revisions/0005_X/up.sql".into(), "SELECT 1;".into());
    assert!(err(upper).contains("only lowercase"));

    let mut missing_down = files();
    missing_down.insert(
        "revisions/0003_c/revision.toml".into(),
        "down = \"0009_nope\"".into(),
    );
    assert!(err(missing_down).contains("\"0009_nope\" does not exist"));

    let mut cycle = files();
    cycle.insert(
        "revisions/0002_a/revision.toml".into(),
        "down = \"0003_c\"".into(),
    );
    let e = err(cycle);
    assert!(e.contains("cycle"), "{e}");

    let mut two_roots = files();
    two_roots.insert(
        "revisions/0003_c/revision.toml".into(),
        "down = \"0001_baseline\"".into(),
    );
    assert!(err(two_roots).contains("two roots"));

    let mut no_up = files();
    no_up.remove("revisions/0003_c/up.sql");
    assert!(err(no_up).contains("has no up.sql"));

    let mut unguarded = files();
    unguarded.insert(
        "revisions/0004_ctx/up.sql".into(),
        "ALTER TABLE users ADD COLUMN ctx INT;".into(),
    );
    assert!(err(unguarded).contains("must be guarded"));

    let mut bad_guard = files();
    bad_guard.insert(
        "revisions/0003_c/down.sql".into(),
        "-- ferry:if-present column nodot\nDROP TABLE c;\n-- ferry:end".into(),
    );
    let e = err(bad_guard);
    assert!(
        e.contains("revisions/0003_c/down.sql") && e.contains("line 1"),
        "{e}"
    );
}

#[test]
fn bad_configuration_is_refused_naming_the_field() {
    let cases = [
        (TOML.replace("kv-table", "json-file"), "unknown variant"),
        (
            TOML.replace("table = \"metadata\"", "table = \"meta data\""),
            "legacy.marker.table",
        ),
        (TOML.replace("cap = 3", "cap = \"three\""), "cap"),
        (
            TOML.replace("4 = \"0004_ctx\"", "2 = \"0004_ctx\""),
            "not above the cap",
        ),
        (
            TOML.replace("4 = \"0004_ctx\"", "4 = \"0009_gone\""),
            "0009_gone",
        ),
        (
            TOML.replace("version = \"1.0.0\"", "version = \"1.0\""),
            "semver",
        ),
        (TOML.replace("legacy = 2", "legacy = 9"), "above the cap"),
        (
            TOML.replace("[baseline]", "[baseline]\ncolour = 1"),
            "unknown field",
        ),
        ("not toml at all [".to_string(), "ferry.toml"),
    ];
    for (toml, expected) in cases {
        let mut f = files();
        f.insert("ferry.toml".into(), toml);
        let e = err(f);
        assert!(e.contains(expected), "expected {expected:?} in {e}");
    }
}

#[test]
fn unexpected_files_are_refused() {
    for path in [
        "legacy/notes.txt",
        "legacy/001_init/down.sql",
        "baseline/mysql.sql",
        "revisions/0002_a/readme.md",
        "other/x.sql",
        "legacy/abc/up.sql",
    ] {
        let mut f = files();
        f.insert(path.into(), "x".into());
        let e = err(f);
        assert!(
            e.contains(path.split('/').next_back().unwrap()) || e.contains("NNN_"),
            "{path}: {e}"
        );
    }
}

fn graph(s: &MigrationSet) -> Graph {
    Graph::new(s).unwrap()
}

fn ids(g: &Graph, nodes: &[usize]) -> Vec<String> {
    nodes.iter().map(|&n| g.id(n).to_string()).collect()
}

#[test]
fn graph_paths_and_targets() {
    let s = set();
    let g = graph(&s);
    let n = |id: &str| g.node(id).unwrap();
    assert_eq!(ids(&g, &g.heads()), vec!["0004_ctx"]);
    assert_eq!(
        ids(&g, &g.upgrade_path(&[0], &[n("0004_ctx")])),
        vec!["0002_a", "0003_c", "0004_ctx"]
    );
    assert_eq!(
        ids(&g, &g.downgrade_path(&[n("0004_ctx")], &[0]).unwrap()),
        vec!["0004_ctx", "0003_c", "0002_a"]
    );
    assert!(g.downgrade_path(&[n("0002_a")], &[n("0003_c")]).is_err());
    let cur = [n("0002_a")];
    assert_eq!(ids(&g, &g.resolve("head", &cur).unwrap()), vec!["0004_ctx"]);
    assert_eq!(ids(&g, &g.resolve("+1", &cur).unwrap()), vec!["0003_c"]);
    assert_eq!(
        ids(&g, &g.resolve("-1", &cur).unwrap()),
        vec!["0001_baseline"]
    );
    assert_eq!(
        ids(&g, &g.resolve("base", &cur).unwrap()),
        vec!["0001_baseline"]
    );
    assert_eq!(ids(&g, &g.resolve("0003", &cur).unwrap()), vec!["0003_c"]);
    assert!(matches!(
        g.resolve("000", &cur),
        Err(TargetError::Ambiguous { .. })
    ));
    assert!(matches!(
        g.resolve("0009", &cur),
        Err(TargetError::Unknown(_))
    ));
    let below = g.resolve("-2", &cur).unwrap_err().to_string();
    assert!(below.contains("below the baseline"), "{below}");
    assert!(
        g.resolve("+5", &cur)
            .unwrap_err()
            .to_string()
            .contains("past the head")
    );
    assert!(g.resolve("+x", &cur).is_err());
}

#[test]
fn branches_and_merges_keep_alembic_heads() {
    let mut f = files();
    f.insert(
        "revisions/0005_b1/revision.toml".into(),
        "down = \"0004_ctx\"".into(),
    );
    f.insert("revisions/0005_b1/up.sql".into(), "SELECT 1;".into());
    f.insert(
        "revisions/0005_b2/revision.toml".into(),
        "down = \"0004_ctx\"".into(),
    );
    f.insert("revisions/0005_b2/up.sql".into(), "SELECT 1;".into());
    f.insert(
        "revisions/0006_m/revision.toml".into(),
        "down = [\"0005_b1\", \"0005_b2\"]".into(),
    );
    f.insert("revisions/0006_m/up.sql".into(), "SELECT 1;".into());
    let s = load(f.clone()).unwrap();
    let g = graph(&s);
    let n = |id: &str| g.node(id).unwrap();
    let after_b1 = g.heads_after_up(&[n("0004_ctx")], n("0005_b1"));
    assert_eq!(ids(&g, &after_b1), vec!["0005_b1"]);
    let both = g.heads_after_up(&after_b1, n("0005_b2"));
    assert_eq!(ids(&g, &both), vec!["0005_b1", "0005_b2"]);
    let merged = g.heads_after_up(&both, n("0006_m"));
    assert_eq!(ids(&g, &merged), vec!["0006_m"]);
    assert_eq!(
        ids(&g, &g.heads_after_down(&merged, n("0006_m"))),
        vec!["0005_b1", "0005_b2"]
    );
    assert_eq!(
        ids(&g, &g.heads_after_down(&both, n("0005_b2"))),
        vec!["0005_b1"]
    );
    // One step down from a merge lands on both parents, as in Alembic; further is ambiguous.
    assert_eq!(
        ids(&g, &g.resolve("-1", &merged).unwrap()),
        vec!["0005_b1", "0005_b2"]
    );
    assert_eq!(
        ids(&g, &g.resolve("0006_m-1", &[]).unwrap()),
        vec!["0005_b1", "0005_b2"]
    );
    let e = g.resolve("-2", &merged).unwrap_err().to_string();
    assert!(e.contains("below the merge 0006_m"), "{e}");
    // Without the merge, `head` is ambiguous and names both.
    f.retain(|k, _| !k.starts_with("revisions/0006_m"));
    let s = load(f).unwrap();
    let g = graph(&s);
    let e = g.resolve("head", &[0]).unwrap_err().to_string();
    assert!(
        e.contains("0005_b1, 0005_b2") && e.contains("ferry merge"),
        "{e}"
    );
    assert_eq!(g.resolve("heads", &[0]).unwrap().len(), 2);
}

fn probe(tables: &[&str], marker: MarkerReading, versions: Option<&[&str]>) -> Probe {
    Probe {
        tables: tables.iter().map(|s| s.to_string()).collect(),
        marker,
        versions: versions.map(|v| v.iter().map(|s| s.to_string()).collect()),
        history: false,
    }
}

#[test]
fn detects_every_state_of_the_spec() {
    let s = set();
    let g = graph(&s);
    use MarkerReading::*;
    let cases: Vec<(Probe, State)> = vec![
        (probe(&[], Absent, None), State::Empty),
        (
            probe(&["metadata", "users"], Value(2), None),
            State::Legacy { version: 2 },
        ),
        (
            probe(&["metadata"], Value(0), None),
            State::Legacy { version: 0 },
        ),
        (
            probe(&["metadata", "users"], Value(3), None),
            State::Legacy { version: 3 },
        ),
        (
            probe(&["metadata", "users"], Value(4), None),
            State::Superseded {
                version: 4,
                revision: "0004_ctx".into(),
            },
        ),
        (
            probe(&["metadata"], Value(7), None),
            State::FutureLegacy { version: 7 },
        ),
        (
            probe(&["users"], Absent, None),
            State::Unversioned {
                tables: vec!["users".into()],
            },
        ),
        (
            probe(&["metadata", "users"], Value(3), Some(&["0003_c"])),
            State::Managed {
                heads: vec!["0003_c".into()],
            },
        ),
        (
            probe(&["users"], Absent, Some(&["0001_baseline"])),
            State::Managed {
                heads: vec!["0001_baseline".into()],
            },
        ),
        (
            probe(&["users"], Value(3), Some(&["0009_future"])),
            State::Ahead {
                unknown: vec!["0009_future".into()],
            },
        ),
        (probe(&[], Absent, Some(&[])), State::Empty),
    ];
    for (p, expected) in cases {
        assert_eq!(detect(&s, &g, &p), expected, "{p:?}");
    }
    let inconsistent = [
        probe(&["metadata"], Value(2), Some(&["0002_a"])),
        probe(&["users"], Absent, Some(&[])),
        probe(&["users"], Absent, Some(&["0002_a", "0003_c"])),
        probe(&["metadata"], Invalid("two rows".into()), None),
        probe(&["metadata"], Value(-1), None),
    ];
    for p in inconsistent {
        let state = detect(&s, &g, &p);
        assert_eq!(state.name(), "inconsistent", "{p:?} → {state:?}");
        assert!(state.refusal(&s).is_some());
    }
}

fn labels(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            Step::Fresh => "fresh".into(),
            Step::Legacy { number } => format!("L{number}"),
            Step::Stamp { revision } => format!("stamp {revision}"),
            Step::Up { revision } => format!("up {revision}"),
            Step::Down { revision } => format!("down {revision}"),
        })
        .collect()
}

#[test]
fn plans_for_every_upgradable_state() {
    let s = set();
    let g = graph(&s);
    let up = |state: State, target: &str| {
        plan::upgrade(&s, &g, &state, target).map(|p| labels(&p.steps))
    };
    assert_eq!(
        up(State::Empty, "head").unwrap(),
        vec!["fresh", "up 0002_a", "up 0003_c", "up 0004_ctx"]
    );
    assert_eq!(
        up(State::Legacy { version: 1 }, "head").unwrap(),
        vec![
            "L2",
            "L3",
            "stamp 0001_baseline",
            "up 0002_a",
            "up 0003_c",
            "up 0004_ctx"
        ]
    );
    assert_eq!(
        up(State::Legacy { version: 3 }, "base").unwrap(),
        vec!["stamp 0001_baseline"]
    );
    assert_eq!(
        up(
            State::Superseded {
                version: 4,
                revision: "0004_ctx".into()
            },
            "head"
        )
        .unwrap(),
        vec![
            "stamp 0001_baseline",
            "up 0002_a",
            "up 0003_c",
            "up 0004_ctx"
        ]
    );
    let managed = |h: &str| State::Managed {
        heads: vec![h.into()],
    };
    assert_eq!(up(managed("0002_a"), "+1").unwrap(), vec!["up 0003_c"]);
    assert_eq!(
        up(managed("0004_ctx"), "head").unwrap(),
        Vec::<String>::new()
    );
    assert!(
        up(managed("0004_ctx"), "0002_a")
            .unwrap_err()
            .to_string()
            .contains("use `ferry downgrade`")
    );
    let refused = up(
        State::Unversioned {
            tables: vec!["t".into()],
        },
        "head",
    )
    .unwrap_err();
    assert!(matches!(
        refused,
        PlanError::Refused {
            state: "unversioned",
            ..
        }
    ));

    let down = |state: State, target: &str| {
        plan::downgrade(&s, &g, &state, target).map(|p| (labels(&p.steps), p.heads_after))
    };
    assert_eq!(
        down(managed("0004_ctx"), "-1").unwrap(),
        (
            vec!["down 0004_ctx".to_string()],
            vec!["0003_c".to_string()]
        )
    );
    assert_eq!(
        down(managed("0003_c"), "base").unwrap(),
        (
            vec!["down 0003_c".to_string(), "down 0002_a".to_string()],
            vec!["0001_baseline".to_string()]
        )
    );
    assert!(down(State::Legacy { version: 2 }, "base").is_err());
    assert!(
        down(managed("0001_baseline"), "-1")
            .unwrap_err()
            .to_string()
            .contains("below the baseline")
    );
}

#[test]
fn runnable_checks_catch_missing_dialect_files_before_any_write() {
    let s = set();
    let g = graph(&s);
    let p = plan::upgrade(&s, &g, &State::Empty, "head").unwrap();
    assert!(plan::check_runnable(&s, &p, Dialect::Sqlite).is_ok());
    let e = plan::check_runnable(&s, &p, Dialect::Postgres)
        .unwrap_err()
        .to_string();
    assert!(e.contains("baseline/postgres.sql"), "{e}");
    let mut f = files();
    f.remove("revisions/0003_c/down.sql");
    let s = load(f).unwrap();
    let g = graph(&s);
    let p = plan::downgrade(
        &s,
        &g,
        &State::Managed {
            heads: vec!["0004_ctx".into()],
        },
        "base",
    )
    .unwrap();
    let e = plan::check_runnable(&s, &p, Dialect::Sqlite)
        .unwrap_err()
        .to_string();
    assert!(e.contains("revisions/0003_c/down.sql"), "{e}");
}

/// A set that branches after 0004_ctx into 0005_b1 → 0006_b1x and 0005_b2 (two heads).
fn branched() -> MigrationSet {
    let mut f = files();
    for (id, down) in [
        ("0005_b1", "0004_ctx"),
        ("0005_b2", "0004_ctx"),
        ("0006_b1x", "0005_b1"),
    ] {
        f.insert(
            format!("revisions/{id}/revision.toml"),
            format!("down = \"{down}\""),
        );
        f.insert(format!("revisions/{id}/up.sql"), "SELECT 1;".into());
        f.insert(format!("revisions/{id}/down.sql"), "SELECT 1;".into());
    }
    load(f).unwrap()
}

#[test]
fn relative_targets_count_from_a_named_revision() {
    let s = set();
    let g = graph(&s);
    let n = |id: &str| g.node(id).unwrap();
    let at = |spec: &str, cur: &[usize]| g.resolve(spec, cur).map(|v| ids(&g, &v));
    // REV+N / REV-N, with REV an id or a unique prefix, independent of the current revision.
    assert_eq!(at("0002_a+2", &[]).unwrap(), vec!["0004_ctx"]);
    assert_eq!(at("0002+1", &[n("0004_ctx")]).unwrap(), vec!["0003_c"]);
    assert_eq!(at("0004_ctx-2", &[]).unwrap(), vec!["0002_a"]);
    assert_eq!(at("0003-0", &[]).unwrap(), vec!["0003_c"]);
    assert_eq!(at("head-1", &[]).unwrap(), vec!["0003_c"]);
    assert_eq!(at("base+1", &[]).unwrap(), vec!["0002_a"]);
    let e = at("0003_c+2", &[]).unwrap_err().to_string();
    assert!(e.contains("past the head 0004_ctx"), "{e}");
    let e = at("0002_a-2", &[]).unwrap_err().to_string();
    assert!(e.contains("below the baseline"), "{e}");
    assert!(matches!(
        g.resolve("0009+1", &[]),
        Err(TargetError::Unknown(id)) if id == "0009"
    ));
    assert!(matches!(
        g.resolve("000+1", &[]),
        Err(TargetError::Ambiguous { .. })
    ));
    for bad in ["0002_a+", "0002_a+x", "0002_a+-1", "heads+1", "-", "+"] {
        assert!(g.resolve(bad, &[]).is_err(), "{bad} is refused");
    }
}

#[test]
fn branches_resolve_plan_and_keep_one_version_row_per_head() {
    let s = branched();
    let g = graph(&s);
    let n = |id: &str| g.node(id).unwrap();
    assert_eq!(ids(&g, &g.heads()), vec!["0005_b2", "0006_b1x"]);
    let e = g.resolve("head", &[0]).unwrap_err().to_string();
    assert!(
        e.contains("0005_b2, 0006_b1x") && e.contains("ferry merge") && e.contains("heads"),
        "{e}"
    );
    // Relative steps stop where the graph branches, naming the branches.
    let e = g.resolve("0004_ctx+1", &[]).unwrap_err().to_string();
    assert!(e.contains("branches to 0005_b1, 0005_b2"), "{e}");
    assert_eq!(
        ids(&g, &g.resolve("0005_b1+1", &[]).unwrap()),
        vec!["0006_b1x"]
    );
    // `-1` with two current heads is ambiguous; REV-1 names the branch.
    let both = [n("0005_b2"), n("0006_b1x")];
    let e = g.resolve("-1", &both).unwrap_err().to_string();
    assert!(
        e.contains("several current heads") && e.contains("-1"),
        "{e}"
    );
    assert_eq!(
        ids(&g, &g.resolve("0006_b1x-1", &both).unwrap()),
        vec!["0005_b1"]
    );

    let managed = |h: &[&str]| State::Managed {
        heads: h.iter().map(|s| s.to_string()).collect(),
    };
    let e = plan::upgrade(&s, &g, &managed(&["0004_ctx"]), "head").unwrap_err();
    assert!(matches!(
        e,
        PlanError::Target(TargetError::MultipleHeads(_))
    ));
    let p = plan::upgrade(&s, &g, &managed(&["0004_ctx"]), "heads").unwrap();
    assert_eq!(
        labels(&p.steps),
        vec!["up 0005_b1", "up 0005_b2", "up 0006_b1x"]
    );
    assert_eq!(p.heads_after, vec!["0005_b2", "0006_b1x"]);
    // One branch, then the other: the version table gains a row for the second.
    let p = plan::upgrade(&s, &g, &managed(&["0004_ctx"]), "0005_b2").unwrap();
    assert_eq!(p.heads_after, vec!["0005_b2"]);
    let p = plan::upgrade(&s, &g, &managed(&["0005_b2"]), "0006_b1x").unwrap();
    assert_eq!(labels(&p.steps), vec!["up 0005_b1", "up 0006_b1x"]);
    assert_eq!(p.heads_after, vec!["0005_b2", "0006_b1x"]);
    // From a fresh install, `heads` applies every branch after the bridge.
    let p = plan::upgrade(&s, &g, &State::Empty, "heads").unwrap();
    assert_eq!(p.steps.len(), 7);
    // As Alembic: down to a revision undoes every branch above it; naming the other head
    // undoes one branch only.
    let p = plan::downgrade(&s, &g, &managed(&["0005_b2", "0006_b1x"]), "0005_b2").unwrap();
    assert_eq!(labels(&p.steps), vec!["down 0006_b1x", "down 0005_b1"]);
    assert_eq!(p.heads_after, vec!["0005_b2"]);
    let p = plan::downgrade(&s, &g, &managed(&["0005_b2", "0006_b1x"]), "0006_b1x-2").unwrap();
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.heads_after, vec!["0004_ctx"]);
}

// ---------------------------------------------------------------------------------------
// A chain with gaps and a floor: steps 72 (a full-schema snapshot), 73, 74, 76, 77, 79.

const GAPPED_TOML: &str = r#"
[legacy]
cap = 79
marker = { kind = "kv-table", table = "metadata", key_column = "key", value_column = "value", key = "database_version" }
[baseline]
revision = "0001_baseline"
[[release]]
version = "5.0.0"
legacy = 74
[[release]]
version = "4.0.0"
legacy = 72
[[release]]
version = "5.1.0"
legacy = 75
"#;

fn gapped_files() -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |p: &str, t: &str| {
        f.insert(p.to_string(), t.to_string());
    };
    put("ferry.toml", GAPPED_TOML);
    put(
        "legacy/072_full_schema/up.sql",
        "CREATE TABLE metadata(key TEXT, value TEXT);\nCREATE TABLE users(id INTEGER);",
    );
    put(
        "legacy/073_email/up.sql",
        "ALTER TABLE users ADD COLUMN email TEXT;",
    );
    put(
        "legacy/074_bots/up.sqlite.sql",
        "CREATE TABLE bots(id INTEGER);",
    );
    put(
        "legacy/074_bots/up.postgres.sql",
        "CREATE TABLE bots(id SERIAL);",
    );
    put("legacy/076_tags/up.sql", "CREATE TABLE tags(id INTEGER);");
    put(
        "legacy/077_name/up.sql",
        "ALTER TABLE bots ADD COLUMN name TEXT;",
    );
    put("legacy/079_notes/up.sql", "CREATE TABLE notes(id INTEGER);");
    put("baseline/sqlite.sql", "CREATE TABLE users(id INTEGER);");
    put("revisions/0002_a/revision.toml", "down = \"0001_baseline\"");
    put("revisions/0002_a/up.sql", "CREATE TABLE a(x INT);");
    put("revisions/0002_a/down.sql", "DROP TABLE a;");
    let frozen = frozen_text(&f).replacen("cap = 3", "cap = 79", 1);
    f.insert("legacy/FROZEN.toml".into(), frozen);
    f
}

fn gapped() -> MigrationSet {
    load(gapped_files()).expect("the gapped set is valid")
}

#[test]
fn a_chain_with_gaps_and_a_floor_loads_and_is_reached_by_number() {
    let s = gapped();
    assert_eq!(s.step_numbers(), vec![72, 73, 74, 76, 77, 79]);
    assert_eq!(s.floor(), 72);
    assert_eq!(s.cap(), 79);
    assert_eq!(s.steps_text(), "72–74, 76–77, 79");
    assert_eq!(s.step(76).map(|st| st.name.as_str()), Some("076_tags"));
    assert_eq!(
        s.step(74).and_then(|st| st.up.get(Dialect::Postgres)),
        Some("CREATE TABLE bots(id SERIAL);")
    );
    for missing in [0, 1, 71, 75, 78, 80] {
        assert!(s.step(missing).is_none(), "{missing}");
    }
    let above = |m: u32| -> Vec<u32> { s.steps_above(m).iter().map(|st| st.number).collect() };
    assert_eq!(above(0), vec![72, 73, 74, 76, 77, 79]);
    assert_eq!(above(74), vec![76, 77, 79]);
    assert_eq!(
        above(75),
        vec![76, 77, 79],
        "a marker inside a gap runs the next step"
    );
    assert_eq!(above(78), vec![79]);
    assert!(above(79).is_empty());
    // The reference-style chain keeps its numbering and its floor of 1.
    let contiguous = set();
    assert_eq!(contiguous.floor(), 1);
    assert_eq!(contiguous.steps_text(), "1..=3");
    assert_eq!(
        contiguous.step(2).map(|st| st.name.as_str()),
        Some("002_users")
    );
}

#[test]
fn planning_over_gaps_from_inside_a_gap_at_the_cap_and_below_the_floor() {
    let s = gapped();
    let g = graph(&s);
    let up = |version: u32| {
        plan::upgrade(&s, &g, &State::Legacy { version }, "head").map(|p| labels(&p.steps))
    };
    assert_eq!(
        up(75).unwrap(),
        vec!["L76", "L77", "L79", "stamp 0001_baseline", "up 0002_a"]
    );
    assert_eq!(
        up(72).unwrap(),
        vec![
            "L73",
            "L74",
            "L76",
            "L77",
            "L79",
            "stamp 0001_baseline",
            "up 0002_a"
        ]
    );
    assert_eq!(up(79).unwrap(), vec!["stamp 0001_baseline", "up 0002_a"]);
    assert_eq!(up(0).unwrap()[0], "L72");
    // The labels name the step directories.
    let p = plan::upgrade(&s, &g, &State::Legacy { version: 75 }, "head").unwrap();
    assert_eq!(p.steps[0].label(&s), "legacy 076_tags");

    // Below the floor: refused as too old, naming the floor and the release to go through.
    let state = detect(&s, &g, &probe(&["users"], MarkerReading::Value(50), None));
    assert_eq!(state, State::Legacy { version: 50 });
    match plan::upgrade(&s, &g, &state, "head") {
        Err(PlanError::Refused { state, reason }) => {
            assert_eq!(state, "legacy");
            assert!(
                reason.contains("version 50")
                    && reason.contains("legacy 72, the oldest version this migration set bridges")
                    && reason.contains("72–74, 76–77, 79")
                    && reason.contains("release 4.0.0 (which leaves legacy 72)"),
                "{reason}"
            );
        }
        other => panic!("below the floor must be refused: {other:?}"),
    }
    for version in [1, 71] {
        assert!(State::Legacy { version }.refusal(&s).is_some(), "{version}");
    }
    for version in [0, 72, 75, 79] {
        assert!(State::Legacy { version }.refusal(&s).is_none(), "{version}");
    }
    // Without a release at or above the floor, the refusal says what kind of release to use.
    let mut no_releases = gapped_files();
    let toml = GAPPED_TOML[..GAPPED_TOML.find("[[release]]").unwrap()].to_string();
    no_releases.insert("ferry.toml".into(), toml);
    let bare = load(no_releases).unwrap();
    let reason = State::Legacy { version: 50 }.refusal(&bare).unwrap();
    assert!(
        reason.contains("a release of the application that leaves legacy 72 or later"),
        "{reason}"
    );
    // Above the cap and not superseded: refused as before.
    let state = detect(&s, &g, &probe(&["users"], MarkerReading::Value(80), None));
    assert_eq!(state, State::FutureLegacy { version: 80 });
    assert!(plan::upgrade(&s, &g, &state, "head").is_err());
}

#[test]
fn a_gap_is_fine_but_a_step_above_the_cap_a_duplicate_or_a_wrong_cap_is_refused() {
    // Gaps and a floor load (above); a step above the cap is refused.
    let mut above = gapped_files();
    above.insert("legacy/080_more/up.sql".into(), "SELECT 1;".into());
    let e = err(above);
    assert!(
        e.contains("step 80 is above the cap 79") && e.contains("revisions/"),
        "{e}"
    );

    let mut duplicate = gapped_files();
    duplicate.insert("legacy/073_other/up.sql".into(), "SELECT 1;".into());
    let e = err(duplicate);
    assert!(
        e.contains("legacy/073_other") && e.contains("step 73 is also legacy/073_email"),
        "{e}"
    );

    // ferry.toml's cap must be the highest step.
    let mut high_cap = gapped_files();
    high_cap.insert(
        "ferry.toml".into(),
        GAPPED_TOML.replace("cap = 79", "cap = 80"),
    );
    let e = err(high_cap);
    assert!(
        e.contains("step 80 is missing") && e.contains("highest legacy step is 79"),
        "{e}"
    );

    // FROZEN.toml's cap must be the highest step (and ferry.toml's).
    let mut frozen_cap = gapped_files();
    let text = frozen_cap["legacy/FROZEN.toml"].replacen("cap = 79", "cap = 77", 1);
    frozen_cap.insert("legacy/FROZEN.toml".into(), text);
    let e = err(frozen_cap);
    assert!(
        e.contains("freezes cap 77 but ferry.toml says cap = 79"),
        "{e}"
    );

    // A frozen step cannot disappear into a new gap.
    let mut removed = gapped_files();
    removed.retain(|k, _| !k.starts_with("legacy/076"));
    let e = err(removed);
    assert!(
        e.contains("step 76 is missing") && e.contains("72–74, 76–77, 79"),
        "{e}"
    );

    // A release names a step number or a version inside the chain's range.
    let mut below = gapped_files();
    below.insert(
        "ferry.toml".into(),
        GAPPED_TOML.replace("legacy = 72", "legacy = 60"),
    );
    let e = err(below);
    assert!(
        e.contains(
            "release 4.0.0 names legacy 60, below the oldest legacy version this set bridges (72)"
        ),
        "{e}"
    );
}
