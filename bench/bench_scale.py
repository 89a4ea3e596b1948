#!/usr/bin/env python3
"""bench_scale.py - reports at scale: what writing, holding and plotting a big report costs.

Each figure comes from a run of its own, in a child process (so its peak memory is its own, read
from wait4's rusage), on the simulated device, and is extrapolated linearly to the issue's scale:

1. a long session at 1 ms with time series (a task with a nested task for the whole run), --seconds
   long (default 60), extrapolated to one hour: the file's size, the CPU time of Session.stop()
   (which streams the report into the file and reads its summary, the report without series;
   also as a 10 s run's plus the growth per second after it, as memory below, since part of it
   does not grow with the length),
   the CPU time of the first use of Session.report (which builds the whole text and parses it
   into Python's dict; json.loads of the text is also timed on its own), the peak memory above
   the start at the end of stop() (what a 10 s run needs, plus the growth per second between
   the two runs times an hour: memory that does not grow is not multiplied) and over the whole
   run (the report used, extrapolated linearly); once per layout:
   the reference's samples, columnar, and columnar into .json.zst;
   with --against-lib LIB, --rounds pairs of runs with this build's library and LIB (another
   build's libcodegreen-nemb.so), alternating, and the medians of the per-pair ratios (per MB of
   report text);
2. many tasks: a @codegreen.task function called --tasks times (default a million) in one
   Session: stop()'s time, the peak memory above the start, the JSON's size, extrapolated
   linearly when --tasks is not a million (the JSON's size is not linear: the report details the
   first measurement.report.task_detail_limit instances of a task, so only a run of a million
   gives its figure); beside it, in alternating rounds (--rounds), bench_tasks: the same loop in
   C (nemb_task_start/stop, then nemb_session_end), and the ratios Python / C (goal <= 1.5);
3. `codegreen plot` of the report of 1 (and of its zstd-compressed copy, and with --plot-mb M of
   a synthetic report of about M MB: the report of 1's samples repeated, so one outer task and
   its inner task hold the whole series, the parent repeating every sample of its child):
   read speed (MB of JSON per second of the whole command) and peak memory, --rounds times
   (default 3) interleaved, medians with their range; with --against BIN, the same plots by
   another build (e.g. main's, which may not read .zst: it plots the .json reports only) in the
   same rounds, and the median of the per-round ratios.

The goals are issue 18's. Prints figures; asserts nothing. Run after ./scripts/build.sh release:
  CODEGREEN_LIB_PATH=$PWD/build/lib/libcodegreen-nemb.so PYTHONPATH=$PWD/python \
    /usr/bin/python3 bench/bench_scale.py [--seconds S] [--tasks N] [--codegreen BIN]
      [--only 1,2,3 (or --figure N)] [--plot-mb M] [--rounds R] [--against BIN]
      [--against-lib LIBCODEGREEN-NEMB.SO] [--layouts samples,columnar,zst (figure 1's runs)]
"""
import json
import math
import os
import shutil
import statistics
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
                      warn_on_concurrent=False, timeseries_layout=sys.argv[3])
s.start()
with s.task("outer"):
    with s.task("inner"):
        time.sleep(float(sys.argv[2]))
c0 = time.process_time(); w0 = time.perf_counter()
s.stop()
stop_cpu, stop_wall = time.process_time() - c0, time.perf_counter() - w0
stop_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
c0 = time.process_time()
len(s.report)  # the first use: parses the whole report (a build that parses at stop: nothing)
use_cpu = time.process_time() - c0
text = s._native.lib.nemb_session_report_json(s._handle)
c0 = time.process_time()
json.loads(text)
print(json.dumps({"stop_cpu_s": stop_cpu, "stop_wall_s": stop_wall, "base_kb": base,
                  "stop_peak_kb": stop_peak, "use_cpu_s": use_cpu,
                  "parse_cpu_s": time.process_time() - c0, "text_mb": len(text) / 1e6}))
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


