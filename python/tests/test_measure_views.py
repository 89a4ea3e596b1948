"""measure of a program whose work runs in child processes (a multiprocessing Pool): the call
graph and the folded stacks hold the children's calls too, each process's records replayed on its
own threads' stacks (src/cli/measure_children.c, src/cli/funcviews.c); they were empty when the
parent itself called no instrumented function."""
import json
import os
import subprocess
import sys
import textwrap

from conftest import ROOT

CG = os.environ.get("CODEGREEN_BIN") or os.path.join(ROOT, "build", "bin", "codegreen")

POOL = textwrap.dedent("""\
    from multiprocessing import get_context

    def work(x):
        return sum(i * i for i in range(x))

    def sq(x):
        return work(20000 + x)

    if __name__ == "__main__":
        with get_context("fork").Pool(2) as p:
            print(sum(p.map(sq, range(8))))
    """)


def test_children_calls_reach_the_call_graph_and_the_folded_stacks(tmp_path):
    (tmp_path / "main.py").write_text(POOL)
    out = subprocess.run([CG, "measure", "-q", "--python", sys.executable, "-o", "r.json",
                          "-o", "r.folded", "--call-graph", "main.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    parent = r["meta"]["pid"]
    kids = {p["pid"] for p in r["processes"] if not p["parent"]}
    # Every record carries its process; the children's are there, and their counts add up.
    cps = r["checkpoints"]
    assert {m["pid"] for m in cps["measurements"]} <= kids | {parent}
    assert len(cps["measurements"]) == cps["details_kept"] == 32  # 8 x sq and work, enter + exit
    edges = {(e["caller"], e["callee"]): e for e in r["call_graph"]["edges"]}
    assert edges[("<root>", "sq")]["calls"] == 8 and edges[("sq", "work")]["calls"] == 8
    assert edges[("sq", "work")]["energy_j"] <= edges[("<root>", "sq")]["energy_j"]
    # The folded stacks weigh each path by its self energy in microjoules.
    folded = dict(line.rsplit(" ", 1) for line in (tmp_path / "r.folded").read_text().split("\n")
                  if line)
    assert set(folded) == {"sq", "sq;work"}
    sq_j = sum(f["energy_j"] for f in r["functions"] if f["name"] == "sq")
    assert abs((int(folded["sq"]) + int(folded["sq;work"])) / 1e6 - sq_j) < 1e-5 + 1e-3 * sq_j


def test_each_row_says_its_process_in_csv_markdown_and_frame(tmp_path):
    (tmp_path / "main.py").write_text(POOL)
    out = subprocess.run([CG, "measure", "-q", "--python", sys.executable, "-o", "r.json",
                          "-o", "r.csv", "-o", "r.md", "main.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    kids = {p["pid"] for p in r["processes"] if not p["parent"]}
    import csv
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert rows and {int(row["pid"]) for row in rows} <= kids  # the Pool's workers ran sq, work
    assert sorted((row["name"], int(row["pid"])) for row in rows) == \
        sorted((f["name"], f["pid"]) for f in r["functions"])
    md = (tmp_path / "r.md").read_text()
    for f in r["functions"]:
        assert "main.py:%d [pid %d]" % (f["line"], f["pid"]) in md
    try:
        import pandas  # noqa: F401
    except ImportError:
        return
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import codegreen
    frame = codegreen.load(str(tmp_path / "r.json")).functions_frame()
    assert sorted(zip(frame["name"], frame["pid"])) == \
        sorted((f["name"], f["pid"]) for f in r["functions"])


def test_a_signal_before_the_program_starts_says_nothing_ran(tmp_path):
    # An "interpreter" that marks when measure started it (its compile step) and then waits:
    # SIGTERM to measure then comes before the program ran.
    fake = tmp_path / "slowpython"
    fake.write_text("#!/bin/sh\ntouch '%s'\nexec sleep 30\n" % (tmp_path / "started"))
    fake.chmod(0o755)
    (tmp_path / "p.py").write_text("print('never')\n")
    proc = subprocess.Popen([CG, "measure", "--python", str(fake), "-o", "r.json", "p.py"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    import time
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (tmp_path / "started").exists()
    proc.terminate()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (proc.returncode, err)
    assert "SIGTERM came before the program started: nothing was run or measured; exit 143" in err
    assert "never" not in out


def _stopped_child(pid, timeout=30):
    """True once a child of @pid is stopped (state T in /proc)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
            states = [open("/proc/%s/stat" % k).read().rsplit(")", 1)[1].split()[0] for k in kids]
        except OSError:
            states = []
        if "T" in states:
            return True
        time.sleep(0.02)
    return False


def test_sigterm_ends_a_program_that_stopped_itself(tmp_path):
    # The program stops itself (SIGSTOP); SIGTERM to measure was passed on but never acted on,
    # and measure waited forever. It is followed by SIGCONT now, as a shell or timeout(1) does.
    (tmp_path / "p.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n"
                                   "print('resumed')\n")
    proc = subprocess.Popen([CG, "measure", "--python", sys.executable, "-o", "r.json", "p.py"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert _stopped_child(proc.pid)
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            for k in open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).read().split():
                os.kill(int(k), 9)
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, (proc.returncode, err)
    assert "resumed" not in out
    assert (tmp_path / "r.json").exists(), err


def test_every_warning_of_the_table_is_in_the_reports_warnings(tmp_path):
    # A powercap fixture whose package counter the program resets: measurement_quality
    # "degraded" and the sampler's "counter reset" were printed under the table but missing from
    # the report's top-level warnings.
    import shutil
    fx = tmp_path / "fx"
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "intel-client"), fx, symlinks=True)
    counter = fx / "sys" / "class" / "powercap" / "intel-rapl:0" / "energy_uj"
    (tmp_path / "p.py").write_text("import time\ntime.sleep(0.3)\nopen(%r, 'w').write('5')\n"
                                   "time.sleep(0.5)\n" % str(counter))
    env = dict(os.environ, CODEGREEN_SYSFS_ROOT=str(fx), CODEGREEN_PROVIDERS="powercap")
    out = subprocess.run([CG, "measure", "--python", sys.executable, "-o", "r.json", "p.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    said = [ln.split(None, 1)[1] for ln in out.stderr.splitlines()
            if ln.startswith("  warning ")]
    warnings = json.loads((tmp_path / "r.json").read_text())["warnings"]
    assert 'measurement_quality is "degraded"' in said and \
        any("counter reset" in x for x in said), out.stderr
    assert all("warning: " + x in warnings for x in said), (said, warnings)


def test_the_summary_line_is_the_programs_energy_in_the_json(tmp_path):
    # The summary said the session's energy over the session's span (22.141 J over 1.107 s) while
    # the JSON's totals.energy_j, the program's run, said 22.035 J over 1.102 s.
    (tmp_path / "p.py").write_text("import time\ntime.sleep(0.3)\n")
    out = subprocess.run([CG, "measure", "--python", sys.executable, "-o", "r.json", "p.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    line = [ln for ln in out.stderr.splitlines() if ln.strip().startswith("energy ")][0]
    words = line.split()
    assert words[1] == "%.4f" % r["totals"]["energy_j"], (line, r["totals"])
    assert words[4] == "%.3f" % r["tasks"][0]["duration_s"], (line, r["tasks"][0])


def test_the_points_counted_include_the_programs_modules(tmp_path):
    # "instrumented 1 point ..., 2 called": the script's point alone, while a function of the
    # program's own module was instrumented and called too.
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text("def work(x):\n    return x * 2\n")
    (tmp_path / "main.py").write_text("from pkg.util import work\n\ndef sq(x):\n"
                                      "    return work(x)\n\nsq(3)\n")
    out = subprocess.run([CG, "measure", "--python", sys.executable, "main.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "instrumented 2 points (python, coarse granularity), 2 called" in out.stderr, out.stderr


def test_a_childs_script_that_is_not_instrumented_is_named(tmp_path):
    # A child running one of the program's files as its script shows no rows (a known limit):
    # the summary says so instead of a bare "functions: 0".
    (tmp_path / "child.py").write_text("def g():\n    return 1\n\ng()\n")
    (tmp_path / "main.py").write_text("import subprocess, sys\n\ndef main():\n"
                                      "    subprocess.run([sys.executable, 'child.py'])\n\nmain()\n")
    out = subprocess.run([CG, "measure", "--python", sys.executable, "main.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ran child.py as its script: a child's script is not instrumented" in out.stderr, \
        out.stderr


def test_an_unknown_option_is_a_short_usage_error(tmp_path):
    out = subprocess.run([CG, "measure", "--python", sys.executable, "-m", "json.tool"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines[0] == "codegreen measure: invalid option -- 'm'", lines
    assert "codegreen measure python -m MODULE" in lines[1] and len(lines) == 3, lines


def test_same_named_functions_of_two_files_stay_apart_in_the_folded_and_speedscope_views(tmp_path):
    # Two functions named `helper`, in the script and in a module of the program: the folded
    # stacks name each with its file (a flame graph would merge them), and speedscope's samples
    # point at each one's own frame (it looked frames up by name: both went to the first).
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text(
        "def helper(n):\n    return sum(i for i in range(n))\n")
    (tmp_path / "main.py").write_text(
        "from pkg import util\n\n\ndef helper(n):\n    return sum(range(n))\n\n\n"
        "def only():\n    return helper(10) + util.helper(10)\n\n\n"
        "print(only() + helper(50000) + util.helper(50000))\n")
    env = dict(os.environ, CODEGREEN_PROVIDERS="sim")
    out = subprocess.run([CG, "measure", "-q", "--python", sys.executable, "-o", "r.json",
                          "-o", "r.folded", "-o", "r.speedscope.json", "main.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    ctx = {f["context"] for f in r["functions"] if f["name"] == "helper"}
    assert len(ctx) == 2 and "main.py" in ctx
    util = (ctx - {"main.py"}).pop()
    assert util.endswith("pkg/util.py")
    folded = {line.rsplit(" ", 1)[0] for line in (tmp_path / "r.folded").read_text().splitlines()}
    assert folded >= {"helper (main.py)", "helper (%s)" % util, "only",
                      "only;helper (main.py)", "only;helper (%s)" % util}, folded
    doc = json.loads((tmp_path / "r.speedscope.json").read_text())
    frames = doc["shared"]["frames"]
    stacks = {tuple((frames[i]["name"], frames[i].get("file")) for i in s)
              for p in doc["profiles"] for s in p["samples"]}
    assert (("only", "main.py"), ("helper", util)) in stacks, stacks
    assert (("only", "main.py"), ("helper", "main.py")) in stacks, stacks
