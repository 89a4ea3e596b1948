"""bench_python_figures.py - the three figures of the Python instrumenter, as ratios measured side
by side in one run (each round runs every command once, in turn; medians over the rounds), so a
busy machine slows both sides of a ratio alike. Prints figures; asserts nothing.

usage: python3 bench/bench_python_figures.py [CODEGREEN_BIN] [--rounds N] [--stdlib DIR]
           [--only 1,2,3] [--against OTHER_BIN]

--against: another build's codegreen (an older commit's, say) run in the same rounds, interleaved
with this one, for figures 2 and 3: each figure is printed for both, with the paired ratio of the
two builds.

1. call cost: a call-heavy program run plain, under `python -m cProfile`, and under
   `codegreen measure` (simulated device, so the figure is the instrumentation's own cost). Each
   tool's cost per call is (its run - the plain run - its fixed cost) / calls, the fixed cost
   taken from an almost empty program run the same way. Ratio: codegreen / cProfile per call;
   also the whole run's overhead against cProfile's.
2. start-up: an 80 000-line file of functions (defined, not called): `codegreen measure`'s
   extra time over a plain run, against CPython compiling the same file (compile() in a fresh
   interpreter, minus that interpreter's start).
3. the standard library: `codegreen analyze` (parse and instrument every file, in memory)
   against `python -m compileall -f -j 1` of the same files (rounds: half of --rounds).

Figures 2 and 3 print the paired ratios of wall times and of CPU times (each command's user +
system time with the processes it waited for): on a machine whose cores other work keeps busy
the wall time is mostly waiting, and the CPU time is the steadier figure.
"""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_instrument import CALL_HEAVY, CALLS  # noqa: E402


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, env=None):
    """(wall seconds, CPU seconds) of one command; the CPU time is the command's and that of the
    processes it waited for (user + system), which a busy machine does not inflate as it does
    the wall time."""
    c0 = children_cpu()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):  # 1: a few stdlib test files do not compile, on purpose
        raise SystemExit("%s failed (%d): %s" % (cmd[:4], p.returncode, p.stderr[-2000:]))
    return dt, children_cpu() - c0


class Times(dict):
    """Medians of every command (the dict), and each round's times (.runs: wall, .cpu: CPU) for
    paired ratios."""

    def ratio(self, num, den, cpu=False):
        """'median x (IQR a-b)' of the per-round ratios num(i) / den(i); num and den map a
        round's {command: seconds} to a number. cpu: of the CPU times, not the wall times."""
        r = [num(x) / den(x) for x in (self.cpu if cpu else self.runs) if den(x) > 0]
        if len(r) < 2:
            return "%.2f x (1 round)" % (r[0] if r else 0)
        q = statistics.quantiles(r, n=4, method="inclusive")
        return "%.2f x (IQR %.2f-%.2f, %d rounds)" % (statistics.median(r), q[0], q[2], len(r))


def rounds(cmds, n, env=None, before=None):
    """Medians of every command, run in turn n times, the order turning from round to round."""
    names = list(cmds)
    t = Times({k: [] for k in names})
    t.runs = []
    t.cpu = []
    for i in range(n):
        one, cpu = {}, {}
        for j in range(len(names)):
            k = names[(i + j) % len(names)]
            if before:
                before(k)
            one[k], cpu[k] = run(cmds[k], env)
            t[k].append(one[k])
        t.runs.append(one)
        t.cpu.append(cpu)
    for k in names:
        t[k] = statistics.median(t[k])
    return t


def big_file(path, lines=80000):
    with open(path, "w") as f:
        n = 0
        i = 0
        while n < lines:
            f.write("def f%d(a, b=1):\n    x = a + b\n    if x > 10:\n        return x * 2\n"
                    "    for i in range(a):\n        x += i\n    return x\n\n\n" % i)
            n += 9
            i += 1
    return i


