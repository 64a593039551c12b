//! Property tests of ferry's parsers: the migration set (`ferry.toml`, `revision.toml`,
//! `legacy/FROZEN.toml`, the layout), guard directives, database URLs and their redaction,
//! revision ids and SQL identifiers, and revision targets.
//!
//! Every parser must survive any input without a panic, and its results must be consistent.
//! Inputs come both from arbitrary strings and from mutations of valid files (dropped,
//! duplicated and swapped lines, swapped quotes, random unicode, CRLF, huge and negative
//! numbers, empty values, deep nesting).
//!
//! Case counts are modest by default (the machine has 2 cores); `PROPTEST_CASES=N` raises
//! every one of them. Failures are not persisted to a regressions file: each bug these
//! properties found stays as a minimal regression test at the end of this file.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ferry::core::graph::Graph;
use ferry::core::guard::{self, Condition, Object, Segment};
use ferry::core::set::{
    Files, MigrationSet, Origin, SetError, check_revision_id, digest, valid_identifier,
};
use ferry::driver::url::{DatabaseUrl, redact};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseResult;

/// `n` cases unless `PROPTEST_CASES` says otherwise; no regressions file is written.
fn cases(n: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = n;
    }
    config
}

// =======================================================================================
// Valid sets to start from

const FERRY_TOML: &str = r#"# a small set
[legacy]
cap = 3
marker = { kind = "kv-table", table = "metadata", key_column = "key", value_column = "value", key = "database_version" }
superseded = { 4 = "0004_ctx" }
write_marker_on_fresh = true

[baseline]
revision = "0001_baseline"

[revisions]
version_table = "alembic_version"

[test]
seeds = "tests/seeds"

[[release]]
version = "1.0.0"
legacy = 2

[[release]]
version = "2.0.0"
revision = "0003_c"
"#;

/// A small valid set: legacy 1..=3, baseline, revisions 0002_a → 0003_c → 0004_ctx (guarded,
/// supersedes legacy 4), with every kind of file and a FROZEN.toml that matches.
fn small_set() -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |p: &str, t: &str| {
        f.insert(p.to_string(), t.to_string());
    };
    put("ferry.toml", FERRY_TOML);
    put(
        "legacy/001_init/up.sql",
        "CREATE TABLE metadata(key TEXT, value TEXT);\r\nINSERT INTO metadata VALUES ('a;b', '--');\n",
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
        "-- ferry:if-missing column users.email\nALTER TABLE users ADD COLUMN email TEXT;\n-- ferry:end\n",
    );
    put(
        "baseline/sqlite.sql",
        "CREATE TABLE users(id INTEGER, email TEXT);",
    );
    put(
        "baseline/postgres.sql",
        "CREATE TABLE users(id SERIAL, email TEXT);",
    );
    put(
        "revisions/0002_a/revision.toml",
        "down = \"0001_baseline\"\nmessage = \"a\"\ntransaction = true\n",
    );
    put("revisions/0002_a/up.sql", "CREATE TABLE a(x INT);");
    put("revisions/0002_a/down.sql", "DROP TABLE a;");
    put(
        "revisions/0003_c/revision.toml",
        "down = [\"0002_a\"]\nmessage = 'c'\n",
    );
    put("revisions/0003_c/up.sqlite.sql", "CREATE TABLE c(x INT);");
    put("revisions/0003_c/up.postgres.sql", "CREATE TABLE c(x INT);");
    put("revisions/0003_c/down.sql", "DROP TABLE c;");
    put(
        "revisions/0004_ctx/revision.toml",
        "down = \"0003_c\"\ntransaction = false\n",
    );
    put(
        "revisions/0004_ctx/up.sql",
        "-- ferry:if-missing column users.ctx\nALTER TABLE users ADD COLUMN ctx INT;\n-- ferry:end\n",
    );
    put(
        "revisions/0004_ctx/down.postgres.sql",
        "-- ferry:if-present index users_ctx\nDROP INDEX users_ctx;\n-- ferry:end\nALTER TABLE users DROP COLUMN ctx;",
    );
    refreeze(&mut f, 3);
    f
}

