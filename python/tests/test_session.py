"""codegreen.Session: the three forms, every parameter, the report, the guarantees."""

import asyncio
import csv
import inspect
import json
import os
import re
import sys
import threading
import time
import warnings

import pytest

import codegreen
from codegreen import session as session_mod

from conftest import DRAM_W, PACKAGE_W, SIM_NOISY, TOTAL_W

REL = 0.02  # power within 2 %


def approx_energy(watts, seconds):
    """watts x seconds, within 1 % plus 1.5 ms of power: the sim, like RAPL, updates its counter
    every millisecond, so an interval's ends are known to about a millisecond."""
    return pytest.approx(watts * seconds, rel=0.01, abs=watts * 0.0015)


def quiet_session(*args, **kwargs):
    kwargs.setdefault("warn_on_concurrent", False)
    return codegreen.Session(*args, **kwargs)


def tasks_by_name(report):
    out = {}
    for t in report["tasks"]:
        out.setdefault(t["name"], []).append(t)
    return out


def assert_energy_matches_power(task, watts=TOTAL_W):
    assert task["energy_j"] == approx_energy(watts, task["duration_s"])
    if task["duration_s"] >= 0.05:
        assert task["avg_power_w"] == pytest.approx(watts, rel=REL)


# ----- the three forms -----

def test_context_manager_form(sim_env):
    with codegreen.Session("training-run") as s:
        with s.task("data_load"):
            time.sleep(0.1)
        with s.task("train"):
            with s.task("epoch"):
                time.sleep(0.1)
    r = s.report
    assert [t["name"] for t in r["tasks"]] == ["data_load", "train", "epoch"]
    load, train, epoch = r["tasks"]
    assert (load["depth"], load["parent"]) == (0, None)
    assert (epoch["depth"], epoch["parent"]) == (1, "train")
    for t in r["tasks"]:
        assert_energy_matches_power(t)
        assert t["domains"]["package-0"] == approx_energy(PACKAGE_W, t["duration_s"])
        assert t["domains"]["dram"] == approx_energy(DRAM_W, t["duration_s"])
        assert t["closed_at_end"] is False
    assert r["totals"]["energy_j"] == pytest.approx(load["energy_j"] + train["energy_j"])
    assert r["totals"]["n_tasks"] == 3 and r["totals"]["n_top_level_tasks"] == 2
    assert r["meta"]["session_name"] == "training-run"
    assert r["meta"]["measurement_quality"] == "ok"
    # The default file: codegreen_<pid>.json in the working directory, equal to the dict.
    path = sim_env / ("codegreen_%d.json" % os.getpid())
    assert s.output_path == str(path)
    with open(str(path)) as f:
        assert json.load(f) == r


def test_explicit_form(sim_env):
    s = quiet_session("explicit", output_file="out.json")
    assert s.start() is s
    assert s.active
    s.start_task("a")
    s.start_task("b")
    assert s.current_task() == "b"
    time.sleep(0.05)
    s.stop_task("b")
    s.stop_task()  # the innermost, whatever its name
    report = s.stop()
    assert report is s.report
    assert not s.active
    assert [(t["name"], t["depth"], t["parent"]) for t in report["tasks"]] == \
        [("a", 0, None), ("b", 1, "a")]
    with open("out.json") as f:
        assert json.load(f) == report


def test_decorator_plain_function_and_method(sim_env):
    @codegreen.task
    def load(x):
        time.sleep(0.02)
        return x * 2

    @codegreen.task("custom-name")
    def other():
        return "ok"

    class Model(object):
        @codegreen.task
        def fit(self, n):
            return n + 1

        @codegreen.task(name="predict")
        def predict(self):
            return self.fit(1)

    assert load(1) == 2  # no active Session: runs unmeasured
    with quiet_session("deco", save_to_file=False) as s:
        assert load(21) == 42
        assert other() == "ok"
        m = Model()
        assert m.fit(1) == 2
        assert m.predict() == 2
    names = [(t["name"], t["depth"], t["parent"]) for t in s.report["tasks"]]
    assert names == [("test_decorator_plain_function_and_method.<locals>.load", 0, None),
                     ("custom-name", 0, None),
                     ("test_decorator_plain_function_and_method.<locals>.Model.fit", 0, None),
                     ("predict", 0, None),
                     ("test_decorator_plain_function_and_method.<locals>.Model.fit", 1,
                      "predict")]
    assert load.__name__ == "load"  # functools.wraps
    assert_energy_matches_power(s.report["tasks"][0])


def test_decorator_exception_still_stops_the_task(sim_env):
    @codegreen.task("fails")
    def fails():
        raise KeyError("boom")

    with quiet_session("exc", save_to_file=False) as s:
        with pytest.raises(KeyError):
            fails()
        assert s.current_task() is None
    assert [t["name"] for t in s.report["tasks"]] == ["fails"]


def test_decorator_generator_is_measured_per_resumption(sim_env):
    @codegreen.task("gen")
    def gen(n):
        total = 0
        for i in range(n):
            time.sleep(0.01)
            got = yield i
            total += got or 0
        return total

    with quiet_session("gen", save_to_file=False) as s:
        g = gen(3)
        assert next(g) == 0
        with s.task("consumer"):  # between steps the generator's task is not open
            assert s.current_task() == "consumer"
        assert g.send(5) == 1
        assert g.send(6) == 2
        with pytest.raises(StopIteration) as stop:
            g.send(7)
        assert stop.value.value == 18
        # throw() and close() pass through
        g2 = gen(5)
        next(g2)
        with pytest.raises(ValueError):
            g2.throw(ValueError("x"))
        g3 = gen(5)
        next(g3)
        g3.close()
        assert s.current_task() is None
    names = [t["name"] for t in s.report["tasks"]]
    # gen(3): 4 resumptions (3 yields + the return); g2: 2; g3: 1 (close runs no task step)
    assert names.count("gen") == 4 + 2 + 1
    assert names.count("consumer") == 1
    assert all(t["depth"] == 0 for t in s.report["tasks"])
    steps = [t for t in s.report["tasks"] if t["name"] == "gen"][:3]
    for t in steps:
        # Each step slept 10 ms: at least that long; a busy machine may make it longer, so the
        # upper bound is the session's, not a guess at the scheduler.
        assert 0.0099 <= t["duration_s"] <= s.report["meta"]["duration_total_s"]


