#!/usr/bin/env python3
"""bench_python.py - what codegreen's Python hot paths cost, against two empty Python calls.

Each figure is a ratio measured side by side: in one process, every round times a short batch of
each variant and of the yardsticks in a turning order, the loop's own overhead (an empty loop of
the same round) is taken off, and the figure is the median over rounds of variant / yardstick of
the same round, with the interquartile range (IQR) of those ratios as its spread and the median
ns per pair beside it. Short batches and many rounds: on a busy machine a preemption spoils one
batch, which the median leaves out, instead of a share of every long one.

  yardsticks   two empty Python function calls; two time.perf_counter_ns() calls
  runtime      codegreen_runtime.enter(fid) + exit(fid), the instrumenter's fast path, through the
               C extension and through ctypes; checkpoint() (the reference's string form) per
               enter+exit pair
  session      one `with s.task("x"): pass`, one start_task("x")/stop_task("x") pair, and one call
               of an empty @codegreen.task function, through whatever the Session uses (the
               extension when present) and through ctypes; and the same again in a process that
               has imported asyncio (no event loop running: every boundary asks whether one runs)

Every Session task is a record kept until stop(), and on a virtual machine the first touch of
fresh memory can cost more than the boundary itself (tens of microseconds per 4 KiB page): each
round therefore runs in a Session of its own, begun and stopped outside the timed batches, so
the records reuse the memory that the last round's Session freed, and WARM_TASKS tasks recorded
before the batches have brought the record storage the round will use into memory: the figures
are the boundaries' cost, not the kernel's and the hypervisor's for fresh pages (bench_hotpath
prints the bytes a task record takes).

Run from the source tree after ./scripts/build.sh release (or through scripts/bench.sh):
  CODEGREEN_LIB_PATH=$PWD/build/lib/libcodegreen-nemb.so PYTHONPATH=$PWD/python \
    /usr/bin/python3 bench/bench_python.py [--quick]

Asserts nothing; the figures depend on the machine. Each group runs in its own subprocess, so
ctypes and the extension are measured on equal terms (a module can hold only one of them).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = 101  # odd: the median is one round's ratio
BATCH = 2000  # iterations a batch: a millisecond or less
# Tasks recorded in each round's Session before the timed batches: past the thread's small chunks
# of records (512 + 1024 + 2048), into the large one that holds the round's (the library's
# records.c).
WARM_TASKS = 4000


def timed(fn, n):
    t0 = time.perf_counter_ns()
    fn(n)
    return (time.perf_counter_ns() - t0) / n


def empty_loop(n):
    for _ in range(n):
        pass


def yardsticks():
    pc = time.perf_counter_ns

    def f_pc(n):
        for _ in range(n):
            pc()
            pc()

    def nothing(x):
        pass

    def f_call(n):
        for _ in range(n):
            nothing(1)
            nothing(1)

    return {"empty call x2": f_call, "perf_counter_ns x2": f_pc}


def interleave(fns, n, rounds, each_round=None):
    """{name: [ns per iteration, loop overhead removed]} over rounds, the order turning.
    ``each_round()``, if given, is called before each round's batches (outside the timing) and
    returns the fns of that round."""
    names = list(fns)
    out = {k: [] for k in names}
    for r in range(rounds):
        if each_round is not None:
            fns = each_round()
        loop = timed(empty_loop, n)
        for j in range(len(names)):
            k = names[(r + j) % len(names)]
            out[k].append(timed(fns[k], n) - loop)
    return out


def session_variants(codegreen, state):
    """The Session's task variants, bound to a fresh started Session (the last one stopped)."""
    if state.get("session") is not None:
        state["session"].stop()
    s = codegreen.Session("bench", save_to_file=False, warn_on_concurrent=False)
    s.start()
    state["session"] = s
    state["hot path"] = s._hot_path
    task, start, stop = s.task, s.start_task, s.stop_task
    for _ in range(WARM_TASKS):
        start("warm-up")
        stop("warm-up")
    work = state["work"]

    def f_with(n):
        for _ in range(n):
            with task("x"):
                pass

    def f_explicit(n):
        for _ in range(n):
            start("x")
            stop("x")

    def f_decorated(n):
        for _ in range(n):
            work()

    return {"with s.task()": f_with, "start_task+stop_task": f_explicit,
            "@codegreen.task call": f_decorated}