def synthesize(src, dst, mb):
    """Writes about mb MB of report to dst: src's outer task and its inner task, their interior
    samples repeated (times shifted by the series' period) until the file has that size. The
    samples keep the report writer's layout (JSON_INDENT(2)); the tasks' energies are src's
    scaled by the repeats (the chart's tails are not checked: this input measures reading)."""
    base = json.load(open(src))
    outer, inner = base["tasks"][0], base["tasks"][1]
    interior = outer["timeseries"][1:-1]
    t_first = interior[0]["t_ns"]
    period = interior[-1]["t_ns"] - t_first + (interior[1]["t_ns"] - t_first)
    pad = " " * 8
    tmpl = []
    for p in interior:
        q = dict(p, t_ns=0)
        text = json.dumps(q, indent=2).replace('"t_ns": 0', '"t_ns": %d').replace("\n", "\n" + pad)
        tmpl.append((p["t_ns"] - t_first, pad + text))
    per_copy = sum(len(t) + 2 for _, t in tmpl) * 2
    copies = max(1, int(math.ceil(mb * 1e6 / per_copy)))
    t_end = t_first + copies * period
    for t, k in ((outer, 1.0), (inner, 1.0)):
        t["energy_j"] *= copies * k
        t["domains"] = {d: v * copies for d, v in t["domains"].items()}
    base["meta"]["duration_total_s"] = (t_end - outer["started_at_mono_ns"]) / 1e9 + 0.01

    def write_task(f, t, last):
        t0 = t["started_at_mono_ns"]
        start, end = t["timeseries"][0], dict(t["timeseries"][-1])
        t["ended_at_mono_ns"] = end["t_ns"] = t_end + (period // 4 if t is outer else period // 8)
        t["timeseries"] = "@SERIES@"
        head, tail = json.dumps(t, indent=2).split('"@SERIES@"')
        f.write("    " + head.replace("\n", "\n    ") + "[\n")
        f.write(pad + json.dumps(start, indent=2).replace("\n", "\n" + pad))
        for c in range(copies):
            shift = t_first + c * period
            f.write(",\n".join([""] + [text % (dt + shift) for dt, text in tmpl
                                       if dt + shift > t0]))
        f.write(",\n" + pad + json.dumps(end, indent=2).replace("\n", "\n" + pad) + "\n      ]")
        f.write(tail.replace("\n", "\n    ") + ("\n" if last else ",\n"))

    with open(dst, "w") as f:
        f.write('{\n  "meta": ' + json.dumps(base["meta"], indent=2).replace("\n", "\n  "))
        f.write(',\n  "tasks": [\n')
        write_task(f, outer, False)
        write_task(f, inner, True)
        f.write('  ],\n  "totals": ' + json.dumps(base["totals"], indent=2).replace("\n", "\n  "))
        f.write("\n}\n")


def plots(cg, against, reports, rounds, tmp, env):
    """Figure 3: each report plotted by cg (and by against) once per round, interleaved."""
    runs = [(label, path, b) for label, path in reports
            for b in [cg] + [against] * bool(against and not path.endswith(".zst"))]
    json_mb = {path: os.path.getsize(path[:-4] if path.endswith(".zst") else path) / 1e6
               for _, path in reports}
    speed = {i: [] for i in range(len(runs))}
    peak = {i: [] for i in range(len(runs))}
    for r in range(rounds):
        order = list(range(len(runs)))
        order = order[r % len(order):] + order[:r % len(order)]  # rotate: no variant always first
        for i in order:
            label, path, b = runs[i]
            _, wall, mb = child([b, "plot", "-q", path, "-o", os.path.join(tmp, "p.html")], env)
            speed[i].append(json_mb[path] / wall)
            peak[i].append(mb)
    med = statistics.median
    for i, (label, path, b) in enumerate(runs):
        who = "" if b == cg else " [against]"
        print("  %-46s %8.1f MB/s (%.1f-%.1f) goal >= 50" % (
            ("read speed, " + label + who)[:46], med(speed[i]), min(speed[i]), max(speed[i])))
        print("  %-46s %8.0f MB   (%.0f-%.0f) goal <= 300" % (
            ("peak memory, " + label + who)[:46], med(peak[i]), min(peak[i]), max(peak[i])))
        if against and b == against:
            mine = i - 1
            ratio = [speed[mine][k] / speed[i][k] for k in range(rounds)]
            mem = [peak[mine][k] / peak[i][k] for k in range(rounds)]
            print("  %-46s %8.2fx speed, %.2fx memory (paired medians)" % (
                ("this build / against, " + label)[:46], med(ratio), med(mem)))


def main():
    args = sys.argv[1:]
    seconds, tasks, only, plot_mb, rounds, against = 60.0, 1000000, "1,2,3", 0.0, 3, None
    against_lib = None
    layouts = {"samples", "columnar", "zst"}
    cg = os.path.join(HERE, "..", "build", "bin", "codegreen")
    c_bench = os.path.join(HERE, "..", "build", "bin", "bench_tasks")
    while args:
        a = args.pop(0)
        if a == "--seconds":
            seconds = float(args.pop(0))
        elif a == "--tasks":
            tasks = int(args.pop(0))
        elif a == "--codegreen":
            cg = args.pop(0)
        elif a in ("--only", "--figure"):
            only = args.pop(0)
        elif a == "--plot-mb":
            plot_mb = float(args.pop(0))
        elif a == "--rounds":
            rounds = int(args.pop(0))
        elif a == "--against":
            against = args.pop(0)
        elif a == "--against-lib":
            against_lib = args.pop(0)
        elif a == "--layouts":
            layouts = set(args.pop(0).split(","))
    only = set(only.split(","))
    env = dict(os.environ, CODEGREEN_PROVIDERS="sim")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="cg-scale-") as tmp:
        print("bench_scale: Python %s, simulated device, sampler at 1 ms; figures extrapolated "
              "linearly from the run's own size" % sys.version.split()[0])
        k = 3600.0 / seconds
        f1 = None
        if "1" in only:
            print("1. a %.0f s session with time series, x%.0f for one hour:" % (seconds, k))
        for layout, name in (("samples", "long.json"), ("columnar", "col.json"),
                             ("columnar", "col.json.zst")):
            if f1 is not None and "1" not in only:
                break
            if "1" in only and (name.endswith(".zst") and "zst" not in layouts or
                                not name.endswith(".zst") and layout not in layouts):
                continue
            path = os.path.join(tmp, name)
            out, _, peak = child([py, "-c", LONG, path, str(seconds), layout], env)
            f1 = f1 or path
            if "1" in only:
                short, _, _ = child([py, "-c", LONG, path + ".short",
                                     str(min(SHORT_S, seconds / 2)), layout], env)
                print_long(layout, name, k, os.path.getsize(path) / 1e6,
                           json.loads(out.strip().splitlines()[-1]), peak,
                           json.loads(short.strip().splitlines()[-1]), seconds)
                if against_lib:
                    paired_long(py, path, seconds, layout, rounds, env, against_lib)
        size = os.path.getsize(f1) / 1e6
        if "2" in only:
            many(py, tmp, tasks, env, c_bench, rounds)
        if "3" in only:
            reports = [("the report of 1 (%.0f MB)" % size, f1)]
            if shutil.which("zstd"):
                subprocess.check_call(["zstd", "-q", "-f", f1, "-o", f1 + ".zst"])
                reports.append(("its .json.zst (%.0f MB of JSON)" % size, f1 + ".zst"))
            if plot_mb > 0:
                f3 = os.path.join(tmp, "synthetic.json")
                synthesize(f1, f3, plot_mb)
                reports.append(("synthetic %.0f MB report" % (os.path.getsize(f3) / 1e6), f3))
            print("3. codegreen plot (%d rounds, interleaved; read speed = MB of JSON / wall "
                  "time of the command):" % rounds)
            plots(cg, against, reports, rounds, tmp, env)
    return 0