/// The reference set compiled into the binary.
fn embedded_set() -> BTreeMap<String, String> {
    ferry::embedded::FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// Writes a FROZEN.toml that matches the legacy files (paths need no TOML escaping here).
fn refreeze(f: &mut BTreeMap<String, String>, cap: u32) {
    let mut out = format!("cap = {cap}\n[files]\n");
    for (p, t) in f.iter() {
        if let Some(rel) = p.strip_prefix("legacy/")
            && rel != "FROZEN.toml"
        {
            out.push_str(&format!("{} = \"{}\"\n", toml_key(rel), digest(t)));
        }
    }
    f.insert("legacy/FROZEN.toml".into(), out);
}

/// A TOML basic string holding `s`, escaped.
fn toml_key(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_files(f: &BTreeMap<String, String>) -> Files {
    Files(
        f.iter()
            .map(|(k, v)| (k.clone(), Cow::Owned(v.clone())))
            .collect(),
    )
}

fn load(f: &BTreeMap<String, String>) -> Result<MigrationSet, SetError> {
    MigrationSet::load(to_files(f), Origin::Embedded)
}

/// Load, verify the freeze, check the guards: what ferry does before every run.
fn full_check(f: &BTreeMap<String, String>) -> Result<MigrationSet, SetError> {
    let set = load(f)?;
    set.verify_freeze()?;
    set.check_guards()?;
    Ok(set)
}

/// Every error says something, and a config error names its file.
fn check_error(e: &SetError) -> TestCaseResult {
    let shown = e.to_string();
    prop_assert!(!shown.trim().is_empty(), "empty message for {e:?}");
    match e {
        SetError::Config { file, message } => {
            prop_assert!(!message.trim().is_empty(), "{e:?}");
            let known = file == "ferry.toml"
                || file == "legacy/FROZEN.toml"
                || (file.starts_with("revisions/") && file.ends_with("/revision.toml"));
            prop_assert!(known, "config error names no set file: {e:?}");
            prop_assert!(
                shown.contains(file.as_str()),
                "{shown:?} does not name {file}"
            );
        }
        SetError::Read { path, message }
        | SetError::Layout { path, message }
        | SetError::Frozen { path, message }
        | SetError::Guard { path, message } => {
            prop_assert!(!message.trim().is_empty(), "{e:?}");
            prop_assert!(
                shown.contains(path.as_str()),
                "{shown:?} does not name {path}"
            );
        }
        SetError::Revision { id, message } => {
            prop_assert!(!message.trim().is_empty(), "{e:?}");
            prop_assert!(shown.contains(id.as_str()), "{shown:?} does not name {id}");
        }
    }
    Ok(())
}

/// What holds of any set `load` accepts, and the checks after it never panic.
fn check_loaded(set: &MigrationSet) -> TestCaseResult {
    // Steps are numbered by the marker value they leave: ascending, gaps allowed, the highest
    // is the cap, and each is reached by its number.
    for pair in set.legacy.windows(2) {
        prop_assert!(
            pair[0].number < pair[1].number,
            "legacy steps are not ascending"
        );
    }
    prop_assert_eq!(set.legacy.last().map_or(0, |s| s.number), set.cap());
    for step in &set.legacy {
        prop_assert!(step.number >= 1);
        prop_assert_eq!(set.step(step.number).map(|s| s.number), Some(step.number));
    }
    for pair in set.revisions.windows(2) {
        prop_assert!(pair[0].id < pair[1].id, "revisions are not sorted by id");
    }
    for rev in &set.revisions {
        prop_assert!(check_revision_id(&rev.id).is_ok(), "{}", rev.id);
        prop_assert!(!rev.down_revisions.is_empty(), "{}", rev.id);
        prop_assert!(rev.id != set.baseline_id());
    }
    prop_assert!(check_revision_id(set.baseline_id()).is_ok());
    for n in set.superseded.keys() {
        prop_assert!(*n > set.cap());
    }
    let graph = Graph::new(set);
    prop_assert!(graph.is_ok(), "load accepted a set its graph refuses");
    for result in [set.verify_freeze(), set.check_guards()] {
        if let Err(e) = result {
            check_error(&e)?;
        }
    }
    Ok(())
}

/// The whole pipeline on `f`: never a panic, the same answer twice, sound errors.
fn check_set(f: &BTreeMap<String, String>) -> TestCaseResult {
    let first = load(f);
    let second = load(f);
    prop_assert_eq!(
        first.as_ref().err().map(ToString::to_string),
        second.as_ref().err().map(ToString::to_string),
        "load is not deterministic"
    );
    match first {
        Ok(set) => check_loaded(&set),
        Err(e) => check_error(&e),
    }
}

// =======================================================================================
// Mutations of text

#[derive(Debug, Clone)]
enum Edit {
    DropLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    SwapQuotes,
    Crlf,
    Insert(Index, String),
    InsertLine(Index, String),
    Truncate(Index),
    ReplaceNumber(Index, String),
    EmptyValue(Index, &'static str),
}

fn boundaries(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect()
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    match edit {
        Edit::DropLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
            lines.concat()
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let k = i.index(lines.len());
            let mut line = lines[k].clone();
            if !line.ends_with('\n') {
                line.push('\n');
            }
            lines.insert(k, line);
            lines.concat()
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            lines.concat()
        }
        Edit::SwapQuotes => text
            .chars()
            .map(|c| match c {
                '"' => '\'',
                '\'' => '"',
                c => c,
            })
            .collect(),
        Edit::Crlf => text.replace("\r\n", "\n").replace('\n', "\r\n"),
        Edit::Insert(i, s) => {
            let cuts = boundaries(text);
            let at = cuts[i.index(cuts.len())];
            format!("{}{s}{}", &text[..at], &text[at..])
        }
        Edit::InsertLine(i, s) => {
            let k = i.index(lines.len() + 1);
            if k > 0 && !lines[k - 1].ends_with('\n') {
                lines[k - 1].push('\n');
            }
            lines.insert(k, format!("{s}\n"));
            lines.concat()
        }
        Edit::Truncate(i) => {
            let cuts = boundaries(text);
            text[..cuts[i.index(cuts.len())]].to_string()
        }
        Edit::ReplaceNumber(i, s) => {
            let mut runs = Vec::new();
            let bytes = text.as_bytes();
            let mut k = 0;
            while k < bytes.len() {
                if bytes[k].is_ascii_digit() {
                    let start = k;
                    while k < bytes.len() && bytes[k].is_ascii_digit() {
                        k += 1;
                    }
                    runs.push(start..k);
                } else {
                    k += 1;
                }
            }
            if runs.is_empty() {
                return text.to_string();
            }
            let r = runs[i.index(runs.len())].clone();
            format!("{}{s}{}", &text[..r.start], &text[r.end..])
        }
        Edit::EmptyValue(i, value) => {
            let with_eq: Vec<usize> = (0..lines.len())
                .filter(|&k| lines[k].contains('='))
                .collect();
            if with_eq.is_empty() {
                return text.to_string();
            }
            let k = with_eq[i.index(with_eq.len())];
            let eq = lines[k].find('=').unwrap_or(0);
            let eol = if lines[k].ends_with('\n') { "\n" } else { "" };
            lines[k] = format!("{}= {value}{eol}", &lines[k][..eq]);
            lines.concat()
        }
        _ => text.to_string(),
    }
}

fn mutate(text: &str, edits: &[Edit]) -> String {
    edits.iter().fold(text.to_string(), |t, e| apply(&t, e))
}

/// A few random characters: anything, including controls, BOMs and astral planes.
fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..6).prop_map(String::from_iter),
        prop::sample::select(vec![
            "\"",
            "'",
            "\"\"\"",
            "'''",
            "[",
            "]",
            "[[",
            "{",
            "}",
            "=",
            ",",
            ".",
            "#",
            "\\",
            "\\u",
            "\n",
            "\r\n",
            "\r",
            "\t",
            "\0",
            "\u{feff}",
            "\u{202e}",
            "\u{a0}",
            "é",
            "𝕏",
            "ß",
            "İ",
            "-- ferry:",
            "-- ferry:end\n",
            "/",
            "..",
        ])
        .prop_map(str::to_string),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "0",
            "-0",
            "-1",
            "+3",
            "1_000",
            "0x10",
            "0o7",
            "1e9",
            "3.0",
            "nan",
            "inf",
            "-inf",
            "4294967295",
            "4294967296",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551616",
            "99999999999999999999999999999999999999",
            "\"3\"",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{20,60}",
    ]
}

/// One TOML-looking line: a header, `key = value`, or deep nesting of every kind.
fn toml_line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "cap",
        "marker",
        "kind",
        "table",
        "column",
        "key",
        "key_column",
        "value_column",
        "superseded",
        "write_marker_on_fresh",
        "revision",
        "version_table",
        "seeds",
        "down",
        "message",
        "transaction",
        "files",
        "version",
        "legacy",
        "baseline",
        "\"001_init/up.sql\"",
        "unknown",
        "4",
        "26",
        "\"\"",
    ]);
    let value = prop_oneof![
        prop::sample::select(vec![
            "1",
            "-1",
            "0",
            "99999999999999999999",
            "\"\"",
            "''",
            "[]",
            "{}",
            "true",
            "false",
            "1979-05-27T07:32:00Z",
            "\"0001_baseline\"",
            "\"0002_a\"",
            "[\"0002_a\", \"0002_a\"]",
            "[\"0001_baseline\", \"0001_baseline\"]",
            "[\"0004_ctx\"]",
            "{ kind = \"user-version\" }",
            "{ kind = \"single-row\", table = \"t\", column = \"c\" }",
            "{ kind = \"kv-table\", table = \"t\", key_column = \"k\", value_column = \"v\", key = \"x\" }",
            "{ kind = \"nope\" }",
            "{ 4 = \"0004_ctx\", 5 = \"0004_ctx\" }",
            "\"sha256:00\"",
            "\"1.0.0\"",
            "\"1.0.0-rc.1+b\"",
            "\"01.0.0\"",
        ])
        .prop_map(str::to_string),
        number(),
        any::<String>().prop_map(|s| toml_key(&s)),
        any::<String>().prop_map(|s| format!("\"{s}\"")),
    ];
    prop_oneof![
        3 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => prop::sample::select(vec![
            "[legacy]",
            "[baseline]",
            "[revisions]",
            "[test]",
            "[[release]]",
            "[files]",
            "[legacy.marker]",
            "[legacy.superseded]",
            "[[legacy]]",
            "[[files]]",
            "[legacy",
            "]",
            "",
        ])
        .prop_map(str::to_string),
        1 => (1usize..3000, 0usize..4).prop_map(|(d, kind)| match kind {
            0 => format!("x = {}{}", "[".repeat(d), "]".repeat(d)),
            1 => format!("x = {}1{}", "{a = ".repeat(d), "}".repeat(d)),
            2 => format!("[{}a]", "a.".repeat(d)),
            _ => format!("a{} = 1", ".b".repeat(d)),
        }),
        1 => any::<String>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::DropLine),
        any::<Index>().prop_map(Edit::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        Just(Edit::SwapQuotes),
        Just(Edit::Crlf),
        (any::<Index>(), noise()).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<Index>(), toml_line()).prop_map(|(i, s)| Edit::InsertLine(i, s)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), number()).prop_map(|(i, s)| Edit::ReplaceNumber(i, s)),
        (
            any::<Index>(),
            prop::sample::select(vec!["", "\"\"", "''", "[]", "{}", "-1"])
        )
            .prop_map(|(i, v)| Edit::EmptyValue(i, v)),
    ]
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 1..5)
}

