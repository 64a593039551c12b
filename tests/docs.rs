//! The documentation stays true to the command line and to itself: in README.md and every
//! docs/*.md, each `ferry …` line of a fenced code block names a real subcommand and only options
//! that subcommand accepts (as `ferry <subcommand> --help` lists them, global options before the
//! subcommand as `ferry --help` lists them), and each relative link points to an existing file
//! and, for a Markdown file, to an existing heading anchor. No database is opened.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and docs/*.md, as (path relative to the repository, text).
fn markdown_files() -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut paths = vec![PathBuf::from("README.md")];
    let docs = root().join("docs");
    let entries = std::fs::read_dir(&docs).expect("docs/ is a directory");
    for entry in entries {
        let name = entry.expect("a docs/ entry").file_name();
        let name = name.to_string_lossy().into_owned();
        if name.ends_with(".md") {
            paths.push(Path::new("docs").join(name));
        }
    }
    for path in paths {
        let text = std::fs::read_to_string(root().join(&path))
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        files.insert(path, text);
    }
    files
}

/// Options and subcommands one `--help` output lists.
#[derive(Default)]
struct Help {
    options: BTreeSet<String>,
    takes_value: BTreeSet<String>,
    subcommands: BTreeSet<String>,
}

impl Help {
    fn parse(text: &str) -> Help {
        let mut help = Help::default();
        let mut in_commands = false;
        for line in text.lines() {
            if line == "Commands:" {
                in_commands = true;
                continue;
            }
            if in_commands {
                match line.split_whitespace().next() {
                    Some(name) if line.starts_with("  ") => {
                        help.subcommands.insert(name.to_string());
                        continue;
                    }
                    _ => in_commands = false,
                }
            }
            // Option lines are indented: `  -d, --database <URL>  …`, `      --json  …`.
            if !line.starts_with("  ") || !line.trim_start().starts_with('-') {
                continue;
            }
            let mut names = Vec::new();
            for word in line.split_whitespace() {
                if word.starts_with('<') {
                    for name in &names {
                        help.takes_value.insert(String::clone(name));
                    }
                } else if word.starts_with('-') {
                    names.push(word.trim_end_matches(',').to_string());
                } else {
                    break;
                }
            }
            help.options.extend(names);
        }
        help
    }
}

/// `ferry [SUBCOMMAND] --help`, run once per subcommand.
struct HelpCache(HashMap<String, Help>);

impl HelpCache {
    fn get(&mut self, subcommand: &str) -> &Help {
        self.0.entry(subcommand.to_string()).or_insert_with(|| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
            if !subcommand.is_empty() {
                command.arg(subcommand);
            }
            let output = command
                .arg("--help")
                .output()
                .expect("running ferry --help");
            assert!(
                output.status.success(),
                "ferry {subcommand} --help failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Help::parse(&String::from_utf8_lossy(&output.stdout))
        })
    }
}

/// The lines inside fenced code blocks, with their line numbers (1-based).
fn fenced_lines(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match fence {
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            Some(f) if trimmed.starts_with(f) => fence = None,
            Some(_) => lines.push((i + 1, line)),
            None => {}
        }
    }
    lines
}

/// The lines of fenced code blocks that hold commands: blocks without a language or in a shell
/// or CI language, not source files (`toml`, `rust`, `python`, `sql`, …) where a line may begin
/// with the word `ferry` without being a command.
fn command_lines(text: &str) -> Vec<(usize, &str)> {
    const COMMANDS: [&str; 7] = ["", "sh", "bash", "console", "shell", "yaml", "text"];
    let mut lines = Vec::new();
    let mut fence: Option<(&str, bool)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match fence {
            None => {
                for mark in ["```", "~~~"] {
                    if let Some(info) = trimmed.strip_prefix(mark) {
                        let language = info.split_whitespace().next().unwrap_or("");
                        fence = Some((mark, COMMANDS.contains(&language)));
                    }
                }
            }
            Some((mark, _)) if trimmed.starts_with(mark) => fence = None,
            Some((_, true)) => lines.push((i + 1, line)),
            Some((_, false)) => {}
        }
    }
    lines
}

