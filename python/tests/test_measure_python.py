"""`codegreen measure` on Python programs: what the measured program sees is what a plain run
sees (same stdout, stderr and exit status), whatever the program's neighbours and imports; the
runtime imports only built-in modules; the report says which hot path ran.

The tricky programs of one file each are in tests/instrument/corpus (run by run_corpus.py); these
need more than one file or look at the report."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

CG = os.environ.get("CODEGREEN_BIN") or os.path.join(ROOT, "build", "bin", "codegreen")
LIBDIR = os.path.dirname(os.environ["CODEGREEN_LIB_PATH"])
EXT_BUILT = any(f.startswith("_codegreen_fast") for f in os.listdir(LIBDIR))

pytestmark = pytest.mark.skipif(not os.path.exists(CG), reason="no codegreen executable built")


def write(path, text):
    with open(str(path), "w") as f:
        f.write(textwrap.dedent(text))


def plain_and_measured(script, cwd, args=(), env=None, python=sys.executable, measure=()):
    """(plain run, measured run, report) of `python script args`."""
    e = dict(os.environ, **(env or {}))
    e.pop("PYTHONPATH", None)  # the test's own, for codegreen: not the program's
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    out = os.path.join(str(cwd), "report.json")
    a = subprocess.run([python, script] + list(args), cwd=str(cwd), env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    b = subprocess.run([CG, "measure", "-q", "--python", python, "-o", out] + list(measure)
                       + ["python", script] + list(args), cwd=str(cwd), env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    report = None
    if os.path.exists(out):
        with open(out) as f:
            report = json.load(f)
        os.unlink(out)
    return a, b, report


def same(a, b):
    assert (b.returncode, b.stdout.decode(), b.stderr.decode()) == \
        (a.returncode, a.stdout.decode(), a.stderr.decode())


def calls(report):
    return {f["name"]: f["calls"] for f in report.get("functions", []) if f["calls"]}


def test_the_program_is_one_run_in_every_figure(tmp_path):
    # A new user's trial: the table and JSON took "the program" from the runtime's session (from
    # the instrumented code's first run to exit, no task of its own), the plot and the report of
    # a program ending in os._exit from measure's own (the whole run): 18.4 J in one, 31.7 J in
    # the other, and totals.domains, the union and co2e_g were 0 beside energy_j 18.4 J, with the
    # verdict checkpoints_only on every ordinary run. The program is now measure's whole run in
    # every output, and the report agrees with itself.
    write(tmp_path / "s4.py", """\
        import time
        time.sleep(0.2)
        def f():
            return 1
        f()
        time.sleep(0.1)
        """)
    a, b, r = plain_and_measured("s4.py", tmp_path, measure=["--carbon-intensity", "300"])
    same(a, b)
    tot, task = r["totals"], r["tasks"][0]
    assert [t["name"] for t in r["tasks"]] == ["s4.py"] and task["depth"] == 0
    assert r["meta"]["measurement_quality"] == "ok"
    assert tot["energy_j"] == task["energy_j"] > 0
    # the sim's package-0 (20 W) and dram (5 W) are both in the total
    assert sum(tot["domains"].values()) == pytest.approx(tot["energy_j"], rel=1e-9)
    assert tot["top_level_union_energy_j"] == pytest.approx(tot["energy_j"], rel=1e-9)
    assert tot["n_tasks"] == tot["n_tasks_detailed"] == 1
    assert tot["co2e_g"] == pytest.approx(tot["energy_j"] * 300 / 3.6e6, rel=1e-6)
    # the whole run: the interpreter's start-up and both sleeps, at 25 W
    assert task["duration_s"] >= 0.3
    assert task["energy_j"] == pytest.approx(25 * task["duration_s"], rel=0.02)
    for f in r["functions"]:
        assert f["share_of_total"] == pytest.approx(f["energy_j"] / tot["session_energy_j"])


@pytest.mark.parametrize("own", [None, "50"])
def test_carbon_intensity_reaches_the_sessions_not_the_program_or_its_children(tmp_path, own):
    # `measure --carbon-intensity G` put G in CODEGREEN_CARBON_INTENSITY of the program, so the
    # program, a shell it started and its pool workers all saw it (and a codegreen session
    # inside them took it for the user's). The program's sessions (its own, a subprocess's, the
    # forked workers') still use G; the program and every child see the variable as the user
    # left it: the plain run's output. The CSV and Markdown carry each function's CO2e.
    write(tmp_path / "carbon.py", """\
        import multiprocessing as mp
        import os
        import subprocess
        import sys


        def seen(_=None):
            return os.environ.get("CODEGREEN_CARBON_INTENSITY", "unset")


        if __name__ == "__main__":
            print("program", seen())
            print("shell", subprocess.run(["sh", "-c", "echo ${CODEGREEN_CARBON_INTENSITY-unset}"],
                                          stdout=subprocess.PIPE).stdout.decode().strip())
            print("python", subprocess.run(
                [sys.executable, "-c", "import os; print(os.environ.get("
                 "'CODEGREEN_CARBON_INTENSITY', 'unset'))"], stdout=subprocess.PIPE
            ).stdout.decode().strip())
            with mp.get_context("fork").Pool(2) as pool:
                print("workers", sorted(set(pool.map(seen, range(4)))))
        """)
    env = {} if own is None else {"CODEGREEN_CARBON_INTENSITY": own}
    a, b, r = plain_and_measured("carbon.py", tmp_path, env=env,
                                 measure=["--carbon-intensity", "300", "-o", "f.csv",
                                          "-o", "f.md"])
    same(a, b)
    word = own or "unset"
    assert a.stdout.decode().splitlines() == [
        "program " + word, "shell " + word, "python " + word, "workers ['%s']" % word]
    assert r["meta"]["carbon"] == {"intensity_g_per_kwh": 300, "source": "user-given",
                                   "from": "--carbon-intensity", "co2e_unit": "g"}
    tot = r["totals"]
    assert tot["co2e_g"] == pytest.approx(tot["energy_j"] * 300 / 3.6e6, rel=1e-6)
    rows = [f for f in r["functions"] if f["calls"]]
    # the workers' rows are from their own sessions: G reached them too
    assert any(f["pid"] != r["meta"]["pid"] for f in rows)
    for f in r["functions"]:
        assert f["co2e_g"] == pytest.approx(f["energy_j"] * 300 / 3.6e6, rel=1e-6)
    with open(str(tmp_path / "f.csv")) as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    # co2e_g, then pid: the columns added last, so older files' columns keep their places
    assert header[-2:] == ["co2e_g", "pid"] and len(lines) == 1 + len(r["functions"])
    got = sorted(float(line.split(",")[-2]) for line in lines[1:])
    assert got == pytest.approx(sorted(f["co2e_g"] for f in r["functions"]), rel=1e-9)
    with open(str(tmp_path / "f.md")) as f:
        md = f.read().splitlines()
    cols = [c.strip() for c in md[2].strip("|").split("|")]
    assert cols[-2:] == ["CO2e [g]", "Share"], md
    shown = sorted(float(line.strip("|").split("|")[-2]) for line in md[4:] if line)
    assert shown == pytest.approx(sorted(f["co2e_g"] for f in r["functions"]), abs=1e-6)


def test_without_a_carbon_intensity_the_files_have_no_co2e(tmp_path):
    write(tmp_path / "plain.py", """\
        def f():
            return 1
        f()
        """)
    a, b, r = plain_and_measured("plain.py", tmp_path, measure=["-o", "f.csv", "-o", "f.md"])
    same(a, b)
    assert "carbon" not in r["meta"] and "co2e_g" not in r["totals"]
    with open(str(tmp_path / "f.csv")) as f:
        lines = f.read().splitlines()
    # co2e_g empty, as run's; pid (the last column) the program's
    assert lines[0].split(",")[-2:] == ["co2e_g", "pid"]
    assert lines[1].split(",")[-2:] == ["", str(r["meta"]["pid"])]
    with open(str(tmp_path / "f.md")) as f:
        assert "CO2e" not in f.read()


def test_a_pythonpath_entry_measure_also_adds_stays_the_programs(tmp_path):
    # A new user with the README's source-tree setup (PYTHONPATH=<tree>/python) measured a
    # program that uses codegreen.Session: measure adds the same directory, site keeps one entry
    # for both, and the runtime's undo removed it: ModuleNotFoundError: No module named
    # 'codegreen'. The program now sees the sys.path it has without measure.
    write(tmp_path / "pp.py", """\
        import sys
        import codegreen
        print([p for p in sys.path if p.endswith("python")], codegreen.__name__)
        """)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), PYTHONDONTWRITEBYTECODE="1")
    a = subprocess.run([sys.executable, "pp.py"], cwd=str(tmp_path), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    b = subprocess.run([CG, "measure", "-q", "--python", sys.executable, "-o",
                        str(tmp_path / "r.json"), "python", "pp.py"], cwd=str(tmp_path), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert a.returncode == 0, a.stderr.decode()
    same(a, b)


def test_a_configuration_measure_cannot_use_is_refused_before_the_program_runs(tmp_path):
    # A new user's trial: `measure -c bad.json` ran the program, then printed the runtime's
    # warning, an atexit traceback and "stopped before its exit handlers ran (os._exit, exec, or
    # a crash)", and exited 0. Now it refuses first, as `run` does.
    write(tmp_path / "ran.py", """\
        open("ran.txt", "w").close()
        """)
    write(tmp_path / "bad.json", """\
        {"coordinator": {"measurement_interval_ms": 0}}
        """)
    for how in (["-c", "bad.json"], ["-c", str(tmp_path / "missing.json")]):
        b = subprocess.run([CG, "measure", "--python", sys.executable] + how + ["ran.py"],
                           cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = b.stderr.decode()
        assert b.returncode == 1, err
        assert "cannot load the configuration (nothing was run)" in err, err
        assert "Traceback" not in err and "os._exit" not in err, err
        assert not (tmp_path / "ran.txt").exists()
    assert "measurement_interval_ms" in subprocess.run(
        [CG, "measure", "-c", "bad.json", "ran.py"], cwd=str(tmp_path),
        stderr=subprocess.PIPE).stderr.decode()


def test_a_module_beside_the_script_named_like_the_stdlib_is_not_shadowed(tmp_path):
    # The runtime imported csv, json, socket, ... before the program: the user's own csv.py
    # beside the script lost to the standard library's.
    for name in ("csv", "json", "inspect", "socket", "subprocess", "warnings", "threading",
                 "platform", "ctypes", "functools", "enum"):
        write(tmp_path / (name + ".py"), "MINE = %r\n" % name)
    write(tmp_path / "prog.py", """\
        import csv, json, inspect, socket, subprocess, warnings, platform, ctypes, functools, enum
        def mine(m):
            return getattr(m, "MINE", "stdlib")
        print([mine(m) for m in (csv, json, inspect, socket, subprocess, warnings, platform,
                                 ctypes, functools, enum)])
        """)
    a, b, report = plain_and_measured("prog.py", tmp_path)
    same(a, b)
    assert "stdlib" not in a.stdout.decode()
    assert calls(report) == {"mine": 10}


def test_the_runtime_imports_only_builtin_modules(tmp_path):
    write(tmp_path / "prog.py", """\
        import sys
        def main():
            return sorted(sys.modules)
        if __name__ == "__main__":
            with open(sys.argv[1], "w") as f:
                f.write("\\n".join(main()))
        """)
    a, b, report = plain_and_measured("prog.py", tmp_path, args=["plain.txt"])
    assert a.returncode == 0
    b = subprocess.run([CG, "measure", "-q", "--python", sys.executable, "python", "prog.py",
                        "measured.txt"],
                       cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert b.returncode == 0, b.stderr
    plain = set((tmp_path / "plain.txt").read_text().split())
    measured = set((tmp_path / "measured.txt").read_text().split())
    extra = measured - plain
    # The runtime itself, its extension, and built-in modules that have no file to shadow.
    allowed = {"codegreen_runtime", "_codegreen_fast"} | set(sys.builtin_module_names)
    if not EXT_BUILT:
        pytest.skip("the ctypes path imports ctypes and the codegreen package")
    assert extra <= allowed, sorted(extra - allowed)


def test_instrumented_stdlib_modules_import_under_the_runtime(tmp_path):
    # Modules the runtime used to import (circular import when they are instrumented).
    import contextlib
    import functools
    import operator
    import random
    stdlib = tmp_path / "instrumented"
    src = tmp_path / "src"
    src.mkdir()
    for m in (functools, contextlib, operator, random):
        shutil.copy(m.__file__, str(src / os.path.basename(m.__file__)))
    r = subprocess.run([CG, "analyze", "-q", "--save-instrumented", "--output-dir", str(stdlib),
                        str(src)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    found = [os.path.join(d, f) for d, _, fs in os.walk(str(stdlib)) for f in fs]
    assert len(found) == 4, found
    pkgdir = os.path.dirname(found[0])
    prog = """\
        import functools, contextlib, operator, random
        print(functools.reduce(operator.add, range(10)), random.Random(4).randint(1, 100))
        with contextlib.suppress(KeyError):
            {}["x"]
        print(functools.__file__.startswith(%r))
        """ % pkgdir
    write(tmp_path / "prog.py", prog)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([pkgdir, os.path.join(ROOT, "python")]),
               CODEGREEN_RESULT_FILE=str(tmp_path / "result.json"))
    r = subprocess.run([sys.executable, "prog.py"], cwd=str(tmp_path), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert (r.returncode, r.stderr.decode()) == (0, "")
    assert r.stdout.decode().split() == ["45", str(__import__("random").Random(4).randint(1, 100)),
                                         "True"]
    with open(str(tmp_path / "result.json")) as f:
        report = json.load(f)
    if not EXT_BUILT:
        return
    assert report["python_hot_path"] == "extension"
    assert calls(report)["Random.randint"] == 1  # measured inside the instrumented random.py


def test_the_report_says_which_hot_path_ran(tmp_path):
    write(tmp_path / "prog.py", """\
        def f():
            return 1
        print(f())
        """)
    paths = ["ctypes"] + (["extension"] if EXT_BUILT else [])
    for path in paths:
        env = {"CODEGREEN_RUNTIME_CTYPES": "1"} if path == "ctypes" else {}
        a, b, report = plain_and_measured("prog.py", tmp_path, env=env)
        same(a, b)
        assert report["instrumentation"]["hot_path"] == path
        assert "python_hot_path" not in report
        t = subprocess.run([CG, "measure", "--python", sys.executable, "python", "prog.py"],
                           cwd=str(tmp_path),
                           env=dict(os.environ, **env), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        assert "(%s hot path)" % path in t.stderr.decode()


def test_os_exit_with_quiet_prints_nothing_of_codegreens(tmp_path):
    write(tmp_path / "prog.py", """\
        import os, sys
        def main():
            print("bye", flush=True)
            os._exit(3)
        main()
        """)
    a, b, report = plain_and_measured("prog.py", tmp_path)
    same(a, b)
    # -q keeps the terminal the program's; the file asked for is still written (below)
    assert a.returncode == 3 and report["meta"]["program_report"].startswith("missing")


def test_os_exit_in_the_main_process_still_reports_the_run_and_its_children(tmp_path):
    # The main process never writes its measurements (os._exit skips the exit handlers), but
    # measure sampled the counters over the whole run itself, and a child wrote its own rows:
    # the report keeps both and says what is missing.
    write(tmp_path / "prog.py", """\
        import os, subprocess, sys
        def main():
            subprocess.run([sys.executable, "-c", "import kid; kid.spin(3)"])
            print("bye", flush=True)
            os._exit(3)
        main()
        """)
    write(tmp_path / "kid.py", """\
        def spin(n):
            return sum(range(n))
        """)
    out = tmp_path / "r.json"
    env = dict(os.environ, CODEGREEN_PROVIDERS="sim")
    env.pop("PYTHONPATH", None)
    b = subprocess.run([CG, "measure", "-o", str(out), "python", "prog.py"], cwd=str(tmp_path),
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = b.stderr.decode()
    assert b.returncode == 3 and b.stdout.decode() == "bye\n", err
    assert "the program ended without writing its measurements (no result file)" in err
    assert "the main process wrote no measurements" in err
    with open(str(out)) as f:
        r = json.load(f)
    meta = r["meta"]
    assert meta["program_report"].startswith("missing: the program ended without writing")
    # the program's energy is measure's own sampling: one task, the whole run, nonzero
    assert [t["name"] for t in r["tasks"]] == ["prog.py"]
    assert r["tasks"][0]["energy_j"] > 0 and r["totals"]["energy_j"] == r["tasks"][0]["energy_j"]
    # the child's row is kept, and the verdict says only checkpoints (the child's) were measured
    assert calls(r) == {"spin": 1} and meta["measurement_quality"] == "checkpoints_only"
    procs = r["processes"]
    assert len(procs) == 2 and procs[0]["parent"] and procs[0]["functions"] == 0
    assert procs[0]["pid"] == meta["pid"] != os.getpid() and procs[1]["functions"] == 1


@pytest.mark.parametrize("version", ["3.8", "3.9", "3.10", "3.12", "3.13"])
def test_one_extension_serves_every_interpreter(tmp_path, version):
    import glob
    found = sorted(glob.glob("/root/.pyenv/versions/%s.*/bin/python%s" % (version, version)))
    found += [p for p in ("/usr/bin/python" + version,) if os.path.exists(p)]
    if not found or not EXT_BUILT:
        pytest.skip("no Python %s on this machine, or no extension built" % version)
    write(tmp_path / "prog.py", """\
        class Resource:
            def __del__(self):
                print("closing")
        def work(n):
            return sum(range(n))
        r = Resource()
        print(work(10))
        """)
    a, b, report = plain_and_measured("prog.py", tmp_path, python=found[0])
    same(a, b)
    assert report["instrumentation"]["hot_path"] == "extension"
    assert calls(report) == {"work": 1}


def test_jit_decorated_functions_are_left_as_they_are_and_listed(tmp_path):
    # A stand-in for numba: like numba, it compiles the function's own code and refuses names it
    # does not know ("Unknown attribute 'enter' of type Module(codegreen_runtime)").
    (tmp_path / "numba").mkdir()
    write(tmp_path / "numba" / "__init__.py", """\
        def njit(*args, **kwargs):
            def compile_(f):
                unknown = [n for n in f.__code__.co_names if n.startswith("_codegreen")]
                for c in f.__code__.co_consts:
                    unknown += [n for n in getattr(c, "co_names", ()) if "codegreen" in n]
                if unknown:
                    raise TypeError("Unknown attribute 'enter' of type %s" % unknown)
                return f
            return compile_(args[0]) if args and callable(args[0]) else compile_
        jit = njit
        """)
    write(tmp_path / "prog.py", """\
        import numba
        from numba import njit

        class mine:
            compile = staticmethod(numba.njit)

        @njit
        def total(n):
            s = 0
            for i in range(n):
                s += i
            def inner():
                return 1
            return s + inner()

        @numba.jit(nopython=True)
        def plus(x):
            return x + 1

        @mine.compile
        def custom(x):
            return x * 2

        def main():
            print(total(10), plus(1), custom(4))

        main()
        """)
    a, b, report = plain_and_measured("prog.py", tmp_path, measure=[
        "-g", "fine", "--script-only", "--leave-decorated", "mine.compile"])
    same(a, b)
    assert a.stdout.decode() == "46 2 8\n"
    left = report["instrumentation"]["left"]
    assert [(f["name"], f["decorator"], f["line"]) for f in left] == [
        ("total", "njit", 8), ("plus", "numba.jit", 17), ("custom", "mine.compile", 21)]
    assert calls(report) == {"<module>": 1, "main": 1}
    # Without the option the custom one is instrumented and its compiler refuses it, as numba did.
    a, b, report = plain_and_measured("prog.py", tmp_path)
    assert b.returncode == 1 and "Unknown attribute 'enter'" in b.stderr.decode()
    t = subprocess.run([CG, "measure", "--python", sys.executable, "--leave-decorated",
                        "mine.compile", "python", "prog.py"], cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert "function total (line 8): left as it is, decorated by @njit" in t.stderr.decode()
    r = subprocess.run([CG, "analyze", "prog.py"], cwd=str(tmp_path), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert "function plus (line 17): left as it is, decorated by @numba.jit" in r.stdout.decode()


def nested_defs(n, step=4):
    """N functions nested in each other, each calling the next; prints the innermost's value."""
    lines = ["%sdef f%d():" % (" " * step * i, i) for i in range(n)]
    lines.append(" " * step * n + "return 7")
    lines += ["%sreturn f%d()" % (" " * step * i, i) for i in range(n - 1, 0, -1)]
    return "\n".join(lines) + "\nprint(f0())\n"


