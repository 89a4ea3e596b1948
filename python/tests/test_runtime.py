"""codegreen_runtime: the reference's checkpoint functions, the register/enter/exit fast path, the
result block on stdout or the report in $CODEGREEN_RESULT_FILE, with the C extension and with
ctypes."""

import json
import os

import pytest

from conftest import TOTAL_W

START = "--- CODEGREEN_RESULT_START ---"
END = "--- CODEGREEN_RESULT_END ---"


def extension_built():
    lib = os.environ["CODEGREEN_LIB_PATH"]
    d = os.path.dirname(lib) if not os.path.isdir(lib) else lib
    return any(f.startswith("_codegreen_fast") for f in os.listdir(d))


IMPLS = [pytest.param("extension", marks=pytest.mark.skipif(
    not extension_built(), reason="_codegreen_fast was not built (python3-dev missing?)")),
    "ctypes"]


def impl_env(impl):
    return {"CODEGREEN_RUNTIME_CTYPES": "1" if impl == "ctypes" else None}


def parse_block(stdout):
    """(the program's own output lines, the measurements of the result block)."""
    lines = stdout.splitlines()
    assert lines.count(START) == 1 and lines.count(END) == 1, stdout
    a, b = lines.index(START), lines.index(END)
    assert b == len(lines) - 1  # printed last, at exit
    block = json.loads("\n".join(lines[a + 1:b]))
    assert list(block) == ["measurements"]
    return lines[:a], block["measurements"]


PROGRAM = """
    import time, threading
    import codegreen_runtime as cg
    print("impl", cg.IMPLEMENTATION)

    work = cg.register("work", "prog.py", 10)
    assert cg.register("work", "prog.py", 10) == work
    other = cg.register("other", "prog.py", 20)
    assert other != work

    def run():
        cg.enter(work)
        time.sleep(0.05)
        cg.enter(other)
        time.sleep(0.02)
        cg.exit(other)
        cg.exit(work)

    run()
    t = threading.Thread(target=run)
    t.start(); t.join()
    # The reference's forms, positional and by keyword.
    cg.checkpoint(checkpoint_id="1", name="main", checkpoint_type="enter")
    time.sleep(0.03)
    cg.checkpoint("2", "main", "exit")
    cg.measure_checkpoint("3", "enter", "detailed", 42, "prog.py")
    time.sleep(0.01)
    cg.measure_checkpoint(checkpoint_id="4", checkpoint_type="exit", name="detailed",
                          line_number=43, context="prog.py")
    time.sleep(0.01)
    print("program done")
"""


@pytest.mark.parametrize("impl", IMPLS)
def test_result_block_on_stdout(run_py, impl):
    r = run_py(PROGRAM, env=impl_env(impl))
    own, ms = parse_block(r.stdout)
    assert own == ["impl " + impl, "program done"]
    ids = [m["checkpoint_id"] for m in ms]
    # Invocation numbers are unique per function across threads (1..N) but follow time only
    # within a thread, so they are compared as sets across the two threads.
    strip = [i.split("#")[0] + "_" + i.rsplit("_", 1)[1] for i in ids if ":main:" not in i
             and ":detailed:" not in i]
    for t in ("t0", "t1"):
        assert [i for i in strip if i.endswith(t)] == [
            "enter:work:10_" + t, "enter:other:20_" + t, "exit:other:20_" + t,
            "exit:work:10_" + t]
    assert sorted(i for i in ids if i.startswith("enter:work:")) == [
        "enter:work:10#inv_1_t0", "enter:work:10#inv_2_t1"] or sorted(
        i for i in ids if i.startswith("enter:work:")) == [
        "enter:work:10#inv_1_t1", "enter:work:10#inv_2_t0"]
    # The caller's checkpoint_id is kept (the reference's "enter:main:1#inv_1_t...").
    assert [i for i in ids if ":main:" in i] == ["enter:main:1#inv_1_t0", "exit:main:2#inv_1_t0"]
    assert [i for i in ids if ":detailed:" in i] == ["enter:detailed:3#inv_1_t0",
                                                     "exit:detailed:4#inv_1_t0"]
    for m in ms:
        assert set(m) == {"checkpoint_id", "timestamp", "joules", "watts"}
    t0 = [m for m in ms if m["checkpoint_id"].endswith("_t0")]
    # Energy between the marks = power x time (constant power, within 1.5 ms of updates).
    a, b = t0[0], t0[3]
    dt = (b["timestamp"] - a["timestamp"]) / 1e9
    assert dt >= 0.07 - 0.002  # slept 70 ms in between; a busy machine only makes it longer
    assert b["joules"] - a["joules"] == pytest.approx(TOTAL_W * dt, rel=0.01, abs=TOTAL_W * 0.0015)
    # watts is the power of the one sample interval around the mark: with the counter updating
    # every millisecond it jitters around the true power, so only its sanity is checked here.
    assert all(0 <= m["watts"] < 10 * TOTAL_W for m in ms)
    stamps = [m["timestamp"] for m in ms if m["checkpoint_id"].endswith("_t0")]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize("impl", IMPLS)
