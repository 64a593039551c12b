//! `ferry completions SHELL` and `ferry man`: generated from the same clap definition as the
//! command line itself, with no migration set and no database.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use clap::CommandFactory;
use common::*;

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "powershell", "elvish"];

/// The subcommand names the command line defines (those a man page and a script must name).
fn subcommands() -> Vec<String> {
    ferry::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn every_shell_gets_a_script_naming_the_commands() {
    let names = subcommands();
    assert!(names.iter().any(|n| n == "upgrade"), "{names:?}");
    for shell in SHELLS {
        let run = ferry(&["completions", shell]).expect(0);
        assert!(
            run.stdout.trim().len() > 200,
            "{shell}: a script of {} bytes:\n{}",
            run.stdout.len(),
            run.stdout
        );
        assert!(run.stdout.contains("ferry"), "{shell}: {}", run.stdout);
        for name in ["upgrade", "downgrade", "status", "completions"] {
            assert!(
                run.stdout.contains(name),
                "{shell}: the script does not name `{name}`"
            );
        }
        assert!(run.stderr.is_empty(), "{shell}: {}", run.stderr);
    }
}

#[test]
fn bash_accepts_the_bash_script() {
    let run = ferry(&["completions", "bash"]).expect(0);
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    bash.stdin
        .take()
        .expect("bash's stdin")
        .write_all(run.stdout.as_bytes())
        .expect("writing the script to bash");
    let out = bash.wait_with_output().expect("bash ends");
    assert!(
        out.status.success(),
        "bash -n refused the script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And it registers a completion function for `ferry`.
    assert!(
        run.stdout.contains("complete -F") && run.stdout.contains(" ferry"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_man_page_is_roff_and_names_the_commands() {
    let run = ferry(&["man"]).expect(0);
    let page = run.stdout;
    assert!(
        page.starts_with('.'),
        "not roff: {}",
        &page[..page.len().min(200)]
    );
    assert!(
        page.lines().any(|l| l.starts_with(".TH ferry 1")),
        "no .TH header: {}",
        &page[..page.len().min(400)]
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "no {section} in the man page");
    }
    for name in subcommands() {
        // roff escapes the hyphen: ferry\-upgrade(1), ferry\-upgrade\-test(1).
        let entry = format!("ferry\\-{}(1)", name.replace('-', "\\-"));
        assert!(page.contains(&entry), "the man page does not name {entry}");
    }
    for option in ["database", "migrations", "json", "lock\\-timeout"] {
        assert!(
            page.contains(&format!("\\-\\-{option}")),
            "the man page does not name --{option}"
        );
    }
}

#[test]
fn they_need_no_migration_set_and_no_database() {
    // A set that cannot load, a database that cannot open: neither is looked at.
    let missing = tempfile::tempdir().expect("a temporary directory");
    let set = missing.path().join("no-such-set");
    let set = set.to_str().expect("a UTF-8 path");
    for args in [
        vec!["--migrations", set, "completions", "bash"],
        vec!["--migrations", set, "man"],
        vec!["-d", "postgres://nobody@127.0.0.1:1/none", "man"],
    ] {
        let run = ferry_env(&args, &[("FERRY_MIGRATIONS", set)]).expect(0);
        assert!(!run.stdout.is_empty(), "{args:?}: no output");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_listing_the_shells() {
    let run = ferry(&["completions", "tcsh"]).expect(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    for word in ["tcsh", "bash", "zsh", "fish", "powershell", "elvish"] {
        assert!(run.stderr.contains(word), "no `{word}` in: {}", run.stderr);
    }
    let json = ferry(&["completions", "tcsh", "--json"]).expect(2).json();
    assert_eq!(json["error"]["kind"], "usage", "{json}");
}
