"""The shared cache: one maker per entry, whole entries only, stale locks taken over."""

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from workflow import TINY

from batchbench.cache import is_stale, publish_once
from batchbench.models import ModelShape
from batchbench.synth import SyntheticSpec, cached_model

# Two makers of one entry, each in its own process: the make writes its files slowly, so a
# reader that took a half-made entry would see one file without the other.
MAKER = """
import sys, time
from pathlib import Path
from batchbench.cache import publish_once

entry, log = Path(sys.argv[1]), open(sys.argv[2], "w")

def make(folder):
    (folder / "part1").write_text(sys.argv[3])
    time.sleep(2)
    (folder / "done").write_text(sys.argv[3])

made = publish_once(entry, make, lambda e: (e / "done").is_file(), log, poll_s=0.1)
print("made" if made else "reused", (entry / "part1").read_text(), (entry / "done").read_text())
"""


def test_two_processes_make_one_entry_once(tmp_path):
    entry = tmp_path / "cache" / "models" / "k"
    makers = [subprocess.Popen([sys.executable, "-c", MAKER, str(entry), str(tmp_path / f"{i}.log"), str(i)],
                               stdout=subprocess.PIPE, text=True) for i in range(2)]
    outs = sorted(p.communicate(timeout=60)[0].split() for p in makers)
    assert [o[0] for o in outs] == ["made", "reused"], outs
    maker = next(o[1] for o in outs if o[0] == "made")
    assert all(o[1:] == [maker, maker] for o in outs)  # both see the same whole entry
    assert sorted(p.name for p in entry.parent.iterdir()) == ["k"]  # no lock, no private folder left
    assert "waiting for" in "".join((tmp_path / f"{i}.log").read_text() for i in range(2))


def test_two_processes_synthesize_one_model_once(tmp_path):
    """The real synthesis, twice at once in two processes: written once, both get its bytes."""
    code = ("import sys; from pathlib import Path; from batchbench.synth import cached_model, spec_from_config\n"
            f"spec = spec_from_config({{**{TINY!r}, 'quant': 'F16'}}, 'm')\n"
            "path, sha = cached_model(spec, 'k', Path(sys.argv[1]), None, open(sys.argv[2], 'w'))\n"
            "print(path, sha)")
    makers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "cache"), str(tmp_path / f"{i}.log")],
                               stdout=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=120)[0].split() for p in makers]
    assert outs[0] == outs[1] and Path(outs[0][0]).is_file()
    logs = [(tmp_path / f"{i}.log").read_text() for i in range(2)]
    assert sum("reusing the cached model" in log for log in logs) == 1, logs
    assert sorted(p.name for p in (tmp_path / "cache" / "models").iterdir()) == ["k"]


def test_a_dead_holder_on_this_host_is_stale(tmp_path):
    lock = tmp_path / "k.lock.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    assert is_stale(lock)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    assert not is_stale(lock)


def test_a_holder_on_another_host_is_stale_only_when_silent(tmp_path):
    lock = tmp_path / "k.lock.json"
    lock.write_text(json.dumps({"host": "node-that-died", "pid": 1}))
    assert not is_stale(lock, stale_s=60)
    old = time.time() - 120
    os.utime(lock, (old, old))
    assert is_stale(lock, stale_s=60)


def test_a_stale_lock_is_taken_over_and_the_entry_made(tmp_path):
    entry = tmp_path / "k"
    lock = tmp_path / "k.lock.json"
    lock.write_text(json.dumps({"host": "node-that-died", "pid": 1}))
    old = time.time() - 600
    os.utime(lock, (old, old))
    log = io.StringIO()
    assert publish_once(entry, lambda f: (f / "done").write_text("x"), lambda e: (e / "done").is_file(),
                        log, poll_s=0.01)
    assert (entry / "done").read_text() == "x" and not lock.exists()
    assert "took over the stale lock" in log.getvalue()


def test_a_half_made_entry_of_the_old_layout_is_set_aside(tmp_path):
    entry = tmp_path / "k"
    (entry / "bin").mkdir(parents=True)  # a build cut off before its manifest
    log = io.StringIO()
    assert publish_once(entry, lambda f: (f / "build.json").write_text("{}"),
                        lambda e: (e / "build.json").is_file(), log)
    assert (entry / "build.json").is_file() and not (entry / "bin").exists()


def test_a_failed_make_leaves_nothing(tmp_path):
    entry = tmp_path / "k"

    def make(folder):
        (folder / "part").write_text("x")
        raise RuntimeError("compiler died")

    try:
        publish_once(entry, make, lambda e: e.is_dir(), io.StringIO())
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_cached_model_reuses_an_entry_of_the_previous_layout(tmp_path):
    spec = SyntheticSpec(ModelShape(**TINY), quant="F16")
    folder = tmp_path / "models" / "k"
    folder.mkdir(parents=True)
    (folder / "model.gguf").write_bytes(b"GGUF")
    (folder / "model.sha256").write_text("abc\n")
    path, sha = cached_model(spec, "k", tmp_path, None, io.StringIO())
    assert path == folder / "model.gguf" and sha == "abc"
