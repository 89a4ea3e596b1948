"""Tasks under asyncio: each asyncio task keeps its own open tasks (new-user finding F8a).

``with s.task(...)`` around an ``await`` in coroutines run together by ``asyncio.gather`` used to
nest them in each other on the thread's one stack and to raise RuntimeError out of the user's
``with`` when the first one finished. Every front is checked: the C extension's fast path, ctypes
(``CODEGREEN_SESSION_CTYPES=1``) and the no-library fallback.
"""

import json

import pytest

from conftest import TOTAL_W

# Three coroutines in one thread whose tasks overlap in time and end in another order than they
# began, each with a task nested across an await, inside a task of the thread begun before the
# loop ran and one of the main coroutine; a decorated coroutine and a decorated function inside.
SCRIPT = """
import asyncio, json, sys, time
import codegreen

@codegreen.task
def compute():
    time.sleep(0.005)

@codegreen.task("fetch")
async def fetch(n):
    await asyncio.sleep(0.01)
    return n

async def job(s, n):
    with s.task("job%d" % n):
        assert s.current_task() == "job%d" % n
        await asyncio.sleep(0.04 * (4 - n))   # job3 ends first, job1 last
        with s.task("inner%d" % n):
            await asyncio.sleep(0.02)
            compute()
        await fetch(n)
    assert s.current_task() == "main"

async def main(s):
    with s.task("main"):
        await asyncio.gather(job(s, 1), job(s, 2), job(s, 3))

with codegreen.Session("aio", save_to_file=False) as s:
    hot = s._hot_path
    with s.task("outer"):
        asyncio.run(main(s))
    assert s.current_task() is None
print(json.dumps({"hot": hot, "tasks": s.report["tasks"],
                  "quality": s.report["meta"]["measurement_quality"]}))
"""

FRONTS = {
    "extension": {},
    "ctypes": {"CODEGREEN_SESSION_CTYPES": "1"},
    "no library": {"CODEGREEN_LIB_PATH": "/nonexistent/libcodegreen-nemb.so"},
}


def by_name(tasks):
    out = {}
    for t in tasks:
        out.setdefault(t["name"], []).append(t)
    return out


@pytest.mark.parametrize("front", sorted(FRONTS))
def test_gathered_coroutines_keep_their_own_tasks(run_py, front):
    r = run_py(SCRIPT, env=FRONTS[front])
    assert "RuntimeError" not in r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if front != "no library":
        assert out["hot"] == ("ctypes" if front == "ctypes" else "extension")
    check_gathered(out, front)


