//! `ferry::cli::run_captured`: the binary's entry point run in process (what the Python module
//! calls). The same command line gives the same exit code and the same output as the binary.

mod common;

use common::*;
use ferry::cli::run_captured;
use serde_json::Value;

fn in_process(args: &[&str]) -> (u8, String, String) {
    run_captured(std::iter::once("ferry").chain(args.iter().copied()))
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"))
}

#[test]
fn in_process_runs_give_what_the_binary_gives() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        let url = db.url.as_str();
        ferry(&["fixture", "--legacy", "1", "-d", url]).expect(0);

        let (code, out, err) = in_process(&["status", "--json", "-d", url]);
        assert_eq!(code, 0, "{out}{err}");
        let status = json(&out);
        assert_eq!(
            status,
            ferry(&["status", "--json", "-d", url]).expect(0).json()
        );
        assert_eq!(status["state"], "legacy");
        assert!(err.is_empty(), "{err}");

        let (code, out, err) = in_process(&["upgrade", "--json", "--no-backup", "-d", url]);
        assert_eq!(code, 0, "{out}{err}");
        let done = json(&out);
        assert_eq!(done["ok"], true);
        assert_eq!(done["heads"], status["heads"]);
        assert_eq!(
            done["steps"].as_array().map(Vec::len),
            status["pending"].as_array().map(Vec::len)
        );

        let after = ferry(&["status", "--json", "-d", url]).expect(0).json();
        assert_eq!(after["state"], "managed");
        assert_eq!(after["current"], status["heads"]);
        let (code, out, _) = in_process(&["check", "-d", url]);
        assert_eq!(code, 0);
        assert_eq!(out, ferry(&["check", "-d", url]).expect(0).stdout);
    });
}

#[test]
fn in_process_errors_have_the_binarys_code_and_message() {
    on_both(|dialect| {
        let db = TestDb::new(dialect);
        db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
        let before = db.fingerprint();
        let url = db.url.as_str();

        let (code, out, err) = in_process(&["upgrade", "--json", "-d", url]);
        assert_eq!(code, 3, "{out}{err}");
        let refused = json(&out);
        assert_eq!(refused["ok"], false);
        assert_eq!(refused["error"]["kind"], "refused");
        assert_eq!(refused["error"]["code"], 3);
        assert_eq!(
            refused,
            ferry(&["upgrade", "--json", "-d", url]).expect(3).json()
        );

        let (code, out, err) = in_process(&["upgrade", "-d", url]);
        assert_eq!(code, 3);
        assert!(out.is_empty(), "{out}");
        assert_eq!(err, ferry(&["upgrade", "-d", url]).expect(3).stderr);
        assert!(
            err.starts_with("error: ") && err.contains("unversioned"),
            "{err}"
        );
        assert_eq!(
            db.fingerprint(),
            before,
            "a refused upgrade changed the database"
        );
    });
}

#[test]
fn in_process_usage_help_and_version() {
    let (code, out, err) = in_process(&["--version"]);
    let version = format!("ferry {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, version.as_str(), "")
    );
    let (code, out, _) = in_process(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: ferry"), "{out}");
    let (code, out, err) = in_process(&["no-such-command"]);
    assert_eq!(code, 2);
    assert!(
        out.is_empty() && err.contains("no-such-command"),
        "{out}{err}"
    );
    let (code, out, _) = in_process(&["no-such-command", "--json"]);
    assert_eq!(code, 2);
    assert_eq!(json(&out)["error"]["kind"], "usage");
    let (code, out, _) = in_process(&[
        "status",
        "--json",
        "-d",
        "postgres://postgres@127.0.0.1:1/none",
    ]);
    assert_eq!(code, 6, "{out}");
    assert_eq!(json(&out)["error"]["kind"], "open");
}
