"""The ``mind-core`` command line. Every command is a thin layer over the library."""

from __future__ import annotations

import argparse
import sys

from mind_core.cli import data
from mind_core.errors import BundleError, DataError, UsageError

# --- parser -----------------------------------------------------------------------------------

def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; for ``command="data"`` only the data commands, which need
    neither torch nor the model code (`mind-core data ...` starts in ~0.5 s, not ~3 s)."""
    p = argparse.ArgumentParser(prog="mind-core", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    data.add_commands(sub)
    if command != "data":
        from mind_core.cli import model, serving  # torch and the model code: not for `data`

        model.add_commands(sub)
        serving.add_commands(sub)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    args.argv = argv  # for a relaunch under torchrun
    try:
        args.func(args)
    except (DataError, BundleError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