def test_functions_nested_past_cpythons_indentation_levels_run_and_are_listed(tmp_path):
    # A new user's trial: 50 nested defs ran in python but not under measure ("internal error:
    # ... IndentationError: too many levels of indentation"): each guard indents one level
    # more and CPython compiles 99. The guards that would go past them are left out, innermost
    # first, and those functions listed with the reason.
    (tmp_path / "d50.py").write_text(nested_defs(50))
    # (fine: the module body's guard takes one level more)
    for gran, want in (("coarse", ["f49"]), ("fine", ["f48", "f49"])):
        a, b, report = plain_and_measured("d50.py", tmp_path, measure=["-g", gran])
        same(a, b)
        left = report["instrumentation"]["left"]
        assert [f["name"].rsplit(".", 1)[-1] for f in left] == want, gran
        assert "99 levels" in left[-1]["why"] and left[-1]["line"] == 50
        assert calls(report)["f0"] == 1


def test_a_file_the_grammar_cannot_parse_but_python_compiles_runs_as_it_is(tmp_path):
    # 95 nested defs four blanks apart: python runs it, tree-sitter-python reads indentation up
    # to 255 columns only. measure said the file cannot be instrumented and ran nothing; it runs
    # it as it is now, says why on stderr and in the report.
    (tmp_path / "d95.py").write_text(nested_defs(95))
    a, b, report = plain_and_measured("d95.py", tmp_path)
    assert (b.returncode, b.stdout) == (a.returncode, a.stdout) == (0, b"7\n")
    err = b.stderr.decode()
    assert "line 65 is indented 256 columns" in err and "runs as it is" in err
    assert "indented 256 columns" in report["instrumentation"]["not_instrumented"]
    assert report["instrumentation"]["points"] == []
    # a real syntax error still ends with Python's own message and status, nothing run
    (tmp_path / "bad.py").write_text("x = (1,\n")
    a, b, report = plain_and_measured("bad.py", tmp_path)
    assert (b.returncode, b.stdout) == (a.returncode, a.stdout) == (1, b"")
    assert b.stderr.decode().endswith(a.stderr.decode()) and report is None