def paired_long(py, path, seconds, layout, rounds, env, other):
    """Figure 1 against another build's library (--against-lib): --rounds pairs of runs of LONG,
    the order alternating, each figure per MB of report text (the runs' sample counts differ on a
    busy machine); prints the medians of the per-pair ratios this build / the other."""
    lib = {"mine": env.get("CODEGREEN_LIB_PATH"), "other": other}
    ratio = {"stop() CPU per MB": [], "stop() + first use CPU per MB": [],
             "peak memory to stop()'s end per MB": [], "peak memory, report used, per MB": []}
    for r in range(rounds):
        got = {}
        for who in (("mine", "other") if r % 2 == 0 else ("other", "mine")):
            e = dict(env, CODEGREEN_LIB_PATH=lib[who]) if lib[who] else env
            out, _, peak = child([py, "-c", LONG, path, str(seconds), layout], e)
            x = json.loads(out.strip().splitlines()[-1])
            mb = max(x["text_mb"], 1e-9)
            base = x["base_kb"] / 1024.0
            got[who] = {"stop() CPU per MB": x["stop_cpu_s"] / mb,
                        "stop() + first use CPU per MB": (x["stop_cpu_s"] + x["use_cpu_s"]) / mb,
                        "peak memory to stop()'s end per MB": (x["stop_peak_kb"] / 1024.0 - base)
                        / mb,
                        "peak memory, report used, per MB": (peak - base) / mb}
        for key in ratio:
            ratio[key].append(got["mine"][key] / max(got["other"][key], 1e-12))
    for key, v in ratio.items():
        print("    %-44s %8.2fx   (this build / --against-lib, median of %d pairs, %.2f-%.2f)"
              % (key, statistics.median(v), len(v), min(v), max(v)))


# The short run of figure 1 that tells memory that does not grow with time: long enough that
# the report's stream buffer and zstd's context reach their full size (a report over 1 MB).
SHORT_S = 10.0


