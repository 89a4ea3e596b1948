"""bench_instrument.py - what the auto-instrumenter costs. Prints figures; asserts nothing.

usage: python3 bench/bench_instrument.py [CODEGREEN_BIN] [--repeat N] [--stdlib DIR]

1. Instrumenting the whole standard library of this interpreter (site-packages left out) with
   one `codegreen analyze` run, against `python3 -m compileall` of the same files in one run
   (byte-compiling into a temporary pycache prefix, so the library is not touched): the ratio
   says how the instrumenter's speed compares with the interpreter's own compiler.
2. A call-heavy program (recursion, methods, a generator, small functions in a loop) run as it
   is and under `codegreen measure`: the slowdown, and the cost per instrumented call (after
   subtracting measure's fixed cost, taken from an almost empty program). Energy is read from
   the simulated device, so the figure is the instrumentation's own cost. With --json the
   report also carries the per-invocation checkpoint detail, which costs more to write.
Medians of N runs (default 5).
"""

import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CALL_HEAVY = '''
import sys

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

class Vec:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def add(self, other):
        return Vec(self.x + other.x, self.y + other.y)
    def norm1(self):
        return abs(self.x) + abs(self.y)

def numbers(n):
    for i in range(n):
        yield i

def small(a, b):
    return a * b + 1

def main():
    total = fib(24)
    v = Vec(0, 0)
    for i in range(40000):
        v = v.add(Vec(i, -i))
    total += v.norm1()
    total += sum(numbers(100000))
    for i in range(100000):
        total += small(i, 3)
    print(total)

main()
'''
# calls made by main(): fib(24) 150049, Vec.add 40000, Vec.__init__ 80001, norm1 1,
# numbers 100001 activations, small 100000, main 1
CALLS = 150049 + 40000 + 80001 + 1 + 100001 + 100000 + 1


def median_time(cmd, repeat, env=None, cwd=None):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                           cwd=cwd)
        times.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            raise SystemExit("%s failed (%d): %s" % (cmd[:3], p.returncode, p.stderr[-2000:]))
    return statistics.median(times), min(times), max(times)


