"""Getting MovieLens onto this machine.

- ``ml-100k`` from the package index: ``pip download --no-deps recbole==1.2.1`` gives a wheel (a
  zip) that ships ``recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}``. Only those three
  files are extracted and checked against pinned sha256 sums; recbole is never installed.
- ``ml-100k`` / ``ml-1m`` from GroupLens (needs the internet): the official zip.
- ``ml-20m``, ``ml-25m``, ``ml-32m``, ``ml-latest``, ``ml-latest-small`` from GroupLens: the
  official zip, of which ``ratings.csv`` and ``movies.csv`` are kept (streamed out of the
  archive, never whole in memory). Offline, ``--from PATH`` installs a local zip or folder.

Everything is written into a temporary folder and renamed into place, so a failed fetch leaves
nothing half-written under ``data/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from mind_core.data.readers import read_dataset
from mind_core.errors import DataError

RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"
RECBOLE_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"
GROUPLENS_FILES = {"ml-100k": ["u.data", "u.user", "u.item"],
                   "ml-1m": ["ratings.dat", "users.dat", "movies.dat"],
                   **{name: ["ratings.csv", "movies.csv"] for name in
                      ("ml-20m", "ml-25m", "ml-32m", "ml-latest", "ml-latest-small")}}
KNOWN = tuple(GROUPLENS_FILES)  # every name `mind-core data fetch` knows
# what `--from ARCHIVE.zip` unpacks: the files some reader reads, not tags, links or genome
DATA_FILES = {"u.data", "u.user", "u.item"}
DATA_SUFFIXES = {"inter", "user", "item", "dat", "csv"}
UNUSED_FILES = {"tags.csv", "links.csv"}
MAX_DOWNLOAD_BYTES = 1024**3  # ml-latest.zip is about 0.35 GB
REPOSITORY = Path(__file__).resolve().parents[2]  # mind_core/data/fetch.py -> the checkout

# what a damaged archive raises while reading a member (bad CRC, broken deflate stream, cut short)
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


def data_dir() -> Path:
    """``$MIND_CORE_DATA_DIR`` or the repository's ``data/``."""
    env = os.environ.get("MIND_CORE_DATA_DIR")
    return Path(env) if env else REPOSITORY / "data"


