"""Importing logs other people published (tests/fixtures/logs, sources in its MANIFEST.tsv)."""

import csv
import subprocess
import sys

import pandas as pd
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
    """Each published log: its printed rows, first row as printed, one series per table named by the
    label above it, the rows flagged inconsistent, and only the absent combinations its own command
    proves."""
    records = import_records(str(LOGS / entry["file"]), "e")
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == int(entry["n_rows"])
    first = ok[0]["metrics"]
    assert [first[c] for c in COLUMNS] == pytest.approx([float(entry[c]) for c in COLUMNS])
    if entry["n_kv_max"]:
        assert first["n_kv_max"] == int(entry["n_kv_max"])
    if entry["is_pp_shared"]:
        assert ok[0]["options"]["pp_shared"] is bool(int(entry["is_pp_shared"]))
    assert all(r["imported"] and r["source_file"].endswith(entry["file"]) for r in records)
    assert all(isinstance(r["source_line"], int) for r in ok)
    series = list(dict.fromkeys(r["model"] for r in records))
    assert len(series) == int(entry["n_series"])
    label = f": {entry['first_series']}" if entry["first_series"] else ""
    assert series[0] == (entry["file"] if len(series) == 1 else f"{entry['file']} #1") + label
    assert sum(bool(r["inconsistent"]) for r in ok) == int(entry["n_inconsistent"])
    absent = [r for r in records if r["status"] != "ok"]
    assert len(absent) == int(entry["n_absent"])
    for name in series:  # a printed combination is never also recorded absent
        printed = {(r["pp"], r["tg"], r["b"]) for r in ok if r["model"] == name}
        assert not printed & {(r["pp"], r["tg"], r["b"]) for r in absent if r["model"] == name}


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


def test_command_lines_of_every_form():
    assert parse_command("./llama-batched-bench -m m.gguf -c 2048 -npp 128,256 -ntg 64 -npl 1,2 -pps") == {
        "ctx": 2048, "npp": [128, 256], "ntg": [64], "npl": [1, 2], "pp_shared": True}
    assert parse_command("./batched-bench ./m.gguf 4096 0 99 0 512 512 1,2,3,4") == {
        "ctx": 4096, "pp_shared": False, "npp": [512], "ntg": [512], "npl": [1, 2, 3, 4]}
    # 2024 positional form with N_BATCH N_UBATCH, as the tool's README of then shows it
    assert parse_command("./batched-bench ./m.gguf 2048 512 512 0 999 0 128,256,512 128,256 1,2,4,8,16,32") == {
        "ctx": 2048, "pp_shared": False, "npp": [128, 256, 512], "ntg": [128, 256], "npl": [1, 2, 4, 8, 16, 32]}
    # chained after its build, piped into a file: the batched-bench part only
    assert parse_command("make -j batched-bench && ./batched-bench ./m.gguf 10880 1 99 0 128,2048 128 1,2") == {
        "ctx": 10880, "pp_shared": True, "npp": [128, 2048], "ntg": [128], "npl": [1, 2]}
    assert parse_command("llama-batched-bench.exe -m m.gguf -npp 1 -ntg 2 -npl 3 2>&1 | tee -c 9") == {
        "npp": [1], "ntg": [2], "npl": [3]}
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
              "imports": [str(LOGS / m["file"]) for m in MANIFEST] + [str(LOGS / "seed-table.md")]}
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
    assert (df["status"] == "failed").sum() == sum(int(m["n_absent"]) for m in MANIFEST)
    assert df["model"].nunique() == sum(int(m["n_series"]) for m in MANIFEST) + 1
    # the typo row of a published table reaches runs.parquet and the analysis as flagged
    flagged = df[df["inconsistent"].notna()]
    assert len(flagged) == sum(int(m["n_inconsistent"]) for m in MANIFEST)
    assert "(+1.000 s)" in flagged["inconsistent"].iloc[0]
    combos = pd.read_parquet(tmp_path / "results" / "imp" / "analysis" / "combinations.parquet")
    typo = combos[combos["inconsistent"].notna()]
    assert len(typo) == 1 and not typo["valid"].iloc[0] and "inconsistent as printed" in typo["flags"].iloc[0]


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


def test_a_typo_row_is_kept_as_printed_and_says_how_it_disagrees():
    """The Ryzen table of fixture 08 prints T 164.343 s for T_PP 124.570 + T_TG 38.773 = 163.343 s."""
    records = import_records(str(LOGS / "08-stepfun-readme-usage-three-tables-pp0-retypeset.md"), "e")
    row = next(r for r in records if r["model"].startswith("08-stepfun-readme-usage-three-tables-pp0-retypeset.md #3")
               and r["pp"] == 16384)
    assert row["status"] == "ok" and row["metrics"]["t"] == 164.343
    assert row["inconsistent"] == "T 164.343 s is not T_PP + T_TG = 163.343 s (+1.000 s)"
    # neither the usage example above each section (-c 16384) nor the table's own command adds a row
    assert all(r["status"] == "ok" for r in records)


def test_usage_examples_are_not_the_sample_tables_command():
    """The tool's README: usage commands (-c 2048), then a sample table from another run and JSONL
    lines of a third: two series, nothing absent."""
    records = import_records(str(LOGS / "11-llamacpp-batched-bench-readme-usage-sample-jsonl.md"), "e")
    assert all(r["status"] == "ok" for r in records)
    names = [r["model"] for r in records]
    assert names.count("11-llamacpp-batched-bench-readme-usage-sample-jsonl.md #1: Sample results") == 12
    assert names.count("11-llamacpp-batched-bench-readme-usage-sample-jsonl.md #2: JSONL output") == 2


