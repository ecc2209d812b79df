"""A validated config resolved into builds, models and jobs, with the checks a schema cannot make.

Every mistake raises UserError naming the config key, the value and what is allowed, at parse
time, before any job starts.
"""

from __future__ import annotations

import functools
import glob
import json
import math
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from . import UserError
from .build import PORTABLE_FLAGS, build_key, sha256_cached
from .cache import cache_dir_of
from .context import CACHE_TYPE_BYTES, kv_cache_bytes
from .grid import RESERVED_FLAGS, Job, as_list, expand, path_segment
from .synth import ModelShape, SyntheticSpec, spec_from_config

# Approximate bytes per weight of each file type, for memory estimates before a model exists.
BYTES_PER_WEIGHT = {"F32": 4.0, "F16": 2.0, "BF16": 2.0, "Q8_0": 1.0625, "Q6_K": 0.82,
                    "Q5_K_M": 0.69, "Q5_K_S": 0.69, "Q5_0": 0.69, "Q4_K_M": 0.61, "Q4_K_S": 0.57,
                    "Q4_0": 0.5625, "Q3_K_M": 0.49, "Q2_K": 0.33, "IQ4_XS": 0.53}
# Assumed machine speeds for the plan's rough time estimate (the run measures the real ones).
ASSUMED_FLOPS = 50e9
ASSUMED_BANDWIDTH = 10e9
# CPU seconds Snakemake takes to plan one benchmark job (measured on a shared 2-core host: 14 s
# for 10,000 jobs in bench/scale.py, 135 s for 100,000), and to read the grid again when a cluster
# job starts (3.3 s for 100,000, 1.7 s for 10,000); the grid size from which the plan says so
# before it starts.
PLAN_SECONDS_PER_JOB = 0.0014
PARSE_SECONDS_PER_JOB = 0.00002
LARGE_GRID = 20000
MEMORY_MARGIN = 1.15
MEMORY_OVERHEAD = 256 << 20


def check_runs(binary: str, where: str) -> None:
    """A given binary must start (a wrong architecture or a missing library fails here)."""
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise UserError(f"{where}: {binary!r} does not run: {exc}") from None
    if result.returncode != 0 and "version" not in result.stdout + result.stderr:
        tail = (result.stderr or result.stdout).strip()[-300:]
        raise UserError(f"{where}: {binary!r} does not run (exit code {result.returncode}): {tail}")


