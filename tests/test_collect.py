import json

import pyarrow.parquet as pq
import pytest

from batchbench.collect import COLUMNS, write_runs_table
from batchbench.record import SCHEMA_VERSION, flatten


def record(status="ok", **over):
    rec = {
        "schema_version": 1, "experiment": "e", "model": "m", "build": "b", "pp": 128, "tg": 64,
        "b": 4, "rep": 1, "ctx": 768, "options": {"batch": 2048, "pp_shared": True},
        "extra_args": [], "command": ["bb", "-m", "x"], "status": status, "reason": "",
        "exit_code": 0, "signal": None, "stderr_tail": None, "attempts": 1,
        "start_time": "2026-11-24T10:00:00.000001+00:00", "end_time": "2026-11-24T10:00:01+00:00",
        "wall_time_s": 1.0, "host_name": "h", "host_cores": 2, "job_scheduler": "local",
        "model_info": {"arch": "qwen3", "quant": "Q8_0", "n_params": 10, "bytes": 20, "sha256": "ab"},
        "build_info": {"commit": "0c1e570", "version": "0.5.0-dev", "cmake_flags": ["-DX=1"],
                       "patches": [{"file": "p.patch"}]},
        "metrics": {"n_kv": 384, "t_pp": 0.5, "s_pp": 256.0, "t_tg": 1.0, "s_tg": 256.0, "t": 1.5,
                    "s": 426.67, "n_kv_max": 768, "n_threads": 2},
    }
    rec.update(over)
    return rec


def test_records_become_typed_columns(tmp_path):
    paths = []
    for i, rec in enumerate([record(), record("failed", metrics=None, reason="exit code 1")]):
        p = tmp_path / f"{i}.json"
        p.write_text(json.dumps(rec))
        paths.append(str(p))
    skipped = [{"schema_version": SCHEMA_VERSION, "experiment": "e", "model": "m", "build": "b", "pp": 512,
                "tg": 256, "b": 32, "rep": 1, "ctx": 2048, "options": {}, "status": "skipped", "reason": "too big",
                "metrics": {"n_kv": 24576, "n_kv_max": 8192}}]
    out = tmp_path / "runs.parquet"
    write_runs_table(paths, skipped, str(out))

    table = pq.read_table(out)
    assert table.schema.metadata[b"batchbench.schema_version"] == str(SCHEMA_VERSION).encode()
    assert table.column_names == list(COLUMNS)
    assert str(table.schema.field("start_time").type) == "timestamp[us, tz=UTC]"
    rows = table.to_pylist()
    assert [r["status"] for r in rows] == ["ok", "failed", "skipped"]
    ok = rows[0]
    assert (ok["pp"], ok["tg"], ok["b"], ok["n_kv"], ok["n_kv_max"]) == (128, 64, 4, 384, 768)
    assert ok["pp_shared"] is True and ok["kv_unified"] is False and ok["batch"] == 2048
    assert ok["llama_n_threads"] == 2 and ok["build_commit"] == "0c1e570"
    assert json.loads(ok["command"]) == ["bb", "-m", "x"] and ok["imported"] is False
    assert rows[1]["t_pp"] is None and rows[1]["reason"] == "exit code 1"
    assert rows[2]["n_kv"] == 24576 and rows[2]["reason"] == "too big"
    # a record without counters (an older runner, a skipped row) has them null, never zero
    assert ok["cpu_share"] is None and ok["disturbed"] is None and rows[2]["measurements"] is None


def test_counters_and_verdict_become_columns(tmp_path):
    counters = {"wall_s": 1.2, "cpu_time_s": 1.9, "threads": 2, "cpu_share": 0.79,
                "involuntary_switches": 41, "major_faults": 0, "cpu_pressure_some": 0.38,
                "cpu_pressure_full": 0.0, "memory_pressure_some": None, "memory_pressure_full": None,
                "cpu_steal": 0.0}
    attempts = [{"attempt": 1, "status": "ok", "disturbed": True}, {"attempt": 2, "status": "ok", "disturbed": False}]
    p = tmp_path / "r.json"
    p.write_text(json.dumps(record(counters=counters, disturbed=True, remeasured=1, measurements=attempts,
                                   disturbed_reason="the machine's CPU was contended for 38% of the job")))
    write_runs_table([str(p)], [], str(tmp_path / "runs.parquet"))
    row = pq.read_table(tmp_path / "runs.parquet").to_pylist()[0]
    assert (row["cpu_share"], row["cpu_threads"], row["involuntary_switches"]) == (0.79, 2, 41)
    assert row["cpu_pressure_some"] == 0.38 and row["memory_pressure_some"] is None
    assert row["disturbed"] is True and row["remeasured"] == 1 and "38%" in row["disturbed_reason"]
    assert json.loads(row["measurements"]) == attempts


def test_a_missing_record_stops_the_collect(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_runs_table([str(tmp_path / "missing.json")], [], str(tmp_path / "x.parquet"))


def test_a_record_of_an_unknown_schema_version_is_refused():
    """Every kind of record carries the version; one this code cannot read is named, not guessed."""
    assert flatten(record(schema_version=SCHEMA_VERSION))["status"] == "ok"
    for version in (None, SCHEMA_VERSION + 1, str(SCHEMA_VERSION)):
        with pytest.raises(ValueError, match="schema version"):
            flatten(record(schema_version=version))