def test_decorator_coroutines_interleave_without_mismatch(sim_env):
    @codegreen.task("fetch")
    async def fetch(delay, value):
        time.sleep(0.005)
        await asyncio.sleep(delay)
        time.sleep(0.005)
        return value

    @codegreen.task("stream")
    async def stream(n):
        for i in range(n):
            await asyncio.sleep(0.001)
            yield i

    async def main():
        got = await asyncio.gather(fetch(0.03, "a"), fetch(0.01, "b"), fetch(0.02, "c"))
        items = [i async for i in stream(3)]
        return got, items

    assert inspect.iscoroutinefunction(fetch)
    with quiet_session("async", save_to_file=False) as s:
        got, items = asyncio.run(main())
    assert got == ["a", "b", "c"]
    assert items == [0, 1, 2]
    fetches = [t for t in s.report["tasks"] if t["name"] == "fetch"]
    # Each coroutine ran in two steps (before and after its sleep): 6 spans of ~5 ms, none of
    # which includes the time spent waiting on the event loop.
    assert len(fetches) == 6
    # On one thread, spans that exclude the waits never overlap: together they fit in the
    # session (a span holding an await would overlap the others running meanwhile). Bounds of
    # the code's own spans, not of how fast a busy machine ran them.
    assert all(t["duration_s"] >= 0.0049 for t in fetches)  # each step slept 5 ms
    assert sum(t["duration_s"] for t in fetches) <= s.report["meta"]["duration_total_s"]
    assert sum(1 for t in s.report["tasks"] if t["name"] == "stream") >= 3


def test_session_task_as_decorator(sim_env):
    s = quiet_session("bound", save_to_file=False)

    @s.task("bound-task")
    def f():
        return 1

    assert f() == 1  # session not started yet: unmeasured
    with s:
        f()
    assert [t["name"] for t in s.report["tasks"]] == ["bound-task"]


# ----- parameters -----

def test_defaults_match_the_reference():
    sig = inspect.signature(codegreen.Session)
    defaults = dict((k, v.default) for k, v in sig.parameters.items())
    assert defaults == {
        "name": "default", "output_file": None, "output_format": "auto", "save_to_file": True,
        "warn_on_concurrent": True, "record_time_series": False, "buffer_samples": None,
        "sample_interval_ms": None, "sampling_mode": "fixed",
        # Beyond the reference (issue 16): a Pushgateway for batch jobs' totals; (issue 18) the
        # time series' layout, None for the config's (the reference's samples by default).
        "push_url": None, "timeseries_layout": None}


def test_default_name_is_written(sim_env):
    with quiet_session() as s:
        pass
    assert s.report["meta"]["session_name"] == "default"


@pytest.mark.parametrize("kwargs, exc, param", [
    ({"name": 3}, TypeError, "name"),
    ({"name": "a\0b"}, ValueError, "name"),
    ({"output_file": 3}, TypeError, "output_file"),
    ({"output_file": ""}, ValueError, "output_file"),
    ({"output_format": "xml"}, ValueError, "output_format"),
    ({"output_format": None}, TypeError, "output_format"),
    ({"save_to_file": "yes"}, TypeError, "save_to_file"),
    ({"push_url": 9091}, TypeError, "push_url"),
    ({"warn_on_concurrent": 1}, TypeError, "warn_on_concurrent"),
    ({"record_time_series": None}, TypeError, "record_time_series"),
    ({"buffer_samples": 0}, ValueError, "buffer_samples"),
    ({"buffer_samples": -5}, ValueError, "buffer_samples"),
    ({"buffer_samples": 10.5}, TypeError, "buffer_samples"),
    ({"buffer_samples": True}, TypeError, "buffer_samples"),
    ({"sample_interval_ms": -1}, ValueError, "sample_interval_ms"),
    ({"sample_interval_ms": 0}, ValueError, "sample_interval_ms"),
    ({"sample_interval_ms": 60001}, ValueError, "sample_interval_ms"),
    ({"sample_interval_ms": "10"}, TypeError, "sample_interval_ms"),
    ({"sampling_mode": "turbo"}, ValueError, "sampling_mode"),
    ({"sampling_mode": 1}, TypeError, "sampling_mode"),
])
def test_bad_arguments_name_the_parameter(kwargs, exc, param):
    with pytest.raises(exc, match=param):
        codegreen.Session(**kwargs)


def test_adaptive_sampling_is_reserved():
    with pytest.raises(ValueError, match="only sampling_mode='fixed' is implemented"):
        codegreen.Session(sampling_mode="adaptive")


def test_pathlike_output_file(sim_env):
    with quiet_session("p", output_file=sim_env / "p.json") as s:
        pass
    assert s.output_path == str(sim_env / "p.json")


