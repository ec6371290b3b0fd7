"""Fetching: the recbole wheel (cached, never installed), GroupLens over HTTP on loopback, and
nothing half-written left behind when anything fails."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, layout_files, with_changes, write_files

from mind_core import cli
from mind_core.data import fetch
from mind_core.data.readers import read_dataset
from mind_core.errors import DataError

WHEEL_NAME = "recbole-1.2.1-py3-none-any.whl"


@pytest.fixture(scope="module")
def wheel() -> Path:
    """The recbole wheel `mind-core data fetch ml-100k` cached (or the set-up's copy)."""
    candidates = sorted((REPO / "data" / "cache").glob("recbole-1.2.1-*.whl"))
    candidates += [Path("/tmp/rb") / WHEEL_NAME]
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip("no cached recbole wheel: run `mind-core data fetch ml-100k` first")


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """An empty data folder that fetch uses instead of the repository's."""
    home = tmp_path / "data"
    home.mkdir()
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(home))
    return home


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# --- ml-100k from the recbole wheel ---------------------------------------------------------


def test_extract_from_the_real_wheel(wheel, data_home):
    dest = fetch.extract_recbole_ml100k(wheel, data_home / "ml-100k")
    assert listing(data_home) == ["ml-100k", "ml-100k/ml-100k.inter", "ml-100k/ml-100k.item",
                                  "ml-100k/ml-100k.user"]
    for name, sha in fetch.RECBOLE_SHA256.items():
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == sha
    # again, over the existing copy: replaced whole, no leftovers
    (dest / "stale.txt").write_text("old")
    fetch.extract_recbole_ml100k(wheel, dest)
    assert listing(data_home) == ["ml-100k", "ml-100k/ml-100k.inter", "ml-100k/ml-100k.item",
                                  "ml-100k/ml-100k.user"]


def test_fetch_from_index_uses_the_cached_wheel_without_pip(wheel, data_home, monkeypatch):
    cache = data_home / "cache"
    cache.mkdir()
    shutil.copy(wheel, cache / WHEEL_NAME)

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the wheel is cached")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    assert cli.main(["data", "fetch", "ml-100k"]) == 0
    assert sorted(p.name for p in (data_home / "ml-100k").iterdir()) == sorted(fetch.RECBOLE_SHA256)
    assert listing(cache) == [WHEEL_NAME]


def test_fetch_from_index_without_an_index_says_what_to_do(data_home, monkeypatch, capsys):
    def pip_fails(cmd, **kwargs):
        assert "--no-deps" in cmd and "recbole==1.2.1" in cmd and "install" not in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: retrying\nERROR: No matching "
                                           "distribution found for recbole==1.2.1")

    monkeypatch.setattr(fetch.subprocess, "run", pip_fails)
    assert cli.main(["data", "fetch", "ml-100k"]) == 2
    err = capsys.readouterr().err
    assert "could not download recbole==1.2.1" in err and "No matching distribution" in err
    assert "--from PATH" in err and "copy the wheel into this folder" in err
    assert listing(data_home) == ["cache"]  # no ml-100k, no temporary folders


def _rewrite_wheel(wheel: Path, out: Path, change) -> Path:
    """A copy of the wheel's ml-100k members (enough for extraction), edited by ``change``."""
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in fetch.RECBOLE_SHA256:
            member = fetch.RECBOLE_MEMBER.format(name.rsplit(".", 1)[1])
            data = change(name, src.read(member))
            if data is not None:
                dst.writestr(member, data)
    return out


@pytest.mark.parametrize("damage", ["truncated", "flipped bytes", "edited member",
                                    "missing member", "not a zip"])
def test_corrupted_wheel_leaves_nothing(wheel, tmp_path, data_home, damage):
    bad = tmp_path / WHEEL_NAME
    if damage == "truncated":
        bad.write_bytes(wheel.read_bytes()[: 1_500_000])
        expect = "expected the recbole==1.2.1 wheel"
    elif damage == "flipped bytes":
        raw = bytearray(wheel.read_bytes())
        with zipfile.ZipFile(wheel) as z:
            info = z.getinfo(fetch.RECBOLE_MEMBER.format("inter"))
        at = info.header_offset + 200_000  # inside ml-100k.inter's deflated bytes
        raw[at: at + 64] = bytes(b ^ 0xFF for b in raw[at: at + 64])
        bad.write_bytes(bytes(raw))
        expect = "damaged member recbole/dataset_example/ml-100k/ml-100k.inter"
    elif damage == "edited member":
        _rewrite_wheel(wheel, bad, lambda n, d: d.replace(b"technician", b"engineer")
                       if n == "ml-100k.user" else d)
        expect = "ml-100k.user has sha256"
    elif damage == "missing member":
        _rewrite_wheel(wheel, bad, lambda n, d: None if n == "ml-100k.item" else d)
        expect = "missing member recbole/dataset_example/ml-100k/ml-100k.item"
    else:
        bad.write_text("<html>proxy login</html>")
        expect = "expected the recbole==1.2.1 wheel"
    old = data_home / "ml-100k"
    old.mkdir()
    (old / "keep.txt").write_text("a previous copy")
    with pytest.raises(DataError) as info:
        fetch.extract_recbole_ml100k(bad, old)
    assert str(bad) in str(info.value) and expect in str(info.value)
    assert listing(data_home) == ["ml-100k", "ml-100k/keep.txt"]  # untouched, no temp folders


def test_fetch_from_a_local_folder(write_layout, data_home):
    src = write_layout("grouplens-100k")
    assert cli.main(["data", "fetch", "ml-100k", "--from", str(src)]) == 0
    assert read_dataset(data_home / "ml-100k").n_users == 3
    bad = write_layout("grouplens-100k", changes={"u.data": b"1\t10\t5\n"})
    assert cli.main(["data", "fetch", "ml-1m", "--from", str(bad)]) == 2
    assert listing(data_home) == ["ml-100k", "ml-100k/u.data", "ml-100k/u.item", "ml-100k/u.user"]