def resolve_dataset_path(name_or_path: str | os.PathLike) -> Path:
    """A known name (``ml-100k``) under :func:`data_dir`, a user-given path, or else any other
    dataset under :func:`data_dir` by its folder name (e.g. one written there by
    ``mind-core data synth --out data/synth-25m``: bundles record the dataset by that name)."""
    candidate = data_dir() / str(name_or_path)
    if str(name_or_path) in GROUPLENS_FILES and candidate.exists():
        return candidate
    path = Path(name_or_path)
    if path.exists():
        return path
    if candidate.exists() and Path(name_or_path).name == str(name_or_path):
        return candidate
    if str(name_or_path) in GROUPLENS_FILES:
        raise DataError(candidate, "dataset not fetched yet: run "
                        f"`mind-core data fetch {name_or_path}`")
    raise DataError(path, f"no such dataset: give a known name ({', '.join(KNOWN)}) or a "
                    "folder, .zip or .csv path")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _install_folder(tmp: Path, dest: Path) -> Path:
    """Rename a complete temporary folder into place (replacing an older copy)."""
    if dest.exists():
        old = dest.with_name(dest.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(dest)
    return dest


def extract_recbole_ml100k(wheel: Path, dest: Path) -> Path:
    """Extract and verify the three ml-100k atomic files from a recbole wheel."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not zipfile.is_zipfile(wheel):
        raise DataError(wheel, f"expected the {RECBOLE_REQUIREMENT} wheel (a zip archive)")
    tmp = Path(tempfile.mkdtemp(prefix=".ml-100k-", dir=dest.parent))
    try:
        try:
            z = zipfile.ZipFile(wheel)
        except ZIP_ERRORS as e:  # is_zipfile only looks at the end record
            raise DataError(wheel, f"damaged zip archive ({e})") from None
        with z:
            for filename, expected in RECBOLE_SHA256.items():
                member = RECBOLE_MEMBER.format(filename.rsplit(".", 1)[1])
                try:
                    data = z.read(member)
                except KeyError:
                    raise DataError(wheel, f"missing member {member}") from None
                except ZIP_ERRORS as e:
                    raise DataError(wheel, f"damaged member {member} ({e}); delete the wheel "
                                    "and fetch again") from None
                if _sha256(data) != expected:
                    raise DataError(wheel, f"{member} has sha256 {_sha256(data)}, expected "
                                    f"{expected}")
                (tmp / filename).write_bytes(data)
        return _install_folder(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_ml100k_from_index(dest: Path | None = None, cache: Path | None = None) -> Path:
    dest = dest or data_dir() / "ml-100k"
    cache = cache or data_dir() / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("recbole-1.2.1-*.whl"))
    if not wheels:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   RECBOLE_REQUIREMENT, "-d", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            got = sorted(Path(tmp).glob("recbole-*.whl"))
            if proc.returncode != 0 or not got:
                last = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
                raise DataError(cache, f"could not download {RECBOLE_REQUIREMENT} from the package "
                                f"index ({last}). "
                                "Without an index, copy the wheel into this folder, or run "
                                "`mind-core data fetch ml-100k --from PATH` with the wheel or a "
                                "folder/zip holding ml-100k files")
            final = cache / got[0].name
            got[0].rename(final)
            wheels = [final]
    return extract_recbole_ml100k(wheels[0], dest)


def fetch_from_local(path: Path, dest: Path) -> Path:
    """Install a user-given wheel, zip or folder as a dataset (validated by reading it)."""
    path = Path(path)
    if path.suffix == ".whl":
        return extract_recbole_ml100k(path, dest)
    read_dataset(path)  # raises a DataError naming what is wrong
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        target = tmp / "files"
        if path.is_dir():
            shutil.copytree(path, target)
        elif zipfile.is_zipfile(path):
            # unpacked, so the folder reads as the layout (a zip inside a folder would not);
            # only data files, streamed (ml-25m.zip also holds 0.4 GB of genome scores)
            target.mkdir()
            with zipfile.ZipFile(path) as z:
                for member in z.namelist():
                    base = member.rsplit("/", 1)[-1]
                    if member.endswith("/") or base in UNUSED_FILES or base.startswith("genome-"):
                        continue
                    if base in DATA_FILES or base.rsplit(".", 1)[-1] in DATA_SUFFIXES:
                        z.extract(member, target)  # extract() drops "..", "/" from names
        else:
            target.mkdir()
            shutil.copy2(path, target / path.name)
        return _install_folder(target, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_grouplens(name: str, dest: Path | None = None, base_url: str | None = None,
                    timeout: float = 60.0) -> Path:
    """Download ``{base_url}/{name}.zip`` and extract its data files (:data:`GROUPLENS_FILES`)
    into ``dest``."""
    if name not in GROUPLENS_FILES:
        raise DataError(name, "unknown GroupLens dataset; expected one of "
                        f"{sorted(GROUPLENS_FILES)}")
    base_url = base_url or os.environ.get("MIND_CORE_GROUPLENS_URL", GROUPLENS_URL)
    dest = dest or data_dir() / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{name}.zip"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    try:
        archive = tmp / f"{name}.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(archive, "wb") as out:
                copied = 0
                while chunk := resp.read(1 << 20):
                    copied += len(chunk)
                    if copied > MAX_DOWNLOAD_BYTES:
                        raise DataError(url, f"download exceeds {MAX_DOWNLOAD_BYTES} bytes")
                    out.write(chunk)
                # read(n) returns b"" on a dropped connection instead of raising
                expected = resp.headers.get("Content-Length")
                if expected and expected.isdigit() and copied != int(expected):
                    raise DataError(url, f"download cut short: {copied} of {expected} bytes; "
                                    "try again")
        except (urllib.error.URLError, OSError) as e:
            raise DataError(url, f"download failed ({e}); without internet use "
                            f"`mind-core data fetch {name} --from PATH`") from None
        if not zipfile.is_zipfile(archive):
            raise DataError(url, "the download is not a zip archive")
        files = tmp / "files"
        files.mkdir()
        try:
            with zipfile.ZipFile(archive) as z:
                for filename in GROUPLENS_FILES[name]:
                    members = [m for m in z.namelist() if m.rsplit("/", 1)[-1] == filename]
                    if not members:
                        raise DataError(url, f"the archive has no {filename}")
                    # streamed: ml-32m's ratings.csv is 0.9 GB unpacked
                    with z.open(members[0]) as src, open(files / filename, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
        except ZIP_ERRORS as e:
            raise DataError(url, f"the download is a damaged zip archive ({e})") from None
        try:
            read_dataset(files, name)  # only data that reads cleanly is installed
        except DataError as e:
            raise DataError(url, f"the archive holds unreadable data: {e}") from None
        return _install_folder(files, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