def test_csv_output_by_extension_and_by_format(sim_env):
    with quiet_session("csv", output_file="run.csv") as s:
        with s.task("a"):
            time.sleep(0.05)
        with s.task("b"):
            time.sleep(0.02)
    with open("run.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["a", "b"]
    assert {"energy_j", "duration_s", "package-0_j", "dram_j"} <= set(rows[0])
    # Issue F9: provenance and identity on every row, as the run and measure CSVs have them.
    for r in rows:
        assert r["run_id"] == s.report["meta"]["run_id"] and r["session_name"] == "csv"
        assert r["energy_source"] == "simulated" and r["measurement_quality"] == "ok"
        assert r["started_at"] == s.report["meta"]["started_at"]
    for row, task in zip(rows, s.report["tasks"]):
        assert float(row["energy_j"]) == task["energy_j"]
        assert float(row["energy_j"]) == approx_energy(TOTAL_W, float(row["duration_s"]))
    # output_format="csv" without a file: codegreen_<pid>.csv
    with quiet_session("csv2", output_format="csv") as s2:
        with s2.task("x"):
            pass
    # codegreen_<pid>.csv, or codegreen_<pid>_N.csv when an earlier Session of this (test)
    # process took the default name already
    assert re.fullmatch(re.escape(str(sim_env / ("codegreen_%d" % os.getpid()))) + r"(_\d+)?\.csv",
                        s2.output_path), s2.output_path
    assert open(s2.output_path).readline().startswith("run_id,session_name,started_at,")
    # An explicit format wins over the extension.
    with quiet_session("j", output_file="forced.csv", output_format="json") as s3:
        pass
    with open("forced.csv") as f:
        assert json.load(f) == s3.report


@pytest.mark.parametrize("kwargs", [{"save_to_file": False}, {"output_format": "none"}])
def test_no_file(sim_env, kwargs):
    with quiet_session("nofile", **kwargs) as s:
        with s.task("t"):
            pass
    assert s.output_path is None
    assert s.report["tasks"][0]["name"] == "t"
    assert list(sim_env.glob("codegreen_*")) == []


def test_write_again(sim_env):
    with quiet_session("w", save_to_file=False) as s:
        with s.task("t"):
            pass
    s.write("again.json")
    s.write("again.csv")
    with open("again.json") as f:
        assert json.load(f) == s.report
    assert open("again.csv").readline().startswith("run_id,")


def test_record_time_series_and_sample_interval(sim_env):
    # 20 ms samples: 19 to 21 of the sim's 1 ms counter updates each, so per-sample power is
    # within ~5 % of the true constant (at 1 ms the update grid aliases; see the report).
    with quiet_session("ts", record_time_series=True, sample_interval_ms=20,
                       save_to_file=False) as s:
        time.sleep(0.03)  # the session's first sample has no power yet (see the report)
        with s.task("t"):
            time.sleep(0.4)
    r = s.report
    assert r["meta"]["timeseries"]["enabled"] is True
    assert r["totals"]["sample_interval_ms"] == 20
    t = r["tasks"][0]
    series = t["timeseries"]
    # The start point, the samples stored every 20 ms of the task, the end point. How many the
    # sampler got to store depends on the scheduler (a starved thread stores fewer, never more),
    # so the count is bounded by the task's own duration, not by the 0.4 s asked of sleep().
    stored = len(series) - 2
    assert 1 <= stored <= t["duration_s"] / 0.020 + 1
    for sample in series:
        assert {"t_ns", "energy_j", "power_w"} <= set(sample)
        assert t["started_at_mono_ns"] <= sample["t_ns"] <= t["ended_at_mono_ns"]
    assert t["noise"]["quality"] in ("excellent", "good", "moderate")
    assert t["noise"]["power_mean_w"] == pytest.approx(TOTAL_W, rel=REL)
    with quiet_session("nots", save_to_file=False) as s2:
        with s2.task("t"):
            pass
    assert s2.report["tasks"][0]["timeseries"] is None
    assert s2.report["meta"]["timeseries"]["enabled"] is False


def test_buffer_samples_below_the_configs_minimum_is_refused(sim_env):
    # The floor is coordinator.max_samples' (1000): a store of 60 samples would hold 60 ms.
    # (What a full store does: test_buffer_samples_caps_the_sample_store.)
    with pytest.raises(ValueError, match="buffer_samples.*1000"):
        codegreen.Session("cap", buffer_samples=60, save_to_file=False)
    with quiet_session("cap", buffer_samples=1000, save_to_file=False) as s:
        pass
    assert s.report["meta"]["sampler"]["dropped_at_cap"] == 0


def test_buffer_samples_caps_the_sample_store(sim_env):
    # 1000 samples (the floor) at 1 ms hold 1 s; the session runs ~1.2 s: the store halves its
    # resolution instead of dropping samples, so the task's energy is still whole and the report
    # says the series was coarsened.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_session("cap", buffer_samples=1000, save_to_file=False) as s:
            with s.task("t"):
                time.sleep(1.2)
    sampler = s.report["meta"]["sampler"]
    assert sampler["dropped_at_cap"] == 0
    if sampler["samples"] > 1000:  # how many a busy machine stored is not the point
        assert sampler["coarsened"] >= 1
        assert any("coarsened" in w for w in sampler["warnings"])
    # each of the meter's warnings is the program's RuntimeWarning too
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == \
        ["codegreen: " + w for w in sampler["warnings"]]
    t = s.report["tasks"][0]
    assert t["energy_j"] == pytest.approx(TOTAL_W * t["duration_s"], rel=0.05)
    assert s.report["meta"]["measurement_quality"] == "ok"


def test_noise_warnings_become_runtime_warnings(sim_env, monkeypatch):
    monkeypatch.setenv("CODEGREEN_SIM_CONFIG", SIM_NOISY)
    s = quiet_session("noisy", record_time_series=True, save_to_file=False)
    with pytest.warns(RuntimeWarning, match="'jittery'.*high-noise"):
        with s:
            with s.task("jittery"):
                time.sleep(0.2)
    warns = s.report["totals"]["noise_warnings"]
    assert [w["task"] for w in warns] == ["jittery"]
    assert "within_task_power_cv_above_10pct" in warns[0]["reasons"]


# A domain at 0 W never changes: after a session of over a second (and 100 of its updates) the
# library warns that its 0 J is no measurement of zero (meta.sampler.warnings).
SIM_STILL_GPU = json.dumps({"domains": [
    {"name": "package-0", "kind": "cpu_package", "waveform": "constant", "power_w": PACKAGE_W},
    {"name": "gpu0", "kind": "gpu", "waveform": "constant", "power_w": 0},
]})


@pytest.mark.parametrize("series", [False, True])
def test_sampler_warnings_become_runtime_warnings_at_the_users_line(sim_env, monkeypatch, series):
    monkeypatch.setenv("CODEGREEN_SIM_CONFIG", SIM_STILL_GPU)
    s = quiet_session("still", record_time_series=series, save_to_file=False)
    s.start()
    with s.task("wait"):
        time.sleep(1.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s.stop(); line = sys._getframe().f_lineno  # noqa: E702 - the line the warning names
    sampler = s.report["meta"]["sampler"]["warnings"]
    # a loaded machine may add its own (a late sampler, noise): the still GPU's must be there
    still = [w for w in sampler if w.startswith("domain gpu0 (sim, update period unknown)")]
    assert len(still) == 1 and "never changed in" in still[0]
    got = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    # every sampler warning, and nothing else, is a RuntimeWarning at the user's line
    assert sorted(str(w.message) for w in got) == sorted("codegreen: " + w for w in sampler)
    assert all((w.filename, w.lineno) == (__file__, line) for w in got)


def test_with_statement_names_its_line_and_a_quiet_meter_warns_nothing(sim_env, monkeypatch):
    monkeypatch.setenv("CODEGREEN_SIM_CONFIG", SIM_STILL_GPU)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_session("still", save_to_file=False) as s:  # the line __exit__ warns at
            line = sys._getframe().f_lineno - 1
            time.sleep(1.05)
    got = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(got) == 1 and "gpu0" in str(got[0].message)
    assert (got[0].filename, got[0].lineno) == (__file__, line)
    # a session too short for the rule (under a second, by its own clock): no warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_session("short", save_to_file=False) as s:
            time.sleep(0.05)
    if s.report["totals"]["wall_duration_s"] < 1:
        assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []
        assert s.report["meta"]["sampler"]["warnings"] == []


@pytest.mark.parametrize("env", [{"CODEGREEN_PROVIDERS": "bogus"},
                                 {"CODEGREEN_PROVIDERS": "sim", "CODEGREEN_SIM_CONFIG": "{bad"},
                                 {"CODEGREEN_PROVIDERS": "sim", "CODEGREEN_SIM_CONFIG": "[]"}])
def test_a_backend_that_cannot_open_warns_with_its_reason(sim_env, monkeypatch, env):
    # The program goes on without energy, as the README promises, with a warning saying why
    # (was silent: only a missing library warned).
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_session("nobackend", save_to_file=False) as s:
            line = sys._getframe().f_lineno - 1
    meta = s.report["meta"]
    assert meta["energy_source"] == "none" and meta["backend_error"]
    got = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert [str(w.message) for w in got] == [
        "codegreen: no energy backend, so every energy is 0 (measurement_quality "
        "\"no_backend\"): " + meta["backend_error"]]
    assert (got[0].filename, got[0].lineno) == (__file__, line)


def test_meta_fields(sim_env):
    import platform
    import sys
    with quiet_session("meta", save_to_file=False) as s:
        pass
    m = s.report["meta"]
    assert m["python_version"] == platform.python_version()
    assert m["argv"] == sys.argv
    assert m["pid"] == os.getpid()
    assert m["nemb_abi_version"] == 3
    assert m["codegreen_env"]["CODEGREEN_PROVIDERS"] == "sim"
    assert m["measurement_quality"] == "no_tasks"
    assert m["energy_source"] == "simulated"
    assert set(m["domain_topology"]) == {"package-0", "dram"}


REFERENCE_META = {
    "schema_version", "codegreen_version", "run_id", "session_name", "started_at", "ended_at",
    "started_at_local", "ended_at_local", "host_timezone", "duration_total_s", "hostname", "pid",
    "platform", "python_version", "cpu_model", "kernel", "cwd", "argv", "codegreen_env",
    "measurement_quality", "domain_support", "outlier_method", "iso_timestamp_format",
    "nemb_abi_version", "domain_topology", "timeseries"}
REFERENCE_TASK = {
    "name", "depth", "parent", "energy_j", "avg_power_w", "duration_s", "started_at", "ended_at",
    "started_at_mono_ns", "ended_at_mono_ns", "domains", "domains_power_w", "timeseries", "noise"}
REFERENCE_TOTALS = {
    "energy_j", "duration_s", "wall_duration_s", "task_duration_s", "gap_duration_s",
    "concurrent_overlap_s", "n_tasks", "n_top_level_tasks", "domains", "domains_power_w",
    "sample_interval_ms", "worst_within_task_power_cv_percent", "noise_warnings"}


def test_envelope_has_every_reference_field(sim_env):
    with quiet_session("ref", record_time_series=True, sample_interval_ms=20,
                       save_to_file=False) as s:
        time.sleep(0.03)
        with s.task("t"):
            time.sleep(0.1)
    r = s.report
    assert REFERENCE_META <= set(r["meta"])
    assert REFERENCE_TASK <= set(r["tasks"][0])
    assert REFERENCE_TOTALS <= set(r["totals"])
    assert set(r["tasks"][0]["noise"]) >= {
        "samples_captured", "samples_expected", "samples_expected_method", "drop_ratio",
        "power_mean_w", "power_std_w", "power_cv_percent", "sample_interval_ms", "quality"}
    assert r["meta"]["started_at"].endswith("+00:00")
    assert len(r["meta"]["run_id"]) == 12


# ----- guarantees -----

def test_second_active_session_raises(sim_env):
    waiting = quiet_session("constructed-before", save_to_file=False)
    with quiet_session("first", save_to_file=False):
        with pytest.raises(RuntimeError, match="'first'.*already active"):
            codegreen.Session("second")
        with pytest.raises(RuntimeError, match="'first'.*already active"):
            waiting.start()
    waiting.start().stop()  # one at a time is fine


def test_mismatched_stop_names_the_innermost_task(sim_env):
    with quiet_session("mm", save_to_file=False) as s:
        s.start_task("outer")
        s.start_task("inner")
        with pytest.raises(RuntimeError, match="innermost open task in this thread is 'inner'"):
            s.stop_task("outer")
        s.stop_task("inner")
        s.stop_task("outer")
        with pytest.raises(RuntimeError, match="no task is open"):
            s.stop_task("outer")
        with pytest.raises(TypeError, match="name"):
            s.start_task(5)


def test_bare_session_task_decorator_says_to_give_the_name(sim_env):
    # @s.task without a name passes the function as the name: the error says the right form,
    # before the session starts (Python) and while it runs (the extension's or ctypes' path).
    s = quiet_session("bare", save_to_file=False)

    def f():
        pass

    for _ in range(2):
        with pytest.raises(TypeError, match=r'not function; .*@s\.task\("name"\)'):
            s.task(f)
        if s._state != "active":
            s.start()
    s.stop()


def test_state_errors(sim_env):
    s = quiet_session("st", save_to_file=False)
    with pytest.raises(RuntimeError, match="not active"):
        s.start_task("x")
    with pytest.raises(RuntimeError, match="never started"):
        s.stop()
    s.start()
    with pytest.raises(RuntimeError, match="already started"):
        s.start()
    s.stop()
    with pytest.raises(RuntimeError, match="already stopped"):
        s.stop()
    with pytest.raises(RuntimeError, match="runs once"):
        s.start()
    with pytest.raises(RuntimeError, match="not active"):
        s.stop_task()


def test_open_tasks_are_closed_at_stop(sim_env):
    with quiet_session("open", save_to_file=False) as s:
        s.start_task("left-open")
    t = s.report["tasks"][0]
    assert t["name"] == "left-open" and t["closed_at_end"] is True


def test_threads_keep_their_own_stacks(sim_env):
    barrier = threading.Barrier(2)
    errors = []

    def worker(tag):
        try:
            with s.task("worker-" + tag):
                barrier.wait()
                with s.task("step-" + tag):
                    time.sleep(0.05)
                barrier.wait()
                # The other thread's task is not this thread's innermost one.
                other = "worker-" + ("b" if tag == "a" else "a")
                try:
                    s.stop_task(other)
                except RuntimeError as e:
                    errors.append(str(e))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    with quiet_session("threads", save_to_file=False) as s:
        threads = [threading.Thread(target=worker, args=(t,)) for t in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(errors) == 2 and all("innermost open task in this thread is 'worker-" in e
                                    for e in errors)
    by = tasks_by_name(s.report)
    assert by["step-a"][0]["parent"] == "worker-a"
    assert by["step-b"][0]["parent"] == "worker-b"
    assert by["worker-a"][0]["thread"] != by["worker-b"][0]["thread"]
    assert s.report["totals"]["concurrent_overlap_s"] > 0.03
    for name in ("step-a", "step-b"):
        assert_energy_matches_power(by[name][0])


def test_forgotten_stop_is_recovered_at_exit(run_py, sim_env):
    r = run_py("""
        import codegreen, time
        s = codegreen.Session("forgotten", output_file="forgotten.json")
        s.start()
        s.start_task("never-stopped")
        time.sleep(0.05)
        print("program done")
    """)
    assert r.stdout == "program done\n"
    assert "never stopped" in r.stderr
    with open(str(sim_env / "forgotten.json")) as f:
        report = json.load(f)
    t = report["tasks"][0]
    assert t["name"] == "never-stopped" and t["closed_at_end"] is True
    assert t["energy_j"] == approx_energy(TOTAL_W, t["duration_s"])


def test_forked_child_is_a_no_op(run_py, sim_env):
    r = run_py("""
        import codegreen, os, sys, json
        s = codegreen.Session("forks", output_file="parent.json", warn_on_concurrent=False)
        s.start()
        s.start_task("before-fork")
        pid = os.fork()
        if pid == 0:
            s.start_task("in-child")        # no-op
            s.stop_task("in-child")
            assert s.stop() is None         # no-op
            assert codegreen.active_session() is None
            sys.exit(0)                     # atexit runs in the child: must write nothing
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        s.stop_task("before-fork")
        s.stop()
        print(pid)
    """)
    child = int(r.stdout.strip())
    assert not (sim_env / ("codegreen_%d.json" % child)).exists()
    assert sorted(p.name for p in sim_env.glob("*.json")) == ["parent.json"]
    with open(str(sim_env / "parent.json")) as f:
        report = json.load(f)
    assert [t["name"] for t in report["tasks"]] == ["before-fork"]


def test_missing_library_degrades_to_no_backend(run_py, sim_env):
    r = run_py("""
        import codegreen, time, json
        with codegreen.Session("nolib", output_file="nolib.json") as s:
            with s.task("outer"):
                with s.task("inner"):
                    time.sleep(0.02)
            try:
                s.start_task("a"); s.start_task("b"); s.stop_task("a")
            except RuntimeError as e:
                print("mismatch:", e)
            s.stop_task("b"); s.stop_task("a")
        print(json.dumps(s.report))
    """, env={"CODEGREEN_LIB_PATH": "/nonexistent/libcodegreen-nemb.so"})
    assert "RuntimeWarning" in r.stderr and "no_backend" in r.stderr
    assert "/nonexistent" in r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("mismatch: cannot stop task 'a': the innermost open task in this thread "
                        "is 'b'")
    report = json.loads(lines[1])
    with open(str(sim_env / "nolib.json")) as f:
        assert json.load(f) == report
    assert report["meta"]["measurement_quality"] == "no_backend"
    assert report["meta"]["backend_error"].startswith("libcodegreen-nemb.so could not be loaded")
    assert [(t["name"], t["depth"], t["parent"]) for t in report["tasks"]] == \
        [("outer", 0, None), ("inner", 1, "outer"), ("a", 0, None), ("b", 1, "a")]
    assert all(t["energy_j"] == 0.0 for t in report["tasks"])
    assert report["tasks"][1]["duration_s"] >= 0.02
    assert report["totals"]["energy_j"] == 0.0


def keys_of(value):
    """The nested key structure of a report (lists by their first element)."""
    if isinstance(value, dict):
        return dict((k, keys_of(v)) for k, v in value.items())
    if isinstance(value, list):
        return [keys_of(value[0])] if value and isinstance(value[0], (dict, list)) else []
    return None


def test_fallback_envelope_has_the_c_no_backend_keys(run_py, sim_env, monkeypatch):
    # The C library's own no_backend report: a forced provider that cannot open.
    monkeypatch.setenv("CODEGREEN_PROVIDERS", "powercap")
    monkeypatch.setenv("CODEGREEN_SYSFS_ROOT", str(sim_env / "no-such-root"))
    with quiet_session("c-side", save_to_file=False) as s:
        with s.task("t"):
            pass
    c_report = s.report
    assert c_report["meta"]["measurement_quality"] == "no_backend"
    for series in (False, True):
        r = run_py("""
            import codegreen, json, sys
            with codegreen.Session("py-side", save_to_file=False,
                                   record_time_series=%s) as s:
                with s.task("t"):
                    pass
            print(json.dumps(s.report))
        """ % series, env={"CODEGREEN_LIB_PATH": "/nonexistent"})
        py_report = json.loads(r.stdout)
        assert keys_of(py_report) == keys_of(c_report) or series
        assert set(py_report["meta"]) == set(c_report["meta"])
        assert set(py_report["tasks"][0]) == set(c_report["tasks"][0])
        assert set(py_report["totals"]) == set(c_report["totals"])
        for key in ("measurement_quality", "domain_support", "energy_source", "domain_topology",
                    "sampler", "outlier_method", "iso_timestamp_format", "platform", "kernel",
                    "hostname", "cpu_model"):
            assert py_report["meta"][key] == c_report["meta"][key], key
        for key in ("energy_j", "domains", "domains_power_w", "noise", "closed_at_end",
                    "thread", "depth", "parent"):
            assert py_report["tasks"][0][key] == c_report["tasks"][0][key], key


def test_fallback_csv(run_py, sim_env):
    run_py("""
        import codegreen
        with codegreen.Session("nolib-csv", output_file="x.csv") as s:
            with s.task("a,b"):
                pass
    """, env={"CODEGREEN_LIB_PATH": "/nonexistent"})
    with open(str(sim_env / "x.csv")) as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["name"] == "a,b" and float(rows[0]["energy_j"]) == 0.0
    # The same provenance columns as the library's CSV: nothing measured says so.
    assert rows[0]["energy_source"] == "none" and rows[0]["measurement_quality"] == "no_backend"
    assert rows[0]["session_name"] == "nolib-csv" and rows[0]["run_id"]


def test_library_search_order(run_py, tmp_path):
    import shutil
    import subprocess
    import sys
    lib = os.environ["CODEGREEN_LIB_PATH"]
    # A directory in CODEGREEN_LIB_PATH is searched for the library.
    r = run_py("import codegreen; print(codegreen.native_library())",
               env={"CODEGREEN_LIB_PATH": os.path.dirname(lib)})
    assert os.path.samefile(r.stdout.strip(), lib)
    # Beside the package: a copy of the package with the library in it, and no variable.
    pkg = tmp_path / "site" / "codegreen"
    shutil.copytree(os.path.dirname(codegreen.__file__), str(pkg))
    shutil.copy(lib, str(pkg / "libcodegreen-nemb.so"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    env.pop("CODEGREEN_LIB_PATH")
    code = "import codegreen; print(codegreen.__file__); print(codegreen.native_library())"
    out = subprocess.check_output([sys.executable, "-c", code], env=env,
                                  universal_newlines=True).split()
    assert out[0].startswith(str(pkg))
    assert out[1] == str(pkg / "libcodegreen-nemb.so")


def test_wrong_abi_is_refused(run_py, tmp_path):
    # A library that is not codegreen's: the system's libm has no nemb_abi_version.
    import ctypes.util
    libm = ctypes.util.find_library("m")
    r = run_py("""
        import codegreen, warnings
        warnings.simplefilter("always")
        print(codegreen.native_library())
        s = codegreen.Session("x", save_to_file=False)
    """, env={"CODEGREEN_LIB_PATH": libm})
    assert r.stdout.strip() == "None"
    assert "not a codegreen library" in r.stderr


def test_warn_on_concurrent_with_two_processes(run_py, sim_env):
    import subprocess
    import sys
    holder = subprocess.Popen(
        [sys.executable, "-c", "import codegreen, sys\n"
         "s = codegreen.Session('holder', save_to_file=False).start()\n"
         "print('started', flush=True)\n"
         "sys.stdin.readline()\n"
         "s.stop()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True,
        env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(codegreen.__file__))))
    try:
        assert holder.stdout.readline().strip() == "started"
        with pytest.warns(UserWarning, match=r"other codegreen process.*pid %d" % holder.pid):
            s = codegreen.Session("second-process", save_to_file=False)
        assert codegreen.other_processes() == [holder.pid]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            codegreen.Session("silent", save_to_file=False, warn_on_concurrent=False)
        # While this one runs, it is registered too (the holder would be warned).
        s.start()
        registry = os.path.join(os.environ["XDG_RUNTIME_DIR"], "codegreen-%d.pids" % os.geteuid())
        assert os.stat(registry).st_mode & 0o777 == 0o600
        pids = [int(line.split()[0]) for line in open(registry)]
        assert sorted(pids) == sorted([holder.pid, os.getpid()])
        s.stop()
        assert [int(line.split()[0]) for line in open(registry)] == [holder.pid]
    finally:
        holder.kill()  # dies without unregistering: its entry is stale
        holder.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codegreen.Session("alone", save_to_file=False)
    assert codegreen.other_processes() == []


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_export_plot(sim_env, monkeypatch):
    s = quiet_session("plot", record_time_series=True, save_to_file=False)
    with pytest.raises(RuntimeError, match="after stop"):
        s.export_plot("early.html")
    with s:
        with s.task("t"):
            time.sleep(0.05)
    s.export_plot(str(sim_env / "p.html"))
    assert (sim_env / "p.html").stat().st_size > 1000
    assert "<html" in (sim_env / "p.html").read_text().lower()
    try:
        s.export_plot(sim_env / "p.png")  # a PathLike works too
    except RuntimeError as e:  # a build without cairo says so
        assert "png" in str(e).lower() or "cairo" in str(e).lower()
    else:
        assert (sim_env / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises((ValueError, OSError, RuntimeError)):
        s.export_plot(str(sim_env / "no-such-dir" / "p.html"))


def test_sources_are_python38_syntax():
    import ast
    root = os.path.dirname(os.path.dirname(os.path.abspath(codegreen.__file__)))
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".py")]
    bench = os.path.join(os.path.dirname(root), "bench", "bench_python.py")
    files.append(bench)
    assert len(files) > 5
    for path in files:
        with open(path) as f:
            ast.parse(f.read(), path, feature_version=(3, 8))


def test_runs_on_python38_if_available(sim_env, tmp_path):
    import glob
    import subprocess
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8.*/bin/python3.8")) +
                   glob.glob("/usr/bin/python3.8") + glob.glob("/usr/local/bin/python3.8"))
    if not found:
        pytest.skip("no Python 3.8 interpreter here")
    exe = found[0]
    code = ("import codegreen, codegreen_runtime, time\n"
            "with codegreen.Session('py38', save_to_file=False) as s:\n"
            "    with s.task('t'):\n"
            "        time.sleep(0.1)\n"
            "f = codegreen_runtime.register('f', 'x.py', 1)\n"
            "codegreen_runtime.enter(f); codegreen_runtime.exit(f)\n"
            "print(s.report['tasks'][0]['avg_power_w'], codegreen_runtime.IMPLEMENTATION)\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(codegreen.__file__)),
               CODEGREEN_RESULT_FILE=str(tmp_path / "result.json"))
    out = subprocess.check_output([exe, "-c", code], env=env, universal_newlines=True)
    watts, impl = out.split()
    assert float(watts) == pytest.approx(TOTAL_W, rel=0.03)
    # The extension is abi3 (the limited API of 3.8): the build's one binary serves 3.8 too.
    libdir = os.path.dirname(os.environ["CODEGREEN_LIB_PATH"])
    built = any(f.startswith("_codegreen_fast") for f in os.listdir(libdir))
    assert impl == ("extension" if built else "ctypes")


def test_session_in_module_namespace():
    assert codegreen.Session is session_mod.Session
    assert callable(codegreen.task)
    assert codegreen.__version__


def test_decorator_over_classmethod_and_staticmethod(sim_env):
    class K(object):
        @codegreen.task
        @classmethod
        def make(cls):
            return cls.__name__

        @codegreen.task("static")
        @staticmethod
        def util(x):
            return x + 1

    with quiet_session("cm", save_to_file=False) as s:
        assert K.make() == "K"
        assert K.util(1) == 2
    assert [t["name"] for t in s.report["tasks"]] == [
        "test_decorator_over_classmethod_and_staticmethod.<locals>.K.make", "static"]


def test_new_session_in_forked_child_is_explained(run_py):
    r = run_py("""
        import codegreen, os, sys
        s = codegreen.Session("parent", save_to_file=False, warn_on_concurrent=False).start()
        pid = os.fork()
        if pid == 0:
            try:
                codegreen.Session("child", save_to_file=False, warn_on_concurrent=False).start()
            except RuntimeError as e:
                print("child:", e, flush=True)
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        s.stop()
        print("status", status)
    """)
    assert "forked while its parent's Session was active" in r.stdout
    assert "status 0" in r.stdout


def test_unwritable_output_raises_but_keeps_the_report(sim_env):
    s = quiet_session("unwritable", output_file=str(sim_env / "no-such-dir" / "x.json"))
    with pytest.raises(OSError, match="no-such-dir"):
        with s:
            with s.task("t"):
                pass
    assert s.report["tasks"][0]["name"] == "t"
    assert s.output_path is None
    assert codegreen.active_session() is None


def test_push_url_failure_warns_and_keeps_the_report(tmp_path):
    # A closed port: the push fails, the program goes on, the report is written anyway. (The push
    # itself, to a real Pushgateway, is tests/engines/test_pushgateway.sh.)
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    out = tmp_path / "pushed.json"
    with pytest.warns(RuntimeWarning, match="cannot push to http://127.0.0.1:%d" % port):
        with codegreen.Session("batch", output_file=str(out),
                               push_url="http://127.0.0.1:%d" % port):
            pass
    assert json.loads(out.read_text())["meta"]["session_name"] == "batch"


def test_a_failed_push_does_not_print_the_password(tmp_path):
    out = tmp_path / "pushed.json"
    with pytest.warns(RuntimeWarning) as got:
        with codegreen.Session("batch", output_file=str(out),
                               push_url="http://user:secret@127.0.0.1:1"):
            pass
    text = " ".join(str(w.message) for w in got)
    assert "cannot push to http://user:***@127.0.0.1:1" in text and "secret" not in text, text


@pytest.mark.parametrize("url, why", [
    ("ftp://x", "must start with http:// or https://"),
    ("http://", "names no host"),
    ("https:///metrics", "names no host"),
    # libcurl's parser (curl_url) decides what a URL is: these passed the old hand-written check
    # and failed only at the push, after the work.
    ("http://a b", r"is not a valid URL \(libcurl: "),
    ("http://host:notaport", r"is not a valid URL \(libcurl: "),
    ("http://host:99999", r"is not a valid URL \(libcurl: "),
    ("http://[::1", r"is not a valid URL \(libcurl: "),
    ("http://host:0", "has a port outside 1 to 65535"),
    ("http://host:9091/?x=1", "has a query or fragment"),
])
def test_a_push_url_the_library_refuses_is_refused_before_the_work(tmp_path, url, why):
    # The library's rule (nemb_push_url_check), at construction: not a warning after the work.
    out = tmp_path / "never.json"
    with pytest.raises(ValueError,
                       match="push_url: Pushgateway URL '%s' %s" % (re.escape(url), why)):
        codegreen.Session("batch", output_file=str(out), push_url=url)
    assert not out.exists() and codegreen.active_session() is None


def test_a_push_url_with_a_lone_surrogate_is_refused_at_construction(tmp_path):
    # The check and the push encode it the same way (strict UTF-8): refused now, not a
    # UnicodeEncodeError at stop() and a failed stop at exit.
    out = tmp_path / "never.json"
    with pytest.raises(ValueError, match="push_url: .* is not valid UTF-8"):
        codegreen.Session("batch", output_file=str(out), push_url="http://h:1/\udce9")
    assert not out.exists() and codegreen.active_session() is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:9091", "https://host/path",
                                 "http://[::1]:9091", "http://host:65535/"])