// =======================================================================================
// Random SQL, guard directives, paths

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

fn object() -> impl Strategy<Value = Object> {
    prop_oneof![
        ident().prop_map(Object::Table),
        ident().prop_map(Object::Index),
        (ident(), ident()).prop_map(|(table, column)| Object::Column { table, column }),
        "[A-Za-z_][A-Za-z0-9_]{62}".prop_map(Object::Table),
    ]
}

/// A line that is not a directive: SQL, comments that merely look like one, anything.
fn plain_line() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "SELECT 1;",
            "CREATE TABLE t(x TEXT DEFAULT ';');",
            "INSERT INTO t VALUES ('-- ferry:end');",
            "-- ferry is great",
            "--ferry:end",
            "-- ferry :end",
            "-- Ferry:end",
            "-- ferryman:if-missing table t",
            "/* -- ferry:end */",
            "  -- just a comment",
            "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql;",
            "",
            "   ",
            "\t",
            "\u{a0}",
            "é𝕏 ;",
        ])
        .prop_map(str::to_string),
        "[^\n]{0,40}",
        "[ -~]{0,40}",
    ]
    .prop_filter("a plain line is neither a directive nor a psql line", |l| {
        !l.contains('\n') && !l.trim().starts_with("-- ferry:") && !l.trim().starts_with('\\')
    })
}

/// Horizontal whitespace as `str::trim` and `split_whitespace` know it.
fn hspace(min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![" ", "\t", "  ", "\u{a0}", "\u{3000}", "\u{2003}"]),
        min..3,
    )
    .prop_map(|v| v.concat())
}

fn eol() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\n", "\n", "\r\n"])
}

/// A directive line (with its end of line) opening a guard.
fn open_line(condition: &Condition, ws: &[String; 5], eol: &str) -> String {
    let word = if condition.if_missing {
        "if-missing"
    } else {
        "if-present"
    };
    let (kind, name) = match &condition.object {
        Object::Table(t) => ("table", t.clone()),
        Object::Index(i) => ("index", i.clone()),
        Object::Column { table, column } => ("column", format!("{table}.{column}")),
    };
    format!(
        "{}-- ferry:{}{word}{}{kind}{}{name}{}{eol}",
        ws[0], ws[1], ws[2], ws[3], ws[4]
    )
}

/// One block of a generated script.
#[derive(Debug, Clone)]
enum Block {
    Plain(Vec<(String, &'static str)>),
    Guard {
        condition: Condition,
        /// The opening directive line and the `-- ferry:end` line, with their ends of line.
        open: String,
        body: Vec<(String, &'static str)>,
        end: String,
    },
}

fn lines(max: usize) -> impl Strategy<Value = Vec<(String, &'static str)>> {
    prop::collection::vec((plain_line(), eol()), 0..max)
}

fn block() -> impl Strategy<Value = Block> {
    let ws = [hspace(0), hspace(0), hspace(1), hspace(1), hspace(0)];
    prop_oneof![
        lines(5).prop_map(Block::Plain),
        (
            any::<bool>(),
            object(),
            ws,
            eol(),
            lines(4),
            (hspace(0), hspace(0), eol()),
        )
            .prop_map(|(if_missing, object, ws, open_eol, body, end)| {
                let condition = Condition { if_missing, object };
                Block::Guard {
                    open: open_line(&condition, &ws, open_eol),
                    condition,
                    body,
                    end: format!("{}-- ferry:end{}{}", end.0, end.1, end.2),
                }
            }),
    ]
}

/// A well-formed script and the segments it must parse to, as byte ranges: (range, guard).
type Expected = Vec<(std::ops::Range<usize>, Option<(Condition, usize)>)>;

fn render(blocks: &[Block], drop_last_eol: bool) -> (String, Expected) {
    fn push_lines(out: &mut String, lines: &[(String, &str)], line_no: &mut usize) {
        for (l, e) in lines {
            out.push_str(l);
            out.push_str(e);
            *line_no += 1;
        }
    }
    let mut out = String::new();
    let mut expected: Expected = Vec::new();
    let mut line_no = 0;
    let mut plain_start = 0;
    for b in blocks {
        match b {
            Block::Plain(lines) => push_lines(&mut out, lines, &mut line_no),
            Block::Guard {
                condition,
                open,
                body,
                end,
            } => {
                if !out[plain_start..].trim().is_empty() {
                    expected.push((plain_start..out.len(), None));
                }
                out.push_str(open);
                line_no += 1;
                let directive_line = line_no;
                let body_start = out.len();
                push_lines(&mut out, body, &mut line_no);
                expected.push((
                    body_start..out.len(),
                    Some((condition.clone(), directive_line)),
                ));
                out.push_str(end);
                line_no += 1;
                plain_start = out.len();
            }
        }
    }
    if !out[plain_start..].trim().is_empty() {
        expected.push((plain_start..out.len(), None));
    }
    if drop_last_eol && out.ends_with('\n') {
        out.pop();
        let len = out.len();
        for (r, _) in &mut expected {
            r.end = r.end.min(len);
            r.start = r.start.min(len);
        }
    }
    (out, expected)
}

/// Any script, well-formed or not: lines drawn from directives (good and broken) and SQL.
fn any_script() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        3 => plain_line(),
        2 => (any::<bool>(), object(), [hspace(0), hspace(0), hspace(1), hspace(1), hspace(0)])
            .prop_map(|(if_missing, object, ws)| open_line(&Condition { if_missing, object }, &ws, "")),
        2 => Just("-- ferry:end".to_string()),
        1 => prop::sample::select(vec![
            "-- ferry:",
            "-- ferry:end extra",
            "-- ferry:END",
            "-- ferry:if-missing",
            "-- ferry:if-missing table",
            "-- ferry:if-missing table a b",
            "-- ferry:if-missing column nodot",
            "-- ferry:if-missing column .",
            "-- ferry:if-missing column a.",
            "-- ferry:if-missing column .b",
            "-- ferry:if-missing column a.b.c",
            "-- ferry:if-present view v",
            "-- ferry:if-present table 1abc",
            "-- ferry:if-present table é",
            "-- ferry:if-present index \"quoted\"",
            "-- ferry:unless table a",
            "-- ferry:if-missing\ttable\tt",
        ])
        .prop_map(str::to_string),
        1 => "-- ferry:[^\n]{0,30}",
        1 => any::<String>(),
    ];
    prop::collection::vec((line, eol()), 0..12).prop_map(|v| {
        v.into_iter()
            .map(|(l, e)| format!("{l}{e}"))
            .collect::<String>()
    })
}

/// A SQL body for a set file: a well-formed script, any script, or anything.
fn sql_body() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::collection::vec(block(), 0..4), any::<bool>()).prop_map(|(b, d)| render(&b, d).0),
        any_script(),
        any::<String>(),
    ]
}

