"""Checks the installed Python package (run by .ci/test-python, with the venv's python, after
`pip install` of the wheel): the `ferry` console script and the module ferry_migrate, on SQLite
and on PostgreSQL. Prints one line per check and closes with "N passed, N failed"; exits 1 when
any check failed.

Environment (set by .ci/test-python):
  FERRY_PY_WORK            an empty directory for the SQLite files
  FERRY_PY_PG_LEGACY       URL of an empty PostgreSQL database (legacy fixture 1 is built in it)
  FERRY_PY_PG_UNVERSIONED  URL of a PostgreSQL database holding one unrelated table
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import traceback

import ferry_migrate
from ferry_migrate import FerryError

passed = 0
failed = 0


def check(name, body):
    global passed, failed
    try:
        body()
    except Exception:  # every failure is reported and counted, then the next check runs
        failed += 1
        print(f"FAIL  {name}")
        traceback.print_exc(file=sys.stdout)
    else:
        passed += 1
        print(f"ok    {name}")


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def ferry_command(*args):
    """Runs the installed `ferry` console script."""
    exe = shutil.which("ferry")
    expect(exe is not None, "no `ferry` command on PATH")
    expect(
        os.path.dirname(exe) == os.path.dirname(sys.executable),
        f"`ferry` is {exe}, not the one installed beside {sys.executable}",
    )
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


def expect_refused(url, tables_before, tables_now):
    try:
        ferry_migrate.upgrade(url)
    except FerryError as e:
        expect(e.exit_code == 3, f"exit_code {e.exit_code}, not 3: {e!r}")
        expect(e.kind == "refused", f"kind {e.kind!r}, not 'refused': {e!r}")
        expect("unversioned" in e.message, f"the message does not say why: {e.message}")
        expect(e.detail.get("ok") is False, f"detail: {e.detail}")
        expect(isinstance(e, Exception) and str(e), "FerryError has no text")
    else:
        raise AssertionError("upgrade of an unversioned database did not raise FerryError")
    expect(tables_now() == tables_before, f"the database changed: {tables_before} -> {tables_now()}")
    state = ferry_migrate.status(url)
    expect(state["state"] == "unversioned", f"status after the refusal: {state['state']}")
    expect(state["refusal"], f"status names no refusal: {state}")


def bridge(dialect, url):
    """Legacy fixture 1 built by the `ferry` command, upgraded by ferry_migrate.upgrade."""
    run = ferry_command("fixture", "--legacy", "1", "-d", url)
    expect(run.returncode == 0, f"ferry fixture exited {run.returncode}: {run.stdout}{run.stderr}")

    before = ferry_migrate.status(url)
    expect(before["ok"] is True and before["command"] == "status", f"status: {before}")
    expect(before["state"] == "legacy" and before["legacy_version"] == 1, f"before: {before}")
    expect(before["current"] == [] and len(before["pending"]) > 0, f"before: {before}")
    heads = before["heads"]
    expect(len(heads) == 1, f"heads: {heads}")

    done = ferry_migrate.upgrade(url)
    expect(done["ok"] is True and done["command"] == "upgrade", f"upgrade: {done}")
    expect(done["before"] == {"state": "legacy", "version": 1}, f"before: {done['before']}")
    expect(done["heads"] == heads, f"upgrade ended at {done['heads']}, not {heads}")
    expect(len(done["steps"]) == len(before["pending"]), f"{len(done['steps'])} steps ran, {len(before['pending'])} were pending")
    expect(all(isinstance(s["label"], str) and s["duration_ms"] >= 0 for s in done["steps"]), f"steps: {done['steps']}")
    if dialect == "sqlite":
        expect(done["backup"] and os.path.isfile(done["backup"]["path"]), f"backup: {done['backup']}")

    after = ferry_migrate.status(url)
    expect(after["state"] == "managed", f"state after: {after['state']}")
    expect(after["current"] == heads and after["pending"] == [], f"after: {after}")
    expect(after["refusal"] is None, f"refusal: {after['refusal']}")

    again = ferry_migrate.upgrade(url, target="head")
    expect(again["steps"] == [] and again["heads"] == heads, f"a second upgrade: {again}")

    # The console script prints the same object as the module returns.
    run = ferry_command("status", "--json", "-d", url)
    expect(run.returncode == 0, f"ferry status exited {run.returncode}: {run.stderr}")
    expect(json.loads(run.stdout) == after, f"ferry status --json: {run.stdout}")


def sqlite_tables(path):
    with sqlite3.connect(path) as db:
        return sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master"))


def main():
    work = os.environ["FERRY_PY_WORK"]
    pg_legacy = os.environ["FERRY_PY_PG_LEGACY"]
    pg_unversioned = os.environ["FERRY_PY_PG_UNVERSIONED"]

    def version():
        expect(ferry_migrate.__version__, "no __version__")
        expect(
            os.path.realpath(ferry_migrate.__file__).startswith(os.path.realpath(sys.prefix)),
            f"ferry_migrate comes from {ferry_migrate.__file__}, not from the venv {sys.prefix}",
        )
        run = ferry_command("--version")
        expect(run.returncode == 0 and run.stdout.startswith("ferry "), f"ferry --version: {run!r}")

    check("the ferry command and the module are installed", version)

    sqlite_legacy = "sqlite:" + os.path.join(work, "legacy1.db")
    check("sqlite: a legacy database is bridged to the head", lambda: bridge("sqlite", sqlite_legacy))
    check("postgres: a legacy database is bridged to the head", lambda: bridge("postgres", pg_legacy))

    unversioned = os.path.join(work, "unversioned.db")
    with sqlite3.connect(unversioned) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    tables = sqlite_tables(unversioned)
    check(
        "sqlite: an unversioned database raises FerryError(3, refused) and is left as it was",
        lambda: expect_refused("sqlite:" + unversioned, tables, lambda: sqlite_tables(unversioned)),
    )

    def pg_tables():
        return ferry_migrate.status(pg_unversioned)["detail"]

    check(
        "postgres: an unversioned database raises FerryError(3, refused) and is left as it was",
        lambda: expect_refused(pg_unversioned, pg_tables(), pg_tables),
    )

    def cannot_connect():
        try:
            ferry_migrate.status("postgres://postgres@127.0.0.1:1/none")
        except FerryError as e:
            expect(e.exit_code == 6 and e.kind == "open", f"{e!r}")
        else:
            raise AssertionError("status of an unreachable server did not raise")

    check("an unreachable server raises FerryError(6, open)", cannot_connect)

    def bad_target():
        try:
            ferry_migrate.upgrade(sqlite_legacy, target="no_such_revision")
        except FerryError as e:
            expect(e.exit_code == 2 and "no_such_revision" in e.message, f"{e!r}")
        else:
            raise AssertionError("an unknown target did not raise")

    check("an unknown target raises FerryError(2) naming it", bad_target)

    def usage():
        run = ferry_command("no-such-command")
        expect(run.returncode == 2 and "no-such-command" in run.stderr, f"{run!r}")

    check("the ferry command exits 2 on a usage error", usage)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