def test_a_good_push_url_passes_the_librarys_check(tmp_path, url):
    s = codegreen.Session("batch", output_file=str(tmp_path / "r.json"), push_url=url)
    assert s._native is not None  # the library's check ran (and passed)


# ----- task boundaries through the C extension -----

class _Name(str):
    pass


@codegreen.task("module-level")
def _decorated_module_level(x, fail=False, leave_open=False):
    s = codegreen.active_session()
    if leave_open:
        s.start_task("left-open")
    if fail:
        raise ValueError("failed %r" % (x,))
    return x + 1


def _tasks_and_errors(s):
    """The same calls on either path: nested tasks, both decorators, threads, exceptions inside
    the tasks, unbalanced stops, odd names; returns the errors (type, text, context type)."""
    errors = []

    def expect(call, kinds=(TypeError, ValueError, RuntimeError, KeyError)):
        try:
            call()
        except kinds as e:
            ctx = type(e.__context__).__name__ if e.__context__ is not None else None
            errors.append((type(e).__name__, str(e), ctx))
        else:
            errors.append(("no error",))

    with s.task(name="outer"):
        s.start_task(name="inner")
        s.stop_task("inner")
        s.start_task("nameless-stop")
        s.stop_task()
        s.start_task("keyword-stop")
        s.stop_task(name="keyword-stop")
        s.start_task("none-stop")
        s.stop_task(None)

    @s.task("decorated")
    def f(x):
        return x * 2

    assert f(21) == 42
    assert _decorated_module_level(1) == 2
    for call in (lambda: s.start_task(5), lambda: s.stop_task("nothing-open"),
                 lambda: s.stop_task(name="nothing-open"), lambda: s.task(None),
                 lambda: s.task("nul\0name"), lambda: s.stop_task("a", "b"),
                 lambda: s.stop_task(nom="x"), lambda: s.start_task("a", "b"),
                 lambda: s.start_task(), lambda: s.task(), lambda: s.task("a", "b")):
        expect(call)
    with s.task("a"):
        expect(lambda: s.stop_task("b"))
    # An exception inside the with-block: the task is stopped, the exception goes on.

    def raises_inside():
        with s.task("boom"):
            raise KeyError("inside")
    expect(raises_inside)
    # The block leaves a task open: __exit__'s stop fails and names it; nothing is stopped.

    def leaves_open():
        with s.task("closing"):
            s.start_task("dangling")
    expect(leaves_open)
    s.stop_task("dangling")
    s.stop_task("closing")
    # The decorated function raises; and raises leaving a task open (the stop's error wins,
    # the function's is its context).
    expect(lambda: _decorated_module_level(2, fail=True))
    expect(lambda: _decorated_module_level(3, fail=True, leave_open=True))
    s.stop_task("left-open")
    s.stop_task("module-level")
    expect(lambda: _decorated_module_level(4, leave_open=True))
    s.stop_task("left-open")
    s.stop_task("module-level")
    # Names: a str subclass, non-ASCII, a lone surrogate (the file system's escape).
    for name in (_Name("sub"), "\u00e9t\u00e9", "surrogate-\udcff"):
        with s.task(name):
            pass
        s.start_task(name)
        s.stop_task(name)
    # Another thread has a stack of its own.
    seen = []

    def worker():
        with s.task("in-thread"):
            seen.append(s.current_task())
        try:
            s.stop_task("in-thread")
        except RuntimeError as e:
            seen.append(str(e))
    with s.task("around-thread"):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    errors.append(tuple(seen))
    return errors