def print_long(layout, name, k, size, r, peak, short, seconds):
    """Figure 1, from a run of LONG and a SHORT_S run of it: the memory figures are the short
    run's (the library, its buffers, zstd's context: what does not grow) plus the growth per
    second between the two runs, times an hour."""
    print("  %s layout, %s:" % (layout, name))
    print("    %-44s %8.0f MB   goal <= 200" % ("file size per hour", size * k))
    print("    %-44s %8.1f s    goal <= 5" % ("stop() CPU per hour", r["stop_cpu_s"] * k))
    # The same from the short run plus the growth per second after it: what stop() costs whatever
    # the length (starting zstd, the summary, Python's side) is not multiplied by the hour.
    short_s = min(SHORT_S, seconds / 2)
    cpu_grows = (r["stop_cpu_s"] - short["stop_cpu_s"]) / (seconds - short_s)
    print("    %-44s %8.1f s    (%.0f ms at %.0f s, %.0f ms per minute after; noisy: tens of ms)"
          % ("stop() CPU per hour, short run + growth", short["stop_cpu_s"] + cpu_grows *
             (3600 - short_s), short["stop_cpu_s"] * 1e3, short_s, cpu_grows * 60e3))
    print("    %-44s %8.1f s    (json.loads of the text alone: %.1f s)" % (
        "first use of Session.report, CPU per hour", r["use_cpu_s"] * k, r["parse_cpu_s"] * k))
    base = r["base_kb"] / 1024.0
    fixed = (short["stop_peak_kb"] - short["base_kb"]) / 1024.0
    grows = ((r["stop_peak_kb"] - r["base_kb"]) / 1024.0 - fixed) / (seconds - short_s)
    print("    %-44s %8.0f MB   goal <= 200  (%.1f MB at %.0f s, %.0f MB per minute after; "
          "this run %.0f MB above a %.0f MB start; report text %.0f MB per hour)" % (
              "peak memory to the end of stop(), per hour", fixed + grows * (3600 - short_s),
              fixed, short_s, grows * 60, r["stop_peak_kb"] / 1024.0 - base, base,
              r["text_mb"] * k))
    print("    %-44s %8.0f MB" % ("peak memory with the report used, per hour",
                                  (peak - base) * k))


median = statistics.median


def many(py, tmp, tasks, env, c_bench, rounds):
    """Figure 2: MANY from Python and, when built, bench_tasks (the same loop in C), in
    alternating rounds; medians, and the medians of the per-round ratios Python / C."""
    f2 = os.path.join(tmp, "many.json")
    k = 1e6 / tasks
    sides = {"py": [], "c": []}
    have_c = os.path.exists(c_bench)
    for r in range(rounds if have_c else 1):
        order = ("py", "c") if r % 2 == 0 else ("c", "py")
        for side in order:
            if side == "c" and not have_c:
                continue
            cmd = [py, "-c", MANY, f2, str(tasks)] if side == "py" else [c_bench, str(tasks), f2]
            out, _, peak = child(cmd, env)
            res = json.loads(out.strip().splitlines()[-1])
            sides[side].append({"wall": res["stop_wall_s"] * k, "cpu": res["stop_cpu_s"] * k,
                                "mem": (peak - res["base_kb"] / 1024.0) * k,
                                "size": os.path.getsize(f2) / 1e6})
    print("2. %d tasks (@codegreen.task in a loop), x%.1f for a million, %d round(s):"
          % (tasks, k, len(sides["py"])))
    py_ = sides["py"]
    print("  %-46s %8.1f s    goal <= 2" % ("stop() wall time per million",
                                            median([x["wall"] for x in py_])))
    print("  %-46s %8.0f MB   goal <= 200" % ("peak memory per million",
                                              median([x["mem"] for x in py_])))
    print("  %-46s %8.0f MB   %s" % ("JSON size", py_[-1]["size"],
                                      "of %d tasks (not extrapolated)" % tasks))
    if not have_c:
        print("  (no %s: build the benchmarks for the C side)" % c_bench)
        return
    c_ = sides["c"]
    print("  C, nemb_session_end() of the same loop: %.1f s wall, %.1f s CPU, %.0f MB peak" % (
        median([x["wall"] for x in c_]), median([x["cpu"] for x in c_]),
        median([x["mem"] for x in c_])))
    for key, what in (("wall", "stop() wall time"), ("cpu", "stop() CPU time"),
                      ("mem", "peak memory above the start")):
        ratios = sorted(p[key] / c[key] for p, c in zip(py_, c_) if c[key] > 0)
        if ratios:
            print("  %-46s %8.2fx   (Python / C, median of %d rounds, %.2f-%.2f) goal <= 1.5"
                  % (what, median(ratios), len(ratios), ratios[0], ratios[-1]))


if __name__ == "__main__":
    sys.exit(main())
