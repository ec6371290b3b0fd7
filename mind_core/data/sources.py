"""Where a dataset's files come from: a folder or a zip archive, listed recursively, read with
a size limit and with errors that name the file (and the archive member)."""

from __future__ import annotations

import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from mind_core.errors import DataError

MAX_INPUT_BYTES = 2 * 1024**3  # refuse user-pointed files larger than this (2 GiB)


class Source:
    """A folder or a zip archive, listed recursively; names are POSIX paths inside it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(self.path, "no such file or folder")
        self._zip = None
        if self.path.is_file():
            if not zipfile.is_zipfile(self.path):
                raise DataError(self.path, "expected a folder, a .zip archive or a .csv file")
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as e:
                raise DataError(self.path, f"damaged zip archive ({e})") from None
            self.names = [n for n in self._zip.namelist() if not n.endswith("/")]
        else:
            self.names = sorted(
                p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()
            )

    def close(self) -> None:
        if self._zip:
            self._zip.close()

    def display(self, name: str) -> str:
        return f"{self.path}:{name}" if self._zip else str(self.path / name)

    def read_text(self, name: str, encoding: str) -> str:
        if self._zip:
            info = self._zip.getinfo(name)
            size = info.file_size
            try:
                data = self._zip.read(name) if size <= MAX_INPUT_BYTES else None
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
                # a member whose bytes were damaged: its header, CRC or deflate stream fails
                raise DataError(self.display(name), f"damaged zip member ({e})") from None
        else:
            size = (self.path / name).stat().st_size
            data = (self.path / name).read_bytes() if size <= MAX_INPUT_BYTES else None
        if data is None:
            raise DataError(self.display(name),
                            f"file is {size} bytes; the limit is {MAX_INPUT_BYTES}")
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise DataError(self.display(name), f"not valid {encoding} text", line=line) from None

    def size(self, name: str) -> int:
        if self._zip:
            return self._zip.getinfo(name).file_size
        return (self.path / name).stat().st_size

    @contextmanager
    def open(self, name: str):
        """A binary stream of a member (not read into memory), refused over the size limit. A
        damaged archive can fail at any read, not only here: whatever the zip or deflate layer
        raises inside the ``with`` block becomes a DataError naming the member."""
        size = self.size(name)
        if size > MAX_INPUT_BYTES:
            raise DataError(self.display(name),
                            f"file is {size} bytes; the limit is {MAX_INPUT_BYTES}")
        try:
            with (self._zip.open(name) if self._zip else open(self.path / name, "rb")) as f:
                yield f
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
            what = "damaged zip member" if self._zip else "unreadable file"
            raise DataError(self.display(name), f"{what} ({e.__class__.__name__}: {e})") from None

    def find(self, filename: str) -> str | None:
        """The shallowest member whose base name is ``filename``."""
        hits = [n for n in self.names if PurePosixPath(n).name == filename]
        return min(hits, key=lambda n: n.count("/")) if hits else None

    def sibling(self, name: str, filename: str) -> str:
        parent = PurePosixPath(name).parent
        full = str(parent / filename) if str(parent) != "." else filename
        if full not in self.names:
            raise DataError(self.display(full), "missing: the layout of "
                            f"{PurePosixPath(name).name} needs {filename} beside it")
        return full