def _session_on(how, monkeypatch):
    if how == "ctypes":
        monkeypatch.setenv("CODEGREEN_SESSION_CTYPES", "1")
    else:
        monkeypatch.delenv("CODEGREEN_SESSION_CTYPES", raising=False)
    s = quiet_session("paths-" + how, save_to_file=False)
    s.start()
    assert s._hot_path == how
    assert (type(s.task("probe")).__name__ == "TaskSpan") == (how == "extension")
    return s


def test_session_tasks_through_the_extension_match_ctypes(sim_env, monkeypatch):
    from codegreen import _native
    if session_mod._session_extension(_native.load()) is None:
        pytest.skip("the _codegreen_fast extension is not built here")
    runs = {}
    for how in ("extension", "ctypes", "extension"):
        s = _session_on(how, monkeypatch)
        errors = _tasks_and_errors(s)
        r = s.stop()
        # After stop the class's own methods are back, whatever the path was.
        assert s._hot_path == "ctypes" and "start_task" not in vars(s)
        with pytest.raises(RuntimeError, match="is not active"):
            s.start_task("late")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert _decorated_module_level(5) == 6  # no active Session: unmeasured
        tasks = [(t["name"], t["depth"], t["parent"], t["thread"], t.get("closed_at_end"))
                 for t in r["tasks"]]
        run = (tasks, [tuple(x.replace(how, "") if isinstance(x, str) else x for x in e)
                       for e in errors])
        assert runs.setdefault(how, run) == run
        for t in r["tasks"]:
            assert t["ended_at_mono_ns"] >= t["started_at_mono_ns"]
    assert runs["extension"] == runs["ctypes"]
    tasks, errors = runs["extension"]
    names = [t[0] for t in tasks]
    assert names[:7] == ["outer", "inner", "nameless-stop", "keyword-stop", "none-stop",
                         "decorated", "module-level"]
    assert names.count("sub") == 2 and len([n for n in names if n.startswith("surrogate-")]) == 2
    assert ("in-thread", 0, None) == tasks[names.index("in-thread")][:3]
    assert errors[-1][0] == "in-thread" and "no task is open in this thread" in errors[-1][1]
    by_text = {e[1]: e for e in errors if len(e) == 3}
    assert ("RuntimeError", "cannot stop task 'closing': the innermost open task in this thread "
            "is 'dangling'", None) in errors
    assert ("RuntimeError", "cannot stop task 'module-level': the innermost open task in this "
            "thread is 'left-open'", "ValueError") in errors
    assert ("ValueError", "failed 2", None) in errors and "'inside'" in by_text
    assert any(e[0] == "ValueError" and "NUL" in e[1] for e in errors)