def test_a_file_too_deep_for_pythons_compiler_fails_as_python_fails_it(tmp_path):
    # A 100 000-term expression: python stops with "RecursionError: maximum recursion depth
    # exceeded during compilation"; measure compiled it with a raised limit and ran it.
    (tmp_path / "longline.py").write_text(
        "def f(): return " + "+".join(["1"] * 100000) + "\nprint(f())\n")
    a, b, report = plain_and_measured("longline.py", tmp_path)
    assert a.returncode == 1 and "RecursionError" in a.stderr.decode()
    assert (b.returncode, b.stdout) == (a.returncode, a.stdout)
    assert b.stderr.decode().endswith(a.stderr.decode())
    # one that python compiles is instrumented as usual
    (tmp_path / "ok.py").write_text("def f(): return " + "+".join(["1"] * 2000) + "\nprint(f())\n")
    a, b, report = plain_and_measured("ok.py", tmp_path)
    same(a, b)
    assert calls(report) == {"f": 1}


def test_only_the_compile_step_runs_with_huge_page_tunables(tmp_path):
    # The compile step asks glibc's malloc for huge pages (cmd_measure.c, COMPILE_TUNABLES); the
    # program must see the user's environment as it is, and the user's own tunables must win.
    log = tmp_path / "env.log"
    write(tmp_path / "py.sh", """\
        #!/bin/sh
        printf '%%s|%%s\\n' "$2" "${GLIBC_TUNABLES-unset}" >> '%s'
        exec '%s' "$@"
        """ % (log, sys.executable))
    os.chmod(str(tmp_path / "py.sh"), 0o755)
    write(tmp_path / "prog.py", """\
        import os
        def main():
            print(os.environ.get("GLIBC_TUNABLES", "unset"))
        main()
        """)
    tunables = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1"
    for user in (None, "glibc.malloc.tcache_count=0"):
        e = dict(os.environ, CODEGREEN_PROVIDERS="sim")
        e.pop("PYTHONPATH", None)
        e.pop("GLIBC_TUNABLES", None)
        if user:
            e["GLIBC_TUNABLES"] = user
        if log.exists():
            log.unlink()
        b = subprocess.run([CG, "measure", "-q", "--python", str(tmp_path / "py.sh"), "prog.py"],
                           cwd=str(tmp_path), env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        assert b.returncode == 0, b.stderr.decode()
        assert b.stdout.decode() == (user or "unset") + "\n"
        runs = [line.split("|", 1) for line in log.read_text().splitlines()]
        compiles = [t for what, t in runs if what == "compile"]
        assert compiles == [tunables + (":" + user if user else "")]
        assert all(t == (user or "unset") for what, t in runs if what != "compile"), runs


def test_a_script_whose_name_is_near_name_max_runs_as_python_runs_it(tmp_path):
    # 245 bytes and ".py": python runs it; measure's temporary copies (the name plus up to 14
    # bytes) went past NAME_MAX and nothing ran. The traceback names the user's file.
    name = "b" * 245 + ".py"
    write(tmp_path / name, """\
        import sys
        def f():
            return 1 / 0 if len(sys.argv) > 1 else 2
        print(f(), len(sys.argv[0]))
        """)
    a, b, report = plain_and_measured(name, tmp_path)
    same(a, b)
    assert a.stdout.decode() == "2 248\n"
    assert calls(report) == {"f": 1}
    a, b, report = plain_and_measured(name, tmp_path, args=["x"])
    same(a, b)
    assert a.returncode == 1 and name in a.stderr.decode() and "ZeroDivisionError" in a.stderr.decode()


def test_interpreter_options_reach_the_compile_step_and_the_run(tmp_path):
    write(tmp_path / "prog.py", """\
        import sys
        def main():
            print(sys.flags.dev_mode, sys.flags.optimize, sys.warnoptions, sys.argv[1:])
            print(getattr(sys, "orig_argv", ["", "-X", "dev", "-O", "prog.py", "a"])[1:])
            assert False, "asserts are on"
        main()
        """)
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    opts = ["-X", "dev", "-O", "-W", "ignore::DeprecationWarning"]
    a = subprocess.run([sys.executable] + opts + ["prog.py", "a"], cwd=str(tmp_path), env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    b = subprocess.run([CG, "measure", "-q", "--python", sys.executable, "python"] + opts
                       + ["prog.py", "a"], cwd=str(tmp_path), env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    same(a, b)
    assert a.stdout.decode().splitlines()[0] == \
        "True 1 ['default', 'ignore::DeprecationWarning'] ['a']"
    r = subprocess.run([CG, "measure", "python", "-I", "prog.py"], cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 2 and "'-I' is not supported" in r.stderr.decode()


def test_the_programs_own_modules_are_measured(tmp_path):
    # The script's directory (a module, a package) and --include PATH; site-packages never.
    (tmp_path / "pkg").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "venv" / "lib").mkdir(parents=True)
    write(tmp_path / "venv" / "pyvenv.cfg", "home = /usr/bin\n")
    write(tmp_path / "venv" / "lib" / "vendored.py", "def vend():\n    return 0\n")
    write(tmp_path / "helper.py", "def double(x):\n    return 2 * x\n")
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "tools.py", """\
        class Tool:
            def run(self, n):
                return sum(self.step(i) for i in range(n))

            def step(self, i):
                return i + 1


        def fail():
            raise ValueError("from tools")
        """)
    write(tmp_path / "lib" / "extra.py", "def more():\n    return 5\n")
    write(tmp_path / "prog.py", """\
        import os, sys, traceback
        sys.path.append(os.path.join(os.path.dirname(__file__), "lib"))
        sys.path.append(os.path.join(os.path.dirname(__file__), "venv", "lib"))
        import helper, extra, vendored
        from pkg import tools

        def main():
            print(helper.double(21), tools.Tool().run(3), extra.more(), vendored.vend())
            try:
                tools.fail()
            except ValueError:
                traceback.print_exc()
            print(helper.__file__, type(helper.__loader__).__name__)

        main()
        """)
    a, b, report = plain_and_measured("prog.py", tmp_path)
    same(a, b)
    assert "pkg/tools.py\", line 10, in fail" in a.stderr.decode()
    assert calls(report) == {"main": 1, "double": 1, "Tool.run": 1, "Tool.step": 3, "fail": 1,
                             "more": 1}
    a, b, report = plain_and_measured("prog.py", tmp_path, measure=["--script-only"])
    same(a, b)
    assert calls(report) == {"main": 1}


def test_include_adds_a_directory_outside_the_scripts(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "shared").mkdir()
    write(tmp_path / "shared" / "common.py", "def shared_work(x):\n    return x + 1\n")
    write(tmp_path / "app" / "prog.py", """\
        import os, sys
        sys.path.insert(1, os.path.join(os.path.dirname(__file__), "..", "shared"))
        import common
        print(common.shared_work(1))
        """)
    a, b, report = plain_and_measured("prog.py", tmp_path / "app")
    same(a, b)
    assert calls(report) == {}
    a, b, report = plain_and_measured("prog.py", tmp_path / "app", measure=[
        "--include", str(tmp_path / "shared")])
    same(a, b)
    assert calls(report) == {"shared_work": 1}


# ----- whole programs the way python runs them: -m, a directory, a zip file -----

SHOW = """\
    import os, sys
    from . import helper

    def main():
        print(__name__, __spec__.name, __package__, sys.argv)
        print(sys.path[0] == os.getcwd(), os.path.relpath(sys.path[0]), __file__ == __spec__.origin)
        print(type(__loader__).__name__, helper.twice(21), helper.__name__)
        print([p for p in sys.path if "codegreen" in p], "sitecustomize" in sys.modules)
        if "fail" in sys.argv:
            helper.fail()
        return 3

    raise SystemExit(main())
    """


def make_package(root):
    (root / "pkg").mkdir(parents=True)
    write(root / "pkg" / "__init__.py", "")
    write(root / "pkg" / "helper.py", """\
        def twice(x):
            return 2 * x


        def fail():
            raise ValueError("from helper")
        """)
    write(root / "pkg" / "tool.py", SHOW)
    write(root / "pkg" / "__main__.py", SHOW)


def runs(args, cwd, measure=(), python=sys.executable):
    """(plain `python ARGS`, `codegreen measure python ARGS`, report)."""
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    out = os.path.join(str(cwd), "..", "report-%s.json" % os.getpid())
    a = subprocess.run([python] + args, cwd=str(cwd), env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    b = subprocess.run([CG, "measure", "-q", "--python", python, "-o", out] + list(measure)
                       + ["python"] + args, cwd=str(cwd), env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    report = None
    if os.path.exists(out):
        with open(out) as f:
            report = json.load(f)
        os.unlink(out)
    return a, b, report


def test_the_report_says_what_the_user_ran_not_measures_temporary_files(tmp_path):
    # newuser2 item 5: meta.argv was ['/tmp/codegreen-measure-XXXX/a-codegreen.pyc', 'x', 'y'],
    # processes[0].argv the same, and codegreen_env listed measure's ~8 temporary paths.
    write(tmp_path / "a.py", """\
        import multiprocessing as mp

        def work(x):
            return x * 2

        if __name__ == "__main__":
            with mp.get_context("fork").Pool(1) as p:
                print(p.map(work, [1]))
    """)
    out = tmp_path / "a.json"
    # only the user's CODEGREEN_PROVIDERS: CODEGREEN_LIB_PATH measure sets itself (not listed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEGREEN_")}
    env["CODEGREEN_PROVIDERS"] = "sim"
    r = subprocess.run([CG, "measure", "-q", "-o", str(out), "a.py", "--", "x", "y"],
                       cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    with open(out) as fp:
        report = json.load(fp)
    assert report["meta"]["argv"] == ["a.py", "x", "y"]
    assert [p["argv"] for p in report["processes"] if p["parent"]] == [["a.py", "x", "y"]]
    assert report["meta"]["codegreen_env"] == {"CODEGREEN_PROVIDERS": "sim"}
    # a variable measure replaces keeps the user's value in the report
    env["CODEGREEN_LIB_PATH"] = os.environ.get("CODEGREEN_LIB_PATH", "")
    r = subprocess.run([CG, "measure", "-q", "-o", str(out), "python", "-m", "a", "z"],
                       cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    with open(out) as fp:
        meta = json.load(fp)["meta"]
    assert meta["argv"] == ["-m", "a", "z"]
    assert meta["codegreen_env"] == {"CODEGREEN_PROVIDERS": "sim",
                                     "CODEGREEN_LIB_PATH": env["CODEGREEN_LIB_PATH"]}


def test_a_script_named_with_a_dash_after_double_dash_runs_as_python_runs_it(tmp_path):
    # newuser2 item 10: `python3 -- -dash.py` runs the file; measure said "no script given".
    write(tmp_path / "-dash.py", """\
        import sys

        def f():
            return 2

        print("hi", f(), sys.argv)
    """)
    a, b, report = runs(["-O", "--", "-dash.py", "x"], tmp_path)
    same(a, b)
    assert a.returncode == 0 and a.stdout == b"hi 2 ['-dash.py', 'x']\n"
    assert calls(report) == {"f": 1}
    out = tmp_path / "d.json"
    r = subprocess.run([CG, "measure", "-q", "-o", str(out), "--", "-dash.py", "y"],
                       cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hi 2 ['-dash.py', 'y']\n"
    with open(out) as fp:
        assert calls(json.load(fp)) == {"f": 1}


def test_dash_m_runs_a_module_as_python_does(tmp_path):
    make_package(tmp_path / "proj")
    a, b, report = runs(["-m", "pkg.tool", "x", "y"], tmp_path / "proj")
    same(a, b)
    assert a.returncode == 3
    assert a.stdout.decode().splitlines()[0] == \
        "__main__ pkg.tool pkg ['%s', 'x', 'y']" % (tmp_path / "proj" / "pkg" / "tool.py")
    assert calls(report) == {"main": 1, "twice": 1}
    assert report["instrumentation"]["file"] == "pkg.tool"
    # a package's __main__, an uncaught exception's traceback through runpy's frames
    a, b, report = runs(["-m", "pkg", "fail"], tmp_path / "proj")
    same(a, b)
    assert a.returncode == 1 and "ValueError: from helper" in a.stderr.decode()
    assert calls(report) == {"main": 1, "twice": 1, "fail": 1}
    # -mNAME, with interpreter options before it
    a, b, report = runs(["-X", "dev", "-mpkg.tool"], tmp_path / "proj")
    same(a, b)
    assert calls(report) == {"main": 1, "twice": 1}
    # a module python cannot find: python's own message and status
    a, b, report = runs(["-m", "no_such_module"], tmp_path / "proj")
    same(a, b)
    assert a.returncode == 1


def test_a_directory_or_zip_file_with_main_runs_as_python_runs_it(tmp_path):
    import zipfile
    (tmp_path / "app").mkdir()
    write(tmp_path / "app" / "__main__.py", """\
        import os, sys
        import tools

        def main():
            print(__name__, __spec__.name, repr(__package__), sys.argv)
            print(os.path.relpath(sys.path[0]), os.path.relpath(__file__))
            print(type(__loader__).__name__, tools.work(3), tools.__file__ == tools.__spec__.origin)
            if "fail" in sys.argv:
                tools.fail()

        main()
        """)
    write(tmp_path / "app" / "tools.py", """\
        def work(n):
            return sum(step(i) for i in range(n))


        def step(i):
            return i * i


        def fail():
            raise KeyError("from a zip member")
        """)
    a, b, report = runs(["app", "a1"], tmp_path)
    same(a, b)
    assert a.stdout.decode().splitlines()[:2] == \
        ["__main__ __main__ '' ['app', 'a1']", "app app/__main__.py"]
    assert calls(report) == {"main": 1, "work": 1, "step": 3}
    with zipfile.ZipFile(str(tmp_path / "app.pyz"), "w") as z:
        for name in ("__main__.py", "tools.py"):
            z.write(str(tmp_path / "app" / name), name)
    a, b, report = runs(["app.pyz", "fail"], tmp_path)
    same(a, b)
    assert a.returncode == 1 and "KeyError: 'from a zip member'" in a.stderr.decode()
    assert "zipimporter" in a.stdout.decode()
    assert calls(report) == {"main": 1, "work": 1, "step": 3, "fail": 1}
    # the same archive behind a shebang line, named like a script
    with open(str(tmp_path / "app.pyz"), "rb") as f:
        data = f.read()
    with open(str(tmp_path / "packed.py"), "wb") as f:
        f.write(b"#!/usr/bin/env python3\n" + data)
    a, b, report = runs(["packed.py"], tmp_path)
    same(a, b)
    assert calls(report) == {"main": 1, "work": 1, "step": 3}


def test_the_interpreters_own_sitecustomize_still_runs(tmp_path):
    # measure's sitecustomize hands over to the one python would import; -S is refused
    make_package(tmp_path / "proj")
    (tmp_path / "site").mkdir()
    write(tmp_path / "site" / "sitecustomize.py", "import sys\nsys.cg_test_site = 'mine'\n")
    write(tmp_path / "proj" / "pkg" / "site_check.py", """\
        import sys
        print(getattr(sys, "cg_test_site", None), sys.modules["sitecustomize"].__file__)
        """)
    e = {"PYTHONPATH": str(tmp_path / "site")}
    env = dict(os.environ, **e)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    a = subprocess.run([sys.executable, "-m", "pkg.site_check"], cwd=str(tmp_path / "proj"),
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    b = subprocess.run([CG, "measure", "-q", "--python", sys.executable, "python", "-m",
                        "pkg.site_check"], cwd=str(tmp_path / "proj"), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    same(a, b)
    assert a.stdout.decode().startswith("mine ")
    r = subprocess.run([CG, "measure", "python", "-S", "-m", "pkg.tool"],
                       cwd=str(tmp_path / "proj"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 2 and "-S is not supported" in r.stderr.decode()


# ----- functions shipped by value -----

def test_functions_shipped_by_value_run_in_a_process_without_codegreen(tmp_path):
    # cloudpickle ships __main__'s functions, lambdas, bound methods of __main__'s classes and
    # decorated functions by value; the receiver (python -E: no codegreen at all) gets them as
    # written. Module functions go by reference; a spawn Pool's workers import them.
    try:
        subprocess.run([sys.executable, "-c", "import cloudpickle"], check=True,
                       stderr=subprocess.DEVNULL)
        has_cloudpickle = True
    except subprocess.CalledProcessError:
        has_cloudpickle = False
    write(tmp_path / "helper.py", "def cube(x):\n    return x ** 3\n")
    write(tmp_path / "ship.py", """\
        import functools
        import multiprocessing as mp
        import pickle
        import subprocess
        import sys
        import types

        import helper

        HAS_CLOUDPICKLE = %r


        def square(x):
            return x * x


        def traced(f):
            @functools.wraps(f)
            def wrapper(*a):
                return f(*a) + 0.5
            return wrapper


        @traced
        def half(x):
            def inner(y):
                return y / 2
            return inner(x)


        class Scaler:
            def __init__(self, k):
                self.k = k

            def scale(self, x):
                return self.k * x


        def make_adder(n):
            def add(x):
                return x + n
            return add


        def main():
            # a function rebuilt from its code object with globals of its own, in this process
            print(types.FunctionType(square.__code__, {})(5))
            if HAS_CLOUDPICKLE:
                import cloudpickle
                payloads = [cloudpickle.dumps(f) for f in (
                    square, lambda x: square(x) + 1, Scaler(3).scale, half, make_adder(10),
                    helper.cube)]
                payloads.append(pickle.dumps(helper.cube))
                code = ("import pickle, sys\\n"
                        "for data in pickle.load(sys.stdin.buffer):\\n"
                        "    print(pickle.loads(data)(4))\\n")
                child = subprocess.run([sys.executable, "-E", "-c", code],
                                       input=pickle.dumps(payloads), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
                sys.stdout.write(child.stdout.decode() + child.stderr.decode())
            with mp.get_context("spawn").Pool(2) as pool:
                print(pool.map(square, [1, 2, 3]), pool.map(helper.cube, [1, 2]))


        if __name__ == "__main__":
            main()
        """ % has_cloudpickle)
    a, b, report = plain_and_measured("ship.py", tmp_path)
    same(a, b)
    expected = "25\n" + ("16\n17\n12\n2.5\n14\n64\n64\n" if has_cloudpickle else "") + \
        "[1, 4, 9] [1, 8]\n"
    assert a.stdout.decode() == expected
    assert calls(report)["main"] == 1


# ----- child processes -----

def test_python_children_are_measured_and_merged_by_pid(tmp_path):
    # multiprocessing's spawn (a Pool, a Process) and a subprocess of the same interpreter:
    # each is measured and its rows join the report with its pid; a child given an environment
    # of its own (-E here) is not. The output is the plain run's.
    write(tmp_path / "helper.py", "def cube(x):\n    return x ** 3\n")
    write(tmp_path / "kids.py", """\
        import multiprocessing as mp
        import os
        import subprocess
        import sys

        import helper


        def square(x):
            return x * x


        def work(n):
            print("work", n, os.environ.get("PYTHONPATH"), flush=True)
            return sum(square(i) for i in range(n))


        def main():
            ctx = mp.get_context("spawn")
            pool = ctx.Pool(1)
            print(pool.map(work, [10, 20]), pool.map(helper.cube, [1, 2]))
            pool.close()
            pool.join()
            p = ctx.Process(target=work, args=(5,))
            p.start()
            p.join()
            for opts in ([], ["-E"]):
                out = subprocess.run([sys.executable] + opts + [
                    "-c", "import helper; print(helper.cube(3))"], stdout=subprocess.PIPE,
                    universal_newlines=True).stdout
                print(out.strip())


        if __name__ == "__main__":
            main()
        """)
    a, b, report = plain_and_measured("kids.py", tmp_path)
    same(a, b)
    assert "[285, 2470] [1, 8]\n" in a.stdout.decode()
    procs = report["processes"]
    assert procs[0]["parent"] and procs[0]["pid"] == report["meta"]["pid"]
    assert [p["pid"] for p in procs[1:]] == sorted(p["pid"] for p in procs[1:])
    by_pid = {}
    for f in report["functions"]:
        if f["calls"]:
            by_pid.setdefault(f["pid"], {})[f["name"]] = f["calls"]
    main_pid = report["meta"]["pid"]
    assert by_pid.pop(main_pid) == {"main": 1}
    # the pool's worker, the Process and the subprocess; not the -E one
    assert sorted(by_pid.values(), key=sorted) == sorted([
        {"work": 2, "square": 30, "cube": 2}, {"work": 1, "square": 5}, {"cube": 1}], key=sorted)
    assert all(p["pid"] in by_pid or p["functions"] == 0 for p in procs[1:])
    # every process registers every function: merged, a function called somewhere has no rows
    # of 0 calls, and one never called has one row
    idle = [(f["name"], f["pid"]) for f in report["functions"] if not f["calls"]]
    called = {f["name"] for f in report["functions"] if f["calls"]}
    assert not [n for n, _ in idle if n in called], idle
    assert len(idle) == len({n for n, _ in idle}), idle


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_forked_children_and_pool_workers_are_measured_with_their_own_rows(tmp_path, method):
    # A pool's workers forked from the program (or from the forkserver) run the program's
    # functions under the ids the parent registered; each worker's calls come back as rows with
    # its pid, also when the pool terminates its workers with SIGTERM as they exit (a signal
    # that interrupts the worker's own report waits until the report is written). A child of
    # os.fork() that ends with os._exit() reports too. The output is the plain run's.
    write(tmp_path / "pool.py", """\
        import multiprocessing as mp
        import os
        import sys


        def work(x):
            return sum(i * x for i in range(2000))


        def direct():
            return sum(range(1000))


        def main():
            with mp.get_context(sys.argv[1]).Pool(2) as pool:
                print(sum(pool.map(work, range(8))))
            pid = os.fork()
            if pid == 0:
                direct()
                os._exit(0)
            os.waitpid(pid, 0)
            print("done")


        if __name__ == "__main__":
            main()
        """)
    a, b, report = plain_and_measured("pool.py", tmp_path, args=[method])
    same(a, b)
    assert a.stdout.decode() == "%d\ndone\n" % sum(i * x for x in range(8) for i in range(2000))
    main_pid = report["meta"]["pid"]
    kids = [f for f in report["functions"] if f["pid"] != main_pid and f["calls"]]
    assert sum(f["calls"] for f in kids if f["name"] == "work") == 8
    assert [f["calls"] for f in kids if f["name"] == "direct"] == [1]
    assert calls({"functions": [f for f in report["functions"] if f["pid"] == main_pid]}) == \
        {"main": 1}
    procs = report["processes"]
    assert {f["pid"] for f in kids} <= {p["pid"] for p in procs if not p["parent"]}
    whole = report["totals"]["session_energy_j"]
    for f in kids:
        assert f["duration_s"] > 0 and f["energy_j"] >= 0
        # a share of the program's whole run, as the parent's rows are (not of the child's own)
        assert f["share_of_total"] == pytest.approx(f["energy_j"] / whole if whole else 0)


def test_pool_terminate_of_idle_forked_workers_ends_and_reports(tmp_path):
    # Seen once, then about one run in twenty: a fork pool's terminate() hung, a worker blocked
    # in SemLock.acquire on the task queue's lock (which terminate() holds). Its one SIGTERM had
    # come just before the wait began: CPython marks the signal for the runtime's Python handler,
    # which runs only when the wait returns, and the wait never did (without codegreen the
    # default action ends the process wherever it is). The library's guard (term_guard.c) now
    # interrupts the wait until the handler runs. Several pools a run, several runs, each with a
    # limit: every run ends, with every worker's calls in the report.
    write(tmp_path / "term.py", """\
        import multiprocessing as mp


        def work(x):
            return sum(i * x for i in range(2000))


        def main():
            ctx = mp.get_context("fork")
            for _ in range(4):
                pool = ctx.Pool(3)
                print(sum(pool.map(work, range(6))))
                pool.terminate()  # the workers are idle, blocked on the task queue's lock
                pool.join()
            print("done")


        if __name__ == "__main__":
            main()
        """)
    want = "%d\n" % sum(i * x for x in range(6) for i in range(2000))
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    for run in range(6 if EXT_BUILT else 1):
        out = str(tmp_path / ("r%d.json" % run))
        b = subprocess.run([CG, "measure", "-q", "-o", out, "term.py"], cwd=str(tmp_path), env=e,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        assert (b.returncode, b.stdout.decode()) == (0, want * 4 + "done\n"), b.stderr.decode()
        with open(out) as f:
            report = json.load(f)
        main_pid = report["meta"]["pid"]
        kids = [f for f in report["functions"] if f["pid"] != main_pid and f["calls"]]
        # every call of work() ran in a worker, and every worker's report was merged
        assert sum(f["calls"] for f in kids if f["name"] == "work") == 24
        assert {f["pid"] for f in kids} <= {p["pid"] for p in report["processes"]}


def test_pool_workers_rows_are_kept_when_the_parent_calls_no_function(tmp_path):
    # The common pattern: __main__'s module-level code only starts a Pool, so the parent's own
    # run records no call. The workers' rows are still the program's measurements, and the
    # verdict is that of a run with function rows, not "no_tasks".
    write(tmp_path / "bare.py", """\
        import multiprocessing as mp
        import sys


        def work(x):
            return sum(i * x for i in range(2000))


        if __name__ == "__main__":
            with mp.get_context(sys.argv[1]).Pool(2) as pool:
                print(sum(pool.map(work, range(4))))
        """)
    a, b, report = plain_and_measured("bare.py", tmp_path, args=["fork"])
    same(a, b)
    main_pid = report["meta"]["pid"]
    assert [f for f in report["functions"] if f["pid"] == main_pid and f["calls"]] == []
    assert sum(f["calls"] for f in report["functions"] if f["name"] == "work") == 4
    assert len(report["processes"]) >= 2 and report["processes"][0]["parent"]
    assert report["meta"]["measurement_quality"] == "ok"  # the program, measured whole, is its task


def test_no_thread_runs_in_the_measured_program_or_its_children(tmp_path):
    # measure samples the counters itself; the program and its Python children only record
    # their functions' boundaries (CODEGREEN_MEASURE_SAMPLES, node.c) and still get energy.
    # /proc/self/task counts the OS threads (what Python 3.12's fork warning counts). os.fork()
    # works, and with warnings as errors nothing is raised.
    write(tmp_path / "helper.py", """\
        import os


        def tasks():
            return len(os.listdir("/proc/self/task"))
        """)
    write(tmp_path / "lone.py", """\
        import os
        import subprocess
        import sys
        import warnings

        import helper

        warnings.simplefilter("error")


        def spin(n):
            return sum(i * i for i in range(n))


        def main():
            print("program", helper.tasks(), spin(200000) > 0)
            pid = os.fork()
            if pid == 0:
                print("forked", helper.tasks(), flush=True)
                os._exit(0)
            os.waitpid(pid, 0)
            out = subprocess.run([sys.executable, "-c", "import helper; print('child', "
                                  "helper.tasks())"], stdout=subprocess.PIPE,
                                 universal_newlines=True).stdout
            print(out.strip())


        if __name__ == "__main__":
            main()
        """)
    a, b, report = plain_and_measured("lone.py", tmp_path)
    same(a, b)
    assert b.stdout.decode().splitlines() == ["program 1 True", "forked 1", "child 1"]
    rows = {(f["name"], f["pid"] == report["meta"]["pid"]): f for f in report["functions"]}
    assert rows[("main", True)]["calls"] == 1 and rows[("spin", True)]["calls"] == 1
    assert rows[("tasks", True)]["calls"] == 1
    # the forked child's call and the subprocess's, each in its own process's rows
    kids = [f for f in report["functions"] if f["pid"] != report["meta"]["pid"]]
    assert sorted(f["calls"] for f in kids if f["name"] == "tasks") == [1, 1]
    assert len({f["pid"] for f in kids if f["name"] == "tasks"}) == 2
    main, spin = rows[("main", True)], rows[("spin", True)]
    assert 0 < spin["duration_s"] <= main["duration_s"]
    if report["totals"]["energy_j"] > 0:  # a backend (or the estimate) gave energy
        assert 0 < spin["energy_j"] <= main["energy_j"] <= report["totals"]["energy_j"] + 1e-9
        assert main["self_energy_j"] <= main["energy_j"] - spin["energy_j"] + 1e-9


def test_a_child_that_ends_after_the_program_is_in_the_report(tmp_path):
    # Issue F3b: a child still running when the main process exits (a pool worker or a
    # forkserver child exiting late) writes its measurements as it ends. measure is its
    # subreaper and waits for it (a few seconds at most) before merging, so its process and
    # its rows are in the report, and the temporary tree is gone afterwards.
    write(tmp_path / "late.py", """\
        import os
        import time


        def late():
            return sum(range(1000))


        if os.fork() == 0:
            time.sleep(0.8)
            late()
            os._exit(0)
        print("main done")
        """)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    a, b, report = plain_and_measured("late.py", tmp_path, env={"TMPDIR": str(tmpdir)})
    same(a, b)
    child = [f for f in report["functions"] if f["name"] == "late"]
    assert [f["calls"] for f in child] == [1], report["functions"]
    assert child[0]["pid"] != report["meta"]["pid"]
    assert len(report["processes"]) == 2
    assert list(tmpdir.iterdir()) == []


def test_called_counts_functions_and_a_runtime_without_the_library_says_so(tmp_path):
    # Issue F21: "N called" counts functions, not rows (a function called in the main process
    # and in a forked child has a row for each pid); and when the program's runtime cannot load
    # the library, the run is still measured by measure's own sampler: the report and the table
    # say which figures exist (the run's, simulated here) and why there are no function rows.
    write(tmp_path / "both.py", """\
        import os


        def f():
            return 1


        f()
        pid = os.fork()
        f()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        """)
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    r = subprocess.run([CG, "measure", "--python", sys.executable, "-o", "r.json", "both.py"],
                       cwd=str(tmp_path), env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert r.returncode == 0, r.stderr
    with open(str(tmp_path / "r.json")) as fp:
        report = json.load(fp)
    assert len([x for x in report["functions"] if x["name"] == "f" and x["calls"]]) == 2
    assert "1 point (python, coarse granularity), 1 called" in r.stderr, r.stderr

    e["CODEGREEN_LIB_PATH"] = str(tmp_path / "nonexist.so")
    r = subprocess.run([CG, "measure", "--python", sys.executable, "-o", "n.json", "both.py"],
                       cwd=str(tmp_path), env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert r.returncode == 0, r.stderr
    with open(str(tmp_path / "n.json")) as fp:
        meta = json.load(fp)["meta"]
    assert meta["energy_source"] == "simulated"
    assert "nonexist.so" in meta["functions_not_measured"]
    assert "[SIMULATED device, not hardware]" in r.stderr and "NOT MEASURED" not in r.stderr
    assert "functions    not measured: the program's runtime had no energy backend" in r.stderr
    assert "no instrumented function was called" not in r.stderr


def test_a_runtime_warning_names_the_program_not_measures_boot_shim(tmp_path):
    # The runtime's RuntimeWarning (here: no library) pointed at measure's boot shim
    # ("cg-boot/sitecustomize.py:5" and its __import__ line): it names the program now, at line
    # 0 (it began before the program's first line); begun later by a call of the program, the
    # warning names that line; begun at exit, the program again, never the runtime's own file.
    write(tmp_path / "s.py", "print('ran')\n")
    write(tmp_path / "lazy.py", "import codegreen_runtime as r\n\nr.register('f')\n")
    write(tmp_path / "quiet.py", "import codegreen_runtime\n")
    e = dict(os.environ, CODEGREEN_LIB_PATH=str(tmp_path / "nonexist.so"))
    e.pop("PYTHONPATH", None)
    r = subprocess.run([CG, "measure", "-q", "--python", sys.executable, "s.py"],
                       cwd=str(tmp_path), env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert r.returncode == 0 and r.stdout == "ran\n", r.stderr
    where = os.path.realpath(str(tmp_path / "s.py"))
    assert r.stderr.startswith(where + ":0: RuntimeWarning: codegreen_runtime: "), r.stderr
    assert "nonexist.so" in r.stderr
    assert "sitecustomize" not in r.stderr and "__import__" not in r.stderr, r.stderr
    e["PYTHONPATH"] = os.path.join(ROOT, "python")
    for script, expected in (("lazy.py", "lazy.py:3: RuntimeWarning: codegreen_runtime: "),
                             ("quiet.py", "quiet.py:0: RuntimeWarning: codegreen_runtime: ")):
        r = subprocess.run([sys.executable, script], cwd=str(tmp_path), env=e,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        assert expected in r.stderr and "codegreen_runtime.py:" not in r.stderr, r.stderr


def _wait_for(path):
    for _ in range(1200):
        if os.path.exists(str(path)):
            return
        import time
        time.sleep(0.05)
    raise AssertionError("%s never appeared" % path)


def test_measure_warns_once_of_another_measurement_as_run_does(tmp_path):
    # measure never said that another codegreen process measured the machine at the same time
    # (`run` does: RAPL is machine-wide): one warning on stderr and in the report's warnings, at
    # the start when the other measures already, else at the end; -q keeps stderr the program's
    # and --json keeps it the JSON's, the report still carries it.
    write(tmp_path / "s.py", "print('ran')\n")
    write(tmp_path / "wait.py", """\
        import os, time
        open('s1', 'w').close()
        while not os.path.exists('s2'):
            time.sleep(0.02)
        """)
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    sentence = ("1 other codegreen process is measuring on this host %s (pid %d); the energy "
                "counters are machine-wide, so both measurements include each other's energy")

    def other(name):
        p = subprocess.Popen([CG, "run", "-q", "--", "sh", "-c",
                              "touch %s.up; while [ ! -e %s.down ]; do sleep 0.05; done"
                              % (name, name)], cwd=str(tmp_path), env=e)
        _wait_for(tmp_path / (name + ".up"))
        return p

    def measure(*args, **kw):
        return subprocess.Popen([CG, "measure", "--python", sys.executable] + list(args),
                                cwd=str(tmp_path), env=e, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True, **kw)

    def warnings_of(name):
        with open(str(tmp_path / name)) as f:
            return json.load(f)["warnings"]

    r = measure("-o", "alone.json", "s.py")
    out, err = r.communicate()
    assert r.returncode == 0 and "other codegreen process" not in err, err
    assert warnings_of("alone.json") == []

    first = other("first")
    try:
        r = measure("-o", "a.json", "s.py")
        out, err = r.communicate()
        said = sentence % ("already", first.pid)
        assert r.returncode == 0 and out == "ran\n", err
        assert "codegreen measure: warning: " + said + "\n" in err, err
        assert err.count("other codegreen process") == 1, err
        assert warnings_of("a.json") == ["warning: " + said]
        r = measure("-q", "-o", "q.json", "s.py")
        out, err = r.communicate()
        assert (r.returncode, out, err) == (0, "ran\n", ""), err
        assert warnings_of("q.json") == ["warning: " + said]
        r = measure("--json", "s.py")
        out, err = r.communicate()
        assert json.loads(err)["warnings"] == ["warning: " + said], err
    finally:
        open(str(tmp_path / "first.down"), "w").close()
        first.wait()

    r = measure("-o", "n.json", "wait.py")
    _wait_for(tmp_path / "s1")
    second = other("second")
    try:
        open(str(tmp_path / "s2"), "w").close()
        out, err = r.communicate()
        said = sentence % ("now", second.pid)
        assert r.returncode == 0 and "codegreen measure: warning: " + said + "\n" in err, err
        assert err.count("other codegreen process") == 1, err
        assert warnings_of("n.json") == ["warning: " + said]
    finally:
        open(str(tmp_path / "second.down"), "w").close()
        second.wait()


def test_the_summarys_point_count_is_the_reports_list(tmp_path):
    # A tester's trial: in a directory with other .py files the summary said "instrumented 88
    # points" for a one-function script while instrumentation.points listed 1 (and 86 beside []
    # for a script whose functions were all left): measure instruments the directory's modules
    # too (loaded when imported), the summary counted them, the report did not list them.
    write(tmp_path / "one.py", """\
        def f():
            return 1
        print(f())
        """)
    write(tmp_path / "other.py", """\
        def g():
            return 2
        def h():
            return 3
        """)
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    out = str(tmp_path / "r.json")
    b = subprocess.run([CG, "measure", "--python", sys.executable, "-o", out, "python", "one.py"],
                       cwd=str(tmp_path), env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert b.returncode == 0, b.stderr
    with open(out) as f:
        points = json.load(f)["instrumentation"]["points"]
    assert "instrumented 3 points (python" in b.stderr.decode()
    other = os.path.realpath(str(tmp_path / "other.py"))
    assert [(p["name"], p["file"], p["line"]) for p in points] == [
        ("f", "one.py", 1), ("g", other, 1), ("h", other, 3)]
