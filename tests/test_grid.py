from collections import Counter

from batchbench.grid import Job, expand, option_sets, path_segment


def grid(**over):
    g = {"npp": [128, 256, 512], "ntg": [128, 256], "npl": [1, 2, 4, 8, 16, 32],
         "repetitions": 1, "ctx": "auto", "batch": 2048, "ubatch": 512}
    g.update(over)
    return g


def test_seed_grid_is_36_jobs_each_once():
    jobs = expand(grid(), [("m", "m")], [("b", "b")])
    assert len(jobs) == 36
    assert len({j.relpath() for j in jobs}) == 36
    assert {(j.pp, j.tg, j.b) for j in jobs} == {
        (pp, tg, b) for pp in (128, 256, 512) for tg in (128, 256) for b in (1, 2, 4, 8, 16, 32)}


def test_scalar_and_list_axes():
    jobs = expand(grid(npp=64, ntg=[16], npl=2, threads=[1, 2]), [("m", "m")], [("b", "b")])
    assert sorted((j.pp, j.tg, j.b, j.option_map["threads"]) for j in jobs) == [
        (64, 16, 2, 1), (64, 16, 2, 2)]


def test_unset_options_are_left_out():
    assert option_sets({"ctx": "auto", "batch": None, "flash_attn": ["on", "off"]}) == [
        (("ctx", "auto"), ("flash_attn", "on")), (("ctx", "auto"), ("flash_attn", "off"))]


def test_paths_spell_out_the_parameters():
    job = Job("m", "b", 128, 256, 4, 2, (("ctx", 2048), ("ubatch", 512), ("pp_shared", True),
                                         ("kv_unified", False)), ("--no-warmup",), "m", "b")
    slug = job.opts_slug
    assert slug.startswith("c-2048_ub-512_pps_x-")
    assert job.relpath() == f"m/b/{slug}/pp128_tg256_b4_r2"


def test_repetitions_models_and_builds_interleave():
    models = [("m1", "m1"), ("m2", "m2")]
    builds = [("b1", "b1"), ("b2", "b2")]
    jobs = expand(grid(repetitions=3), models, builds)
    assert len(jobs) == 36 * 3 * 4
    # repetition r is finished before r+1 starts
    assert [j.rep for j in jobs] == sorted(j.rep for j in jobs)
    # consecutive jobs alternate between model/build pairs, never one pair for a long stretch
    pairs = [(j.model, j.build) for j in jobs]
    longest = max(len(list(g)) for g in _runs(pairs))
    assert longest <= 2
    # the combination order differs between repetitions (shuffled per repetition)
    order = [[(j.pp, j.tg, j.b) for j in jobs if j.rep == r and j.model == "m1" and j.build == "b1"]
             for r in (1, 2, 3)]
    assert order[0] != order[1] and Counter(order[0]) == Counter(order[1])


def _runs(seq):
    from itertools import groupby

    return [list(g) for _, g in groupby(seq)]


def test_skip_reason_for_fixed_context():
    jobs = expand(grid(ctx=2048), [("m", "m")], [("b", "b")])
    skipped = {(j.pp, j.tg, j.b) for j in jobs if j.skip_reason()}
    assert (128, 128, 32) not in skipped and (512, 256, 32) in skipped
    assert all(j.b * (j.pp + j.tg) > 2048 for j in jobs if j.skip_reason())
    reason = next(j.skip_reason() for j in jobs if j.skip_reason())
    assert "exceeds" in reason and "-c 2048" in reason


def test_path_segment_keeps_unsafe_names_unique_and_inert():
    assert path_segment("qwen3-8b") == "qwen3-8b"
    a, b = path_segment("my model; $(rm -rf ~)"), path_segment("my model; `rm -rf ~`")
    assert a != b
    for seg in (a, b):
        assert all(c.isalnum() or c in "._+-" for c in seg)


def test_a_jobs_path_is_the_rules_job_key():
    """The grid names a job by the template the rules match its files with (paths.JOB_KEY)."""
    import re

    from batchbench.paths import JOB_KEY, RUN, combination_pattern

    job = Job("m", "b", 128, 256, 4, 2, (("batch", 2048),), model_dir="m", build_dir="b", machine_dir="genoa")
    fields = {"machine": r"(?:[^/]+/)?"}
    pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m[1]}>{fields.get(m[1], '[^/_]+')})", re.escape(JOB_KEY))
    assert re.match(pattern, job.relpath()).groupdict() == {
        "machine": "genoa/", "model": "m", "build": "b", "opts": "b-2048",
        "pp": "128", "tg": "256", "b": "4", "rep": "2"}
    assert RUN.endswith(f"/runs/{JOB_KEY}.json")
    # the rules' {combination} wildcard matches the job's option set, combination and repetition
    assert re.fullmatch(combination_pattern(), job.relpath().removeprefix("genoa/m/b/"))