/// Shell words of a line, quotes removed, up to an unquoted comment.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None if c == '#' && !in_word => break,
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The ferry argument lists of one code line: `ferry …`, `$ ferry …`, `target/release/ferry …`
/// (also after a YAML `run:`), `cargo run [--release] -- …`; each command of a `&&`, `||`, `|`
/// or `;` chain; redirections and their file left out.
fn ferry_invocations(line: &str) -> Vec<Vec<String>> {
    let mut invocations = Vec::new();
    let mut segment: Vec<String> = Vec::new();
    let mut words = shell_words(line).into_iter().peekable();
    let mut segments = Vec::new();
    while let Some(word) = words.next() {
        match word.as_str() {
            "&&" | "||" | "|" | ";" => segments.push(std::mem::take(&mut segment)),
            ">" | ">>" | "<" | "2>" | "2>&1" => {
                if word != "2>&1" {
                    words.next();
                }
            }
            _ => segment.push(word),
        }
    }
    segments.push(segment);
    for (n, mut words) in segments.into_iter().enumerate() {
        if n == 0
            && words
                .first()
                .is_some_and(|w| w == "$" || w == "run:" || w == "-")
        {
            words.remove(0);
        }
        let Some(first) = words.first() else { continue };
        if first == "ferry" || first.ends_with("/release/ferry") || first.ends_with("/debug/ferry")
        {
            invocations.push(words[1..].to_vec());
        } else if first == "cargo"
            && words.get(1).is_some_and(|w| w == "run")
            && let Some(dashes) = words.iter().position(|w| w == "--")
        {
            invocations.push(words[dashes + 1..].to_vec());
        }
    }
    invocations
}

/// An option word as `--help` names it: `--from=x` → `--from`, `-j4` → `-j`.
fn option_name(word: &str) -> String {
    if let Some(long) = word.strip_prefix("--") {
        format!("--{}", long.split('=').next().unwrap_or(long))
    } else {
        word.chars().take(2).collect()
    }
}

fn is_option(word: &str) -> bool {
    word.len() > 1 && word.starts_with('-') && !word[1..].starts_with(|c: char| c.is_ascii_digit())
}

/// Every problem of the documented ferry commands in `files`, and how many commands were checked.
fn command_problems(
    files: &BTreeMap<PathBuf, String>,
    helps: &mut HelpCache,
) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, text) in files {
        for (number, line) in command_lines(text) {
            for args in ferry_invocations(line) {
                checked += 1;
                let at = format!("{}:{number}: `{}`", path.display(), line.trim());
                let mut args = args.iter();
                let mut subcommand = None;
                while let Some(word) = args.next() {
                    if is_option(word) {
                        let name = option_name(word);
                        let global = helps.get("");
                        if !global.options.contains(&name) {
                            problems
                                .push(format!("{at}: `ferry --help` has no global option {name}"));
                        } else if global.takes_value.contains(&name) && !word.contains('=') {
                            args.next();
                        }
                    } else {
                        subcommand = Some(word.clone());
                        break;
                    }
                }
                let Some(subcommand) = subcommand else {
                    let bare = ["--version", "-V", "--help", "-h"];
                    if !line.split_whitespace().any(|w| bare.contains(&w)) {
                        problems.push(format!("{at}: no subcommand"));
                    }
                    continue;
                };
                if !helps.get("").subcommands.contains(&subcommand) {
                    problems.push(format!(
                        "{at}: `ferry --help` lists no subcommand {subcommand}"
                    ));
                    continue;
                }
                let help = helps.get(&subcommand);
                while let Some(word) = args.next() {
                    if !is_option(word) {
                        continue;
                    }
                    let name = option_name(word);
                    if !help.options.contains(&name) {
                        problems.push(format!(
                            "{at}: `ferry {subcommand} --help` has no option {name}"
                        ));
                    } else if help.takes_value.contains(&name) && !word.contains('=') {
                        args.next();
                    }
                }
            }
        }
    }
    (problems, checked)
}

/// GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings; repeated ones get `-1`, `-2`, … as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let fenced: BTreeSet<usize> = fenced_lines(text).into_iter().map(|(n, _)| n).collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut all = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if fenced.contains(&(i + 1)) || hashes == 0 || hashes > 6 {
            continue;
        }
        let Some(heading) = line[hashes..].strip_prefix(' ') else {
            continue;
        };
        let base = anchor(heading.trim_end_matches('#'));
        let count = seen.entry(base.clone()).or_insert(0);
        all.insert(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    all
}

