"""The ``mind-core`` command line. Every command is a thin layer over the library."""

from __future__ import annotations

import argparse
import sys

from mind_core.cli import data, model, serving
from mind_core.errors import BundleError, DataError, UsageError

# --- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mind-core", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    data.add_commands(sub)
    model.add_commands(sub)
    serving.add_commands(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for a relaunch under torchrun
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
