"""Session.report with time series is parsed when first used (issue 18: an hour's series is
hundreds of MB of text): stop() reads only the library's summary (the report without series),
the report then reads, compares, serialises and pickles as the parsed file, and outlives its
Session. That the summary is the report less its series is tests/unit/test_report_stream.c's."""

import copy
import gc
import json
import pickle
import time
import warnings

import pytest

import codegreen
from codegreen import report as report_mod
from codegreen import session as session_mod

from conftest import SIM_NOISY


def run(path, layout="columnar", series=True):
    s = codegreen.Session("lazy", output_file=str(path), record_time_series=series,
                          warn_on_concurrent=False, timeseries_layout=layout)
    s.start()
    with s.task("outer"):
        with s.task("inner"):
            time.sleep(0.03)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sim's noise: test_noise_warnings_... checks them
        return s, s.stop()


@pytest.mark.parametrize("layout", ["columnar", "samples"])
def test_stop_does_not_build_the_text(sim_env, monkeypatch, layout):
    calls = []
    real = session_mod._Ended.report_text
    monkeypatch.setattr(session_mod._Ended, "report_text",
                        lambda self: calls.append(1) or real(self))
    s, r = run(sim_env / "r.json", layout)
    assert calls == [] and type(r) is report_mod._LazyReport and r is s.report
    with open(sim_env / "r.json") as f:
        saved = json.load(f)
    assert r["meta"]["timeseries"].get("layout", "samples") == layout  # the first use parses it
    assert calls == [1] and type(r) is codegreen.Report
    assert r == saved and saved == r
    assert r["tasks"][0]["timeseries"] == codegreen.load(str(sim_env / "r.json"))["tasks"][0][
        "timeseries"]
    assert calls == [1]


@pytest.mark.parametrize("use", [
    lambda r: json.loads(json.dumps(r)),
    lambda r: dict(r),
    lambda r: {**r},
    lambda r: copy.deepcopy(r),
    lambda r: pickle.loads(pickle.dumps(r)),
    lambda r: dict(r.items()),
    lambda r: {k: r[k] for k in r},
])
def test_every_way_in_sees_the_whole_report(sim_env, use):
    s, r = run(sim_env / "r.json")
    with open(sim_env / "r.json") as f:
        saved = json.load(f)
    got = use(r)
    assert json.loads(json.dumps(got)) == saved


def test_report_outlives_its_session(sim_env):
    s, r = run(sim_env / "r.json")
    del s
    gc.collect()
    with open(sim_env / "r.json") as f:
        assert r == json.load(f)


def test_without_series_the_report_is_also_parsed_on_first_use(sim_env):
    # stop() needs nothing from a report without series (no noise statistics), and a million
    # tasks' report holds megabytes of details: it is parsed when first used, and is then the
    # file's report.
    s, r = run(sim_env / "r.json", series=False)
    assert type(r) is not codegreen.Report and isinstance(r, codegreen.Report)
    with open(sim_env / "r.json") as f:
        assert r == json.load(f)
    assert type(r) is codegreen.Report


def test_noise_warnings_come_from_the_summary(sim_env, monkeypatch):
    monkeypatch.setenv("CODEGREEN_SIM_CONFIG", SIM_NOISY)
    s = codegreen.Session("noisy", record_time_series=True, save_to_file=False,
                          warn_on_concurrent=False)
    with pytest.warns(RuntimeWarning, match="'jittery'.*high-noise"):
        with s:
            with s.task("jittery"):
                time.sleep(0.2)
    assert type(s.report) is report_mod._LazyReport
    assert [w["task"] for w in s.report["totals"]["noise_warnings"]] == ["jittery"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_unwritable_directory_keeps_the_report(sim_env):
    s = codegreen.Session("lazy", output_file=str(sim_env / "missing" / "r.json"),
                          record_time_series=True, warn_on_concurrent=False)
    s.start()
    with s.task("t"):
        time.sleep(0.02)
    with pytest.raises(OSError, match="missing/r.json"):
        s.stop()
    assert [t["name"] for t in s.report["tasks"]] == ["t"]
    assert len(s.report["tasks"][0]["timeseries"]) >= 2
