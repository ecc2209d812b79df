"""Importing logs other people published (tests/fixtures/logs, sources in its MANIFEST.tsv)."""

import csv
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import FIXTURES, ROOT

from batchbench.importer import LogFormatError, import_records, parse_command

LOGS = FIXTURES / "logs"
MANIFEST = list(csv.DictReader(open(LOGS / "MANIFEST.tsv"), delimiter="\t"))
COLUMNS = ("pp", "tg", "b", "n_kv", "t_pp", "s_pp", "t_tg", "s_tg", "t", "s")


@pytest.mark.parametrize("entry", MANIFEST, ids=[m["file"][:2] for m in MANIFEST])
def test_published_logs_of_every_era(entry):
    records = import_records(str(LOGS / entry["file"]), "e")
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == int(entry["n_rows"])
    first = ok[0]["metrics"]
    assert [first[c] for c in COLUMNS] == pytest.approx([float(entry[c]) for c in COLUMNS])
    if entry["n_kv_max"]:
        assert first["n_kv_max"] == int(entry["n_kv_max"])
    assert all(r["imported"] and r["source_file"].endswith(entry["file"]) for r in records)
    assert all(isinstance(r["source_line"], int) for r in ok)


def test_the_seed_table_with_its_skipped_combinations():
    records = import_records(str(LOGS / "seed-table.md"), "seed")
    ok = {(r["pp"], r["tg"], r["b"]): r["metrics"] for r in records if r["status"] == "ok"}
    skipped = {(r["pp"], r["tg"], r["b"]): r for r in records if r["status"] == "skipped"}
    assert len(ok) == 17 and len(skipped) == 19
    assert ok[(128, 128, 1)] == {"pp": 128, "tg": 128, "b": 1, "n_kv": 256, "t_pp": 5.432, "s_pp": 23.56,
                                 "t_tg": 14.804, "s_tg": 8.65, "t": 20.237, "s": 12.65}
    assert ok[(512, 256, 2)]["t"] == 88.494 and ok[(128, 128, 8)]["t_tg"] == 62.923
    # every B=16 and B=32, and the others whose N_KV exceeds -c 2048
    assert {b for _, _, b in skipped} >= {16, 32}
    assert all(r["metrics"]["n_kv"] > 2048 and "2048" in r["reason"] for r in skipped.values())
    assert all((pp + tg) * b <= 2048 for pp, tg, b in ok)
    assert records[0]["perf"] == {"load_ms": 5184.35, "prompt_eval_ms": 904505.37, "prompt_eval_count": 15888,
                                  "eval_ms": 152890.51, "eval_count": 1152, "total_ms": 1061798.55,
                                  "total_count": 17040}


def test_a_table_cut_short_records_what_is_missing():
    records = import_records(str(LOGS / "01-aws-t4-2023fmt-f16-cut-short.txt"), "e")
    missing = {r["b"]: r for r in records if r["status"] != "ok"}
    assert set(missing) == {3, 4}  # asked for -npl 1,2,3,4 (2023 positional form), printed 1 and 2
    assert all(r["status"] == "failed" and "ended before it" in r["reason"] for r in missing.values())


def test_command_lines_of_both_forms():
    assert parse_command("./llama-batched-bench -m m.gguf -c 2048 -npp 128,256 -ntg 64 -npl 1,2 -pps") == {
        "ctx": 2048, "npp": [128, 256], "ntg": [64], "npl": [1, 2], "pp_shared": True}
    assert parse_command("./batched-bench ./m.gguf 4096 0 99 0 512 512 1,2,3,4") == {
        "ctx": 4096, "pp_shared": False, "npp": [512], "ntg": [512], "npl": [1, 2, 3, 4]}
    assert parse_command("make batched-bench") is None


