"""Where does one rerun of a page spend its time? (issue 17: profile before moving work)

Runs the app in-process (Streamlit's AppTest), opens ``--page`` (Explore by default), warms
every cache, then clicks the sidebar's "Random user" ``--reruns`` times with cProfile running
*inside the script thread* (AppTest runs the script in a thread of its own, so a profiler
started outside it sees nothing), and prints
the script time of each rerun and the cumulative profile of the app's own functions and the
Plotly / Streamlit / pandas work they call.

    .venv/bin/python -m bench.profile_rerun [--data DIR] [--reruns 5] [--page compare]

``--data``: the data folder to serve (default: the repository's, with the models `make run`
builds). Writes ``bench/results/profile_rerun.json`` (script times per rerun).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pstats
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "profile_rerun.json"
# Runs app/main.py under a profiler in the script thread; dumps one file per profiled rerun.
WRAPPER = '''import cProfile, os, runpy, time
_profile, _start = cProfile.Profile(), time.perf_counter()
_profile.enable()
try:
    runpy.run_path({main!r}, run_name="__main__")
finally:
    _profile.disable()
    if os.environ.get("PROFILE_ON") == "1":
        _profile.dump_stats(os.path.join({out!r}, f"rerun.{{time.time_ns()}}.prof"))
        with open(os.path.join({out!r}, "times.txt"), "a") as f:
            f.write(f"{{time.perf_counter() - _start:.4f}}\\n")
'''
SHOWN = r"(app/|mind_core/|plotly|pandas.*to_|streamlit/elements)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data folder (MIND_CORE_DATA_DIR)")
    parser.add_argument("--reruns", type=int, default=5)
    parser.add_argument("--page", default="explore", help="the page's URL path")
    parser.add_argument("--top", type=int, default=40, help="functions listed")
    args = parser.parse_args()
    if args.data:
        os.environ["MIND_CORE_DATA_DIR"] = str(Path(args.data).resolve())
    from streamlit.testing.v1 import AppTest  # after the data folder is chosen
    from streamlit.util import calc_hash

    with tempfile.TemporaryDirectory() as out:
        script = Path(out) / "profiled_main.py"
        script.write_text(WRAPPER.format(main=str(REPO / "app" / "main.py"), out=out))
        app = AppTest.from_file(str(script), default_timeout=300)
        app.run()
        app._page_hash = calc_hash(args.page)  # pages are functions: ask for the URL path
        app.run()  # every cache warm
        os.environ["PROFILE_ON"] = "1"
        for _ in range(args.reruns):
            next(b for b in app.sidebar.button if b.label == "Random user").click()
            app.run()
            if app.exception:
                raise SystemExit(f"the page failed: {app.exception}")
        times = [float(t) for t in (Path(out) / "times.txt").read_text().split()]
        print("script time per rerun (ms):", ", ".join(f"{1000 * t:.0f}" for t in times))
        stats = pstats.Stats(*sorted(glob.glob(os.path.join(out, "rerun.*.prof"))))
        stats.sort_stats("cumulative").print_stats(SHOWN, args.top)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"page": args.page, "script_seconds": times}, indent=2))


if __name__ == "__main__":
    main()
