"""Writing results so that a half-written file is never taken for one."""

from __future__ import annotations

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