def test_decorated_call_stopping_its_own_session(sim_env, monkeypatch):
    from codegreen import _native
    if session_mod._session_extension(_native.load()) is None:
        pytest.skip("the _codegreen_fast extension is not built here")
    results = {}
    for how in ("extension", "ctypes"):
        s = _session_on(how, monkeypatch)

        @codegreen.task("stops-it")
        def stops_it():
            s.stop()
            return "ran"
        assert stops_it() == "ran" and not s.active
        results[how] = [(t["name"], t.get("closed_at_end")) for t in s.report["tasks"]]
    assert results["extension"] == results["ctypes"] == [("stops-it", True)]


def test_session_extension_releases_the_session(sim_env):
    import gc
    import weakref
    s = quiet_session("released", save_to_file=False)
    s.start()
    with s.task("x"):
        pass
    s.stop()
    ref = weakref.ref(s)
    del s
    gc.collect()
    assert ref() is None


def test_session_extension_spans_outlive_the_session(sim_env):
    from codegreen import _native
    if session_mod._session_extension(_native.load()) is None:
        pytest.skip("the _codegreen_fast extension is not built here")
    s = quiet_session("outlive", save_to_file=False)
    s.start()
    span = s.task("kept")  # made on the fast path, used after stop: the Session's own rules
    s.stop()
    with pytest.raises(RuntimeError, match="is not active"):
        with span:
            pass
    del s  # the C session is freed; the span must not reach it
    with pytest.raises(RuntimeError):
        with span:
            pass