/// A path in a set: real names, `..`, empty segments, unicode, very long names.
fn set_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        4 => prop::sample::select(vec![
            "legacy", "revisions", "baseline", "..", ".", "", "FROZEN.toml", "ferry.toml",
            "up.sql", "down.sql", "up.sqlite.sql", "up.postgres.sql", "down.sqlite.sql",
            "up.mysql.sql", "up..sql", ".sql", "up.sql.sql", "revision.toml", "sqlite.sql",
            "postgres.sql", "001_init", "004_more", "000_zero", "4_x", "01_init", "3", "003",
            "4294967295_max", "4294967296_big", "99999999999999999999_x", "0002_a", "0003_c",
            "0005_new", "0001_baseline", "NEW", "Ø", "𝕏", " ", "a\\b", "a\"b",
        ])
        .prop_map(str::to_string),
        1 => "[0-9]{1,25}(_[a-z]{0,5})?",
        1 => "[a-z0-9_]{30,40}",
        1 => "\\PC{0,10}",
        1 => (1usize..400).prop_map(|n| "x".repeat(n)),
    ];
    prop_oneof![
        6 => prop::collection::vec(segment, 1..5).prop_map(|v| v.join("/")),
        1 => any::<String>(),
    ]
}

#[derive(Debug, Clone)]
enum FileEdit {
    Mutate(Index, Vec<Edit>),
    Replace(Index, String),
    Remove(Index),
    Rename(Index, String),
    Add(String, String),
}

fn file_edit() -> impl Strategy<Value = FileEdit> {
    prop_oneof![
        4 => (any::<Index>(), edits()).prop_map(|(i, e)| FileEdit::Mutate(i, e)),
        1 => (any::<Index>(), prop_oneof![sql_body(), toml_line()])
            .prop_map(|(i, s)| FileEdit::Replace(i, s)),
        1 => any::<Index>().prop_map(FileEdit::Remove),
        1 => (any::<Index>(), set_path()).prop_map(|(i, p)| FileEdit::Rename(i, p)),
        1 => (set_path(), prop_oneof![sql_body(), toml_line()])
            .prop_map(|(p, t)| FileEdit::Add(p, t)),
    ]
}

fn edit_files(mut f: BTreeMap<String, String>, edits: &[FileEdit]) -> BTreeMap<String, String> {
    for e in edits {
        let keys: Vec<String> = f.keys().cloned().collect();
        let pick = |i: &Index| (!keys.is_empty()).then(|| keys[i.index(keys.len())].clone());
        match e {
            FileEdit::Mutate(i, edits) => {
                if let Some(k) = pick(i) {
                    let text = mutate(&f[&k], edits);
                    f.insert(k, text);
                }
            }
            FileEdit::Replace(i, text) => {
                if let Some(k) = pick(i) {
                    f.insert(k, text.clone());
                }
            }
            FileEdit::Remove(i) => {
                if let Some(k) = pick(i) {
                    f.remove(&k);
                }
            }
            FileEdit::Rename(i, to) => {
                if let Some(k) = pick(i)
                    && let Some(text) = f.remove(&k)
                {
                    f.insert(to.clone(), text);
                }
            }
            FileEdit::Add(p, t) => {
                f.insert(p.clone(), t.clone());
            }
        }
    }
    f
}

// =======================================================================================
// 1. The migration set

