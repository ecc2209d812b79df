"""The counters around a benchmark process and the disturbed verdict, on recorded counters."""

import resource

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


def test_idle_ticks_of_the_usable_cpus(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  300 0 60 1500 20 0 0 0 0 0\ncpu0 100 0 20 500 10 0 0 0 0 0\n"
                    "cpu1 200 0 40 1000 10 0 0 0 0 0\nintr 5\n")
    assert surroundings._idle_ticks({1}, str(stat)) == (1010, 1250, 1)  # waiting for a disk is idle
    assert surroundings._idle_ticks(None, str(stat)) == (1520, 1880, 2)
    assert surroundings._idle_ticks({7}, str(stat)) is None and surroundings._idle_ticks(None, "/absent") is None


def calm(wall: float, idle: int, total: int, some_us: int | None = 0) -> surroundings.Calm:
    """Two usable CPUs with `idle` of `total` ticks idle, and `some_us` of CPU pressure."""
    return surroundings.Calm(wall, (idle, total, 2), None if some_us is None else {"some": some_us, "full": 0})


def waited(readings, most_s=10.0, threads=2, limits=DEFAULTS):
    readings, slept = iter(readings), []
    out = surroundings.wait_for_quiet(threads, limits, most_s, take=lambda cpus: next(readings),
                                      sleep=slept.append)
    return out, slept


def test_wait_ends_at_the_first_quiet_window(monkeypatch):
    monkeypatch.setattr(surroundings, "available_cpus", lambda: 2)
    # a spinning neighbour on both CPUs (no pressure while the benchmark waits), then gone
    busy = [calm(0.0, 0, 0), calm(0.5, 1, 100), calm(1.0, 2, 200), calm(1.5, 97, 300)]
    out, slept = waited(busy)
    assert slept == [0.5, 0.5, 0.5] and out["quiet"] is True and out["waited_s"] == 1.5
    assert out["free_cpus"] == 2 * 95 / 100 and out["needed_cpus"] == 2 * DEFAULTS["min_cpu_share"]
    # the CPUs free, but tasks queueing for them (contention among others): not quiet either
    contended = [calm(0.0, 0, 0), calm(0.5, 90, 100, 400_000), calm(1.0, 180, 200, 410_000)]
    out, _ = waited(contended)
    assert out["quiet"] is True and out["waited_s"] == 1.0 and out["cpu_pressure"] == 0.02


def test_wait_is_bounded(monkeypatch):
    monkeypatch.setattr(surroundings, "available_cpus", lambda: 2)
    busy = [calm(0.5 * i, i, 100 * i) for i in range(100)]
    out, slept = waited(busy, most_s=3)
    assert out["quiet"] is False and out["waited_s"] == 3.0 and len(slept) == 6
    assert waited(busy, most_s=0) == (None, [])  # remeasure_wait_s: 0, measure again at once


def test_no_wait_without_counters(monkeypatch):
    out, slept = waited([surroundings.Calm(0.0, None, None)])
    assert out["quiet"] is None and slept == []


def test_wait_needs_room_for_the_threads_the_job_may_use(monkeypatch):
    monkeypatch.setattr(surroundings, "available_cpus", lambda: 2)
    one_free = [calm(0.0, 0, 0, None), calm(0.5, 50, 100, None)]  # one of two CPUs idle, no PSI
    assert waited(one_free, threads=1, most_s=0.5)[0]["quiet"] is True  # min_cpu_share of one thread
    assert waited(one_free, threads=8, most_s=0.5)[0]["quiet"] is False  # 8 asked, 2 usable: 1.5 needed
