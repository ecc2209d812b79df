"""Files: written so that a half-written one is never taken for a result, and known by their sha256."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def atomic_name(path: str | os.PathLike) -> Iterator[str]:
    """A temporary name beside `path` to write to (same suffix, for writers that go by it); it is
    renamed onto `path` only when the block ends without an error, and removed otherwise. Plain
    os.path: every benchmark job writes its record through here, and would import pathlib."""
    folder, name = os.path.split(os.fspath(path))
    stem, suffix = os.path.splitext(name)
    os.makedirs(folder or os.curdir, exist_ok=True)
    tmp = os.path.join(folder, f".{stem}.{os.getpid()}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:  # noqa: F821 (pathlib imported below)
    """atomic_name, as a Path."""
    from pathlib import Path

    with atomic_name(path) as tmp:
        yield Path(tmp)


def write_json_atomic(path: str | os.PathLike, data) -> None:
    with atomic_name(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    import hashlib  # not in the job runner, which writes its record through this module

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_cached(path: str | os.PathLike, cache_dir: Path) -> str:  # noqa: F821 (a pathlib.Path)
    """A file's sha256, remembered in the cache under its path, size, mtime and inode: a large
    model is read once, not at every parse, and a `touch` only costs one more read."""
    import hashlib

    st = os.stat(path)
    stamp = f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}"
    memo = cache_dir / "sha256" / hashlib.sha256(stamp.encode()).hexdigest()[:32]
    try:
        return memo.read_text().strip()
    except OSError:
        digest = sha256_file(path)
        with contextlib.suppress(OSError), atomic_path(memo) as tmp:  # a read-only cache costs one more read
            tmp.write_text(digest)
        return digest