def test_a_file_without_results_names_the_file(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("| PP | TG | B |\n| 1 | 2 | 3 |\nnothing else\n")
    with pytest.raises(LogFormatError, match="notes.txt: no llama-batched-bench results"):
        import_records(str(bad), "e")


def test_a_garbled_jsonl_line_between_good_ones_names_file_and_line(tmp_path):
    lines = (LOGS / "07-phate334-cpu-output-jsonl.txt").read_text().splitlines()
    lines[1] = lines[1][:80]  # cut in the middle
    bad = tmp_path / "out.jsonl"
    bad.write_text("\n".join(lines))
    with pytest.raises(LogFormatError, match=r"out.jsonl:2: a JSONL result line that cannot be read"):
        import_records(str(bad), "e")


def test_an_experiment_of_imports_alone_runs_no_benchmark(tmp_path):
    config = {"experiment": "imp", "models": [],
              "imports": [str(LOGS / "*.txt"), str(LOGS / "seed-table.md")]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
           str(tmp_path), "--configfile", str(tmp_path / "c.yaml"), "--cores", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bench_run" not in result.stdout + result.stderr and "build_llama" not in result.stderr
    df = pq.read_table(tmp_path / "results" / "imp" / "runs.parquet").to_pandas()
    assert df["imported"].all() and df["source_file"].notna().all()
    assert (df["status"] == "ok").sum() == sum(int(m["n_rows"]) for m in MANIFEST) + 17
    assert (df["status"] == "skipped").sum() == 19


def test_imports_that_match_nothing_or_nothing_at_all(tmp_path):
    config = {"experiment": "imp", "models": [], "imports": [str(tmp_path / "none-*.txt")]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
           str(tmp_path), "--configfile", str(tmp_path / "c.yaml"), "--cores", "1", "-n"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode != 0 and "imports[0]" in result.stderr and "names no file" in result.stderr


def test_a_headerless_shared_prompt_table_is_recognised_by_its_n_kv():
    """ik_llama.cpp's -pps run (fixture 03) prints no header: N_KV = PP + B·TG tells the shared prompt."""
    records = import_records(str(LOGS / "03-ik-d164-cpu-shared-prompt-headerless-crlf.txt"), "e")
    assert all(r["options"]["pp_shared"] for r in records)
    records = import_records(str(LOGS / "seed-table.md"), "e")  # (PP+TG)·B: not shared
    assert not any(r["options"]["pp_shared"] for r in records)


def test_two_tables_in_one_log_stay_two_series(tmp_path):
    seed = (LOGS / "seed-table.md").read_text()
    table = seed[seed.index("|    PP"):seed.index("\n\n", seed.index("|    PP"))]
    log = tmp_path / "before-after.md"
    log.write_text(f"master:\nllama_batched_bench: n_kv_max = 2048, n_batch = 2048\n\n{table}\n\n"
                   f"PR:\nllama_batched_bench: n_kv_max = 4096, n_batch = 2048\n\n{table}\n")
    records = import_records(str(log), "e")
    assert {r["model"] for r in records} == {"before-after.md #1: master", "before-after.md #2: PR"}
    assert sum(r["model"].endswith("#1: master") for r in records) == 17


def test_a_garbled_row_inside_a_table_names_file_and_line(tmp_path):
    lines = (LOGS / "seed-table.md").read_text().splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("|   256 |    128 |    2"))
    lines[number - 1] = lines[number - 1].replace("25.730", "25.7x0")
    log = tmp_path / "garbled.md"
    log.write_text("\n".join(lines))
    with pytest.raises(LogFormatError, match=rf"garbled.md:{number}: a table row that cannot be read"):
        import_records(str(log), "e")


def test_a_log_with_timestamps_and_levels(tmp_path):
    """llama.cpp's `--log-timestamps --log-prefix` output: every line begins "0.00.012.345 I "."""
    lines = (LOGS / "seed-table.md").read_text().splitlines()
    log = tmp_path / "stamped.log"
    log.write_text("\n".join(f"0.{i // 100:02d}.{i % 1000:03d}.{i:03d} I {line}" for i, line in enumerate(lines)))
    records = import_records(str(log), "e")
    assert sum(r["status"] == "ok" for r in records) == 17 and sum(r["status"] == "skipped" for r in records) == 19
