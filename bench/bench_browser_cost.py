"""What one viewer's browser pays per action: a new user, another K, a trip to Compare and back.

Each action is repeated in one headless Chromium page on a real server of the default models;
the figure is the CPU time of every Chromium process (renderer, browser, GPU: read from
``/proc``) per action, beside Chrome's own main-thread task time (``Performance.getMetrics``
``TaskDuration``) and the wall time until the app is idle. After each action the page rests
0.5 s, inside the measured window, so work the page finishes after Streamlit's "running"
indicator is gone (the map's frame drawing) is counted. ``--before CHECKOUT`` (a git worktree
of the code before a change) measures that code too, alternating with this checkout's
repeat by repeat, so both see the same machine state.

Why: ten viewers on this machine's 2 cores wait for their browsers, not for the server
(bench/bench_load.py); this is the cost a change to the pages moves, one viewer at a time.

    .venv/bin/python -m bench.bench_browser_cost [--home DATA_DIR] [--before CHECKOUT]
        [--actions 8] [--repeats 2]

Run it alone: other Chromium processes on the machine would be counted. Writes
``bench/results/bench_browser_cost.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import time
from pathlib import Path

from app import server as app_server
from bench.bench_load import ARGS, CHROMIUM, click_random_user, settle, visible

REPO = app_server.REPO
RESULTS = REPO / "bench" / "results" / "bench_browser_cost.json"
REST_S = 0.5


def chromium_cpu_s() -> float:
    """CPU seconds (user + system) of every live Chromium process."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0", 1)[0]
            if b"chromium" not in argv0:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def other_k(ks: list[int]):
    async def act(page) -> None:
        current = await page.get_by_test_id("stMetricValue").filter(
            has_text=re.compile(r" of \d+$")).first.inner_text()
        k = next(k for k in ks if not current.strip().endswith(f" of {k}"))
        await page.get_by_test_id("stSidebar").get_by_text(f"K={k}", exact=True).click()
        await visible(page.get_by_test_id("stMetricValue").filter(
            has_text=re.compile(rf" of {k}$")))
    return act


async def compare_and_back(page) -> None:
    nav = page.get_by_test_id("stSidebarNav")
    await nav.get_by_role("link", name="Compare").click()
    await visible(page.get_by_role("heading", name="Compare interest numbers"))
    await settle(page)
    await nav.get_by_role("link", name="Explore").click()
    await visible(page.get_by_role("heading", name="Explore a user"))


async def measure(url: str, n: int, ks: list[int]) -> dict:
    """Per action kind: CPU ms of all Chromium processes, main-thread task ms, wall ms (p50)."""
    from playwright.async_api import async_playwright

    out = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 900})) \
                .new_page()
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Performance.enable")

            async def task_s() -> float:
                metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
                return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

            await page.goto(url)
            await visible(page.get_by_role("heading", name="Explore a user"))
            await settle(page)
            await asyncio.sleep(2 * REST_S)
            for kind, act in (("new user", click_random_user), ("another K", other_k(ks)),
                              ("Compare and back", compare_and_back)):
                cpu0, task0, walls = chromium_cpu_s(), await task_s(), []
                for _ in range(n):
                    t0 = time.perf_counter()
                    await act(page)
                    await settle(page)
                    walls.append(1000 * (time.perf_counter() - t0))
                    await asyncio.sleep(REST_S)
                out[kind] = {"browser_cpu_ms": round(1000 * (chromium_cpu_s() - cpu0) / n),
                             "main_thread_ms": round(1000 * (await task_s() - task0) / n),
                             "wall_p50_ms": round(statistics.median(walls))}
        finally:
            await browser.close()
    return out


def run(checkout: Path, home: Path, n: int, ks: list[int]) -> dict:
    env = {**os.environ, "MIND_CORE_DATA_DIR": str(home)}
    served = app_server.start(env=env, timeout=120, watch_files=False, cwd=checkout)
    try:
        return asyncio.run(measure(served.url, n, ks))
    finally:
        app_server.stop(served)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path,
                    default=Path(os.environ.get("MIND_CORE_DATA_DIR", REPO / "data")))
    ap.add_argument("--before", type=Path, help="a checkout of the code before a change")
    ap.add_argument("--actions", type=int, default=8, help="repeats of each action (8)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each server (2)")
    ap.add_argument("--ks", type=int, nargs="+", default=[4, 8],
                    help="the K values the K switch alternates between (4 8)")
    args = ap.parse_args()
    targets = {"after": REPO} if args.before is None else \
        {"before": args.before.resolve(), "after": REPO}
    results = {label: [] for label in targets}
    for repeat in range(args.repeats):
        for label, checkout in targets.items():
            got = run(checkout, args.home, args.actions, args.ks)
            results[label].append(got)
            print(f"repeat {repeat + 1} {label:>6}: " + "; ".join(
                f"{kind}: CPU {v['browser_cpu_ms']} ms, main thread {v['main_thread_ms']} ms, "
                f"idle after {v['wall_p50_ms']} ms" for kind, v in got.items()), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"how": __doc__.split("\n\n")[1], "actions": args.actions,
                                   "home": str(args.home), "results": results}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