#[test]
fn the_starting_sets_are_valid() {
    for f in [small_set(), embedded_set()] {
        let set = full_check(&f).expect("a valid starting set");
        assert!(Graph::new(&set).is_ok());
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// Mutated small sets: edited, replaced, removed, renamed and added files.
    #[test]
    fn set_loading_survives_mutated_files(edits in prop::collection::vec(file_edit(), 1..6)) {
        check_set(&edit_files(small_set(), &edits))?;
    }

    /// A random `ferry.toml`: arbitrary text, mutations of the valid one, or TOML-looking lines.
    #[test]
    fn set_loading_survives_any_ferry_toml(
        text in prop_oneof![
            any::<String>(),
            edits().prop_map(|e| mutate(FERRY_TOML, &e)),
            prop::collection::vec(toml_line(), 0..12).prop_map(|l| l.join("\n")),
        ]
    ) {
        let mut f = small_set();
        f.insert("ferry.toml".into(), text);
        check_set(&f)?;
    }

    /// A random `revision.toml` for any revision.
    #[test]
    fn set_loading_survives_any_revision_toml(
        which in prop::sample::select(vec!["0002_a", "0003_c", "0004_ctx", "0005_new"]),
        text in prop_oneof![
            any::<String>(),
            edits().prop_map(|e| mutate("down = [\"0002_a\"]\nmessage = \"m\"\ntransaction = false\n", &e)),
            prop::collection::vec(toml_line(), 0..6).prop_map(|l| l.join("\r\n")),
        ]
    ) {
        let mut f = small_set();
        f.insert(format!("revisions/{which}/revision.toml"), text);
        f.entry(format!("revisions/{which}/up.sql")).or_insert_with(|| "SELECT 1;".into());
        check_set(&f)?;
    }

    /// A random `legacy/FROZEN.toml`: arbitrary, or mutations of the valid one.
    #[test]
    fn set_loading_survives_any_frozen_toml(
        text in prop_oneof![
            any::<String>(),
            edits().prop_map(|e| mutate(&small_set()["legacy/FROZEN.toml"], &e)),
            prop::collection::vec(toml_line(), 0..8).prop_map(|l| l.join("\n")),
        ]
    ) {
        let mut f = small_set();
        f.insert("legacy/FROZEN.toml".into(), text);
        check_set(&f)?;
    }

    /// Random SQL in every script (the freeze rewritten to match): `check_guards` refuses
    /// exactly the sets with a malformed directive, and names that file.
    #[test]
    fn check_guards_refuses_exactly_the_malformed_scripts(
        bodies in prop::collection::vec(sql_body(), 12)
    ) {
        let mut f = small_set();
        let sql_paths: Vec<String> = f
            .keys()
            .filter(|p| p.ends_with(".sql") && !p.starts_with("baseline/"))
            .cloned()
            .collect();
        for (p, b) in sql_paths.iter().zip(bodies) {
            f.insert(p.clone(), b);
        }
        refreeze(&mut f, 3);
        let superseding = &f["revisions/0004_ctx/up.sql"];
        let guarded = guard::parse(superseding).is_ok_and(|s| s.is_guarded());
        match load(&f) {
            Err(SetError::Revision { id, message }) => {
                prop_assert!(!guarded, "refused a guarded superseding revision: {message}");
                prop_assert_eq!(id, "0004_ctx");
            }
            // A malformed directive in the superseding revision is named as such by load.
            Err(SetError::Guard { path, .. }) if guard::parse(superseding).is_err() => {
                prop_assert_eq!(path, "revisions/0004_ctx/up.sql");
            }
            Err(e) => prop_assert!(false, "unexpected refusal: {e}"),
            Ok(set) => {
                prop_assert!(guarded, "an unguarded superseding revision was accepted");
                prop_assert!(set.verify_freeze().is_ok());
                let bad: Vec<&String> = sql_paths
                    .iter()
                    .filter(|p| guard::parse(&f[p.as_str()]).is_err())
                    .collect();
                match set.check_guards() {
                    Ok(()) => prop_assert!(bad.is_empty(), "malformed guards in {bad:?} passed"),
                    Err(SetError::Guard { path, message }) => {
                        prop_assert!(bad.contains(&&path), "{path} blamed, bad: {bad:?}");
                        let e = guard::parse(&f[&path]).unwrap_err();
                        prop_assert_eq!(message, e.to_string());
                    }
                    Err(e) => prop_assert!(false, "unexpected error: {e}"),
                }
            }
        }
    }

    /// Line endings never matter: any subset of the valid set's files in CRLF still passes.
    #[test]
    fn a_crlf_checkout_of_a_valid_set_is_still_valid(
        mask in prop::collection::vec(any::<bool>(), 32),
        embedded in any::<bool>(),
    ) {
        let f = if embedded { embedded_set() } else { small_set() };
        let f: BTreeMap<String, String> = f
            .into_iter()
            .zip(mask.iter().cycle())
            .map(|((p, t), crlf)| {
                let t = if *crlf { t.replace("\r\n", "\n").replace('\n', "\r\n") } else { t };
                (p, t)
            })
            .collect();
        if let Err(e) = full_check(&f) {
            prop_assert!(false, "{e}");
        }
    }

    /// Legacy step directories with any slug `ferry lint --freeze` can write and read back.
    #[test]
    fn freeze_text_reads_back(
        slugs in prop::collection::vec("[^/\"\\\\\\p{Cc}]{0,12}", 3),
        body in sql_body(),
    ) {
        let mut f = small_set();
        f.retain(|p, _| !p.starts_with("legacy/"));
        for (n, slug) in slugs.iter().enumerate() {
            f.insert(format!("legacy/{:03}_{slug}/up.sql", n + 1), body.clone());
        }
        let set = load(&f);
        prop_assert!(set.is_ok(), "{:?}", set.err());
        let set = set.unwrap();
        prop_assert!(set.verify_freeze().is_err(), "no FROZEN.toml, yet verified");
        f.insert("legacy/FROZEN.toml".into(), set.freeze_text());
        match load(&f) {
            Ok(again) => prop_assert!(again.verify_freeze().is_ok()),
            Err(e) => prop_assert!(false, "its own freeze_text is refused: {e}"),
        }
    }
}

proptest! {
    #![proptest_config(cases(48))]

    /// Mutations of the reference set compiled into the binary (larger, so fewer cases).
    #[test]
    fn embedded_set_loading_survives_mutations(edits in prop::collection::vec(file_edit(), 1..5)) {
        check_set(&edit_files(embedded_set(), &edits))?;
    }
}

// =======================================================================================
// 2. digest

fn is_digest(d: &str) -> bool {
    d.len() == 71
        && d.starts_with("sha256:")
        && d[7..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn digest_ignores_crlf_and_has_its_format(
        s in prop_oneof![any::<String>(), "[a\n\r ]{0,20}", any_script()]
    ) {
        let d = digest(&s);
        prop_assert!(is_digest(&d), "{d}");
        if !s.contains('\r') {
            prop_assert_eq!(digest(&s.replace('\n', "\r\n")), d);
        }
    }

    #[test]
    fn digest_tells_different_texts_apart(a in any::<String>(), b in any::<String>()) {
        let (na, nb) = (a.replace("\r\n", "\n"), b.replace("\r\n", "\n"));
        prop_assert_eq!(digest(&a) == digest(&b), na == nb);
    }
}

// =======================================================================================
// 3. guard::parse

/// Byte offset of `part` inside `whole` (a slice of it).
fn offset_in(whole: &str, part: &str) -> usize {
    let off = part.as_ptr() as usize - whole.as_ptr() as usize;
    assert!(
        off + part.len() <= whole.len(),
        "a segment is not a slice of the input"
    );
    off
}

fn is_directive(line: &str) -> bool {
    line.trim().starts_with("-- ferry:")
}

/// A psql line the parse drops: `\restrict`, `\unrestrict`, a COPY's closing `\.`.
fn is_dropped_psql(line: &str) -> bool {
    let line = line.trim();
    line == "\\." || line.starts_with("\\restrict") || line.starts_with("\\unrestrict")
}

fn without_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// An accepted script loses and duplicates nothing: its segments, in order, with the directive
/// lines between them, make up the input again (only whitespace-only plain runs are dropped).
fn check_reconstruction(sql: &str) -> TestCaseResult {
    let script = match guard::parse(sql) {
        Ok(s) => s,
        Err(e) => {
            let n_lines = sql.split_inclusive('\n').count().max(1);
            prop_assert!(e.line >= 1 && e.line <= n_lines, "{e:?} in {n_lines} lines");
            prop_assert!(!e.message.trim().is_empty());
            return Ok(());
        }
    };
    let lines: Vec<&str> = sql.split_inclusive('\n').collect();
    let mut cursor = 0;
    let mut guards = 0;
    let gap_ok = |gap: &str| {
        gap.split_inclusive('\n')
            .all(|l| is_directive(l) || is_dropped_psql(l) || l.trim().is_empty())
    };
    let pieces = script.segments.iter().flat_map(|s| match s {
        Segment::CopyIn {
            statement, data, ..
        } => vec![
            (s.clone(), true),
            (Segment::Plain(statement), false),
            (Segment::Plain(data), false),
        ],
        _ => vec![(s.clone(), true)],
    });
    for (segment, whole) in pieces {
        let text = match &segment {
            Segment::CopyIn { statement, .. } => {
                prop_assert!(statement.starts_with("COPY") || statement.starts_with("copy"));
                continue;
            }
            Segment::Plain(t) => {
                prop_assert!(
                    !whole || !t.trim().is_empty(),
                    "a whitespace-only plain segment"
                );
                *t
            }
            Segment::Guarded {
                condition,
                body,
                line,
            } => {
                guards += 1;
                let open = lines.get(line - 1).copied().unwrap_or("");
                prop_assert!(is_directive(open), "line {line} is {open:?}");
                let words: Vec<&str> = open.trim()["-- ferry:".len()..]
                    .split_whitespace()
                    .collect();
                prop_assert_eq!(words.len(), 3, "line {} is {:?}", line, open);
                let word = if condition.if_missing {
                    "if-missing"
                } else {
                    "if-present"
                };
                prop_assert_eq!(words[0], word);
                prop_assert_eq!(
                    format!("{} {}", words[1], words[2]),
                    condition.object.to_string()
                );
                let start = offset_in(sql, body);
                let line_start: usize = lines[..*line].iter().map(|l| l.len()).sum();
                prop_assert_eq!(start, line_start, "the body does not follow its directive");
                let after = &sql[start + body.len()..];
                let end_line = after.split_inclusive('\n').next().unwrap_or("");
                prop_assert!(is_directive(end_line), "body followed by {end_line:?}");
                let end_words: Vec<&str> = end_line.trim()["-- ferry:".len()..]
                    .split_whitespace()
                    .collect();
                prop_assert_eq!(end_words, vec!["end"]);
                *body
            }
        };
        let start = offset_in(sql, text);
        prop_assert!(start >= cursor, "segments overlap or are out of order");
        prop_assert!(
            gap_ok(&sql[cursor..start]),
            "lost text: {:?}",
            &sql[cursor..start]
        );
        prop_assert!(
            !text.split_inclusive('\n').any(is_directive),
            "a directive inside a segment: {text:?}"
        );
        cursor = start + text.len();
    }
    prop_assert!(
        gap_ok(&sql[cursor..]),
        "lost text at the end: {:?}",
        &sql[cursor..]
    );
    let directives = lines.iter().filter(|l| is_directive(l)).count();
    prop_assert_eq!(
        directives,
        2 * guards,
        "every directive belongs to one guard"
    );
    // The same from outside: the non-directive text, in order, whitespace aside.
    let kept: String = script
        .segments
        .iter()
        .map(|s| match s {
            Segment::Plain(t) => t.to_string(),
            Segment::Guarded { body, .. } => body.to_string(),
            Segment::CopyIn {
                statement, data, ..
            } => format!("{statement}{data}"),
        })
        .collect();
    let expected: String = lines
        .iter()
        .filter(|l| !is_directive(l) && !is_dropped_psql(l))
        .copied()
        .collect();
    prop_assert_eq!(without_whitespace(&kept), without_whitespace(&expected));
    prop_assert_eq!(script.is_guarded(), guards > 0);
    Ok(())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn guard_parse_never_panics_and_keeps_every_byte(
        sql in prop_oneof![any::<String>(), any_script(), "[-a-z :.\n\r]{0,60}"]
    ) {
        check_reconstruction(&sql)?;
    }

    #[test]
    fn guard_parse_of_a_generated_script_gives_its_segments(
        blocks in prop::collection::vec(block(), 0..6),
        drop_last_eol in any::<bool>(),
    ) {
        let (sql, expected) = render(&blocks, drop_last_eol);
        let script = guard::parse(&sql);
        prop_assert!(script.is_ok(), "{:?} refused: {:?}", sql, script);
        let script = script.unwrap();
        let want: Vec<Segment> = expected
            .into_iter()
            .map(|(r, g)| match g {
                None => Segment::Plain(&sql[r]),
                Some((condition, line)) => Segment::Guarded { condition, body: &sql[r], line },
            })
            .collect();
        prop_assert_eq!(&script.segments, &want, "in {:?}", sql);
        check_reconstruction(&sql)?;
    }
}

/// A complete statement (or comment) after which the next line starts a new statement.
fn statement_line() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "SELECT 1;",
        "SET standard_conforming_strings = on;",
        "SELECT pg_catalog.set_config('search_path', '', false);",
        "INSERT INTO t VALUES ('COPY t FROM stdin;', E'\\\\', 'it''s');",
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql;",
        "CREATE FUNCTION g() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;",
        "-- a comment; with 'quotes",
        "/* a comment ' */",
        "\\restrict k3y",
        "",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(cases(256))]

    /// A COPY block between statements keeps every row byte for byte, whatever it holds
    /// (quotes, `$$`, `--`, directives, backslashes), up to the line `\.`.
    #[test]
    fn a_copy_block_keeps_its_rows(
        before in prop::collection::vec(statement_line(), 0..4),
        rows in prop::collection::vec("[^\n]{0,30}", 0..6),
        after in prop::collection::vec(statement_line(), 0..4),
        eol in eol(),
    ) {
        let rows: Vec<String> = rows
            .into_iter()
            .filter(|r| r.trim_end_matches('\r') != "\\.")
            .collect();
        let mut sql = String::new();
        for l in &before {
            sql.push_str(l);
            sql.push_str(eol);
        }
        let line = before.len() + 1;
        sql.push_str("COPY public.t (a, \"b;c\") FROM stdin;");
        sql.push_str(eol);
        let data: String = rows.iter().map(|r| format!("{r}{eol}")).collect();
        sql.push_str(&data);
        sql.push_str("\\.");
        sql.push_str(eol);
        for l in &after {
            sql.push_str(l);
            sql.push_str(eol);
        }
        let script = guard::parse(&sql);
        prop_assert!(script.is_ok(), "{:?} refused: {:?}", sql, script);
        let copies: Vec<Segment> = script
            .unwrap()
            .segments
            .into_iter()
            .filter(|s| matches!(s, Segment::CopyIn { .. }))
            .collect();
        prop_assert_eq!(
            copies,
            vec![Segment::CopyIn {
                statement: "COPY public.t (a, \"b;c\") FROM stdin;",
                data: &data,
                line,
            }]
        );
        check_reconstruction(&sql)?;
    }
}

