"""Source preparation, patching and cache keys, on a stand-in llama.cpp tree (no compiler)."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from batchbench import UserError
from batchbench.build import (
    apply_patch,
    build,
    build_key,
    given,
    prepare_source,
    tree_fingerprint,
)
from batchbench.files import sha256_cached, sha256_file

PATCH = ROOT / "patches" / "batched-bench-flush-log.patch"
ORIGINAL = """\
    common_params params;

    common_init();

    if (!common_params_parse(argc, argv, params, LLAMA_EXAMPLE_BENCH, print_usage)) {
        return 1;
    }
"""


@pytest.fixture
def log(tmp_path):
    with open(tmp_path / "build.log", "w") as f:
        yield f


def fake_tree(root):
    (root / "tools" / "batched-bench").mkdir(parents=True)
    # the lines the patch's hunk needs around it, at the line numbers it names
    lines = ["// filler\n"] * 21 + [ORIGINAL]
    (root / "tools" / "batched-bench" / "batched-bench.cpp").write_text("".join(lines))
    return root


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


def test_patch_applies_once_and_is_recognised_when_present(tmp_path, log):
    tree = fake_tree(tmp_path / "src")
    assert apply_patch(tree, PATCH, log) == "applied"
    assert "common_log_flush(common_log_main())" in (tree / "tools/batched-bench/batched-bench.cpp").read_text()
    assert apply_patch(tree, PATCH, log) == "already present"


def test_a_patch_that_does_not_fit_is_a_clear_error(tmp_path, log):
    tree = tmp_path / "src"
    (tree / "tools" / "batched-bench").mkdir(parents=True)
    (tree / "tools" / "batched-bench" / "batched-bench.cpp").write_text("int main() {}\n")
    with pytest.raises(UserError, match="patches: \\[\\]"):
        apply_patch(tree, PATCH, log)


def test_local_folder_is_copied_not_modified(tmp_path, log):
    src = fake_tree(tmp_path / "mine")
    (src / "build").mkdir()
    (src / "build" / "big.o").write_text("x")
    tree = prepare_source({"path": str(src)}, tmp_path / "work", tmp_path / "cache", log)
    assert tree != src and (tree / "tools" / "batched-bench" / "batched-bench.cpp").exists()
    assert not (tree / "build").exists()
    apply_patch(tree, PATCH, log)
    assert "common_log_flush" not in (src / "tools/batched-bench/batched-bench.cpp").read_text()


def test_git_source_at_a_revision(tmp_path, log):
    repo = fake_tree(tmp_path / "repo")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    first = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    (repo / "tools" / "batched-bench" / "later.txt").write_text("later")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "two")
    tree = prepare_source({"git": {"url": str(repo), "rev": first}}, tmp_path / "work",
                          tmp_path / "cache", log)
    assert (tree / "tools" / "batched-bench" / "batched-bench.cpp").exists()
    assert not (tree / "tools" / "batched-bench" / "later.txt").exists()


def test_not_a_llama_cpp_tree(tmp_path, log):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a llama.cpp source tree"):
        prepare_source({"path": str(tmp_path / "empty")}, tmp_path / "work", tmp_path, log)


def test_cache_key_follows_source_flags_and_patches(tmp_path):
    sdist = {"pypi_sdist": {"package": "llama-cpp-python", "version": "0.3.36", "sha256": "0" * 64}}
    base = build_key(sdist, ["-DGGML_NATIVE=ON"], [PATCH])
    assert base == build_key(sdist, ["-DGGML_NATIVE=ON"], [PATCH])
    assert base != build_key(sdist, ["-DGGML_NATIVE=OFF"], [PATCH])
    assert base != build_key(sdist, ["-DGGML_NATIVE=ON"], [])
    other = {"pypi_sdist": {**sdist["pypi_sdist"], "version": "0.3.35"}}
    assert base != build_key(other, ["-DGGML_NATIVE=ON"], [PATCH])
    tree = fake_tree(tmp_path / "t")
    before = tree_fingerprint(tree)
    (tree / "tools" / "batched-bench" / "new.cpp").write_text("x")
    assert tree_fingerprint(tree) != before


def test_given_binaries_are_described_as_not_built():
    manifest = given({"batched_bench": "/opt/bb"})
    assert manifest["built"] is False and manifest["quantize"] is None and manifest["patches"] == []


def test_native_builds_are_keyed_by_the_node_type():
    from batchbench.build import is_native, node_type

    assert is_native([]) and is_native(["-DGGML_NATIVE=ON"]) and is_native(["-DGGML_CUDA=ON"])
    assert not is_native(["-DGGML_NATIVE=OFF"]) and not is_native(["-DGGML_NATIVE=ON", "-DGGML_NATIVE=OFF"])
    assert node_type() == node_type() and len(node_type()) == 8


def test_portable_build_flags(default_config):
    from batchbench.build import PORTABLE_FLAGS, is_native
    from batchbench.study import Study

    default_config["builds"][0]["portable"] = True
    build = Study(default_config, ROOT).builds[0]
    assert build.cmake_flags == PORTABLE_FLAGS and not is_native(build.cmake_flags)


def test_a_file_digest_is_remembered_until_the_file_changes(tmp_path):
    model, cache = tmp_path / "model.gguf", tmp_path / "cache"
    model.write_bytes(b"weights")
    assert sha256_cached(model, cache) == sha256_file(model)
    (memo,) = (cache / "sha256").iterdir()
    memo.write_text("remembered")  # proves the next call reads the memo, not the file
    assert sha256_cached(model, cache) == "remembered"
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a touch: read once more
    old = sha256_cached(model, cache)
    assert old == sha256_file(model)
    model.write_bytes(b"other weights")
    assert sha256_cached(model, cache) == sha256_file(model) != old


def test_a_build_is_published_whole_into_the_cache_then_reused(tmp_path, log, monkeypatch):
    """With a stand-in cmake: the binaries and the manifest appear in the cache entry at once, the
    manifest names the published paths, and the next build of the key reuses them."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "cmake").write_text(f"#!{sys.executable}\nimport pathlib, sys\n"
                                 "if '--build' in sys.argv:\n"
                                 "    b = pathlib.Path(sys.argv[sys.argv.index('--build') + 1]) / 'bin'\n"
                                 "    b.mkdir(parents=True)\n"
                                 "    for t in ('llama-batched-bench', 'llama-quantize'):\n"
                                 "        (b / t).write_text('#!/bin/sh\\n')\n")
    (tools / "cmake").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    source = {"path": str(fake_tree(tmp_path / "src"))}
    cache = tmp_path / "cache"
    first = build(source, ["-DGGML_NATIVE=OFF"], [PATCH], cache, 2, log)
    entry = cache / "llama.cpp" / first["key"]
    assert first["batched_bench"] == str(entry / "bin" / "llama-batched-bench")
    assert (entry / "bin" / "llama-quantize").is_file() and first["patches"][0]["state"] == "applied"
    assert sorted(p.name for p in (cache / "llama.cpp").iterdir()) == [first["key"]]  # nothing half-made
    assert build(source, ["-DGGML_NATIVE=OFF"], [PATCH], cache, 2, log) == first
    log.flush()
    assert "reusing the cached build" in (tmp_path / "build.log").read_text()
