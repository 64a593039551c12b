"""The ``ferry`` console script of the Python package: the same command line as the binary."""

import sys

from ferry_migrate._ferry import run


def main() -> None:
    code, out, err = run(["ferry", *sys.argv[1:]])
    try:
        sys.stdout.write(out)
        sys.stdout.flush()
    except BrokenPipeError:  # `ferry upgrade --sql | head`: the reader went away
        pass
    sys.stderr.write(err)
    sys.stderr.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