def test_result_file_instead_of_stdout(run_py, sim_env, impl):
    out = sim_env / "result.json"
    r = run_py(PROGRAM, env=dict(impl_env(impl), CODEGREEN_RESULT_FILE=str(out)))
    assert r.stdout.splitlines() == ["impl " + impl, "program done"]  # stdout untouched
    with open(str(out)) as f:
        report = json.load(f)
    # (codegreen measure makes session_name null and the program one depth-0 task)
    assert report["meta"]["session_name"].startswith("snippet_")  # the script's basename
    assert report["meta"]["measurement_quality"] == "checkpoints_only"
    funcs = dict((f["name"], f) for f in report["functions"])
    assert funcs["work"]["calls"] == 2 and funcs["other"]["calls"] == 2
    assert funcs["work"]["duration_s"] >= 0.14 - 0.004  # 2 x 70 ms of sleep (or more, if busy)
    assert funcs["work"]["energy_j"] == pytest.approx(TOTAL_W * funcs["work"]["duration_s"],
                                                      rel=0.02)
    assert funcs["work"]["self_energy_j"] == pytest.approx(
        funcs["work"]["energy_j"] - funcs["other"]["energy_j"], rel=1e-6)
    assert funcs["main"]["calls"] == 1
    cps = report["checkpoints"]
    assert cps["invocations"] == 2 + 2 + 1 + 1
    assert cps["unbalanced"] == 0
    # The same measurements as the block would print.
    r2 = run_py(PROGRAM, env=impl_env(impl))
    _, ms = parse_block(r2.stdout)
    assert [m["checkpoint_id"] for m in cps["measurements"]] == \
        [m["checkpoint_id"] for m in ms]


def test_runtime_and_session_in_one_process(run_py, sim_env):
    r = run_py("""
        import time, json
        import codegreen, codegreen_runtime as cg
        f = cg.register("inner", "x.py", 1)
        with codegreen.Session("user", output_file="user.json", warn_on_concurrent=False) as s:
            with s.task("outer-task"):
                cg.enter(f)
                time.sleep(0.05)
                cg.exit(f)
        print(json.dumps([t["name"] for t in s.report["tasks"]]))
        # The runtime's session goes on after the user's ended.
        cg.enter(f); cg.exit(f)
    """)
    lines = r.stdout.splitlines()
    assert json.loads(lines[0]) == ["outer-task"]
    _, ms = parse_block(r.stdout)
    assert [m["checkpoint_id"] for m in ms] == [
        "enter:inner:1#inv_1_t0", "exit:inner:1#inv_1_t0",
        "enter:inner:1#inv_2_t0", "exit:inner:1#inv_2_t0"]
    with open(str(sim_env / "user.json")) as fh:
        user = json.load(fh)
    assert "checkpoints" not in user  # each session keeps its own records
    task = user["tasks"][0]
    inv = ms[1]["joules"] - ms[0]["joules"]
    assert inv == pytest.approx(task["energy_j"], rel=0.05)


