"""A validated config resolved into builds, models, machines and jobs, with the checks a schema
cannot make (the plan of those jobs is plan.py's, what each asks a scheduler for resources.py's).

Every mistake raises UserError naming the config key, the value and what is allowed, at parse
time, before any job starts.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

from . import UserError, record, resources
from .build import DEFAULT_CMAKE_FLAGS, DEFAULT_PATCHES, PORTABLE_FLAGS, Build, build_key
from .cache import cache_dir_of
from .files import sha256_cached
from .grid import Job, as_list, expand, path_segment
from .kv_cache import CACHE_TYPE_BYTES
from .llama_options import RESERVED_FLAGS
from .machines import Machine
from .machines import from_config as machines_from_config
from .models import BYTES_PER_WEIGHT, Model
from .paths import runs_of
from .plan import seconds_estimate
from .synth import spec_from_config


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
        self.machines = machines_from_config(config.get("machines"))
        self._unique("machines", [m.name for m in self.machines], [m.dir for m in self.machines])
        self._check_grid()
        self.model_by_dir = {m.dir: m for m in self.models}
        self.build_by_dir = {b.dir: b for b in self.builds}
        all_jobs = expand(self.grid, [(m.name, m.dir) for m in self.models],
                          [(b.name, b.dir) for b in self.builds], seed=int(self.run.get("seed", 0)),
                          machines=[(m.name, m.dir) for m in self.machines])
        fits = [j.skip_reason() is None for j in all_jobs]
        self.jobs = self._with_sentinel([j for j, ok in zip(all_jobs, fits, strict=True) if ok])
        self.skipped = [j for j, ok in zip(all_jobs, fits, strict=True) if not ok]
        if all_jobs and not self.jobs:
            raise UserError(f"grid.ctx: {self.grid.get('ctx')!r} fits no combination of the grid "
                            "(every N_KV exceeds it); use a larger value or `auto`")
        self.compare_with = self._other_experiments(config.get("analysis", {}).get("compare_with") or [])
        for i, entry in enumerate(config.get("analysis", {}).get("predict") or []):  # named before any job
            spec_from_config(entry, f"analysis.predict[{i}]")
        self.machine_by_path = {m.path: m for m in self.machines}

    @property
    def machine_axis(self) -> bool:
        """Whether machines are configured (then result paths have a machine level)."""
        return self.machines[0].name is not None

    def machine_of(self, job: Job) -> Machine:
        return self.machine_by_path[f"{job.machine_dir}/" if job.machine_dir else ""]

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
        b.cmake_flags = list(entry.get("cmake_flags", DEFAULT_CMAKE_FLAGS))
        if entry.get("portable"):
            b.cmake_flags = [f for f in b.cmake_flags if not f.startswith("-DGGML_NATIVE")] + PORTABLE_FLAGS
        b.patch_refs = [str(p) for p in entry.get("patches", DEFAULT_PATCHES)]
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
        measured again before every N-th job and after the last; its spread is the run's drift.
        With machines, on every machine at each of those points: each machine drifts on its own."""
        every = self.run.get("sentinel_every")
        if not every or not jobs:
            return jobs
        first = [j for j in jobs if (j.rep, j.model, j.build, j.machine)
                 == (1, jobs[0].model, jobs[0].build, jobs[0].machine)]
        anchor = sorted(first, key=lambda j: seconds_estimate(self.model_by_dir[j.model_dir], j))[len(first) // 2]
        last_rep = max(j.rep for j in jobs)
        out, k = [], 0
        for i, job in enumerate(jobs + [None]):
            if i % every == 0 or job is None:
                k += 1
                out += [replace(anchor, rep=last_rep + k, sentinel=k, machine=m.name, machine_dir=m.dir)
                        for m in self.machines]
            if job is not None:
                out.append(job)
        return out

    def _other_experiments(self, names: list[str]) -> list[str]:
        """Experiments to compare with must have been collected already (in this folder)."""
        done = sorted(Path(p).parent.name for p in glob.glob(runs_of("*")))
        for i, name in enumerate(names):
            if name == self.experiment:
                raise UserError(f"analysis.compare_with[{i}]: {name!r} is this experiment itself")
            if not Path(runs_of(name)).is_file():
                raise UserError(f"analysis.compare_with[{i}]: {name!r} has no {runs_of(name)} "
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
            **({"machine": job.machine} if job.machine is not None else {}),
            "pp": job.pp, "tg": job.tg, "b": job.b, "rep": job.rep, "ctx": c,
            "options": job.option_map, "extra_args": list(job.extra_args),
            "build_id": self.build_by_dir[job.build_dir].identity,
            "model_id": self.model_by_dir[job.model_dir].identity,
            **({"sentinel": job.sentinel} if job.sentinel else {}),
        }

    @functools.cache  # noqa: B019 (one Study per parse; asked for each job several times)
    def memory_bytes(self, job: Job) -> int:
        """What a job may use at most (resources.memory_bytes), with its model."""
        return resources.memory_bytes(self.model_by_dir[job.model_dir], job)

    def skipped_records(self) -> list[dict]:
        return [record.skipped(self.experiment, job) for job in self.skipped]


def spec_json(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))

assert set(CACHE_TYPE_BYTES)  # the schema's enum for cache types is taken from here