def test_boundary_clock_is_in_meta(sim_env, monkeypatch):
    with quiet_session("clock", save_to_file=False) as s:
        with s.task("t"):
            pass
    bc = s.report["meta"]["boundary_clock"]
    assert bc["source"] in ("tsc", "clock_monotonic") and bc["reported_as"] == "clock_monotonic"
    monkeypatch.setenv("CODEGREEN_BOUNDARY_CLOCK", "clock_monotonic")
    with quiet_session("clock2", save_to_file=False) as s:
        with s.task("t"):
            pass
    bc = s.report["meta"]["boundary_clock"]
    assert bc["source"] == "clock_monotonic" and "CODEGREEN_BOUNDARY_CLOCK" in bc["why"]


def _empty_name_errors(s):
    """What each way of naming a task '' raises, as (type name, message)."""
    out = []
    for call in (lambda: s.task(""), lambda: s.task("").__enter__(), lambda: s.start_task(""),
                 lambda: codegreen.task(""), lambda: codegreen.task(name="")):
        try:
            call()
            out.append(None)
        except Exception as e:
            out.append((type(e).__name__, str(e)))
    return out


def test_empty_names_are_refused_alike_on_every_path(run_py, sim_env, monkeypatch):
    # One rule for every front: the library (nemb_task_start: NEMB_EINVAL), the extension's fast
    # path, the ctypes path, the no-library fallback and Java refuse an empty name; Python says
    # ValueError everywhere, and nothing is recorded.
    want = ("ValueError", "a task name must be a non-empty string")
    paths = ["ctypes"]
    from codegreen import _native
    if session_mod._session_extension(_native.load()) is not None:
        paths.append("extension")
    for how in paths:
        s = _session_on(how, monkeypatch)
        assert _empty_name_errors(s) == [want] * 5, how
        r = s.stop()
        assert [t["name"] for t in r["tasks"]] == [], how
        assert _empty_name_errors(s) == [want] * 5, how  # after stop: the argument first
    with pytest.raises(ValueError, match="a session name must be a non-empty string"):
        codegreen.Session("")
    r = run_py("""
        import codegreen
        s = codegreen.Session("nolib", save_to_file=False)
        s.start()
        for call in (lambda: s.task(""), lambda: s.start_task("")):
            try:
                call()
            except ValueError as e:
                print("ValueError", e)
        s.stop()
        print(len(s.report["tasks"]))
    """, env={"CODEGREEN_LIB_PATH": "/nonexistent"})
    assert r.stdout.splitlines() == ["ValueError a task name must be a non-empty string"] * 2 + ["0"]


