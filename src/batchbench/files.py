"""Files: written so that a half-written one is never taken for a result, and known by their sha256."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to (same suffix, for writers that go by it); it is
    renamed onto `path` only when the block ends without an error, and removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: str | Path, data) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_cached(path: Path, cache_dir: Path) -> str:
    """A file's sha256, remembered in the cache under its path, size, mtime and inode: a large
    model is read once, not at every parse, and a `touch` only costs one more read."""
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
