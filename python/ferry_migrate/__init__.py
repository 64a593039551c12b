"""ferry from Python: bring a database to the head of ferry's migration set at start-up.

    import os, ferry_migrate
    ferry_migrate.upgrade(os.environ["DATABASE_URL"])

ferry runs in process (the compiled extension ``ferry_migrate._ferry``), with the migration set
compiled into it, or the one in the directory ``migrations``. Each function returns the object
that ``ferry <command> --json`` prints, as a dict, and raises :class:`FerryError` when ferry
fails or refuses.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Union

from ferry_migrate._ferry import __version__, run as _run

__all__ = ["FerryError", "upgrade", "status", "run", "__version__"]

PathLike = Union[str, "os.PathLike[str]"]

#: What each exit code of ferry means (its ``--help``); FerryError.kind is finer-grained.
EXIT_CODES = {
    1: "pending work or differences",
    2: "usage, configuration or migration-set error",
    3: "database state refused",
    4: "a step failed (rolled back)",
    5: "lock not acquired",
    6: "cannot open or connect to the database",
}


class FerryError(Exception):
    """ferry failed or refused; nothing it did not report was written.

    exit_code: the exit code the ``ferry`` command would have (2 to 6, see EXIT_CODES).
    kind: a short word for the error, e.g. "usage", "migration_set", "refused", "step_failed",
        "locked", "open" (cannot connect), "database", "edited_revision", "handoff_failed".
    message: what is wrong and what to do, as ``ferry`` prints it.
    detail: the whole JSON object ferry printed (``{"ok": false, "error": {...}, ...}``).
    """

    def __init__(self, exit_code: int, kind: str, message: str, detail: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.kind = kind
        self.message = message
        self.detail = detail if detail is not None else {}

    def __str__(self) -> str:
        return f"{self.message} (ferry exit {self.exit_code}, {self.kind})"

    def __repr__(self) -> str:
        return f"FerryError(exit_code={self.exit_code!r}, kind={self.kind!r}, message={self.message!r})"


def run(args: Sequence[str]) -> "tuple[int, str, str]":
    """Runs ``ferry ARGS...`` in process: returns (exit code, stdout, stderr)."""
    return _run(["ferry", *[os.fspath(a) for a in args]])


def _json(command: List[str], database: Optional[PathLike], migrations: Optional[PathLike]) -> Dict[str, Any]:
    args = ["--json"]
    if database is not None:
        args.append("--database=" + os.fspath(database))
    if migrations is not None:
        args.append("--migrations=" + os.fspath(migrations))
    code, out, err = run(args + command)
    try:
        obj = json.loads(out)
    except ValueError:
        raise FerryError(
            code or 2,
            "output",
            f"ferry {command[0]} printed no JSON object (exit {code}): {(out + err).strip()}",
        ) from None
    if not isinstance(obj, dict):
        raise FerryError(code or 2, "output", f"ferry {command[0]} printed {obj!r}, not a JSON object")
    if obj.get("ok") is False:
        error = obj.get("error") or {}
        raise FerryError(
            int(error.get("code", code or 2)),
            str(error.get("kind", "unknown")),
            str(error.get("message", (out + err).strip())),
            obj,
        )
    return obj


def upgrade(database: Optional[PathLike], migrations: Optional[PathLike] = None, target: str = "head") -> Dict[str, Any]:
    """Bridges a legacy or empty database as needed, then applies revisions up to ``target``.

    database: a URL (``sqlite:PATH``, ``postgres://…``) or a SQLite file path; None means
        FERRY_DATABASE_URL, then DATABASE_URL, from the environment.
    migrations: a migration set directory; None means the set compiled into the package.
    target: ``head`` (default), ``heads``, ``+N``, a revision id or unique prefix.

    Returns what ``ferry upgrade --json`` prints: ``before`` (the state found), ``steps`` (each
    step run: label, duration_ms, …), ``heads`` (the revisions it is at now), ``database``,
    ``created`` and ``backup``. Raises FerryError (e.g. exit_code 3, kind "refused", for a
    database in a state ferry will not touch); the database is then unchanged.
    """
    return _json(["upgrade", "--", target] if target.startswith("-") else ["upgrade", target], database, migrations)


def status(database: Optional[PathLike], migrations: Optional[PathLike] = None) -> Dict[str, Any]:
    """Reads the database's state; writes nothing.

    Returns what ``ferry status --json`` prints: ``state`` ("empty", "legacy", "managed",
    "unversioned", …), ``current`` (revisions in alembic_version), ``heads`` (the set's heads),
    ``pending`` (the steps upgrade would run; empty at head), ``legacy_version``, ``cap``,
    ``refusal`` (why upgrade would refuse, or None), ``lock_holder``, ``identified``, ``edited``.
    Raises FerryError when the database cannot be read.
    """
    return _json(["status"], database, migrations)