@pytest.mark.parametrize("impl", IMPLS)
def test_forked_child_records_and_prints_nothing(run_py, impl):
    r = run_py("""
        import os, sys
        import codegreen_runtime as cg
        f = cg.register("f", "x.py", 1)
        cg.enter(f)
        pid = os.fork()
        if pid == 0:
            g = cg.register("child-only", "x.py", 2)   # no-op: returns a dummy id
            cg.enter(g); cg.exit(g)
            cg.checkpoint("9", "child-cp", "enter")
            sys.exit(0)   # atexit runs here too: it must print nothing
        os.waitpid(pid, 0)
        cg.exit(f)
    """, env=impl_env(impl))
    _, ms = parse_block(r.stdout)  # exactly one block: the parent's
    assert [m["checkpoint_id"] for m in ms] == ["enter:f:1#inv_1_t0", "exit:f:1#inv_1_t0"]


def test_no_library(run_py, sim_env):
    code = """
        import codegreen_runtime as cg
        f = cg.register("f", "x.py", 1)
        cg.enter(f); cg.exit(f)
        cg.checkpoint("1", "main", "enter"); cg.checkpoint("2", "main", "exit")
        print("still running")
    """
    env = {"CODEGREEN_LIB_PATH": "/nonexistent"}
    r = run_py(code, env=env)
    own, ms = parse_block(r.stdout)
    assert own == ["still running"] and ms == []
    assert "codegreen_runtime" in r.stderr and "could not be loaded" in r.stderr
    out = sim_env / "nolib-result.json"
    r = run_py(code, env=dict(env, CODEGREEN_RESULT_FILE=str(out)))
    assert r.stdout == "still running\n"
    with open(str(out)) as f:
        report = json.load(f)
    assert report["meta"]["measurement_quality"] == "no_backend"


@pytest.mark.parametrize("impl", IMPLS)
def test_unused_runtime_gives_an_empty_result(run_py, sim_env, impl):
    r = run_py("import codegreen_runtime\nprint('hi')", env=impl_env(impl))
    own, ms = parse_block(r.stdout)
    assert own == ["hi"] and ms == []
    out = sim_env / "empty.json"
    run_py("import codegreen_runtime", env=dict(impl_env(impl), CODEGREEN_RESULT_FILE=str(out)))
    with open(str(out)) as f:
        assert json.load(f)["meta"]["measurement_quality"] == "no_tasks"


@pytest.mark.parametrize("impl", IMPLS)
def test_bad_arguments(run_py, impl):
    r = run_py("""
        import codegreen_runtime as cg
        def expect(exc, fn, *a, **k):
            try:
                fn(*a, **k)
            except exc as e:
                return
            raise AssertionError("no %s from %s%r%r" % (exc.__name__, fn.__name__, a, k))
        expect(ValueError, cg.checkpoint, "1", "f", "middle")
        expect(ValueError, cg.measure_checkpoint, "1", "sideways", "f", 1, None)
        expect(ValueError, cg.enter, 123456)       # not a registered id
        expect(TypeError, cg.enter, "x")
        expect(TypeError, cg.checkpoint, "1", "f")  # missing checkpoint_type
        expect(TypeError, cg.checkpoint, "1", "f", "enter", bogus=1)
        expect(TypeError, cg.checkpoint, "1", name="f", checkpoint_id="2", checkpoint_type="enter")
        cg.checkpoint(7, "numeric-id", "enter")    # ids given as numbers are accepted
        cg.checkpoint(8, "numeric-id", "exit")
        print("ok")
    """, env=impl_env(impl))
    own, ms = parse_block(r.stdout)
    assert own == ["ok"]
    assert [m["checkpoint_id"] for m in ms] == ["enter:numeric-id:7#inv_1_t0",
                                                "exit:numeric-id:8#inv_1_t0"]


def test_extension_is_used_when_built(run_py, tmp_path):
    if not extension_built():
        pytest.skip("_codegreen_fast was not built")
    r = run_py("import codegreen_runtime as cg; print(cg.IMPLEMENTATION, cg.enter.__module__)",
               env={"CODEGREEN_RESULT_FILE": str(tmp_path / "result.json")})
    assert r.stdout.split() == ["extension", "_codegreen_fast"]