def child(kind, n):
    """Runs in a subprocess: the yardsticks and one group of variants, interleaved; prints JSON."""
    fns = yardsticks()
    state = None
    if kind in ("extension", "ctypes"):
        # The result goes to a file nobody reads (in a temporary directory, never a device):
        # keep stdout for the figures. The clean-up is registered before the runtime's own exit
        # handler, so it runs after the result is written.
        import atexit
        import shutil
        import tempfile
        tmp = tempfile.mkdtemp(prefix="cg-bench-")
        atexit.register(shutil.rmtree, tmp, True)
        os.environ["CODEGREEN_RESULT_FILE"] = os.path.join(tmp, "result.json")
        import codegreen_runtime as cg
        assert cg.IMPLEMENTATION == kind, (cg.IMPLEMENTATION, kind)
        fid = cg.register("bench", "bench_python.py", 1)
        enter, exit_ = cg.enter, cg.exit
        checkpoint = cg.checkpoint

        def f_pair(n):
            for _ in range(n):
                enter(fid)
                exit_(fid)

        def f_cp(n):
            for _ in range(n):
                checkpoint("1", "bench_cp", "enter")
                checkpoint("2", "bench_cp", "exit")

        def f_cp_kw(n):
            for _ in range(n):
                checkpoint(checkpoint_id="1", name="bench_kw", checkpoint_type="enter")
                checkpoint(checkpoint_id="2", name="bench_kw", checkpoint_type="exit")

        fns.update({"enter+exit": f_pair, "checkpoint pair": f_cp,
                    "checkpoint pair (keywords)": f_cp_kw})
        res = interleave(fns, n, ROUNDS)
    else:
        if kind == "session+asyncio":
            import asyncio  # noqa: F401 - what a program that uses asyncio somewhere has done
        import codegreen

        @codegreen.task("x")
        def work():
            pass

        state = {"work": work}
        yard = dict(fns)

        def each_round():
            return dict(yard, **session_variants(codegreen, state))

        res = interleave(each_round(), n, ROUNDS, each_round)
        state["session"].stop()
        res["session hot path"] = state["hot path"]
    print(json.dumps(res))


def run(kind, n, extra_env=None):
    env = dict(os.environ)
    env.setdefault("CODEGREEN_PROVIDERS", "sim")
    env.update(extra_env or {})
    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp:
        # The runtime writes its report at exit: into a directory of its own, thrown away.
        env["CODEGREEN_RESULT_FILE"] = os.path.join(tmp, "runtime.json")
        r = subprocess.run([sys.executable, __file__, "--child", kind, str(n), str(ROUNDS)],
                           env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True,
                           cwd=tmp)
    return json.loads(r.stdout.strip().splitlines()[-1])


def quartiles(v):
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], statistics.median(v), q[2]


def line(label, res, key, yard="empty call x2", goal=None):
    ratios = [a / b for a, b in zip(res[key], res[yard]) if b > 0]
    lo, med, hi = quartiles(ratios)
    verdict = ""
    if goal:
        verdict = "  goal <= %.1f: %s" % (goal, "met" if med <= goal else "NOT met")
    print("  %-46s %6.2f x %s  (IQR %.2f-%.2f, %d rounds; %.1f vs %.1f ns)%s"
          % (label, med, yard, lo, hi, len(ratios), statistics.median(res[key]),
             statistics.median(res[yard]), verdict))


def main():
    global ROUNDS
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        ROUNDS = int(sys.argv[4])
        child(sys.argv[2], int(sys.argv[3]))
        return
    n = BATCH
    if "--quick" in sys.argv:
        n, ROUNDS = BATCH // 2, 21
    ext = run("extension", n)
    ctp = run("ctypes", n, {"CODEGREEN_RUNTIME_CTYPES": "1"})
    ses = run("session", n)
    sct = run("session", n, {"CODEGREEN_SESSION_CTYPES": "1"})
    sas = run("session+asyncio", n)
    print("bench_python: Python %s, %d iterations a batch, %d interleaved rounds; per pair of "
          "calls, loop overhead removed; median ratio to the yardstick of the same round"
          % (sys.version.split()[0], n, ROUNDS))
    line("time.perf_counter_ns() x2", ext, "perf_counter_ns x2")
    line("runtime enter(fid)+exit(fid), C extension", ext, "enter+exit", goal=2)
    line("runtime enter(fid)+exit(fid), ctypes", ctp, "enter+exit")
    line("runtime checkpoint() enter+exit, C extension", ext, "checkpoint pair")
    line("runtime checkpoint() enter+exit, ctypes", ctp, "checkpoint pair")
    line("runtime checkpoint(kw=) enter+exit, C ext", ext, "checkpoint pair (keywords)")
    line("runtime checkpoint(kw=) enter+exit, ctypes", ctp, "checkpoint pair (keywords)")
    for res in (ses, sct):
        how = res.get("session hot path", "ctypes")
        line("Session (%s): with s.task('x'): pass" % how, res, "with s.task()",
             goal=4 if how == "extension" else None)  # the goal is the extension's
        line("Session (%s): start_task + stop_task" % how, res, "start_task+stop_task")
        line("Session (%s): @codegreen.task call" % how, res, "@codegreen.task call")
    how = sas.get("session hot path", "ctypes") + ", asyncio imported"
    line("Session (%s): with s.task('x'): pass" % how, sas, "with s.task()", goal=4)
    line("Session (%s): start_task + stop_task" % how, sas, "start_task+stop_task")


if __name__ == "__main__":
    main()
