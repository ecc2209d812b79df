import json

import pytest
from conftest import ROOT

from batchbench import UserError, plan
from batchbench.policy import DEFAULTS, POLICY_ENV, job_environment
from batchbench.study import Study


def study(config):
    return Study(config, ROOT)


def test_default_plan(default_config):
    s = study(default_config)
    assert len(s.jobs) == 36 and not s.skipped
    rows = plan.rows(s)
    assert len(rows) == 36 and all(r["mem_mb"] > 80 for r in rows)
    assert "36 benchmark jobs" in plan.summary(s)


def test_fixed_context_plans_skipped_rows(default_config):
    default_config["grid"]["ctx"] = 2048
    s = study(default_config)
    skipped = {(j.pp, j.tg, j.b) for j in s.skipped}
    assert skipped and all(b * (pp + tg) > 2048 for pp, tg, b in skipped)
    assert plan.summary(s).count("skipped: PP=") == 10 and "and 7 more in plan.tsv" in plan.summary(s)
    records = s.skipped_records()
    assert all(r["status"] == "skipped" and "exceeds" in r["reason"] for r in records)


def test_memory_grows_with_the_kv_cache(default_config):
    s = study(default_config)
    small = next(j for j in s.jobs if (j.pp, j.tg, j.b) == (128, 128, 1))
    big = next(j for j in s.jobs if (j.pp, j.tg, j.b) == (512, 256, 32))
    assert s.memory_bytes(big) > s.memory_bytes(small)


@pytest.mark.parametrize(
    "mutate,words",
    [
        (lambda c: c["models"].__setitem__(0, {"name": "x", "path": "/nowhere/model.gguf"}),
         ["models[0]", "/nowhere/model.gguf", "does not exist"]),
        (lambda c: c["grid"].update(ubatch=4096), ["grid.ubatch", "4096", "ubatch <= batch"]),
        (lambda c: c["grid"].update(extra_args=["-npl", "8"]), ["grid.extra_args", "-npl"]),
        (lambda c: c["grid"].update(ctx=16, npp=[512]), ["grid.ctx", "16", "fits no combination"]),
        (lambda c: c.update(models=[]), ["models", "imports"]),
        (lambda c: c["models"].append(dict(c["models"][0])), ["models", "tiny-qwen3", "repeats"]),
        (lambda c: c["models"][0]["synthetic"].update(preset="qwen9"), ["preset", "qwen9", "qwen3-8b"]),
        (lambda c: c["analysis"].update(predict=[{"preset": "qwen9"}]), ["analysis.predict[0].preset", "qwen9"]),
        (lambda c: c["builds"].__setitem__(0, {"name": "b", "binaries": {"batched_bench": "/no/bb"}}),
         ["builds[0]", "/no/bb", "does not exist"]),
    ],
)


def test_config_mistakes_name_the_key(default_config, mutate, words):
    mutate(default_config)
    with pytest.raises(UserError) as err:
        study(default_config)
    for word in words:
        assert word in str(err.value)


def test_a_file_that_is_not_gguf(default_config, tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04 not a model")
    default_config["models"] = [{"name": "x", "path": str(bogus)}]
    with pytest.raises(UserError, match="is not a GGUF file"):
        study(default_config)


def test_remeasure_and_the_verdict_limits_are_run_policy_not_what_a_job_measures(default_config):
    """Changing them changes no job's spec (nothing is measured again); the jobs still to run get
    them through the environment the workflow sets."""
    specs = [study(default_config).job_spec(j) for j in study(default_config).jobs]
    default_config["run"].update(remeasure=0, max_cpu_pressure=0.5, min_cpu_share=0.5)
    s = study(default_config)
    assert [s.job_spec(j) for j in s.jobs] == specs
    policy = json.loads(job_environment(s.run)[POLICY_ENV])
    assert policy["remeasure"] == 0 and policy["max_cpu_pressure"] == 0.5 and policy["min_cpu_share"] == 0.5
    assert policy["max_steal"] == DEFAULTS["max_steal"]


def test_drift_sentinel_is_measured_again_every_n_jobs(default_config):
    default_config["run"]["sentinel_every"] = 10
    s = study(default_config)
    grid = [j for j in s.jobs if not j.sentinel]
    sentinels = [(i, j) for i, j in enumerate(s.jobs) if j.sentinel]
    assert len(grid) == 36 and [j.sentinel for _, j in sentinels] == [1, 2, 3, 4, 5]
    assert [i for i, _ in sentinels] == [0, 11, 22, 33, 40]  # before jobs 1, 11, 21, 31, and after the last
    anchor = {(j.pp, j.tg, j.b) for _, j in sentinels}
    assert len(anchor) == 1 and [j.rep for _, j in sentinels] == [2, 3, 4, 5, 6]  # after the grid's rep 1
    assert len({j.relpath() for j in s.jobs}) == len(s.jobs)  # each its own record
    assert s.job_spec(sentinels[1][1])["sentinel"] == 2 and "sentinel" not in s.job_spec(grid[0])


def test_a_large_grid_says_how_long_planning_takes_and_how_to_split_it(default_config):
    assert plan.planning_note(study(default_config)) == ""
    default_config["grid"].update(npp=list(range(16, 16 * 26, 16)), ntg=list(range(8, 8 * 26, 8)),
                                  npl=list(range(1, 41)))
    note = plan.planning_note(study(default_config))
    assert note.startswith("25000 benchmark jobs: Snakemake needs about 40 s of one core to plan")
    assert "split the grid into experiments" in note
    default_config["grid"].update(npl=list(range(1, 201)))  # 125,000 jobs
    assert "about 3 min of one core to plan" in plan.planning_note(study(default_config))