// =======================================================================================
// 4. Database URLs and redaction

/// Characters a password may hold without ending its field in either form.
const PASS_CHARS: &str = "[A-Za-z0-9!#$%()*+,.;<>=\\[\\]^_`{|}~-]";

fn password() -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{PASS_CHARS}{{4,24}}")).expect("a valid regex")
}

fn url_text() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "postgres://",
        "postgresql://",
        "sqlite:",
        "sqlite://",
        "sqlite:///",
        "sqlite::memory:",
        "mysql://",
        "POSTGRES://",
        "host=",
        "password=",
        "dbname=x password=",
        ":memory:",
        "",
        "  ",
        "://",
    ]);
    let rest = prop_oneof![
        any::<String>(),
        "[a-z:@/?&=' \"%.0-9]{0,30}",
        Just(String::new()),
    ];
    prop_oneof![
        any::<String>(),
        (scheme, rest).prop_map(|(s, r)| format!("{s}{r}")),
    ]
}

/// Token soup: every separator and keyword redact looks for.
fn redact_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "password=",
            "PASSWORD=",
            "postgres://",
            "postgresql://",
            "'",
            "\"",
            " ",
            "&",
            "@",
            ":",
            "/",
            "?",
            "***",
            "a",
            "bc",
            "é",
            "𝕏",
            "\t",
            "=",
        ]),
        0..16,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn url_parsing_never_panics_and_is_consistent(text in url_text()) {
        match DatabaseUrl::parse(&text) {
            Ok(url) => {
                let shown = url.display();
                let _ = url.dialect();
                // Ferry's own PostgreSQL forms pass as written (SQLAlchemy's `+driver` ones are
                // rewritten: tests/urls.rs and the url unit tests).
                let scheme = text.trim().split_once("://").map_or("", |(s, _)| s);
                if let (DatabaseUrl::Postgres(s), false) = (&url, scheme.contains('+')) {
                    prop_assert_eq!(s.as_str(), text.trim());
                    prop_assert_eq!(shown, redact(s));
                }
                // Parsing is a function of the trimmed text.
                prop_assert_eq!(DatabaseUrl::parse(text.trim()), Ok(url));
            }
            Err(e) => prop_assert!(!e.trim().is_empty()),
        }
    }

    /// Idempotent on any URL-like text (quoted values: see the regression tests below).
    #[test]
    fn redact_never_panics_and_is_idempotent_on_urls(
        text in url_text().prop_map(|t| t.replace('\'', ""))
    ) {
        let once = redact(&text);
        prop_assert_eq!(redact(&once), once.clone());
        // Without a password key or a URL scheme, nothing changes.
        if !text.contains("password=") && !text.contains("PASSWORD=") && !text.contains("postgres") {
            prop_assert_eq!(once, text);
        }
    }

    #[test]
    fn redact_never_panics_on_token_soup(text in redact_soup()) {
        let once = redact(&text);
        // The output contains no password= followed by anything but the mask or a separator.
        for (i, _) in once.match_indices("password=") {
            let after = &once[i + "password=".len()..];
            prop_assert!(
                after.is_empty() || after.starts_with("***") || after.starts_with(['"', ' ', '&']),
                "{text:?} → {once:?}"
            );
        }
    }

    #[test]
    fn postgres_url_passwords_never_show(
        scheme in prop::sample::select(vec!["postgres://", "postgresql://"]),
        user in "[A-Za-z0-9._~-]{0,12}",
        pass in password(),
        host in "[a-z0-9.-]{1,16}(:[0-9]{1,5})?",
        db in "[A-Za-z0-9_]{0,12}",
        query in prop::sample::select(vec!["", "?sslmode=require", "?application_name=x&connect_timeout=5"]),
        prefix in prop::sample::select(vec!["", "cannot connect to ", "error: \""]),
    ) {
        let url = format!("{scheme}{user}:{pass}@{host}/{db}{query}");
        let rest = url.replacen(&pass, "", 1);
        prop_assume!(!rest.contains(&pass) && !prefix.contains(&pass));
        let text = format!("{prefix}{url}");
        let shown = redact(&text);
        prop_assert!(!shown.contains(&pass), "{text:?} → {shown:?}");
        prop_assert_eq!(redact(&shown), shown.clone());
        prop_assert_eq!(shown, format!("{prefix}{scheme}{user}:***@{host}/{db}{query}"));
        let parsed = DatabaseUrl::parse(&url);
        prop_assert!(matches!(parsed, Ok(DatabaseUrl::Postgres(_))), "{parsed:?}");
        let displayed = parsed.unwrap().display();
        prop_assert!(!displayed.contains(&pass), "{displayed}");
    }

    #[test]
    fn conninfo_passwords_never_show(
        before in prop::collection::vec(
            prop::sample::select(vec!["host=db", "port=5432", "dbname=app", "user=alice", "sslmode=require", "host=/tmp"]),
            1..3,
        ),
        after in prop::collection::vec(
            prop::sample::select(vec!["dbname=app", "user=bob", "connect_timeout=10", "application_name=ferry"]),
            0..3,
        ),
        pass in password(),
        quoted in any::<bool>(),
        spaced in "[A-Za-z0-9]{1,4}",
        query_form in any::<bool>(),
    ) {
        let quoted = quoted && !query_form;
        let value = if quoted { format!("'{pass} {spaced}'") } else { pass.clone() };
        let text = if query_form {
            format!("postgres://h/app?{}&password={value}&{}", before.join("&"), after.join("&"))
        } else {
            format!("{} password={value} {}", before.join(" "), after.join(" "))
        };
        let text = text.trim().to_string();
        prop_assume!(!text.replacen(&pass, "", 1).contains(&pass));
        let shown = redact(&text);
        prop_assert!(!shown.contains(&pass), "{text:?} → {shown:?}");
        prop_assert!(!quoted || !shown.contains(&spaced) || text.replacen(&spaced, "", 1).contains(&spaced));
        prop_assert_eq!(redact(&shown), shown.clone());
        let parsed = DatabaseUrl::parse(&text);
        prop_assert!(matches!(parsed, Ok(DatabaseUrl::Postgres(_))), "{parsed:?}");
        let displayed = parsed.unwrap().display();
        prop_assert!(!displayed.contains(&pass), "{displayed}");
    }
}

