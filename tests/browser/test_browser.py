"""End to end in a real browser: `streamlit run` on 127.0.0.1 and a free port, driven by
Playwright for Python through Debian's /usr/bin/chromium (never `playwright install`).

Open Explore, pick a user, see K interest markers on the map and K result columns, box-select
on the map and see the selection details, go to Compare and see one column per K. Screenshots
land in ``$MIND_SCREENSHOT_DIR`` (e.g. ``docs/``) or in pytest's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from app import server as app_server
from mind_core.evaluation.verdict import VERDICT_WORDS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium "
                              "(apt-get install chromium chromium-driver)"),
]


def expected_ks(home: str) -> list[int]:
    """The K values the app offers by default: those of the configuration with most models
    (a configuration: every setting but K and the seed)."""
    from mind_core.config import MINDConfig

    families: dict[str, set[int]] = {}
    for path in (Path(home) / "artifacts" / "ml-100k").glob("*/config.json"):
        config = MINDConfig.from_dict(json.loads(path.read_text())["config"]).to_dict()
        rest = {k: v for k, v in config.items() if k not in ("interest_num", "seed", "device")}
        families.setdefault(json.dumps(rest, sort_keys=True), set()).add(config["interest_num"])
    return sorted(max(families.values(), key=len))


@pytest.fixture(scope="module")
def home(request) -> str:
    """The tiny models (K = 1, 2, 4, seed 0) plus a second seed of each, without index or map,
    as the extra seeds `make run` builds in the background: the Compare page's noise floor."""
    from conftest import TINY_CONFIG, TINY_INTEREST_NUMS

    from mind_core.config import MINDConfig
    from mind_core.workflow.pipeline import ensure_bundle

    built = request.getfixturevalue("model_home")
    for k in TINY_INTEREST_NUMS:
        ensure_bundle("ml-100k", MINDConfig(**TINY_CONFIG, interest_num=k, seed=1),
                      with_serving=False)
    return str(built["home"])


@pytest.fixture(scope="module")
def server(home, tmp_path_factory):
    """`streamlit run app/main.py` over the tiny models; yields its URL."""
    env = {**os.environ, "MIND_CORE_DATA_DIR": home}
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    try:
        served = app_server.start(env=env, log=log, watch_files=False, timeout=90)
    except app_server.ServerFailed as e:
        pytest.fail(str(e))
    try:
        yield served.url
    finally:
        app_server.stop(served)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("MIND_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        yield pg
        browser.close()


def save(target, path: Path) -> None:
    """Screenshot a page or element as a small PNG (256-colour palette: fine for UI)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(target.screenshot()))
    image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
        path, optimize=True)


def settle(page) -> None:
    """Wait until the script run finished (Streamlit's running indicator is gone)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=TIMEOUT_MS)


def test_explore_compare_in_a_browser(home, server, page, shots):
    from playwright.sync_api import expect

    ks = expected_ks(home)
    k = 4 if 4 in ks else ks[-1]  # the app opens on K = 4 when it exists

    page.goto(server)
    expect(page.get_by_role("heading", name="Explore a user")).to_be_visible()
    settle(page)

    # pick a user through the searchable picker
    picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(
        has_text="User")
    picker.click()
    page.keyboard.type("User 200 ·")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="User 200", exact=True)).to_be_visible()
    settle(page)
    save(page, shots / "explore.png")

    # K interest markers on the map, K result columns
    chart = page.get_by_test_id("stPlotlyChart").first
    legend = chart.locator(".legendtext")
    expect(legend.filter(has_text=re.compile(r"^Interest \d$")).first).to_be_visible()
    active = page.locator('[class*="st-key-interest_col_"]')
    expect(active).to_have_count(k)
    markers = legend.filter(has_text=re.compile(r"^Interest \d$"))
    n_markers = markers.count()
    inactive = page.locator('[class*="st-key-interest_col_"]', has_text="inactive").count()
    assert n_markers == k - inactive >= 1
    save(chart, shots / "explore-map.png")

    # box-select the middle of the map: the selection panel lists the movies
    box = chart.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    x0, y0 = box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25
    x1, y1 = box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.75
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
    expect(page.get_by_text(re.compile(r"^\d+ movies? selected$"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Nearest to "))).to_be_visible()
    settle(page)
    top = "e => e.scrollIntoView({block: 'start'})"
    page.get_by_role("heading", name="Interest map").evaluate(top)
    save(page, shots / "explore-selection.png")
    page.get_by_role("heading", name="What each interest retrieves").evaluate(top)
    save(page, shots / "explore-interests.png")

    # Compare: one column per K for the same user
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", name="Compare interest numbers")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^User 200: merged top"))).to_be_visible()
    columns = page.locator('[class*="st-key-compare_col_"]')
    expect(columns).to_have_count(len(ks))
    for each in ks:
        expect(page.locator(f".st-key-compare_col_{each}")).to_contain_text(f"K = {each}")
    # the noise floor: seed-to-seed overlaps beside K-to-K, a verdict in words per K pair
    floor = page.locator(".st-key-noise_floor")
    expect(floor).to_be_visible()
    expect(floor).to_contain_text("seed to seed")
    verdicts = "|".join(map(re.escape, VERDICT_WORDS.values()))
    expect(floor.get_by_text(re.compile(rf"K=\d vs K=\d: ({verdicts})")).first).to_be_visible()
    # stable marks: every list row says whether the other seed recommends it too
    expect(page.locator(".st-key-compare_col_1").get_by_title(
        re.compile(r"also recommended by seed 1|only seed 0 recommends it")).first).to_be_visible()
    # metrics against K with a band over the two seeds
    bands = page.get_by_test_id("stPlotlyChart").filter(has_text="± 1 sd over seeds")
    expect(bands).to_have_count(1)
    expect(page.get_by_text(re.compile(r"2 seed\(s\): 0, 1"))).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    save(page, shots / "compare.png")

    # Sweep: the default view sweeps K, with the same bands and the list noise floor
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Sweep").click()
    expect(page.get_by_role("heading", name="Sweep a hyperparameter")).to_be_visible()
    expect(page.get_by_role("heading", name="Test metrics against interest_num")).to_be_visible()
    expect(page.locator(".st-key-sweep_noise_floor")).to_contain_text("two seeds share")
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)

    # Model: the routing heatmap of the same user
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Model").click()
    expect(page.get_by_role("heading", name=re.compile(r"routing assigned user 200"))) \
        .to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(2)
    save(page, shots / "model.png")