def canonical(value):
    """The same value with every mapping's keys sorted, so that Snakemake, which compares params
    by their repr, sees no change when only the config's key order changed."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


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


@dataclass
class Model:
    name: str
    dir: str
    shape: ModelShape
    bytes: int
    path: str | None = None           # a given file
    synthetic: SyntheticSpec | None = None
    key: str | None = None            # cache key of a synthetic model
    quantizer: Build | None = None
    identity: str = ""                # what its measurements depend on: key, or the file's sha256


class Study:
    def __init__(self, config: dict, workflow_dir: Path):
        self.config = config
        self.experiment = config["experiment"]
        self.cache_dir = cache_dir_of(config)
        self.grid = config["grid"]
        self.run = config.get("run", {})
        self.imports = self._import_files(config.get("imports") or [])
        self.builds = [self._build(b, i, workflow_dir) for i, b in enumerate(config["builds"])]
        self.models = [self._model(m, i) for i, m in enumerate(config["models"])]
        if not self.models and not self.imports:
            raise UserError("models: the list is empty and `imports` names nothing to analyse; "
                            "give at least one model (a GGUF path or a synthetic shape) or an import")
        self._unique("builds", [b.name for b in self.builds], [b.dir for b in self.builds])
        self._unique("models", [m.name for m in self.models], [m.dir for m in self.models])
        self._check_grid()
        self.model_by_dir = {m.dir: m for m in self.models}
        self.build_by_dir = {b.dir: b for b in self.builds}
        all_jobs = expand(self.grid, [(m.name, m.dir) for m in self.models],
                          [(b.name, b.dir) for b in self.builds], seed=int(self.run.get("seed", 0)))
        fits = [j.skip_reason() is None for j in all_jobs]
        self.jobs = self._with_sentinel([j for j, ok in zip(all_jobs, fits, strict=True) if ok])
        self.skipped = [j for j, ok in zip(all_jobs, fits, strict=True) if not ok]
        if all_jobs and not self.jobs:
            raise UserError(f"grid.ctx: {self.grid.get('ctx')!r} fits no combination of the grid "
                            "(every N_KV exceeds it); use a larger value or `auto`")
        self.compare_with = self._other_experiments(config.get("analysis", {}).get("compare_with") or [])
        for i, entry in enumerate(config.get("analysis", {}).get("predict") or []):  # named before any job
            spec_from_config(entry, f"analysis.predict[{i}]")

    # --- resolution -------------------------------------------------------------------------
    def _build(self, entry: dict, i: int, workflow_dir: Path) -> Build:
        where = f"builds[{i}] ({entry['name']!r})"
        b = Build(entry["name"], path_segment(entry["name"]))
        if "binaries" in entry:
            b.binaries = dict(entry["binaries"])
            for tool, path in b.binaries.items():
                if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                    raise UserError(f"{where}.binaries.{tool}: {path!r} does not exist or is not executable")
            check_runs(b.binaries["batched_bench"], f"{where}.binaries.batched_bench")
            b.identity = "sha256:" + sha256_cached(Path(b.binaries["batched_bench"]), self.cache_dir)
            return b
        b.source = entry["source"]
        b.cmake_flags = list(entry.get("cmake_flags", []))
        if entry.get("portable"):
            b.cmake_flags = [f for f in b.cmake_flags if not f.startswith("-DGGML_NATIVE")] + PORTABLE_FLAGS
        b.patch_refs = [str(p) for p in entry.get("patches", [])]
        b.patches = [(workflow_dir / p).resolve() for p in b.patch_refs]
        for p in b.patches:
            if not p.is_file():
                raise UserError(f"{where}.patches: {str(p)!r} does not exist")
        b.key = b.identity = build_key(b.source, b.cmake_flags, b.patches)
        return b

    def _model(self, entry: dict, i: int) -> Model:
        where = f"models[{i}] ({entry['name']!r})"
        name = entry["name"]
        if "path" in entry:
            from .models import check_gguf, read_shape

            path = str(Path(entry["path"]).expanduser())
            check_gguf(path, f"{where}.path")
            shape, _ = read_shape(path)
            return Model(name, path_segment(name), shape, os.path.getsize(path), path=path,
                         identity="sha256:" + sha256_cached(Path(path), self.cache_dir))
        spec = spec_from_config(entry["synthetic"], f"{where}.synthetic")
        quantizer = None
        if spec.quant not in ("F16", "F32"):
            quantizer = next((b for b in self.builds if b.has_quantize), None)
            if quantizer is None:
                raise UserError(f"{where}.synthetic.quant: {spec.quant} needs llama-quantize, but no "
                                "build provides it (build from source, or set binaries.quantize)")
        qkey = (quantizer.key or quantizer.binaries["quantize"]) if quantizer else ""
        est = int(spec.shape.n_params * BYTES_PER_WEIGHT[spec.quant])
        key = spec.key(qkey)
        return Model(name, path_segment(name), spec.shape, est, synthetic=spec, key=key,
                     quantizer=quantizer, identity=key)

    @staticmethod
    def _import_files(patterns: list[str]) -> list[str]:
        """Every file the `imports` paths and globs name, each once, in a stable order."""
        files: list[str] = []
        for i, pattern in enumerate(patterns):
            matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
            matches = [m for m in matches if os.path.isfile(m)]
            if not matches:
                raise UserError(f"imports[{i}]: {pattern!r} names no file")
            files += [m for m in matches if m not in files]
        return files

    def _with_sentinel(self, jobs: list[Job]) -> list[Job]:
        """With `run.sentinel_every: N`, one fixed combination (of the first repetition, model and
        build, the one of median estimated time: long enough to time, short enough to repeat)
        measured again before every N-th job and after the last; its spread is the run's drift."""
        every = self.run.get("sentinel_every")
        if not every or not jobs:
            return jobs
        first = [j for j in jobs if (j.rep, j.model, j.build) == (1, jobs[0].model, jobs[0].build)]
        anchor = sorted(first, key=self.seconds_estimate)[len(first) // 2]
        last_rep = max(j.rep for j in jobs)
        out, k = [], 0
        for i, job in enumerate(jobs + [None]):
            if i % every == 0 or job is None:
                k += 1
                out.append(replace(anchor, rep=last_rep + k, sentinel=k))
            if job is not None:
                out.append(job)
        return out

    def _other_experiments(self, names: list[str]) -> list[str]:
        """Experiments to compare with must have been collected already (in this folder)."""
        done = sorted(p.parent.name for p in Path("results").glob("*/runs.parquet"))
        for i, name in enumerate(names):
            if name == self.experiment:
                raise UserError(f"analysis.compare_with[{i}]: {name!r} is this experiment itself")
            if not (Path("results") / name / "runs.parquet").is_file():
                raise UserError(f"analysis.compare_with[{i}]: {name!r} has no results/{name}/runs.parquet "
                                f"(run that experiment first); collected here: {', '.join(done) or 'none'}")
        return names

    @staticmethod
    def _unique(key: str, names: list[str], dirs: list[str]) -> None:
        for label, values in (("name", names), ("file-name form of the name", dirs)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise UserError(f"{key}: each entry needs its own name; the {label} {dupes[0]!r} repeats")

    def _check_grid(self) -> None:
        g = self.grid
        for b in as_list(g.get("batch")):
            for ub in as_list(g.get("ubatch")):
                if b is not None and ub is not None and ub > b:
                    raise UserError(f"grid.ubatch: {ub} is larger than grid.batch {b}; "
                                    "allowed: ubatch <= batch")
        for arg in g.get("extra_args") or []:
            flag = str(arg).split("=", 1)[0]
            if flag in RESERVED_FLAGS:
                raise UserError(f"grid.extra_args: {arg!r} sets a flag the workflow sets itself; "
                                f"not allowed there: {', '.join(RESERVED_FLAGS)} (use the grid keys)")

    # --- per job ----------------------------------------------------------------------------
    def job_spec(self, job: Job) -> dict:
        """What a benchmark job measures, and nothing else (no run policy, no paths): the
        bench_run rule's params, so a job reruns exactly when its measurement would differ."""
        c, _, _ = job.context()
        return {
            "experiment": self.experiment, "model": job.model, "build": job.build,
            "pp": job.pp, "tg": job.tg, "b": job.b, "rep": job.rep, "ctx": c,
            "options": job.option_map, "extra_args": list(job.extra_args),
            "build_id": self.build_by_dir[job.build_dir].identity,
            "model_id": self.model_by_dir[job.model_dir].identity,
            **({"sentinel": job.sentinel} if job.sentinel else {}),
        }

    @functools.cache  # noqa: B019 (one Study per parse; asked for each job several times)
    def memory_bytes(self, job: Job) -> int:
        """Model bytes + the KV cache llama.cpp allocates + compute buffers, with a margin."""
        m = self.model_by_dir[job.model_dir].shape
        opts = job.option_map
        _, allocated, _ = job.context()
        kv = kv_cache_bytes(m.n_layer, allocated, m.n_head_kv, m.head_dim,
                            opts.get("cache_type_k") or "f16", opts.get("cache_type_v") or "f16")
        ubatch = min(int(opts.get("ubatch") or 512), job.b * max(job.pp, 1))
        scores = 0 if opts.get("flash_attn") == "on" else ubatch * allocated * m.n_head
        compute = 4 * (ubatch * (m.n_vocab + 4 * m.n_embd + 3 * m.n_ff) + scores)
        total = self.model_by_dir[job.model_dir].bytes + kv + compute
        return int(total * MEMORY_MARGIN) + MEMORY_OVERHEAD

    def cpus(self, job: Job) -> int:
        """CPUs a job asks a scheduler for: its -t/-tb; without them llama.cpp takes every core of
        the node, which the whole-node (exclusive) allocation of the SLURM profile provides."""
        opts = job.option_map
        return max(int(opts.get("threads") or 1), int(opts.get("threads_batch") or 1))

    def gpus(self, job: Job) -> int:
        """1 when the build has a GPU backend and the job offloads layers; a CPU build never asks
        (a cluster without GRES refuses such a job at once)."""
        offload = job.option_map.get("n_gpu_layers")
        return int(self.build_by_dir[job.build_dir].gpu_backend and offload not in (None, 0))

    def seconds_estimate(self, job: Job) -> float:
        """A rough time: prompt FLOPs and weight bytes per generation step at assumed speeds."""
        model = self.model_by_dir[job.model_dir]
        prompt_tokens = job.pp if job.option_map.get("pp_shared") else job.b * job.pp
        steps = job.tg * (job.b if job.option_map.get("tg_separate") else 1)
        return (2 * model.shape.n_params_matmul * (prompt_tokens + job.b * job.tg) / ASSUMED_FLOPS
                + steps * model.bytes / ASSUMED_BANDWIDTH)

    def plan_rows(self) -> list[dict]:
        rows = []
        for job in self.jobs + self.skipped:
            c, allocated, needed = job.context()
            reason = job.skip_reason()
            rows.append({
                "model": job.model, "build": job.build, "options": job.opts_slug, "pp": job.pp,
                "tg": job.tg, "b": job.b, "rep": job.rep, "ctx": c, "n_kv": needed,
                "n_kv_max": allocated, "status": "skipped" if reason else "planned",
                "reason": reason or "", "mem_mb": math.ceil(self.memory_bytes(job) / 2**20),
                "est_seconds": round(self.seconds_estimate(job), 2),
            })
        return rows

    @cached_property
    def summary(self) -> str:
        est = sum(self.seconds_estimate(j) for j in self.jobs)
        peak = max((self.memory_bytes(j) for j in self.jobs), default=0)
        return (f"plan for experiment {self.experiment!r}: {len(self.jobs)} benchmark jobs "
                f"({len(self.models)} model(s) x {len(self.builds)} build(s)), {len(self.skipped)} "
                f"combination(s) skipped (too large for grid.ctx), peak memory ~{peak / 2**30:.1f} GiB, "
                f"rough time ~{est / 60:.0f} min at an assumed {ASSUMED_FLOPS / 1e9:.0f} GFLOP/s and "
                f"{ASSUMED_BANDWIDTH / 1e9:.0f} GB/s" + self._skipped_lines())

    def planning_note(self) -> str:
        """For a large grid, how long Snakemake will take to plan it and how to split it."""
        if len(self.jobs) < LARGE_GRID:
            return ""
        n = len(self.jobs)
        return (f"{n} benchmark jobs: Snakemake needs about {duration(n * PLAN_SECONDS_PER_JOB)} of one core to "
                "plan them, at every start (a cluster job's own start reads the grid again: about "
                f"{duration(1.5 + n * PARSE_SECONDS_PER_JOB)}). To plan faster, split the grid into experiments of "
                f"fewer than {LARGE_GRID} jobs each (one config each, e.g. one `npl` range per `experiment`, "
                "compared with `analysis.compare_with`).")

    def _skipped_lines(self, most: int = 10) -> str:
        """The skipped combinations and why (the first few; plan.tsv has them all)."""
        lines = [f"\n  skipped: PP={j.pp} TG={j.tg} B={j.b} ({j.opts_slug}): {j.skip_reason()}"
                 for j in self.skipped[:most]]
        if len(self.skipped) > most:
            lines.append(f"\n  ... and {len(self.skipped) - most} more in plan.tsv")
        return "".join(lines)

    def skipped_records(self) -> list[dict]:
        out = []
        for job in self.skipped:
            c, allocated, needed = job.context()
            out.append({"schema_version": 1, "experiment": self.experiment, "model": job.model,
                        "build": job.build, "pp": job.pp, "tg": job.tg, "b": job.b,
                        "rep": job.rep, "ctx": c, "options": job.option_map,
                        "extra_args": list(job.extra_args), "status": "skipped",
                        "reason": job.skip_reason(), "metrics": {"n_kv": needed, "n_kv_max": allocated}})
        return out


def duration(seconds: float) -> str:
    """`45 s`, `4 min`: a rough duration in words."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def spec_json(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))

assert set(CACHE_TYPE_BYTES)  # the schema's enum for cache types is taken from here