def main():
    args = sys.argv[1:]
    cg = os.path.join(HERE, "..", "build", "bin", "codegreen")
    repeat = 5
    stdlib = sysconfig.get_paths()["stdlib"]
    while args:
        a = args.pop(0)
        if a == "--repeat":
            repeat = int(args.pop(0))
        elif a == "--stdlib":
            stdlib = args.pop(0)
        else:
            cg = a
    cg = os.path.abspath(cg)
    py = sys.executable
    tmp = tempfile.mkdtemp(prefix="cg-bench-")
    try:
        entries = sorted(os.path.join(stdlib, e) for e in os.listdir(stdlib)
                         if e not in ("site-packages", "dist-packages", "__pycache__")
                         and not e.startswith(".")
                         and (e.endswith(".py") or os.path.isdir(os.path.join(stdlib, e))))
        n_files = sum(1 for e in entries if e.endswith(".py")) + sum(
            sum(1 for _, _, fs in os.walk(e) for f in fs if f.endswith(".py"))
            for e in entries if os.path.isdir(e))
        n_bytes = sum(os.path.getsize(os.path.join(d, f)) for e in entries
                      for d, _, fs in (os.walk(e) if os.path.isdir(e) else
                                       [(os.path.dirname(e), None, [os.path.basename(e)])])
                      for f in fs if f.endswith(".py"))
        print("codegreen: %s\npython:    %s %s\n" % (cg, py, sys.version.split()[0]))

        # 1. instrumenting vs byte-compiling the standard library
        out = os.path.join(tmp, "out")
        t_an, _, _ = median_time([cg, "analyze", "-q", "python"] + entries, repeat)
        t_save, _, _ = median_time([cg, "analyze", "-q", "--save-instrumented", "--output-dir",
                                    out, "python"] + entries, repeat)
        env = dict(os.environ)
        cache = os.path.join(tmp, "pycache")
        env["PYTHONPYCACHEPREFIX"] = cache
        times = []
        for _ in range(repeat):
            shutil.rmtree(cache, ignore_errors=True)
            t0 = time.perf_counter()
            subprocess.run([py, "-m", "compileall", "-q", "-f", "-j", "1"] + entries,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            times.append(time.perf_counter() - t0)
        t_cc = statistics.median(times)
        print("1. standard library: %d files, %.1f MB (%s)" % (n_files, n_bytes / 1e6, stdlib))
        print("   codegreen analyze (parse + instrument, in memory)   %7.2f s  %6.1f MB/s"
              % (t_an, n_bytes / 1e6 / t_an))
        print("   codegreen analyze --save-instrumented               %7.2f s" % t_save)
        print("   python -m compileall -f (one process, -j 1)          %7.2f s" % t_cc)
        print("   ratio instrumenting / byte-compiling: %.2f (in memory), %.2f (writing the "
              "copies)\n" % (t_an / t_cc, t_save / t_cc))

        # 2. slowdown of a call-heavy program
        prog = os.path.join(tmp, "callheavy.py")
        with open(prog, "w") as f:
            f.write(CALL_HEAVY)
        env = dict(os.environ)
        env["CODEGREEN_PROVIDERS"] = "sim"
        t_orig, lo, hi = median_time([py, prog], repeat, env=env)
        t_meas, lo2, hi2 = median_time([cg, "measure", "-q", "--python", py, prog], repeat,
                                       env=env)
        t_fine, _, _ = median_time([cg, "measure", "-q", "-g", "fine", "--python", py, prog],
                                   repeat, env=env)
        t_json, _, _ = median_time([cg, "measure", "-q", "--json", "--python", py, prog], repeat,
                                   env=env)
        probe = subprocess.run([cg, "measure", "-q", "--json", "--python", py, prog],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env).stderr.decode()
        import json
        rep = json.loads(probe)  # --json writes the report on stderr
        calls = sum(f["calls"] for f in rep["functions"])
        impl = subprocess.run(
            [py, "-c", "import codegreen_runtime as r; print(r.IMPLEMENTATION)"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=dict(env, PYTHONPATH=os.path.join(HERE, "..", "python"),
                     CODEGREEN_LIB_PATH=os.path.join(os.path.dirname(cg), "..", "lib",
                                                     "libcodegreen-nemb.so"),
                     CODEGREEN_RESULT_FILE=os.path.join(tmp, "result.json"))).stdout.decode().strip() or "?"
        # the fixed cost (a second interpreter for the compile step, the runtime's start and
        # report): measure an almost empty program the same way
        empty = os.path.join(tmp, "empty.py")
        with open(empty, "w") as f:
            f.write("def f():\n    return 1\nf()\n")
        t_e0, _, _ = median_time([py, empty], repeat, env=env)
        t_e1, _, _ = median_time([cg, "measure", "-q", "--python", py, empty], repeat, env=env)
        fixed = t_e1 - t_e0
        per_call = (t_meas - t_orig - fixed) / calls * 1e9 if calls else float("nan")
        print("2. call-heavy program: %d instrumented calls (expected %d); runtime hot path: %s"
              % (calls, CALLS, impl))
        print("   original                     %7.3f s  (min %.3f, max %.3f)" % (t_orig, lo, hi))
        print("   codegreen measure (coarse)   %7.3f s  (min %.3f, max %.3f)" % (t_meas, lo2, hi2))
        print("   codegreen measure -g fine    %7.3f s" % t_fine)
        print("   codegreen measure --json     %7.3f s  (the report keeps up to 100000 "
              "per-invocation records)" % t_json)
        print("   slowdown %.2fx; fixed cost of measure %.3f s (compile step, runtime start, "
              "report); per instrumented call %.0f ns" % (t_meas / t_orig, fixed, per_call))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
