"""Run every benchmark in turn (``make bench``). Each prints its own table and writes
``bench/results/<name>.json``; this only sequences them and reports which failed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["bench_samples", "bench_train", "bench_retrieval", "bench_scale", "bench_app"]


def main() -> int:
    failed = []
    for name in ORDER:
        if not (HERE / f"{name}.py").is_file():
            continue
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent).returncode:
            failed.append(name)
    if failed:
        print(f"\nmissed target or failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