// =======================================================================================
// 5. Revision ids and identifiers

fn revision_id_spec(s: &str) -> bool {
    (1..=32).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn identifier_spec(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && s.chars().count() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Near misses: valid names with one character changed, or one too long.
fn near_names() -> impl Strategy<Value = String> {
    (
        "[A-Za-z0-9_]{0,70}",
        any::<Index>(),
        prop::sample::select(vec![
            "", "A", "z", "_", "0", "-", " ", ".", "é", "ı", "K", "\u{0}", "\u{212a}", "９",
        ]),
    )
        .prop_map(|(s, i, c)| {
            let cuts = boundaries(&s);
            let at = cuts[i.index(cuts.len())];
            format!("{}{c}{}", &s[..at], &s[at..])
        })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn revision_ids_are_exactly_lowercase_digits_underscore_up_to_32(
        id in prop_oneof![
            "[a-z0-9_]{1,32}",
            "[a-z0-9_]{33,40}",
            near_names(),
            any::<String>(),
        ]
    ) {
        let got = check_revision_id(&id);
        prop_assert_eq!(got.is_ok(), revision_id_spec(&id), "{:?}: {:?}", id, got);
        if let Err(m) = got {
            prop_assert!(!m.trim().is_empty());
        }
    }

    #[test]
    fn identifiers_are_exactly_plain_sql_names_up_to_63(
        name in prop_oneof![
            "[A-Za-z_][A-Za-z0-9_]{0,62}",
            "[A-Za-z_][A-Za-z0-9_]{63,70}",
            near_names(),
            any::<String>(),
        ]
    ) {
        prop_assert_eq!(valid_identifier(&name), identifier_spec(&name), "{:?}", name);
    }
}

// =======================================================================================
// 6. Graph::resolve

/// A set whose revisions form one chain above the baseline, in the given order.
fn chain_set(ids: &[String]) -> MigrationSet {
    let mut f = BTreeMap::new();
    f.insert(
        "ferry.toml".to_string(),
        "[legacy]\ncap = 0\nmarker = { kind = \"user-version\" }\n[baseline]\nrevision = \"0001_baseline\"\n"
            .to_string(),
    );
    let mut down = "0001_baseline".to_string();
    for id in ids {
        f.insert(
            format!("revisions/{id}/revision.toml"),
            format!("down = \"{down}\"\n"),
        );
        f.insert(format!("revisions/{id}/up.sql"), "SELECT 1;".to_string());
        down = id.clone();
    }
    load(&f).expect("a chain is a valid set")
}

fn chain_ids() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-z0-9_]{1,6}", 1..8)
        .prop_map(|s| {
            s.into_iter()
                .filter(|id| id != "0001_baseline")
                .collect::<Vec<_>>()
        })
        .prop_filter("at least one revision", |v| !v.is_empty())
        .prop_shuffle()
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "head",
            "heads",
            "base",
            " head ",
            "HEAD",
            "+",
            "-",
            "+0",
            "-0",
            "++1",
            "+-1",
            "--1",
            "-+1",
            "+ 1",
            "+1.0",
            "+1e3",
            "+99999999999999999999",
            "-99999999999999999999",
            "+18446744073709551615",
            "-18446744073709551615",
            "+18446744073709551616",
            "0",
            "0001",
            "0001_baseline",
            "",
            "   ",
            "é",
            "+𝕏",
            "-\u{0}",
        ])
        .prop_map(str::to_string),
        (prop::sample::select(vec!["+", "-"]), 0usize..12).prop_map(|(s, n)| format!("{s}{n}")),
        "[+-]?[0-9]{1,30}",
        "[a-z0-9_]{0,4}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn resolve_never_panics_and_answers_with_nodes(
        ids in chain_ids(),
        spec in target(),
        current in prop::collection::vec(any::<Index>(), 0..3),
    ) {
        let set = chain_set(&ids);
        let graph = Graph::new(&set).unwrap();
        let current: Vec<usize> = current.iter().map(|i| i.index(graph.len())).collect();
        if let Ok(nodes) = graph.resolve(&spec, &current) {
            prop_assert!(!nodes.is_empty());
            prop_assert!(nodes.iter().all(|&n| n < graph.len()));
            // An id or a prefix resolves to a revision it names.
            let s = spec.trim();
            if !["head", "heads", "base"].contains(&s) && !s.starts_with(['+', '-']) {
                prop_assert!(graph.id(nodes[0]).starts_with(s), "{s:?} → {}", graph.id(nodes[0]));
            }
        }
    }

    #[test]
    fn resolve_knows_every_id_head_and_base_of_a_chain(ids in chain_ids(), k in any::<Index>()) {
        let set = chain_set(&ids);
        let graph = Graph::new(&set).unwrap();
        let n = graph.len();
        let last = graph.node(ids.last().unwrap()).unwrap();
        prop_assert_eq!(graph.resolve("head", &[]), Ok(vec![last]));
        prop_assert_eq!(graph.resolve("heads", &[]), Ok(vec![last]));
        prop_assert_eq!(graph.resolve("base", &[last]), Ok(vec![0]));
        for id in ids.iter().chain(std::iter::once(&"0001_baseline".to_string())) {
            prop_assert_eq!(graph.resolve(id, &[]), Ok(vec![graph.node(id).unwrap()]));
        }
        // From node `start`, +N reaches the N-th revision above it, or fails past the head.
        let all: Vec<&str> = std::iter::once("0001_baseline").chain(ids.iter().map(String::as_str)).collect();
        let pos = k.index(all.len());
        let start_id = all[pos];
        let start = graph.node(start_id).unwrap();
        for steps in 0..=n {
            let up = graph.resolve(&format!("+{steps}"), &[start]);
            let down = graph.resolve(&format!("-{steps}"), &[start]);
            prop_assert_eq!(up.is_ok(), pos + steps < n, "+{} from {}", steps, start_id);
            prop_assert_eq!(down.is_ok(), steps <= pos, "-{} from {}", steps, start_id);
        }
    }

    #[test]
    fn up_then_down_by_the_same_steps_returns_to_the_start(
        ids in chain_ids(),
        start in any::<Index>(),
        steps in prop_oneof![0usize..10, Just(usize::MAX)],
    ) {
        let set = chain_set(&ids);
        let graph = Graph::new(&set).unwrap();
        let start = start.index(graph.len());
        if let Ok(up) = graph.resolve(&format!("+{steps}"), &[start]) {
            prop_assert_eq!(up.len(), 1);
            let back = graph.resolve(&format!("-{steps}"), &up);
            prop_assert_eq!(back, Ok(vec![start]));
        }
        if let Ok(down) = graph.resolve(&format!("-{steps}"), &[start]) {
            let back = graph.resolve(&format!("+{steps}"), &down);
            prop_assert_eq!(back, Ok(vec![start]));
        }
    }
}

