"""Notebook habits: codegreen.load(path), the DataFrame views (pandas optional, with a clear
message without it), and the %%codegreen IPython cell magic."""

import json
import os

import pytest

import codegreen
from conftest import PACKAGE_W, TOTAL_W, busy

pandas = pytest.importorskip("pandas")


def saved_report(tmp_path, **kw):
    path = str(tmp_path / "r.json")
    with codegreen.Session("nb", output_file=path, **kw) as s:
        with s.task("load"):
            busy(0.05)
        with s.task("train"):
            with s.task("epoch"):
                busy(0.05)
    return path, s


def test_load_returns_the_report(tmp_path):
    path, s = saved_report(tmp_path)
    r = codegreen.load(path)
    assert isinstance(r, codegreen.Report) and isinstance(r, dict)
    assert r == json.load(open(path)) == s.report
    assert r.path == path
    assert isinstance(s.report, codegreen.Report)
    assert [t["name"] for t in r.tasks] == ["load", "train", "epoch"]


def test_load_refuses_what_is_not_a_report(tmp_path):
    with pytest.raises(OSError):
        codegreen.load(str(tmp_path / "missing.json"))
    bad = tmp_path / "x.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a codegreen report"):
        codegreen.load(str(bad))
    csv = tmp_path / "x.csv"
    with codegreen.Session("c", output_file=str(csv)) as s:
        with s.task("t"):
            pass
    with pytest.raises(ValueError, match="CSV report: read it with pandas.read_csv"):
        codegreen.load(str(csv))


def test_tasks_frame(tmp_path):
    path, _ = saved_report(tmp_path)
    r = codegreen.load(path)
    df = r.tasks_frame()
    assert list(df["name"]) == ["load", "train", "epoch"]
    assert list(df["depth"]) == [0, 0, 1]
    assert df["parent"].tolist()[2] == "train"
    for i, t in enumerate(r.tasks):
        assert df["energy_j"][i] == t["energy_j"]
        assert df["package-0_j"][i] == t["domains"]["package-0"]
        assert df["dram_j"][i] == t["domains"]["dram"]
        assert df["duration_s"][i] == t["duration_s"]
    # The sim's constant power: energy = power x time.
    assert df["energy_j"][0] == pytest.approx(TOTAL_W * df["duration_s"][0], rel=0.05)
    assert "co2e_g" not in df.columns


def test_timeseries_frame(tmp_path):
    path, _ = saved_report(tmp_path, record_time_series=True)
    r = codegreen.load(path)
    df = r.timeseries_frame()
    n = sum(len(t["timeseries"]) for t in r.tasks)
    assert len(df) == n > 0
    first = r.tasks[0]["timeseries"][0]
    row = df.iloc[0]
    assert row["task"] == "load" and row["task_index"] == 0
    assert row["t_ns"] == first["t_ns"] and row["power_w"] == first["power_w"]
    assert row["package-0_j"] == first["domain_j"]["package-0"]
    assert df["t_s"].min() == 0
    assert df["package-0_w"].median() == pytest.approx(PACKAGE_W, rel=0.05)
    assert set(df["task"]) == {"load", "train", "epoch"}

    path2, _ = saved_report(tmp_path)
    with pytest.raises(ValueError, match="record_time_series=True"):
        codegreen.load(path2).timeseries_frame()


def test_functions_frame(tmp_path, sim_env):
    import subprocess
    import sys
    script = tmp_path / "prog.py"
    script.write_text("def f():\n    return sum(range(10000))\n\nfor _ in range(4):\n    f()\n")
    out = tmp_path / "m.json"
    binary = os.environ.get("CODEGREEN_BIN") or os.path.join(
        os.path.dirname(os.path.dirname(os.environ["CODEGREEN_LIB_PATH"])), "bin", "codegreen")
    subprocess.check_call([binary, "measure", "-q", "--python", sys.executable, "-o", str(out),
                           str(script)])
    r = codegreen.load(str(out))
    df = r.functions_frame()
    assert list(df["name"]) == [f["name"] for f in r["functions"]]
    row = df[df["name"] == "f"].iloc[0]
    assert row["calls"] == 4 and row["line"] == 1
    assert row["energy_j"] == [f for f in r["functions"] if f["name"] == "f"][0]["energy_j"]
    # A Session's report has no functions: an empty frame with the same columns.
    path, _ = saved_report(tmp_path)
    empty = codegreen.load(path).functions_frame()
    assert len(empty) == 0 and list(empty.columns) == list(df.columns)


def test_frames_without_pandas_say_how_to_get_it(tmp_path, run_py):
    path, _ = saved_report(tmp_path)
    r = run_py("""
        import sys
        sys.modules["pandas"] = None   # as if it were not installed
        import codegreen
        r = codegreen.load(%r)
        print(r["totals"]["n_tasks"])
        for view in ("tasks_frame", "timeseries_frame", "functions_frame"):
            try:
                getattr(r, view)()
            except ImportError as e:
                print(e)
    """ % path)
    lines = r.stdout.splitlines()
    assert lines[0] == "3"
    for view, line in zip(("tasks_frame", "timeseries_frame", "functions_frame"), lines[1:]):
        assert line.startswith("report.%s() needs pandas" % view)
        assert "apt install python3-pandas" in line and "pip install pandas" in line


def test_cell_magic(run_py):
    pytest.importorskip("IPython")
    r = run_py("""
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        ip.run_cell("%load_ext codegreen")
        res = ip.run_cell("%%codegreen training\\nimport time\\ntime.sleep(0.05)\\nx = 41 + 1\\n")
        assert res.success, res
        rep = ip.user_ns["_codegreen_report"]
        print("X", ip.user_ns["x"])
        print("TASK", rep["tasks"][0]["name"], rep["tasks"][0]["energy_j"] > 0,
              rep["meta"]["session_name"], type(rep).__name__)
        # A cell that fails is still measured and shown; the error is the notebook's.
        res = ip.run_cell("%%codegreen\\nimport time\\ntime.sleep(0.02)\\n1 / 0\\n")
        print("FAILED", res.success, type(res.error_in_exec).__name__,
              ip.user_ns["_codegreen_report"]["tasks"][0]["name"])
        # Beside an active Session: refused, with the reason.
        import codegreen
        s = codegreen.Session("mine", save_to_file=False).start()
        res = ip.run_cell("%%codegreen\\nx = 1\\n")
        s.stop()
        print("REFUSED", res.success)
        res = ip.run_cell("%%codegreen a b\\nx = 1\\n")
        print("ARGS", res.success)
    """, env={"CODEGREEN_CARBON_INTENSITY": "250"})
    out = r.stdout
    assert "X 42" in out
    assert "TASK training True training Report" in out
    # The table: the task's row, the total with its provenance, the CO2e at the given intensity.
    row = [l for l in out.splitlines() if l.startswith("training ")][0].split()
    assert float(row[1]) > 0
    assert "total " in out and "[SIMULATED device, not hardware]" in out
    assert "co2e " in out and "at 250 g/kWh (user-given)" in out
    assert "ZeroDivisionError" in out  # IPython's traceback
    assert "FAILED False ZeroDivisionError cell" in out
    assert "REFUSED False" in out and "'mine' is active in this kernel" in (out + r.stderr)
    assert "ARGS False" in out and "takes one optional task name" in (out + r.stderr)