def test_the_address_carries_the_view_on_screen(home, server, page):
    """Explore → another merge: the address carries it in the same rerun (the merged list is a
    fragment, which does not rerun the page), and a new browser opening that address shows the
    same list. Seed 1 (built without index or map, for the noise floor) says so in words and
    offers no Annoy search. No page shows where the server keeps its files."""
    from playwright.sync_api import expect

    page.goto(f"{server}/?user=200")
    expect(page.get_by_role("heading", name="User 200", exact=True)).to_be_visible()
    settle(page)
    merged = page.locator(".merged-list")
    before = merged.inner_text()
    page.get_by_role("radiogroup", name="Merge strategy").get_by_text(
        "Round robin", exact=True).click()
    expect(page).to_have_url(re.compile(r"merge=round_robin"))
    # the fragment has rerun with the new merge (innerText: the table's cells, tab-separated)
    page.wait_for_function("b => document.querySelector('.merged-list').innerText !== b",
                           arg=before)
    settle(page)
    listed = merged.inner_text()
    other = page.context.browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        fresh = other.new_page()
        fresh.set_default_timeout(TIMEOUT_MS)
        fresh.goto(page.url)
        expect(fresh.get_by_role("radiogroup", name="Merge strategy")
               .get_by_role("radio", name="Round robin")).to_be_checked()
        settle(fresh)
        fresh.wait_for_function(
            "t => { const e = document.querySelector('.merged-list'); "
            "return e !== null && e.innerText === t; }", arg=listed)
        assert fresh.locator(".merged-list").inner_text() == listed
    finally:
        other.close()

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("radiogroup", name="Seed").get_by_text("1", exact=True).click()
    expect(page).to_have_url(re.compile(r"model=mind-k\d-"))
    expect(page.get_by_text(re.compile(r"\(seed 1\) was built without an Annoy index"))) \
        .to_be_visible()
    expect(sidebar.get_by_role("radiogroup", name="Search").get_by_role("radio", name="Annoy")) \
        .to_have_count(0)
    settle(page)
    folders = {home, str(Path(home).resolve())}
    for name in ("Explore", "Compare", "Sweep", "Playground", "Train", "Model"):
        if name != "Explore":
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
            expect(page.get_by_role("heading").first).to_be_visible()
        settle(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        text = page.inner_text("body")
        assert not [f for f in folders if f in text], f"{name} shows a server path"


def set_slider(page, label: str, values: tuple[int, ...]) -> None:
    """Move a slider's thumbs (one per value, left to right) with the keyboard, a step a key,
    until each reads its value (a select slider's thumb reads its option)."""
    from playwright.sync_api import expect

    thumbs = page.get_by_test_id("stSlider").filter(has_text=label).locator("input[type=range]")
    expect(thumbs).to_have_count(len(values))
    for i, value in enumerate(values):
        thumb = thumbs.nth(i)

        def now():
            return int(re.sub(r"\D", "", thumb.get_attribute("aria-valuetext")))  # noqa: B023

        thumb.focus()
        for _ in range(200):
            if now() == value:
                break
            page.keyboard.press("ArrowRight" if value > now() else "ArrowLeft")
        assert now() == value, f"{label}: the thumb stays at {now()}, not {value}"


def test_a_playground_request_draws_each_model_as_it_lands(home, server, page):
    """The Playground's request, trained for real by the server's warm workers: the progress
    table while it trains, the curve of the first model, then of K=1 and 4 as the second lands,
    the map last, all without a reload (bug: the curve stayed on K=1 alone for 12 minutes).
    Then the sidebar switches to the new dataset: the address moves in the same rerun, and
    Compare shows that dataset's own merge (not the one picked on ml-100k) and its verdict on
    the future protocol's Recall@50."""
    from playwright.sync_api import expect

    from mind_core.artifacts import default_bundle_path, load_bundle
    from mind_core.data.tastes import TastesConfig, dataset_name
    from mind_core.workflow import playground as pg

    knobs = TastesConfig(users=500, items=600, clusters=6, tastes=(2, 3), history=(20, 30),
                         stickiness=0.8, stray=0.05, seed=0)
    name = dataset_name(knobs)
    page.goto(f"{server}/playground")
    expect(page.get_by_role("heading", name=re.compile("^Playground"))).to_be_visible()
    settle(page)
    set_slider(page, "Tastes per user", knobs.tastes)
    set_slider(page, "Ratings per user", knobs.history)
    set_slider(page, "Users", (knobs.users,))
    page.get_by_test_id("stSelectbox").filter(has_text="Catalogue").click()
    page.get_by_role("option", name="600 movies in 6 genres").click()
    seeds = page.get_by_test_id("stMultiSelect").filter(has_text="Seeds")
    for seed in (2, 1):  # seeds 0, 1, 2 -> 0
        seeds.get_by_role("button", name=f"Remove {seed}").click()
        expect(seeds.get_by_role("button", name=f"Remove {seed}")).to_have_count(0)
    # the states the figures pass through, read by the page itself five times a second (a
    # state may last a second or two); a reload would lose the record
    page.evaluate("""() => {
        window.seen = [];
        setInterval(() => {
            const text = document.body.textContent;
            const state = text.includes("K=1 vs K=4: ") ? "both"
                : text.includes("Train a second K value to compare.") ? "one"
                : text.includes("The first model is training") ? "none" : null;
            if (state && window.seen[window.seen.length - 1] !== state) window.seen.push(state);
        }, 200);
    }""")
    page.get_by_role("button", name="Generate and train").click()

    # the request as it trains: model by model, then each figure as its model lands
    expect(page.get_by_text(re.compile(r"\d of \d models built"))).to_be_visible()
    expect(page.get_by_role("heading", name="One user's tastes and the K=4 interests")) \
        .to_be_visible(timeout=300_000)
    expect(page.get_by_text("True tastes", exact=False).first).to_be_visible()
    seen = page.evaluate("window.seen")
    assert seen is not None, "the page was reloaded"
    assert seen[0] == "none" and seen[-1] == "both" and "both" not in seen[:-1], seen
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    plan = pg.settle(pg.plan(knobs, ks=(1, 4), seeds=(0,)))
    assert not pg.missing(plan)
    merges = {}
    for config in plan.configs:
        bundle = load_bundle(default_bundle_path(config, name))
        assert bundle.metrics["trained_by"]["runner"] == "warm worker"
        merges[config.interest_num] = bundle.metrics["merge"]
    assert not list((Path(home) / "artifacts" / name).glob(".lock-*"))  # every lock let go

    # ml-100k with a merge picked by hand, then the sidebar to the taste mixture
    from app.services.recs import MERGE_NAMES

    picked = "quota" if merges[4] != "quota" else "round_robin"
    page.goto(f"{server}/compare?dataset=ml-100k&merge={picked}")
    expect(page.get_by_role("heading", name="Compare interest numbers")).to_be_visible()
    settle(page)
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(
        has_text="Dataset").click()
    page.get_by_role("option", name=name).click()
    expect(page).to_have_url(re.compile(rf"dataset={name}"))
    expect(page).not_to_have_url(re.compile(rf"merge={picked}"))
    expect(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Merge strategy")) \
        .to_have_value(MERGE_NAMES[merges[4]])
    expect(page.get_by_role("listitem").filter(has_text=re.compile(r"K=1 vs K=4: .*Recall@50"))
           .first).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
