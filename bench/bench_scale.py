#!/usr/bin/env python3
"""bench_scale.py - reports at scale: what writing, holding and plotting a big report costs.

Each figure comes from a run of its own, in a child process (so its peak memory is its own, read
from wait4's rusage), on the simulated device, and is extrapolated linearly to the issue's scale:

1. a long session at 1 ms with time series (a task with a nested task for the whole run), --seconds
   long (default 60), extrapolated to one hour: the JSON's size, the CPU time of Session.stop()
   (which builds and writes the report) and the peak memory above the start;
2. many tasks: a @codegreen.task function called --tasks times (default a million) in one
   Session: stop()'s time, the peak memory above the start, the JSON's size, extrapolated
   linearly when --tasks is not a million (the JSON's size is not linear: the report details the
   first measurement.report.task_detail_limit instances of a task, so only a run of a million
   gives its figure);
3. `codegreen plot` of the report of 1: its time, peak memory and read speed.

The goals are issue 18's. Prints figures; asserts nothing. Run after ./scripts/build.sh release:
  CODEGREEN_LIB_PATH=$PWD/build/lib/libcodegreen-nemb.so PYTHONPATH=$PWD/python \
    /usr/bin/python3 bench/bench_scale.py [--seconds S] [--tasks N] [--codegreen BIN]
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

LONG = r'''
import json, resource, sys, time, warnings, codegreen
warnings.simplefilter("ignore")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
s = codegreen.Session("scale", output_file=sys.argv[1], record_time_series=True,
                      warn_on_concurrent=False)
s.start()
with s.task("outer"):
    with s.task("inner"):
        time.sleep(float(sys.argv[2]))
c0 = time.process_time(); w0 = time.perf_counter()
s.stop()
print(json.dumps({"stop_cpu_s": time.process_time() - c0, "stop_wall_s": time.perf_counter() - w0,
                  "base_kb": base}))
'''

MANY = r'''
import json, resource, sys, time, warnings, codegreen
warnings.simplefilter("ignore")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
s = codegreen.Session("scale", output_file=sys.argv[1], warn_on_concurrent=False)
s.start()
@codegreen.task
def f():
    pass
for _ in range(int(sys.argv[2])):
    f()
c0 = time.process_time(); w0 = time.perf_counter()
s.stop()
print(json.dumps({"stop_cpu_s": time.process_time() - c0, "stop_wall_s": time.perf_counter() - w0,
                  "base_kb": base}))
'''


def child(cmd, env):
    """Runs cmd; returns (stdout, wall seconds, peak RSS in MB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, universal_newlines=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit("%s failed (%d)" % (cmd[:3], p.returncode))
    return out, time.perf_counter() - t0, ru.ru_maxrss / 1024.0


def main():
    args = sys.argv[1:]
    seconds, tasks = 60.0, 1000000
    cg = os.path.join(HERE, "..", "build", "bin", "codegreen")
    while args:
        a = args.pop(0)
        if a == "--seconds":
            seconds = float(args.pop(0))
        elif a == "--tasks":
            tasks = int(args.pop(0))
        elif a == "--codegreen":
            cg = args.pop(0)
    env = dict(os.environ, CODEGREEN_PROVIDERS="sim")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="cg-scale-") as tmp:
        print("bench_scale: Python %s, simulated device, sampler at 1 ms; figures extrapolated "
              "linearly from the run's own size" % sys.version.split()[0])
        f1 = os.path.join(tmp, "long.json")
        out, _, peak = child([py, "-c", LONG, f1, str(seconds)], env)
        r = json.loads(out.strip().splitlines()[-1])
        k = 3600.0 / seconds
        size = os.path.getsize(f1) / 1e6
        print("1. a %.0f s session with time series, x%.0f for one hour:" % (seconds, k))
        print("  %-46s %8.0f MB   goal <= 200" % ("JSON size per hour", size * k))
        print("  %-46s %8.1f s    goal <= 5" % ("stop() CPU per hour", r["stop_cpu_s"] * k))
        print("  %-46s %8.0f MB   goal <= 200  (run: %.0f MB above a %.0f MB start)"
              % ("peak memory per hour", (peak - r["base_kb"] / 1024.0) * k,
                 peak - r["base_kb"] / 1024.0, r["base_kb"] / 1024.0))

        f2 = os.path.join(tmp, "many.json")
        out, _, peak = child([py, "-c", MANY, f2, str(tasks)], env)
        r = json.loads(out.strip().splitlines()[-1])
        k = 1e6 / tasks
        print("2. %d tasks (@codegreen.task in a loop), x%.1f for a million:" % (tasks, k))
        print("  %-46s %8.1f s    goal <= 2" % ("stop() wall time per million", r["stop_wall_s"] * k))
        print("  %-46s %8.0f MB   goal <= 200" % ("peak memory per million",
                                                  (peak - r["base_kb"] / 1024.0) * k))
        print("  %-46s %8.0f MB   %s" % ("JSON size", os.path.getsize(f2) / 1e6,
                                          "of %d tasks (not extrapolated)" % tasks))

        out, wall, peak = child([cg, "plot", "-q", f1, "-o", os.path.join(tmp, "p.html")], env)
        print("3. codegreen plot of the report of 1 (%.1f MB):" % size)
        print("  %-46s %8.1f MB/s goal >= 50" % ("read speed", size / wall if wall > 0 else 0))
        print("  %-46s %8.0f MB   goal <= 300 (any size)" % ("peak memory", peak))
        print("  %-46s %8.0f MB   goal <= 300" % ("peak memory for a 1 GB report (linear)",
                                                  peak / size * 1e3 if size > 0 else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
