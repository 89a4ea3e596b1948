"""Python API edges from new-user report 9 (F22, F23): NUL in start_task/stop_task names, the
kind of file s.write() takes, codegreen.executable() from the source tree, nemb.h's "Since"
versions, and where the noise warnings point."""

import os
import re
import subprocess
import sys
import warnings

import pytest

import codegreen
from conftest import ROOT, SIM_NOISY


@pytest.mark.parametrize("ctypes_only", ["0", "1"])
def test_nul_in_start_and_stop_task_names_is_refused(run_py, ctypes_only):
    r = run_py("""
        import codegreen
        with codegreen.Session("n", save_to_file=False) as s:
            for call in (lambda: s.start_task("x\\0y"), lambda: s.stop_task("x\\0z")):
                try:
                    call()
                except ValueError as e:
                    print("refused:", e)
            with s.task("ok"):
                pass
        print([t["name"] for t in s.report["tasks"]])
    """, env={"CODEGREEN_SESSION_CTYPES": ctypes_only})
    lines = r.stdout.splitlines()
    assert lines[:2] == ["refused: name must not contain NUL characters"] * 2
    assert lines[2] == "['ok']"


def test_write_refuses_an_unknown_extension(tmp_path):
    with codegreen.Session("w", save_to_file=False, warn_on_concurrent=False) as s:
        with s.task("t"):
            pass
    with pytest.raises(ValueError, match=r"w\.txt: unknown kind of file; the extensions known "
                                         r"are \.json, \.csv, each also with \.zst"):
        s.write(str(tmp_path / "w.txt"))
    assert not (tmp_path / "w.txt").exists()
    s.write(str(tmp_path / "w.txt"), output_format="json")  # said outright: written
    assert (tmp_path / "w.txt").read_text().startswith("{")
    s.write(str(tmp_path / "W.CSV"))
    header = (tmp_path / "W.CSV").read_text().splitlines()[0].split(",")
    assert "name" in header and "energy_j" in header  # CSV, whatever columns come first
    s.write(os.devnull)  # a device has no extension to go by: JSON


def test_session_output_file_with_an_unknown_extension_is_refused_at_start(tmp_path):
    # The library's one rule for "auto" (as s.write and nemb_session_write): x.exe was written
    # as JSON silently; now refused before any work, and taken when the format is said outright.
    s = codegreen.Session("x", output_file=str(tmp_path / "x.exe"), warn_on_concurrent=False)
    with pytest.raises(ValueError, match=r"x\.exe: unknown kind of file; the extensions known "
                                         r"are \.json, \.csv"):
        s.start()
    assert not (tmp_path / "x.exe").exists()
    with codegreen.Session("x", output_file=str(tmp_path / "x.exe"), output_format="json",
                           warn_on_concurrent=False):
        pass
    assert (tmp_path / "x.exe").read_text().startswith("{")


def test_executable_found_beside_the_library_of_the_source_tree(tmp_path):
    lib = os.environ["CODEGREEN_LIB_PATH"]
    exe = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(lib))), "bin", "codegreen")
    if not os.access(exe, os.X_OK):
        pytest.skip("no codegreen executable built beside %s" % lib)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    for value in (lib, os.path.dirname(lib)):
        env["CODEGREEN_LIB_PATH"] = value
        out = subprocess.run([sys.executable, "-c", "import codegreen; print(codegreen.executable())"],
                             env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True)
        assert out.stdout.strip() == exe
    r = subprocess.run([sys.executable, "-m", "codegreen", "--version"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 0 and codegreen.__version__ in r.stdout + r.stderr
    env["CODEGREEN_LIB_PATH"] = str(tmp_path / "libcodegreen-nemb.so")  # no build there
    out = subprocess.run([sys.executable, "-c", "import codegreen; print(codegreen.executable())"],
                         env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True)
    assert out.stdout.strip() == "None"


def test_nemb_h_since_versions_are_not_past_the_library_version():
    text = open(os.path.join(ROOT, "include", "nemb.h")).read()
    major = int(re.search(r"#define NEMB_VERSION_MAJOR (\d+)", text).group(1))
    minor = int(re.search(r"#define NEMB_VERSION_MINOR (\d+)", text).group(1))
    since = re.findall(r"[Ss]ince[ -](\d+)\.(\d+)", text)
    assert since
    later = sorted({"%s.%s" % v for v in since if (int(v[0]), int(v[1])) > (major, minor)})
    assert not later, "nemb.h says 'Since %s' of a library at %d.%d" % (later, major, minor)
    assert codegreen.__version__.startswith("%d.%d." % (major, minor))


@pytest.mark.parametrize("form", ["with", "stop"])
def test_noise_warnings_point_at_the_programs_line(monkeypatch, form):
    monkeypatch.setenv("CODEGREEN_SIM_CONFIG", SIM_NOISY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if form == "with":
            with codegreen.Session("noisy", save_to_file=False, record_time_series=True,
                                   warn_on_concurrent=False) as s:
                with s.task("t"):
                    __import__("time").sleep(0.45)
            line = sys._getframe().f_lineno - 3  # the with statement
        else:
            s = codegreen.Session("noisy", save_to_file=False, record_time_series=True,
                                  warn_on_concurrent=False).start()
            with s.task("t"):
                __import__("time").sleep(0.45)
            s.stop(); line = sys._getframe().f_lineno  # noqa: E702
    noise = [w for w in caught if "within-task power CV" in str(w.message)]
    assert noise, [str(w.message) for w in caught]
    for w in noise:
        assert w.filename == __file__, w.filename
        if form == "stop":
            assert w.lineno == line