def test_labelled_quoted_tables_in_details_are_separate_series():
    records = import_records(str(LOGS / "09-ik-d590-quoted-details-ten-tables-crlf.md"), "e")
    series = list(dict.fromkeys(r["model"] for r in records))
    assert [s.split(": ", 1)[1] for s in series[:4]] == ["Vulkan build", "Vulkan build", "CPU build", "CPU build"]
    assert all(sum(r["model"] == s for r in records) == 9 for s in series)
    records = import_records(str(LOGS / "10-ik-pr180-seven-labelled-tables-crlf.md"), "e")
    assert [s.split(": ", 1)[1] for s in dict.fromkeys(r["model"] for r in records)] == [
        "IQ4_K_R4 with this PR", "IQ4_K_R4 on main", "PR with q6_0 K cache", "PR with q8_0 K cache",
        "Second run of PR without K cache quantization", "main with q6_0 K cache", "main with q8_0 K cache"]


def test_a_row_whose_n_kv_disagrees_with_the_flags_is_flagged(tmp_path):
    lines = (LOGS / "seed-table.md").read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("|   256 |    128 |    2"))
    lines[number] = lines[number].replace("|    768 |", "|    786 |")
    log = tmp_path / "nkv.md"
    log.write_text("\n".join(lines))
    flagged = [r for r in import_records(str(log), "e") if r["status"] == "ok" and r["inconsistent"]]
    assert [(r["pp"], r["tg"], r["b"], r["inconsistent"]) for r in flagged] == [
        (256, 128, 2, "N_KV 786 is not (PP+TG)*B = 768")]


def test_a_command_its_table_contradicts_states_no_grid(tmp_path):
    """The seed's own table under a command that asks for no B = 4 although the table prints it: the
    command is another run's, so no absent combination."""
    seed = (LOGS / "seed-table.md").read_text().replace("-npl 1,2,4,8,16,32", "-npl 1,2,8,16,32")
    log = tmp_path / "other-command.md"
    log.write_text(seed)
    records = import_records(str(log), "e")
    assert sum(r["status"] == "ok" for r in records) == 17 and all(r["status"] == "ok" for r in records)


def test_a_command_whose_context_cannot_hold_the_printed_rows_states_no_grid(tmp_path):
    """The README's usage command (-c 2048) right above its sample table (N_KV up to 12288)."""
    text = (LOGS / "11-llamacpp-batched-bench-readme-usage-sample-jsonl.md").read_text()
    usage = text[text.index("./llama-batched-bench -m ./models/llama-7b/ggml-model-q8_0.gguf -c 2048"):]
    usage = usage[:usage.index("\n")]
    table = text[text.index("|    PP"):text.index("### JSONL")]
    log = tmp_path / "usage-then-table.md"
    log.write_text(f"{usage}\n\n{table}")
    records = import_records(str(log), "e")
    assert len(records) == 12 and all(r["status"] == "ok" for r in records)
    log.write_text(f"{usage}\n\n{table[:table.index('|   128 |    128 |   16')]}")  # rows it could hold
    assert sum(r["status"] != "ok" for r in import_records(str(log), "e")) == 3 * 2 * 6 - 4


def test_jsonl_runs_split_where_something_else_stands_between(tmp_path):
    """Fixture 07's four JSONL lines, then a command and the same four again: two series; a
    value set in bold in a pasted table still reads."""
    lines = (LOGS / "07-phate334-cpu-output-jsonl.txt").read_text().splitlines()
    log = tmp_path / "two-runs.jsonl"
    log.write_text("\n".join(lines + ["", "$ llama-batched-bench -m m.gguf --output-format jsonl"] + lines))
    records = import_records(str(log), "e")
    assert [sum(r["model"] == f"two-runs.jsonl #{k}" for r in records) for k in (1, 2)] == [4, 4]
    seed = (LOGS / "seed-table.md").read_text().replace("|   20.237 |", "| **20.237** |")
    (tmp_path / "bold.md").write_text(seed)
    assert sum(r["status"] == "ok" for r in import_records(str(tmp_path / "bold.md"), "e")) == 17


def test_a_blank_line_inside_a_table_starts_no_series(tmp_path):
    lines = (LOGS / "seed-table.md").read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("|   256 |    128 |    2"))
    log = tmp_path / "gap.md"
    log.write_text("\n".join(lines[:number] + ["", ""] + lines[number:]))
    records = import_records(str(log), "e")
    assert {r["model"] for r in records} == {"gap.md"} and sum(r["status"] == "ok" for r in records) == 17


def test_a_table_whose_whole_arithmetic_is_another_tools_is_not_imported(tmp_path):
    """The seed's table with every T off by 5 s: no batched-bench row is like that, so none is read."""
    lines = []
    for line in (LOGS / "seed-table.md").read_text().splitlines():
        cells = line.split("|")
        if len(cells) == 12 and cells[9].strip().replace(".", "").isdigit():
            cells[9] = f" {float(cells[9]) + 5:8.3f} "
        lines.append("|".join(cells))
    log = tmp_path / "other-tool.md"
    log.write_text("\n".join(lines))
    with pytest.raises(LogFormatError, match="no llama-batched-bench results"):
        import_records(str(log), "e")
