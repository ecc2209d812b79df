"""The counters around a benchmark process and the disturbed verdict, on recorded counters."""

import resource

import yaml
from conftest import ROOT

from batchbench import surroundings
from batchbench.policy import DEFAULTS
from batchbench.surroundings import Snapshot, counters, verdict

QUIET = {"cpu_time_s": 1.95, "threads": 2, "cpu_share": 0.97, "involuntary_switches": 30, "major_faults": 0,
         "cpu_pressure_some": 0.04, "cpu_pressure_full": 0.0, "memory_pressure_some": 0.0,
         "memory_pressure_full": 0.0, "cpu_steal": 0.0}


def test_quiet_counters_are_not_disturbed():
    assert verdict(QUIET, DEFAULTS) == []


def test_each_limit_gives_its_reason():
    cases = {
        "cpu_share": (0.55, "the benchmark got 1.1 of its 2 threads' CPU time (55%"),
        "cpu_pressure_some": (0.38, "the machine's CPU was contended for 38% of the job"),
        "memory_pressure_some": (0.2, "tasks waited for memory for 20% of the job"),
        "cpu_steal": (0.12, "the hypervisor took 12% of the machine's CPU time"),
    }
    for key, (value, words) in cases.items():
        reasons = verdict({**QUIET, key: value}, DEFAULTS)
        assert len(reasons) == 1 and reasons[0].startswith(words), (key, reasons)


def test_missing_counters_give_no_verdict():
    """Without PSI (a kernel with it disabled) the CPU share still judges."""
    no_psi = {**QUIET, "cpu_pressure_some": None, "memory_pressure_some": None, "cpu_steal": None}
    assert verdict(no_psi, DEFAULTS) == []
    assert len(verdict({**no_psi, "cpu_share": 0.5}, DEFAULTS)) == 1
    assert verdict({}, DEFAULTS) == []


def test_limits_are_the_configs():
    assert verdict({**QUIET, "cpu_pressure_some": 0.3}, {**DEFAULTS, "max_cpu_pressure": 0.5}) == []


def test_schema_defaults_are_the_runners():
    """The run policy's defaults (remeasure and the verdict's limits among them) are the schema's."""
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())["properties"]["run"]["properties"]
    assert {k: schema[k]["default"] for k in DEFAULTS} == DEFAULTS


def usage(user: float, system: float, nivcsw: int = 0, majflt: int = 0):
    fields = [0.0] * 16
    fields[0], fields[1], fields[7], fields[15] = user, system, majflt, nivcsw
    return resource.struct_rusage(fields)


def test_counters_from_snapshots(monkeypatch):
    monkeypatch.setattr(surroundings, "available_cpus", lambda: 2)
    before = Snapshot(10.0, usage(1.0, 0.5, 5, 1), {"cpu": {"some": 1_000_000, "full": 0}, "memory": None},
                      (100, 10_000))
    after = Snapshot(12.0, usage(3.5, 0.6, 45, 1), {"cpu": {"some": 1_500_000, "full": 0}, "memory": None},
                     (120, 10_400))
    c = counters(before, after, threads=4)  # asked for 4, may use 2
    assert c["threads"] == 2 and abs(c["cpu_time_s"] - 2.6) < 1e-9 and abs(c["cpu_share"] - 0.65) < 1e-9
    assert c["involuntary_switches"] == 40 and c["major_faults"] == 0
    assert c["cpu_pressure_some"] == 0.25 and c["cpu_pressure_full"] == 0.0
    assert c["memory_pressure_some"] is None and c["cpu_steal"] == 0.05


def test_psi_and_stat_files(tmp_path):
    cpu = tmp_path / "cpu"
    cpu.write_text("some avg10=1.00 avg60=0.50 avg300=0.10 total=123456\n"
                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=7\n")
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 1000 5 0 2 30 40 0\ncpu0 50 0 25 500 2 0 1 15 20 0\n")
    snap = Snapshot.take({"cpu": str(cpu), "memory": str(tmp_path / "absent")}, str(stat))
    assert snap.pressure == {"cpu": {"some": 123456, "full": 7}, "memory": None}
    assert snap.ticks == (30, 1187)  # guest time is inside user time: not added twice
    assert Snapshot.take({}, str(tmp_path / "absent")).ticks is None