def test_a_destination_that_cannot_be_written_is_refused_at_start(sim_env, tmp_path):
    # A new user's trial: a Session whose report could not be written (a directory in its
    # place, no permission, a read-only file system) failed only at stop(), after all the work.
    # The library now checks at start; a missing directory is still allowed (the program may
    # create it before the end).
    s = codegreen.Session("ro", output_file=str(tmp_path), warn_on_concurrent=False)
    with pytest.raises(IsADirectoryError) as e:
        s.start()
    assert "cannot write the report to %s" % tmp_path in str(e.value)
    later = tmp_path / "made" / "r.json"
    with codegreen.Session("later", output_file=str(later), warn_on_concurrent=False) as s:
        os.mkdir(tmp_path / "made")
        with s.task("w"):
            pass
    assert json.loads(later.read_text())["tasks"][0]["name"] == "w"


@pytest.mark.parametrize("how", ["extension", "ctypes"])
def test_a_with_block_open_when_its_session_stops_ends_quietly(sim_env, monkeypatch, how):
    from codegreen import _native
    if how == "extension" and session_mod._session_extension(_native.load()) is None:
        pytest.skip("the _codegreen_fast extension is not built here")
    # stopped inside the block, in the block's own thread
    s = _session_on(how, monkeypatch)
    with s.task("outer"):
        r = s.stop()
    assert [(t["name"], t.get("closed_at_end")) for t in r["tasks"]] == [("outer", True)]
    # stopped by another thread while a worker's block is open
    s = _session_on(how, monkeypatch)
    started, release, errors = threading.Event(), threading.Event(), []

    def holder():
        try:
            with s.task("holder"):
                started.set()
                release.wait(5)
        except Exception as e:  # the failure this test is about
            errors.append(e)

    t = threading.Thread(target=holder)
    t.start()
    started.wait(5)
    r = s.stop()
    release.set()
    t.join()
    assert errors == []
    assert [(t["name"], t.get("closed_at_end")) for t in r["tasks"]] == [("holder", True)]
    # an explicit stop_task() after stop() is still an error: only the block's end is quiet
    with pytest.raises(RuntimeError, match="is not active"):
        s.stop_task("holder")