def main():
    args = sys.argv[1:]
    cg = os.path.join(HERE, "..", "build", "bin", "codegreen")
    n = 5
    stdlib = sysconfig.get_paths()["stdlib"]
    only = "1,2,3"
    against = None
    while args:
        a = args.pop(0)
        if a == "--rounds":
            n = int(args.pop(0))
        elif a == "--only":
            only = args.pop(0)
        elif a == "--against":
            against = os.path.abspath(args.pop(0))
        elif a == "--stdlib":
            stdlib = args.pop(0)
        else:
            cg = a
    cg = os.path.abspath(cg)
    py = sys.executable
    tmp = tempfile.mkdtemp(prefix="cg-figures-")
    env = dict(os.environ, CODEGREEN_PROVIDERS="sim", PYTHONDONTWRITEBYTECODE="1")
    try:
        print("codegreen: %s\npython:    %s %s; %d rounds\n" % (cg, py, sys.version.split()[0], n))
        if against:
            print("against:   %s\n" % against)
        # each program in a directory of its own: measure instruments the script's directory
        for d in ("a", "b", "c"):
            os.mkdir(os.path.join(tmp, d))
        prog = os.path.join(tmp, "a", "callheavy.py")
        empty = os.path.join(tmp, "b", "empty.py")
        with open(prog, "w") as f:
            f.write(CALL_HEAVY)
        with open(empty, "w") as f:
            f.write("def f():\n    return 1\nf()\n")
        prof = os.path.join(tmp, "prof.out")
        m = ["-q", "--python", py]
        if "1" in only:
            figure1(cg, py, m, prog, empty, prof, n, env)
        if "2" in only:
            figure2(cg, against, py, m, tmp, n, env)
        if "3" in only:
            figure3(cg, against, py, stdlib, tmp, n, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def figure1(cg, py, m, prog, empty, prof, n, env):
    t = rounds({"plain": [py, prog], "cprofile": [py, "-m", "cProfile", "-o", prof, prog],
                "measure": [cg, "measure"] + m + [prog],
                "plain0": [py, empty], "cprofile0": [py, "-m", "cProfile", "-o", prof, empty],
                "measure0": [cg, "measure"] + m + [empty]}, n, env)
    fixed_cg = t["measure0"] - t["plain0"]
    fixed_cp = t["cprofile0"] - t["plain0"]
    per_cg = (t["measure"] - t["plain"] - fixed_cg) / CALLS
    per_cp = (t["cprofile"] - t["plain"] - fixed_cp) / CALLS
    print("1. call cost, %d calls: plain %.3f s, cProfile %.3f s, codegreen measure %.3f s"
          % (CALLS, t["plain"], t["cprofile"], t["measure"]))
    print("   fixed cost: cProfile %.3f s, codegreen %.3f s (compile step, session)"
          % (fixed_cp, fixed_cg))
    print("   per call: cProfile %.0f ns, codegreen %.0f ns -> ratio %.2f (target <= 1.5)"
          % (per_cp * 1e9, per_cg * 1e9, per_cg / per_cp))
    print("   paired: codegreen / cProfile per call %s"
          % t.ratio(lambda x: x["measure"] - x["plain"] - x["measure0"] + x["plain0"],
                    lambda x: x["cprofile"] - x["plain"] - x["cprofile0"] + x["plain0"]))
    print("   whole run's overhead: codegreen / cProfile = %.2f\n"
          % ((t["measure"] - t["plain"]) / (t["cprofile"] - t["plain"])))


def figure2(cg, against, py, m, tmp, n, env):
    big = os.path.join(tmp, "c", "big.py")
    funcs = big_file(big)
    code = "import sys; compile(open(sys.argv[1], 'rb').read(), sys.argv[1], 'exec')"
    cmds = {"plain": [py, big], "measure": [cg, "measure"] + m + [big],
            "compile": [py, "-c", code, big], "start": [py, "-c", "pass"]}
    if against:
        cmds["measure_against"] = [against, "measure"] + m + [big]
    t = rounds(cmds, n, env)
    for k, who in (("measure", "this build"), ("measure_against", "against")):
        if k not in t:
            continue
        extra = t[k] - t["plain"]
        comp = t["compile"] - t["start"]
        print("2. start-up, 80 000 lines (%d functions), %s: plain run %.3f s, measure %.3f s"
              % (funcs, who, t["plain"], t[k]))
        print("   measure's extra %.3f s vs CPython's compile %.3f s -> ratio %.2f "
              "(target <= 2)" % (extra, comp, extra / comp))
        print("   paired: measure's extra %s CPython's compile (goal <= 2)"
              % t.ratio(lambda x: x[k] - x["plain"], lambda x: x["compile"] - x["start"]))
        print("   paired, CPU time: measure's extra %s CPython's compile"
              % t.ratio(lambda x: x[k] - x["plain"], lambda x: x["compile"] - x["start"], True))
        print("   paired: measure %s plain\n"
              % t.ratio(lambda x: x[k], lambda x: x["plain"]))
    if against:
        print("   paired: this build's measure %s against's"
              % t.ratio(lambda x: x["measure"], lambda x: x["measure_against"]))
        print("   paired, CPU time: this build's measure %s against's\n"
              % t.ratio(lambda x: x["measure"], lambda x: x["measure_against"], True))


def figure3(cg, against, py, stdlib, tmp, n, env):
    entries = sorted(os.path.join(stdlib, e) for e in os.listdir(stdlib)
                     if e not in ("site-packages", "dist-packages", "__pycache__")
                     and not e.startswith(".")
                     and (e.endswith(".py") or os.path.isdir(os.path.join(stdlib, e))))
    cache = os.path.join(tmp, "pycache")
    cenv = dict(env, PYTHONPYCACHEPREFIX=cache)
    cenv.pop("PYTHONDONTWRITEBYTECODE")

    def clear(k):
        if k == "compileall":
            shutil.rmtree(cache, ignore_errors=True)

    cmds = {"analyze": [cg, "analyze", "-q", "python"] + entries,
            "compileall": [py, "-m", "compileall", "-q", "-f", "-j", "1"] + entries}
    if against:
        cmds["analyze_against"] = [against, "analyze", "-q", "python"] + entries
    t = rounds(cmds, max(1, n // 2), cenv, clear)
    for k, who in (("analyze", "this build"), ("analyze_against", "against")):
        if k not in t:
            continue
        print("3. standard library (%s), %s: codegreen analyze %.2f s, compileall %.2f s -> "
              "ratio %.2f (target <= 1)" % (stdlib, who, t[k], t["compileall"],
                                            t[k] / t["compileall"]))
        print("   paired: analyze %s compileall (goal <= 1)"
              % t.ratio(lambda x: x[k], lambda x: x["compileall"]))
        print("   paired, CPU time: analyze %s compileall (goal <= 1)"
              % t.ratio(lambda x: x[k], lambda x: x["compileall"], True))
    if against:
        print("   paired: this build's analyze %s against's"
              % t.ratio(lambda x: x["analyze"], lambda x: x["analyze_against"]))
        print("   paired, CPU time: this build's analyze %s against's"
              % t.ratio(lambda x: x["analyze"], lambda x: x["analyze_against"], True))


if __name__ == "__main__":
    sys.exit(main())