@pytest.mark.parametrize("version", ["3.8", "3.12", "3.13"])
def test_the_extensions_loop_check_holds_in_every_interpreter(tmp_path, version):
    # The extension asks whether an event loop runs in the thread through the thread state's
    # "__asyncio_running_event_loop__" key where CPython's _asyncio keeps it (3.7 to 3.12: no key,
    # no call), and by calling _get_running_loop() where it does not (3.13): the same tasks.
    import glob
    import os
    import subprocess
    from conftest import PYDIR
    found = sorted(glob.glob("/root/.pyenv/versions/%s.*/bin/python%s" % (version, version)))
    found += [p for p in ("/usr/bin/python" + version,) if os.path.exists(p)]
    libdir = os.path.dirname(os.environ["CODEGREEN_LIB_PATH"])
    if not found or not any(f.startswith("_codegreen_fast") for f in os.listdir(libdir)):
        pytest.skip("no Python %s on this machine, or no extension built" % version)
    script = tmp_path / "aio.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=PYDIR)
    r = subprocess.run([found[0], str(script)], env=env, cwd=str(tmp_path), timeout=60,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["hot"] == "extension"
    check_gathered(out, "extension")


def check_gathered(out, front):
    tasks = by_name(out["tasks"])
    parents = {n: [(t["parent"], t["depth"]) for t in ts] for n, ts in tasks.items()}
    assert parents["outer"] == [(None, 0)]
    assert parents["main"] == [("outer", 1)]
    for n in (1, 2, 3):
        assert parents["job%d" % n] == [("main", 2)]
        assert parents["inner%d" % n] == [("job%d" % n, 3)]
    # compute() ran inside each inner task; each of the 3 fetch calls has resumptions (steps),
    # every one a child of its own job, never of another coroutine's task.
    assert sorted(parents["compute"]) == [("inner%d" % n, 4) for n in (1, 2, 3)]
    assert {p for p in parents["fetch"]} == {("job%d" % n, 3) for n in (1, 2, 3)}
    assert all(not t["closed_at_end"] for t in out["tasks"])
    # Durations are each coroutine's own: job n sleeps 0.04 x (4 - n) + 0.02 + 0.01 at least;
    # a job no longer ends when the one started after it does.
    for n in (1, 2, 3):
        d = tasks["job%d" % n][0]["duration_s"]
        assert 0.04 * (4 - n) + 0.03 <= d < 0.04 * (4 - n) + 0.03 + 1.0, (n, d)
        assert 0.02 <= tasks["inner%d" % n][0]["duration_s"] < 1.0
    assert tasks["job1"][0]["duration_s"] > tasks["job3"][0]["duration_s"]
    assert tasks["main"][0]["duration_s"] >= tasks["job1"][0]["duration_s"]
    if front == "no library":
        assert out["quality"] == "no_backend"
        assert all(t["energy_j"] == 0 for t in out["tasks"])
        return
    # The sim's constant 25 W: each task's energy is its own duration's.
    for t in out["tasks"]:
        if t["duration_s"] > 0.015:
            assert t["energy_j"] == pytest.approx(TOTAL_W * t["duration_s"], rel=0.1), t


def test_stop_in_a_coroutine_names_its_own_innermost_task():
    import asyncio
    import codegreen

    async def main(s):
        s.start_task("a")
        with pytest.raises(RuntimeError, match="innermost open task of this asyncio task is 'a'"):
            s.stop_task("b")
        other = asyncio.ensure_future(other_job(s))
        await asyncio.sleep(0)
        s.stop_task("a")  # after the other coroutine opened a task of its own
        await other

    async def other_job(s):
        with s.task("b"):
            await asyncio.sleep(0.01)

    with codegreen.Session("aio", save_to_file=False) as s:
        asyncio.run(main(s))
    rows = [(t["name"], t["parent"], t["depth"]) for t in s.report["tasks"]]
    assert rows == [("a", None, 0), ("b", "a", 1)]  # b's task was created inside a


def test_a_task_begun_before_the_loop_is_stopped_inside_it():
    import asyncio
    import codegreen

    async def main(s):
        with s.task("in-loop"):
            await asyncio.sleep(0)
        s.stop_task("before")  # the thread's task: the coroutine has none of its own open

    with codegreen.Session("aio", save_to_file=False) as s:
        s.start_task("before")
        asyncio.run(main(s))
    rows = [(t["name"], t["parent"], t["depth"], t["closed_at_end"]) for t in s.report["tasks"]]
    assert rows == [("before", None, 0, False), ("in-loop", "before", 1, False)]


def test_a_task_left_open_in_a_coroutine_is_closed_at_the_end():
    import asyncio
    import codegreen

    async def main(s):
        s.start_task("forgotten")

    with codegreen.Session("aio", save_to_file=False) as s:
        asyncio.run(main(s))
    [t] = s.report["tasks"]
    assert t["name"] == "forgotten" and t["closed_at_end"] is True


OWNER_SCRIPT = """
import asyncio, json
import codegreen

async def job(s, n):
    with s.task("job%d" % n):
        await asyncio.sleep(0.03 * (3 - n))

async def main():
    # The Session begins in this asyncio task: its own tasks keep the thread's stack, the
    # gathered coroutines' tasks are their own, nested in this task's open one.
    with codegreen.Session("owner", save_to_file=False) as s:
        with s.task("main"):
            await asyncio.gather(job(s, 1), job(s, 2))
            assert s.current_task() == "main"
        # begun in an asyncio task that is gone before the stop: closed by name
        await asyncio.ensure_future(begin(s))
        s.stop_task("orphan")
    return s

async def begin(s):
    s.start_task("orphan")

s = asyncio.run(main())
print(json.dumps([(t["name"], t["parent"], t["depth"], t["closed_at_end"])
                  for t in s.report["tasks"]]))
"""


@pytest.mark.parametrize("front", sorted(FRONTS))
def test_a_session_begun_in_a_coroutine(run_py, front):
    r = run_py(OWNER_SCRIPT, env=FRONTS[front])
    assert "RuntimeError" not in r.stderr
    rows = [tuple(x) for x in json.loads(r.stdout.strip().splitlines()[-1])]
    assert rows == [("main", None, 0, False), ("job1", "main", 1, False),
                    ("job2", "main", 1, False), ("orphan", None, 0, False)]