/// The link targets `[text](target)` of a line, inline code spans left out.
fn link_targets(line: &str) -> Vec<String> {
    let mut prose = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            prose.push_str(part);
        } else {
            prose.push(' ');
        }
    }
    let mut targets = Vec::new();
    let mut rest = prose.as_str();
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let end = rest
            .find(|c: char| c == ')' || c.is_whitespace())
            .unwrap_or(rest.len());
        targets.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    targets
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every broken relative link in `files`, and how many links were checked.
fn link_problems(files: &BTreeMap<PathBuf, String>) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, text) in files {
        let fenced: BTreeSet<usize> = fenced_lines(text).into_iter().map(|(n, _)| n).collect();
        for (i, line) in text.lines().enumerate() {
            if fenced.contains(&(i + 1)) {
                continue;
            }
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let at = format!("{}:{}: link ({target})", path.display(), i + 1);
                let (file, fragment) = match target.split_once('#') {
                    Some((file, fragment)) => (file, Some(fragment)),
                    None => (target.as_str(), None),
                };
                let linked = if file.is_empty() {
                    path.clone()
                } else {
                    normalize(&path.parent().unwrap_or(Path::new("")).join(file))
                };
                let linked_text = match files.get(&linked) {
                    Some(text) => Some(text.clone()),
                    None if root().join(&linked).exists() => None,
                    None => {
                        problems.push(format!("{at}: {} does not exist", linked.display()));
                        continue;
                    }
                };
                if let Some(fragment) = fragment {
                    match linked_text {
                        Some(text) if anchors(&text).contains(fragment) => {}
                        Some(_) => problems.push(format!(
                            "{at}: {} has no heading with the anchor #{fragment}",
                            linked.display()
                        )),
                        None => problems.push(format!(
                            "{at}: an anchor into {}, which is no Markdown file checked here",
                            linked.display()
                        )),
                    }
                }
            }
        }
    }
    (problems, checked)
}