// =======================================================================================
// Bugs the properties above found, fixed; their minimal cases stay as regression tests.

/// `redact` is idempotent on any text (token soup of everything it looks for).
#[test]
fn bug_redact_is_not_idempotent_after_a_quoted_value() {
    // The closing quote ends the value; what follows it is kept, and the next pass takes it
    // (and the mask) for an unquoted value.
    for text in ["password=''password=", "password='ab'cd"] {
        let once = redact(text);
        assert_eq!(redact(&once), once, "{text:?}");
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn bug_redact_is_idempotent_on_token_soup(text in redact_soup()) {
        let once = redact(&text);
        prop_assert_eq!(redact(&once), once);
    }
}

/// The PostgreSQL driver (tokio-postgres, like libpq) accepts all of these key=value forms and
/// connects with the password; `redact` and so `DatabaseUrl::display` show it, whole or in part.
#[test]
fn bug_redact_leaks_libpq_passwords_the_driver_accepts() {
    for text in [
        "host=db password = s3cr3t dbname=app", // spaces around '='
        "host=db password= s3cr3t dbname=app",  // space after '='
        r"host=db password='it\'s s3cr3t' dbname=app", // escaped quote inside quotes
        r"host=db password=abc\ s3cr3t dbname=app", // escaped space, unquoted
        "host=db password=abc&s3cr3t dbname=app", // '&' is no separator in key=value
        "host=db password=abc\"s3cr3t dbname=app", // nor is '"'
    ] {
        let url = DatabaseUrl::parse(text).expect("a libpq string");
        assert!(matches!(url, DatabaseUrl::Postgres(_)), "{text:?}: {url:?}");
        let shown = url.display();
        assert!(!shown.contains("s3cr3t"), "{text:?} is shown as {shown:?}");
    }
}

/// Valid key=value strings whose first word is not in url.rs's keyword list, or that put spaces
/// around '=', are taken for SQLite file names: ferry would create that file, and `display`
/// shows the password in it.
#[test]
fn bug_libpq_strings_taken_for_sqlite_files() {
    for text in [
        "tcp_user_timeout=5000 host=db password=s3cr3t",
        "keepalives_interval=10 host=db password=s3cr3t",
        "keepalives_retries=3 host=db password=s3cr3t",
        "sslnegotiation=direct host=db sslmode=require password=s3cr3t",
        "host = db password=s3cr3t",
    ] {
        let url = DatabaseUrl::parse(text).expect("parses");
        assert!(
            matches!(url, DatabaseUrl::Postgres(_)),
            "{text:?} → {url:?}"
        );
        assert!(!url.display().contains("s3cr3t"), "{}", url.display());
    }
}

/// `ferry lint --freeze` writes `freeze_text()`, which puts legacy paths into TOML strings
/// unescaped: a step directory named with `"` or `\` gives a FROZEN.toml that does not parse
/// (`"`) or names another file (`\b` is a backspace), so the set it froze is refused.
#[test]
fn bug_freeze_text_does_not_escape_paths() {
    for slug in ["a\"b", "a\\b"] {
        let mut f = small_set();
        f.retain(|p, _| !p.starts_with("legacy/"));
        f.insert(format!("legacy/001_{slug}/up.sql"), "SELECT 1;".into());
        f.insert("legacy/002_b/up.sql".into(), "SELECT 2;".into());
        f.insert("legacy/003_c/up.sql".into(), "SELECT 3;".into());
        let set = load(&f).expect("a valid unfrozen set");
        f.insert("legacy/FROZEN.toml".into(), set.freeze_text());
        let again = full_check(&f);
        assert!(again.is_ok(), "{slug:?}: {}", again.unwrap_err());
    }
}

/// Keys of `legacy.superseded` are parsed with `u32::from_str` after the TOML map is built:
/// `4` and `"004"` (or `"+4"`) are one version, and one of the two mappings silently wins.
#[test]
fn bug_superseded_keys_that_name_one_version_collide_silently() {
    let mut f = small_set();
    f.insert(
        "ferry.toml".into(),
        FERRY_TOML.replace(
            "superseded = { 4 = \"0004_ctx\" }",
            "superseded = { 4 = \"0004_ctx\", \"004\" = \"0002_a\" }",
        ),
    );
    let result = load(&f);
    assert!(
        result.is_err(),
        "accepted: {:?}",
        result.map(|s| s.superseded)
    );
}

/// A revision that lists the baseline twice as its down is reported as "two roots", naming
/// itself twice; any other repeated down is silently de-duplicated.
#[test]
fn bug_a_repeated_baseline_down_is_two_roots() {
    let mut f = small_set();
    f.insert(
        "revisions/0002_a/revision.toml".into(),
        "down = [\"0001_baseline\", \"0001_baseline\"]\n".into(),
    );
    let result = load(&f);
    if let Err(e) = &result {
        assert!(!e.to_string().contains("two roots"), "{e}");
    }
}

/// `check_guards` parses legacy and revision scripts but not `baseline/<dialect>.sql`, which
/// runs through the same guard parser on a fresh install: `ferry lint` passes a set whose
/// baseline has a malformed directive, and only planning a fresh install refuses it.
#[test]
fn bug_check_guards_skips_the_baselines() {
    let mut f = small_set();
    f.insert("baseline/sqlite.sql".into(), "-- ferry:end\n".into());
    assert!(
        full_check(&f).is_err(),
        "a malformed baseline directive passed"
    );
}

/// `+N`/`-N` parse N with `usize::from_str`, which takes a sign of its own: `++1` is `+1`
/// and `-+1` is `-1`.
#[test]
fn bug_doubled_signs_in_relative_targets_are_accepted() {
    let set = chain_set(&["a".to_string(), "b".to_string()]);
    let graph = Graph::new(&set).unwrap();
    for spec in ["++1", "-+1"] {
        assert!(graph.resolve(spec, &[1]).is_err(), "{spec} was accepted");
    }
}
