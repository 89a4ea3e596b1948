"""test_identity.py - the reference's identity forms: one meta.run_id per process (every Session
and the runtime), the caller's checkpoint_id kept in "enter:main:7#inv_1_t0", #inv_N numbered in
call order per function, a default report file per Session (the first keeps codegreen_<pid>.json),
and @codegreen.task outside a Session warning once."""

import json
import os


def test_one_run_id_per_process(run_py, sim_env):
    r = run_py("""
        import json, codegreen, codegreen_runtime as cg
        f = cg.register("f", "x.py", 1)
        cg.enter(f); cg.exit(f)
        with codegreen.Session("a", save_to_file=False, warn_on_concurrent=False) as a:
            pass
        with codegreen.Session("b", save_to_file=False, warn_on_concurrent=False) as b:
            pass
        print(json.dumps([a.report["meta"]["run_id"], b.report["meta"]["run_id"]]))
    """, env={"CODEGREEN_RESULT_FILE": str(sim_env / "rt.json")})
    ids = json.loads(r.stdout.splitlines()[0])
    with open(str(sim_env / "rt.json")) as fh:
        runtime_id = json.load(fh)["meta"]["run_id"]
    assert ids[0] == ids[1] == runtime_id and len(runtime_id) == 12
    other = run_py("""
        import codegreen
        with codegreen.Session("c", save_to_file=False) as s: pass
        print(s.report["meta"]["run_id"])
    """)
    assert other.stdout.strip() != runtime_id  # another process, another id


def test_checkpoint_id_kept_and_invocations_in_call_order(run_py):
    r = run_py("""
        import time, threading
        import codegreen_runtime as cg
        cg.checkpoint(checkpoint_id="7", name="main", checkpoint_type="enter")
        cg.checkpoint(checkpoint_id="8", name="main", checkpoint_type="exit")
        w = cg.register("work", "x.py", 3)
        def run(delay):
            time.sleep(delay)
            cg.enter(w); time.sleep(0.01); cg.exit(w)
        ts = [threading.Thread(target=run, args=(d,)) for d in (0.15, 0.0, 0.3)]
        for t in ts: t.start()
        for t in ts: t.join()
    """)
    block = r.stdout.split("--- CODEGREEN_RESULT_START ---")[1].split("--- CODEGREEN_RESULT_END")[0]
    ms = json.loads(block)["measurements"]
    ids = [m["checkpoint_id"] for m in ms]
    assert ids[:2] == ["enter:main:7#inv_1_t0", "exit:main:8#inv_1_t0"]
    # three threads call work() 0.15 s apart: numbered 1, 2, 3 in call order (by the enters'
    # timestamps) whichever thread's records were resolved first; each exit has its enter's
    enters = sorted((m["timestamp"], m["checkpoint_id"]) for m in ms
                    if m["checkpoint_id"].startswith("enter:work:"))
    assert [i.split("#")[1].split("_t")[0] for _, i in enters] == ["inv_1", "inv_2", "inv_3"]
    for _, i in enters:
        assert i.replace("enter:", "exit:", 1) in ids, (i, ids)


def test_default_file_per_session(run_py, sim_env):
    r = run_py("""
        import codegreen, os
        with codegreen.Session("first", warn_on_concurrent=False) as a: pass
        with codegreen.Session("second", warn_on_concurrent=False) as b: pass
        print(os.getpid()); print(a.output_path); print(b.output_path)
    """)
    pid, first, second = r.stdout.split()
    assert first == str(sim_env / ("codegreen_%s.json" % pid))
    assert second == str(sim_env / ("codegreen_%s_2.json" % pid))
    with open(first) as fa, open(second) as fb:
        assert json.load(fa)["meta"]["session_name"] == "first"
        assert json.load(fb)["meta"]["session_name"] == "second"


def test_task_outside_a_session_warns_once(run_py):
    r = run_py("""
        import warnings, codegreen
        warnings.simplefilter("always")
        @codegreen.task
        def load(x): return x + 1
        @codegreen.task("gen")
        def gen():
            yield 1
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert load(1) == 2 and load(2) == 3 and list(gen()) == [1]
            with codegreen.Session("s", save_to_file=False, warn_on_concurrent=False) as s:
                load(3)
        print(len(w)); print(w[0].category.__name__); print(str(w[0].message))
        print([t["name"] for t in s.report["tasks"]])
    """)
    lines = r.stdout.splitlines()
    assert lines[0] == "1" and lines[1] == "RuntimeWarning"
    assert "'load' ran outside an active codegreen.Session and was not measured" in lines[2]
    assert lines[3] == "['load']"