#[test]
fn every_documented_ferry_command_uses_a_real_subcommand_and_real_options() {
    let files = markdown_files();
    assert!(files.len() > 1, "docs/ holds the guide's chapters");
    let mut helps = HelpCache(HashMap::new());
    let (problems, checked) = command_problems(&files, &mut helps);
    assert!(
        checked >= 20,
        "only {checked} documented ferry commands were found"
    );
    assert!(
        problems.is_empty(),
        "documented commands that ferry does not accept:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_relative_link_between_the_markdown_files_resolves() {
    let files = markdown_files();
    let (problems, checked) = link_problems(&files);
    assert!(checked >= 20, "only {checked} relative links were found");
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_wrong_option_subcommand_link_or_anchor_is_caught() {
    let mut files = BTreeMap::new();
    files.insert(
        PathBuf::from("README.md"),
        "# Title\n\n## SQL for review: `plan --sql`\n\n\
         [ok](#sql-for-review-plan---sql) [ok](docs/guide.md#a-b) [bad](#no-such-heading) \
         [bad](docs/missing.md) [bad](docs/guide.md#nowhere) `[not a link](#x)`\n\n\
         ```sh\n\
         ferry upgrade --sql --from legacy:7 --dialect postgres > upgrade.sql   # fine\n\
         $ ferry --migrations db status -d app.db && ferry check --json\n\
         ferry upgrade --no-such-option -d app.db\n\
         ferry --bogus status\n\
         cargo run --release -- frobnicate\n\
         ferry plan -d x.db | ferry downgrade -1 --acept-edited 0004\n\
         ```\n"
            .to_string(),
    );
    files.insert(
        PathBuf::from("docs/guide.md"),
        "# Guide\n\n## A, b!\n\n[up](../README.md#title)\n".to_string(),
    );
    let mut helps = HelpCache(HashMap::new());
    let (problems, checked) = command_problems(&files, &mut helps);
    assert_eq!(checked, 8, "{problems:?}");
    let expected = [
        "has no option --no-such-option",
        "has no global option --bogus",
        "lists no subcommand frobnicate",
        "`ferry downgrade --help` has no option --acept-edited",
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (problem, expected) in problems.iter().zip(expected) {
        assert!(
            problem.contains(expected),
            "{problem} should say {expected}"
        );
    }
    let (problems, checked) = link_problems(&files);
    assert_eq!(checked, 6, "{problems:?}");
    let expected = [
        "#no-such-heading",
        "docs/missing.md does not exist",
        "anchor #nowhere",
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (problem, expected) in problems.iter().zip(expected) {
        assert!(
            problem.contains(expected),
            "{problem} should say {expected}"
        );
    }
}

#[test]
fn anchors_follow_githubs_rules() {
    assert_eq!(
        anchor("SQL for review: `plan --sql`, `upgrade --sql`"),
        "sql-for-review-plan---sql-upgrade---sql"
    );
    assert_eq!(
        anchor("Alembic command → ferry command"),
        "alembic-command--ferry-command"
    );
    assert_eq!(
        anchor("Hand-off to Alembic (or another runner)"),
        "hand-off-to-alembic-or-another-runner"
    );
    let text = "# A\n## A\n```\n# not a heading\n```\n### `ferry fixture`\n";
    let expected: BTreeSet<String> = ["a", "a-1", "ferry-fixture"].map(String::from).into();
    assert_eq!(anchors(text), expected);
}

/// The fenced block under a heading of a Markdown text.
fn block_under(text: &str, heading: &str) -> Vec<String> {
    let start = text
        .lines()
        .position(|l| l.trim_start_matches('#').trim() == heading)
        .unwrap_or_else(|| panic!("no heading {heading}"));
    let mut lines = text
        .lines()
        .skip(start + 1)
        .skip_while(|l| !l.starts_with("```"));
    lines.next();
    lines
        .take_while(|l| !l.starts_with("```"))
        .map(String::from)
        .collect()
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let files = markdown_files();
    let block = block_under(&files[Path::new("README.md")], "Watch the bridge work");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let seeds = root().join("tests/seeds");
    let mut ran = Vec::new();
    for line in &block {
        let claim = line.split_once(" # ").map(|(_, c)| c.trim()).unwrap_or("");
        for args in ferry_invocations(line) {
            if !line.starts_with("ferry ") {
                continue;
            }
            let args: Vec<String> = args
                .into_iter()
                .map(|a| {
                    if a == "tests/seeds" {
                        seeds.display().to_string()
                    } else {
                        a
                    }
                })
                .collect();
            let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
                .args(&args)
                .current_dir(dir.path())
                .output()
                .expect("running ferry");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(
                output.status.success(),
                "README: `{}` exited {:?}: {stdout}{}",
                line.trim(),
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            );
            ran.push((args[0].clone(), claim.to_string(), stdout));
        }
    }
    let commands: Vec<&str> = ran.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(commands, ["fixture", "status", "plan", "upgrade", "check"]);
    // What the comments say each command shows.
    let (_, claim, status) = &ran[1];
    assert_eq!(claim, "state: legacy 7 (cap 25), 24 pending steps");
    assert!(
        status.contains("legacy 7 (cap 25)") && status.contains("24 step(s)"),
        "{status}"
    );
    let (_, _, plan) = &ran[2];
    assert!(
        plan.contains("1. legacy 008_") && plan.contains("24. upgrade 0006_"),
        "{plan}"
    );
    let (_, claim, upgrade) = &ran[3];
    assert_eq!(claim, "legacy 008 … 025, stamp 0001_baseline, 0002 … 0006");
    assert!(
        upgrade.contains("legacy 7 → revision 0006_kb_documents_status_index (24 steps)"),
        "{upgrade}"
    );
    let sqlite_line = block
        .iter()
        .find(|l| l.starts_with("sqlite3 old.db"))
        .expect("the sqlite3 line");
    assert!(
        sqlite_line.ends_with("# 0006_kb_documents_status_index"),
        "{sqlite_line}"
    );
    let db = rusqlite::Connection::open(dir.path().join("old.db")).expect("opening old.db");
    let version: String = db
        .query_row("select * from alembic_version", [], |r| r.get(0))
        .expect("alembic_version");
    assert_eq!(version, "0006_kb_documents_status_index");
}
