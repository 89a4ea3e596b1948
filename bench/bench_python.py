#!/usr/bin/env python3
"""bench_python.py - what codegreen's Python hot paths cost, against the floor of a Python call.

Prints nanoseconds per call (best of several rounds, each timing a tight loop) and ratios:

  floor        time.perf_counter_ns() and an empty Python function call
  runtime      codegreen_runtime.enter(fid) + exit(fid), the instrumenter's fast path, through the
               C extension and through ctypes; checkpoint() (the reference's string form) per
               enter+exit pair
  session      one `with s.task("x"): pass` and one start_task/stop_task pair

Run from the source tree after ./scripts/build.sh release:
  CODEGREEN_LIB_PATH=$PWD/build/lib/libcodegreen-nemb.so PYTHONPATH=$PWD/python \
    CODEGREEN_PROVIDERS=sim /usr/bin/python3 bench/bench_python.py [--quick]

Asserts nothing; the figures depend on the machine. Each variant runs in its own subprocess, so
ctypes and the extension are measured on equal terms (a module can hold only one of them).
"""
import json
import os
import subprocess
import sys
import time

ROUNDS = 7


def best_ns(fn, n):
    """Best per-iteration time of fn(n) over ROUNDS rounds, in ns."""
    best = float("inf")
    for _ in range(ROUNDS):
        t0 = time.perf_counter_ns()
        fn(n)
        t1 = time.perf_counter_ns()
        best = min(best, (t1 - t0) / n)
    return best


def empty_loop(n):
    for _ in range(n):
        pass


def floors(n):
    """The floor, measured in the calling process: two clock reads, two empty calls."""
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

    loop = best_ns(empty_loop, n)
    return loop, best_ns(f_pc, n) - loop, best_ns(f_call, n) - loop


def child(kind, n):
    """Runs in a subprocess: measures the floor and one group of variants, prints JSON. Each
    figure is divided by the floor measured in the same process."""
    loop, clock, call = floors(n)
    out = {"loop": loop, "perf_counter_ns x2": clock, "empty call x2": call}
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

        out["enter+exit"] = best_ns(f_pair, n) - loop
        out["checkpoint pair"] = best_ns(f_cp, n) - loop
        out["checkpoint pair (keywords)"] = best_ns(f_cp_kw, n) - loop
    elif kind == "session":
        import codegreen
        s = codegreen.Session("bench", save_to_file=False, warn_on_concurrent=False)
        s.start()

        def f_with(n):
            task = s.task
            for _ in range(n):
                with task("x"):
                    pass

        def f_explicit(n):
            start, stop = s.start_task, s.stop_task
            for _ in range(n):
                start("x")
                stop("x")

        # Every task is a record kept until stop: fewer iterations keep memory modest.
        out["with s.task()"] = best_ns(f_with, n // 4) - loop
        out["start_task+stop_task"] = best_ns(f_explicit, n // 4) - loop
        s.stop()
    print(json.dumps(out))


def run(kind, n, extra_env=None):
    env = dict(os.environ)
    env.setdefault("CODEGREEN_PROVIDERS", "sim")
    env.update(extra_env or {})
    r = subprocess.run([sys.executable, __file__, "--child", kind, str(n)], env=env,
                       stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    n = 20000 if "--quick" in sys.argv else 200000
    ext = run("extension", n)
    ctp = run("ctypes", n, {"CODEGREEN_RUNTIME_CTYPES": "1"})
    ses = run("session", n)
    print("Python %s, %d iterations, best of %d rounds; ns per PAIR of calls, loop overhead "
          "removed;\nratios against the floor measured in the same process"
          % (sys.version.split()[0], n, ROUNDS))
    print("%-46s %9s %12s %12s" % ("", "ns/pair", "x empty call", "x perf_ctr"))

    def row(label, res, key):
        v = res[key]
        print("%-46s %9.1f %12.2f %12.2f" % (label, v, v / res["empty call x2"],
                                              v / res["perf_counter_ns x2"]))

    row("floor: empty Python function call x2", ext, "empty call x2")
    row("floor: time.perf_counter_ns() x2", ext, "perf_counter_ns x2")
    row("runtime enter(fid)+exit(fid), C extension", ext, "enter+exit")
    row("runtime enter(fid)+exit(fid), ctypes", ctp, "enter+exit")
    row("runtime checkpoint() enter+exit, C extension", ext, "checkpoint pair")
    row("runtime checkpoint() enter+exit, ctypes", ctp, "checkpoint pair")
    row("runtime checkpoint(kw=) enter+exit, C ext", ext, "checkpoint pair (keywords)")
    row("runtime checkpoint(kw=) enter+exit, ctypes", ctp, "checkpoint pair (keywords)")
    row("Session: with s.task('x'): pass", ses, "with s.task()")
    row("Session: start_task('x') + stop_task('x')", ses, "start_task+stop_task")
    print("ctypes / extension, enter+exit: %.2fx" % (ctp["enter+exit"] / ext["enter+exit"]))


if __name__ == "__main__":
    main()