# --- GroupLens over HTTP on 127.0.0.1 ---------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        if self.path.startswith("/cut/"):  # announces more bytes than it sends, then hangs up
            body = (Path(self.directory) / self.path.removeprefix("/cut/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """(base url, folder it serves) of an HTTP server on 127.0.0.1 in a thread."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _grouplens_zip(root: Path, name: str, changes=None) -> Path:
    """``root/{name}.zip`` laid out like the official one (a top folder, extra files)."""
    if name in ("ml-1m", "ml-100k"):
        layout = "grouplens-1m" if name == "ml-1m" else "grouplens-100k"
        files = {**layout_files(layout), "README": b"MovieLens, for tests\n"}
    else:  # ml-20m, ml-25m, ml-32m, ml-latest(-small): ratings.csv, movies.csv, tags.csv, ...
        from test_movielens_csv import csv_layout_files

        files = csv_layout_files()
    files = with_changes(files, changes)
    return write_files(root / name, files, as_zip=True, folder=name)


@pytest.mark.parametrize("name", ["ml-1m", "ml-100k", "ml-25m", "ml-latest-small"])
def test_grouplens_download(server, data_home, name):
    base, root = server
    _grouplens_zip(root, name)
    dest = fetch.fetch_grouplens(name, data_home / name, base_url=base)
    assert listing(data_home) == [name] + [f"{name}/{f}" for f in
                                           sorted(fetch.GROUPLENS_FILES[name])]
    ds = read_dataset(dest)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 4, 9)
    assert ds.has_profile == (name in ("ml-1m", "ml-100k"))


def test_ml25m_from_a_local_zip_through_the_cli(write_layout, data_home, tmp_path, capsys):
    from test_movielens_csv import csv_layout_files

    archive = write_files(tmp_path / "ml-25m", csv_layout_files(), as_zip=True, folder="ml-25m")
    assert cli.main(["data", "fetch", "ml-25m", "--from", str(archive)]) == 0
    assert cli.main(["data", "info", "ml-25m", "--json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out[out.index("{"):])
    assert (info["users"], info["items"], info["interactions"]) == (3, 4, 9)
    assert info["has_profile"] is False


def test_grouplens_download_through_the_cli(server, data_home):
    base, root = server
    _grouplens_zip(root, "ml-1m")
    env = {**os.environ, "MIND_CORE_DATA_DIR": str(data_home)}
    proc = subprocess.run([sys.executable, "-m", "mind_core.cli", "data", "fetch", "ml-1m",
                           "--base-url", base], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ml-1m: ready in" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "mind_core.cli", "data", "info", "ml-1m",
                           "--json"], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["interactions"] == 9


def _refused_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("failure, expect", [
    ("404", "download failed (HTTP Error 404"),
    ("refused", "download failed ("),
    ("not a zip", "not a zip archive"),
    ("cut short", "download cut short"),
    ("missing file", "the archive has no movies.dat"),
    ("bad rows", "ratings.dat, line 2: column 'timestamp'"),
])
def test_failed_download_leaves_nothing(server, data_home, failure, expect):
    base, root = server
    if failure == "404":
        url = base + "/elsewhere"
    elif failure == "refused":
        url = _refused_url()
    elif failure == "not a zip":
        (root / "ml-1m.zip").write_text("<html>captive portal</html>")
        url = base
    elif failure == "cut short":
        _grouplens_zip(root, "ml-1m")
        url = base + "/cut"
    elif failure == "missing file":
        _grouplens_zip(root, "ml-1m", {"movies.dat": None})
        url = base
    else:
        _grouplens_zip(root, "ml-1m", {"ratings.dat": b"1::10::5::100\n1::20::3::soon\n"})
        url = base
    old = data_home / "ml-1m"
    old.mkdir()
    (old / "ratings.dat").write_text("a previous copy")
    with pytest.raises(DataError) as info:
        fetch.fetch_grouplens("ml-1m", old, base_url=url, timeout=10)
    message = str(info.value)
    assert message.startswith(f"{url}/ml-1m.zip: ") and expect in message
    assert listing(data_home) == ["ml-1m", "ml-1m/ratings.dat"]  # old copy intact, no temp
    assert (old / "ratings.dat").read_text() == "a previous copy"


def test_failed_download_through_the_cli_exits_2(data_home, capsys):
    url = _refused_url()
    assert cli.main(["data", "fetch", "ml-1m", "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {url}/ml-1m.zip: download failed")
    assert "mind-core data fetch ml-1m --from PATH" in err
    assert listing(data_home) == []


def test_unknown_names():
    with pytest.raises(DataError, match="unknown GroupLens dataset"):
        fetch.fetch_grouplens("ml-30m", base_url="http://127.0.0.1:9")


def test_dataset_not_fetched_yet(data_home):
    with pytest.raises(DataError, match="run `mind-core data fetch ml-1m`"):
        fetch.resolve_dataset_path("ml-1m")


# --- the headline command -------------------------------------------------------------------


def test_cli_info_ml100k_json():
    env = {k: v for k, v in os.environ.items() if k != "MIND_CORE_DATA_DIR"}
    exe = Path(sys.executable).parent / "mind-core"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mind_core.cli"]
    proc = subprocess.run([*cmd, "data", "info", "ml-100k", "--json"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["users"], info["items"], info["interactions"]) == (943, 1682, 100000)
    assert info["unevaluated_users"] == 0 and info["evaluated_users"] == 943
