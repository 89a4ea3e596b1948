"""The columnar time-series layout from Python (issue 18): Session(timeseries_layout=...), each
task's ["timeseries"] expanded from its window, codegreen.load() of such a file, the fallback
without the library, and the layout names held equal to the library's. That the expansion is the
samples layout value for value is tests/unit/test_columnar.c's (it renders one session both
ways)."""

import json
import time
import warnings

import pytest

import codegreen
from codegreen import report as report_mod

from conftest import TOTAL_W


def columnar_session(path=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = codegreen.Session("col", output_file=path, save_to_file=path is not None,
                              record_time_series=True, warn_on_concurrent=False,
                              timeseries_layout="columnar", **kwargs)
        with s:
            with s.task("outer"):
                with s.task("inner"):
                    time.sleep(0.03)
                time.sleep(0.01)
    return s


def test_task_series_read_as_samples(sim_env):
    s = columnar_session(str(sim_env / "r.json"))
    r = s.report
    assert r["meta"]["timeseries"]["layout"] == "columnar"
    cols = r["timeseries"]
    n = len(cols["t_ns"])
    assert n >= 10 and all(len(cols[k]) == n for k in ("energy_j", "power_w"))
    assert set(cols["domain_j"]) == set(r["meta"]["domain_topology"])
    for t in r.tasks:
        series = t["timeseries"]
        assert series is t.get("timeseries")  # expanded once
        assert t.window["count"] == len(series) - 2
        assert series[0]["t_ns"] == t["started_at_mono_ns"]
        assert series[-1]["t_ns"] == t["ended_at_mono_ns"]
        # Cumulative energy from the session's begin: the ends' difference is the task's.
        assert series[-1]["energy_j"] - series[0]["energy_j"] == pytest.approx(
            t["energy_j"], rel=1e-9)
        # Power since the point before, times the time since it, adds up to the task's energy.
        summed = sum(p["power_w"] * (p["t_ns"] - q["t_ns"]) / 1e9
                     for q, p in zip(series, series[1:]))
        assert summed == pytest.approx(t["energy_j"], rel=1e-6)
        for p in series[1:-1]:
            assert set(p) == {"t_ns", "energy_j", "power_w", "domain_j", "domain_w"}
    assert r.tasks[0]["avg_power_w"] == pytest.approx(TOTAL_W, rel=0.05)
    # The dict still equals the file (the windows as written), and load() reads it the same way.
    with open(s.output_path) as f:
        assert json.load(f) == r
    loaded = codegreen.load(s.output_path)
    assert loaded.tasks[0]["timeseries"] == r.tasks[0]["timeseries"]
    frame_rows = sum(len(t["timeseries"]) for t in r.tasks)
    try:
        import pandas  # noqa: F401
    except ImportError:
        return
    assert len(loaded.timeseries_frame()) == frame_rows


def test_expand_window_by_hand():
    cols = {"t_ns": [10, 20, 30, 40], "energy_j": [0.0, 1.0, 2.0, 3.0],
            "power_w": [5.0, 6.0, 7.0, 8.0], "domain_j": {"d": [0.0, 1.0, 2.0, 3.0]},
            "domain_w": {"d": [5.0, 6.0, 7.0, 8.0]}}
    start = {"t_ns": 15, "energy_j": 0.5, "power_w": 6.0, "domain_j": {"d": 0.5},
             "domain_w": {"d": 6.0}}
    end = {"t_ns": 35, "energy_j": 2.5, "power_w": 8.0, "domain_j": {"d": 2.5},
           "domain_w": {"d": 8.0}}
    w = {"start": start, "first": 1, "count": 2,
         "first_power": {"power_w": 6.5, "domain_w": {"d": 6.5}}, "end": end}
    got = report_mod.expand_window(w, cols)
    assert [p["t_ns"] for p in got] == [15, 20, 30, 35]
    assert [p["power_w"] for p in got] == [6.0, 6.5, 7.0, 8.0]
    assert got[1]["domain_w"] == {"d": 6.5} and got[2]["domain_j"] == {"d": 2.0}
    assert report_mod.expand_window(None, cols) is None
    assert report_mod.expand_window({"start": None, "first": 0, "count": 0,
                                     "first_power": None, "end": None}, cols) == []


def test_bad_layout_is_refused(sim_env):
    with pytest.raises(ValueError, match="timeseries_layout must be one of 'samples', "
                                         "'columnar', not 'rows'"):
        codegreen.Session("x", timeseries_layout="rows")


def test_layout_names_are_the_librarys(sim_env):
    # The library accepts exactly the names Python offers (one list: config.c / report.py).
    from codegreen import _native
    native = _native.load()
    for name, ok in [(n, True) for n in report_mod.TIMESERIES_LAYOUTS] + [("rows", False)]:
        rc, handle = _native.begin_session(native, "n", "3", [], exclusive=True,
                                           save_to_file=False)
        assert rc == 0
        try:
            got = native.lib.nemb_session_set_timeseries_layout(handle, name.encode())
            assert (got == 0) == ok, name
        finally:
            native.lib.nemb_session_destroy(handle)


def test_fallback_writes_the_columnar_shape(run_py):
    r = run_py("""
        import codegreen, json, warnings
        warnings.simplefilter("ignore")
        with codegreen.Session("py", save_to_file=False, record_time_series=True,
                               timeseries_layout="columnar") as s:
            with s.task("t"):
                pass
        print(json.dumps({"report": s.report, "series": s.report.tasks[0]["timeseries"]}))
    """, env={"CODEGREEN_LIB_PATH": "/nonexistent"})
    out = json.loads(r.stdout)
    rep = out["report"]
    assert rep["meta"]["timeseries"]["layout"] == "columnar"
    assert rep["timeseries"] == {"t_ns": [], "energy_j": [], "power_w": [], "domain_j": {},
                                 "domain_w": {}}
    assert rep["tasks"][0]["timeseries"] == {"start": None, "first": 0, "count": 0,
                                             "first_power": None, "end": None}
    assert out["series"] == []


def test_zst_report_decompresses_to_the_plain_one(sim_env):
    # One session written twice: compressed by its output_file, plain by write(); `zstd -d`
    # (Debian's zstd, scripts/setup.sh --test) gives back the plain file byte for byte.
    import shutil
    import subprocess
    zstd = shutil.which("zstd")
    if zstd is None:
        pytest.skip("the zstd command is not installed (scripts/setup.sh --test installs it)")
    s = columnar_session(str(sim_env / "r.json.zst"))
    assert s.output_path.endswith("r.json.zst")
    s.write(str(sim_env / "r.json"))
    s.write(str(sim_env / "r.csv.zst"))
    plain = (sim_env / "r.json").read_bytes()
    out = subprocess.run([zstd, "-d", "-c", str(sim_env / "r.json.zst")], stdout=subprocess.PIPE,
                         check=True).stdout
    assert out == plain
    assert len((sim_env / "r.json.zst").read_bytes()) < len(plain) / 2
    assert json.loads(out) == s.report
    csv_text = subprocess.run([zstd, "-d", "-c", str(sim_env / "r.csv.zst")],
                              stdout=subprocess.PIPE, check=True).stdout
    assert csv_text.startswith(b"run_id,session_name,started_at,")


def test_fallback_refuses_zst(run_py, tmp_path):
    # Refused at start, before the workload runs, not at stop() after it
    r = run_py("""
        import codegreen, warnings
        warnings.simplefilter("ignore")
        s = codegreen.Session("py", output_file="r.json.zst")
        try:
            s.start()
        except RuntimeError as e:
            print("refused:", e)
        print(s.active)
    """, env={"CODEGREEN_LIB_PATH": "/nonexistent"})
    assert "refused: cannot write the report to r.json.zst: a .zst file is compressed by the " \
        "codegreen library" in r.stdout
    assert "nothing was measured" in r.stdout and "False" in r.stdout
    assert not (tmp_path / "r.json.zst").exists()


def test_load_reads_a_zst_report_through_the_library(sim_env):
    # codegreen.load() of a .json.zst: decompressed by the library (nemb_report_read_text), the
    # same report as the plain file's; a compressed file under a .json name is known by its magic.
    s = columnar_session(str(sim_env / "r.json.zst"))
    s.write(str(sim_env / "r.json"))
    plain = codegreen.load(str(sim_env / "r.json"))
    zst = codegreen.load(str(sim_env / "r.json.zst"))
    assert zst == plain == s.report
    assert zst.path == str(sim_env / "r.json.zst")
    assert zst.tasks[0]["timeseries"] == plain.tasks[0]["timeseries"]
    (sim_env / "renamed.json").write_bytes((sim_env / "r.json.zst").read_bytes())
    assert codegreen.load(str(sim_env / "renamed.json")) == plain


def test_load_of_a_bad_zst_names_the_problem(sim_env):
    with pytest.raises(OSError):
        codegreen.load(str(sim_env / "missing.json.zst"))
    good = (sim_env / "g.json.zst")
    columnar_session(str(good))
    cut = sim_env / "cut.json.zst"
    cut.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(ValueError, match="is truncated"):
        codegreen.load(str(cut))
    junk = sim_env / "junk.json.zst"
    junk.write_bytes(b"\x28\xb5\x2f\xfd" + b"\xff" * 64)
    with pytest.raises(ValueError, match="not valid zstd data"):
        codegreen.load(str(junk))


def test_load_of_a_zst_without_the_library_says_how_to_read_it(run_py, sim_env):
    columnar_session(str(sim_env / "r.json.zst"))
    r = run_py("""
        import codegreen
        try:
            codegreen.load("r.json.zst")
        except RuntimeError as e:
            print("refused:", e)
    """, env={"CODEGREEN_LIB_PATH": "/nonexistent"}, cwd=str(sim_env))
    assert "refused: r.json.zst is zstd-compressed: reading it needs the codegreen library" \
        in r.stdout
    assert "libcodegreen-nemb.so could not be loaded" in r.stdout
    assert "decompress it with `zstd -d r.json.zst` and load the .json" in r.stdout
