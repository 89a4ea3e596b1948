"""test_cli.py - `codegreen measure` and `codegreen analyze` end to end, on the simulated device.

usage: python3 test_cli.py CODEGREEN_BIN

The simulated package draws a constant 20 W and the DRAM 4 W, so every span's energy is 24 W times
its duration: a script whose hot function takes most of the time must show that function with
most of the energy. Exits 77 (skipped) when the codegreen_runtime module is not there.
"""

import csv
import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAILURES = []
PASSES = [0]


def check(name, cond, detail=""):
    if cond:
        PASSES[0] += 1
    else:
        FAILURES.append("%s%s" % (name, (": " + str(detail)) if detail else ""))
        print("FAIL: %s%s" % (name, (": " + str(detail)[:2000]) if detail else ""))


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


HOT = '''import sys, time

def hot(n):
    total = 0
    end = time.monotonic() + 0.4
    while time.monotonic() < end:
        for i in range(n):
            total += i * i
    return total

def cold():
    return sum(range(10))

def main():
    print("hot result", hot(1000) > 0, cold(), sys.argv[1:])
    return 0

sys.exit(main())
'''


def main():
    cg = os.path.abspath(sys.argv[1])
    py = sys.executable
    tmp = tempfile.mkdtemp(prefix="cg-cli-")
    env = dict(os.environ)
    env.pop("CODEGREEN_CONFIG", None)
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, "none")
    env["CODEGREEN_PROVIDERS"] = "sim"
    env["CODEGREEN_SIM_CONFIG"] = json.dumps({
        "update_interval_us": 1, "energy_unit_uj": 0.001, "domains": [
            {"name": "package-0", "kind": "cpu_package", "waveform": "constant", "power_w": 20},
            {"name": "dram", "kind": "dram", "waveform": "constant", "power_w": 4}]})
    pydir = env.get("CODEGREEN_PYTHON_DIR") or os.path.join(HERE, "..", "..", "python")
    if not os.path.exists(os.path.join(pydir, "codegreen_runtime.py")):
        print("SKIP: codegreen_runtime.py is not there (python/)")
        return 77
    need = env.get("CGI_NEEDS_LIB")
    if need and not os.path.exists(need):
        print("SKIP: a sanitizer build needs the plain build's library for Python (%s)" % need)
        return 77

    def run(args, cwd=tmp, stdin=b"", extra_env=None, timeout=120):
        e = dict(env)
        e.update(extra_env or {})
        p = subprocess.run([cg] + args, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=cwd, env=e, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    proj = os.path.join(tmp, "proj")
    os.mkdir(proj)
    hot = os.path.join(proj, "hot.py")
    write(hot, HOT)

    # --- the hot function gets most of the energy, at 24 W ---
    before = sorted(os.listdir(proj))
    rc, out, err = run(["measure", "--python", py, "-o", os.path.join(tmp, "r.json"),
                        "python", "proj/hot.py", "x", "y"])
    check("measure exits with the program's status", rc == 0, err)
    check("program output passes through", out == "hot result True 45 ['x', 'y']\n", out)
    check("nothing written beside the script", sorted(os.listdir(proj)) == before,
          os.listdir(proj))
    with open(os.path.join(tmp, "r.json")) as f:
        rep = json.load(f)
    funcs = {fn["name"]: fn for fn in rep["functions"]}
    check("all functions reported", set(funcs) == {"hot", "cold", "main"}, funcs.keys())
    check("hot gets most energy", rep["functions"][0]["name"] == "main"
          # shares are of the whole run, the interpreter's start-up included: hot's energy is
          # most of main's, the instrumented code's whole
          and funcs["hot"]["share_of_total"] > 0.8 * funcs["main"]["share_of_total"]
          and funcs["hot"]["energy_j"] > 50 *
          funcs["cold"]["energy_j"], [(f["name"], f["energy_j"]) for f in rep["functions"]])
    h = funcs["hot"]
    check("energy is 24 W x duration", abs(h["energy_j"] - 24 * h["duration_s"])
          <= 0.01 * 24 * h["duration_s"], h)
    check("self energy of main excludes hot", funcs["main"]["self_energy_j"] < 0.1 *
          funcs["main"]["energy_j"], funcs["main"])
    check("report names the file and lines", h["context"] == "proj/hot.py" and h["line"] == 3, h)
    check("simulated figures say so", rep["meta"]["energy_source"] == "simulated", rep["meta"])
    check("instrumentation block", rep["instrumentation"]["granularity"] == "coarse"
          and len(rep["instrumentation"]["points"]) == 3, rep.get("instrumentation"))
    lines = err.splitlines()
    table = [l for l in lines if l.strip().startswith(("hot ", "cold ", "main "))]
    check("table sorted by energy", [l.split()[0] for l in table] == ["main", "hot", "cold"],
          err)
    check("table says where figures come from", "SIMULATED" in err and "package-0" in err, err)

    # --- --json on stderr (stdout is the program's, as with perf stat); -o CSV; --top ---
    rc, out, err = run(["measure", "-q", "--json", "--python", py, "proj/hot.py"])
    check("--json on stderr, stdout the program's", out.startswith("hot result") and
          out.count("\n") == 1 and json.loads(err)["functions"][0]["calls"] == 1, (out[:300], err[:300]))
    rc, out, err = run(["measure", "-q", "--python", py, "-o", "f.csv", "proj/hot.py"])
    with open(os.path.join(tmp, "f.csv")) as f:
        rows = list(csv.DictReader(f))
    check("-o CSV, one row per function", [r["name"] for r in rows] == ["main", "hot", "cold"]
          and rows[1]["calls"] == "1", rows)
    rc, out, err = run(["measure", "--top", "1", "--python", py, "proj/hot.py"])
    check("--top limits the rows", "2 more (--top 0 shows all)" in err, err)

    # --- plots ---
    rc, out, err = run(["measure", "-q", "--python", py, "--export-plot", "p.html",
                        "proj/hot.py"])
    plot = os.path.join(tmp, "p.html")
    check("--export-plot writes the page", rc == 0 and os.path.exists(plot) and
          "codegreen-data" in open(plot, errors="replace").read(), err)
    rc, out, err = run(["measure", "--python", py, "--export-plot", "p.bmp", "proj/hot.py"])
    check("--export-plot refuses other kinds before running", rc == 2 and out == "", err)

    # --- fine granularity ---
    rc, out, err = run(["measure", "-q", "-g", "fine", "--json", "--python", py,
                        "proj/hot.py"])
    names = {f["name"] for f in json.loads(err)["functions"]}
    check("-g fine measures loops and the module", {"<module>", "hot:while", "hot:for"} <= names,
          names)

    # --- errors: syntax, encoding, missing things ---
    write(os.path.join(proj, "bad.py"), "import os\n\ndef f(:\n    pass\n")
    rc, out, err = run(["measure", "--python", py, "proj/bad.py"])
    check("syntax error: status 1 and file:line:col", rc == 1 and "proj/bad.py:3:" in err, err)
    check("syntax error: Python's own message", 'bad.py", line 3' in err and "SyntaxError" in err,
          err)
    write(os.path.join(proj, "latin.py"), b"x = 'caf\xe9'\n", "wb")
    rc, out, err = run(["measure", "--python", py, "proj/latin.py"])
    check("not UTF-8: clear error", rc == 1 and "proj/latin.py:1:9: not valid UTF-8" in err, err)
    rc, out, err = run(["measure", "--python", "/nonexistent/python", "proj/hot.py"])
    check("unknown interpreter", rc == 1 and "cannot find the interpreter" in err, err)
    rc, out, err = run(["measure", "proj/missing.py"])
    check("missing script", rc == 1 and "cannot read proj/missing.py" in err, err)
    write(os.path.join(proj, "notes.txt"), "x\n")
    rc, out, err = run(["measure", "proj/notes.txt"])
    check("unknown language", rc == 2 and "codegreen measure LANGUAGE proj/notes.txt" in err, err)
    rc, out, err = run(["measure", "proj/hot.py"], extra_env={"CODEGREEN_PYTHON_DIR": tmp})
    check("runtime not found", rc == 1 and "holds no codegreen_runtime.py" in err, err)

    # --- what a new user got wrong, said in words that fit; paths checked alike ---
    rc, out, err = run(["measure", "-q", "c"])
    check("a language with no file after it says so", rc == 2 and
          "no file after the language 'c'" in err and "measure python c" not in err, err)
    write(os.path.join(tmp, "x.rb"), "puts 1\n")
    rc, out, err = run(["measure", "x.rb"])
    check("an extension no language has: the languages and their extensions", rc == 2 and
          "cannot measure 'x.rb'" in err and "python (.py .pyw)" in err and
          "measure python x.rb" not in err, err)
    rc, out, err = run(["measure", "-q", "--include", "/nonexistent", "proj/hot.py"])
    check("--include of a missing path is refused (exit 2)", rc == 2 and
          "--include /nonexistent: No such file or directory; nothing was run" in err, err)
    rc, out, err = run(["measure", "-q", "--build", "true", "--instrument", "nodir", "--",
                        "./x"])
    check("--instrument of a missing path is refused alike (exit 2)", rc == 2 and
          "--instrument nodir: No such file or directory; nothing was run" in err, err)
    if shutil.which("cc"):
        # --instrument DIR by what it names (realpath): "../bp/src" from bp is bp/src; a DIR
        # outside the working directory is a usage error, said as such
        bp = os.path.join(tmp, "bp")
        os.makedirs(os.path.join(bp, "src"))
        os.makedirs(os.path.join(tmp, "bpout"))
        write(os.path.join(bp, "src", "m.c"), "int f(void) { return 0; }\n"
              "int main(void) { return f(); }\n")
        for d in ("../bp/src", "src/../src", os.path.join(bp, "src", "..", "src")):
            rc, out, err = run(["measure", "-q", "--build", "cc -o m src/m.c", "--instrument", d,
                                "--", "./m"], cwd=bp)
            check("--instrument %s is bp/src" % d, rc == 0 and err == "", err)
        for d in ("src/../../bpout", tmp):
            rc, out, err = run(["measure", "-q", "--build", "cc -o m src/m.c", "--instrument", d,
                                "--", "./m"], cwd=bp)
            check("--instrument %s: outside the working directory (exit 2)" % d, rc == 2 and
                  "is outside the working directory %s" % os.path.realpath(bp) in err and
                  "no such file" not in err.lower(), "%d %s" % (rc, err))
    if shutil.which("cc"):
        write(os.path.join(tmp, "m.c"), "int f(void) { return 0; }\nint main(void) { return f(); }\n")
        plot = os.path.join(tmp, "m.html")
        rc, out, err = run(["measure", "-q", "--export-plot", plot, "c", "m.c"])
        check("--export-plot draws a C program's run too (README lists it for measure)",
              rc == 0 and os.path.exists(plot) and os.path.getsize(plot) > 1000, err)
    # one rule for a file name that is not UTF-8: U+FFFD per byte in every field of the report
    lat = os.path.join(tmp, "lat").encode()
    os.mkdir(lat)
    with open(os.path.join(lat, b"lat\xe9.py"), "wb") as f:
        f.write(b"def f():\n    return 1\nf()\n")
    rep = os.path.join(tmp, "lat.json")
    rc, out, err = run(["measure", "-q", "-o", rep, "python", "lat\udce9.py"], cwd=lat)
    doc = json.load(open(rep)) if os.path.exists(rep) else {}
    names = (doc.get("meta", {}).get("argv", [None])[0],
             [f["context"] for f in doc.get("functions", [])],
             doc.get("instrumentation", {}).get("file"))
    check("a Latin-1 script's name is one name in the report", rc == 0 and
          names == ("lat\ufffd.py", ["lat\ufffd.py"], "lat\ufffd.py"), "%r %s" % (names, err))
    ss = os.path.join(tmp, "lat.speedscope.json")
    rc, out, err = run(["measure", "-q", "-o", ss, "python", "lat\udce9.py"], cwd=lat)
    doc = json.load(open(ss)) if os.path.exists(ss) else {}
    check("a Latin-1 script's speedscope profile, U+FFFD", rc == 0 and
          doc.get("name") == "lat\ufffd.py" and
          doc["shared"]["frames"] == [{"name": "f", "file": "lat\ufffd.py"}], err)
    if shutil.which("cc"):
        with open(os.path.join(lat, b"l\xe9a.c"), "wb") as f:
            f.write(b'#include <stdio.h>\nint main(void) { puts(__FILE__); return 0; }\n')
        p = subprocess.run([cg, "measure", "-q", "-o", rep, "c", b"l\xe9a.c"], cwd=lat, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        doc = json.load(open(rep))
        check("a Latin-1 C file: __FILE__ its bytes, the report U+FFFD", p.returncode == 0 and
              p.stdout == b"l\xe9a.c\n" and doc["meta"]["argv"][0] == "l\ufffda.c" and
              [f["context"] for f in doc["functions"]] == ["l\ufffda.c"] and
              doc["instrumentation"]["files"] == ["l\ufffda.c"], "%r %r" % (p.stdout, p.stderr))
        # the speedscope profile too (it said "out of memory" and lost the file)
        ss = os.path.join(tmp, "lat.speedscope.json")
        p = subprocess.run([cg, "measure", "-q", "-o", ss, "c", b"l\xe9a.c"], cwd=lat, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        doc = json.load(open(ss)) if os.path.exists(ss) else {}
        check("a Latin-1 C file: its speedscope profile, U+FFFD", p.returncode == 0 and
              doc.get("name") == "l\ufffda.c" and
              [f.get("file") for f in doc["shared"]["frames"]] == ["l\ufffda.c"], "%r" % p.stderr)

    # --- stdin, cwd, exit status, a declared encoding ---
    write(os.path.join(proj, "io.py"), "# -*- coding: latin-1 -*-\nimport os, sys\n"
          "def main():\n    data = sys.stdin.read()\n    print(os.getcwd() == %r, data.upper(),"
          " 'caf\xe9')\n    return 7\nsys.exit(main())\n" % proj, "w")
    with open(os.path.join(proj, "io.py"), "rb") as f:
        raw = f.read()
    write(os.path.join(proj, "io.py"), raw.decode("utf-8").encode("latin-1"), "wb")
    rc, out, err = run(["measure", "-q", "--python", py, "io.py"], cwd=proj, stdin=b"in put")
    check("stdin, cwd, status, latin-1 source", rc == 7 and out == "True IN PUT caf\xe9\n",
          (rc, out, err))

    # --- SIGINT sent to codegreen reaches the program, which still reports ---
    write(os.path.join(proj, "wait.py"), "import time\ndef spin():\n    print('ready', flush=True)\n"
          "    time.sleep(60)\nspin()\n")
    p = subprocess.Popen([cg, "measure", "--python", py, "-o", os.path.join(tmp, "int.json"),
                          "proj/wait.py"], cwd=tmp, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    ready = p.stdout.readline()
    time.sleep(0.2)
    os.kill(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    err = err.decode(errors="replace")
    check("SIGINT forwarded: the program ends by it", ready == b"ready\n" and
          p.returncode == 128 + signal.SIGINT and "KeyboardInterrupt" in err, (p.returncode, err))
    ok = False
    try:
        with open(os.path.join(tmp, "int.json")) as f:
            ok = json.load(f)["functions"][0]["name"] == "spin"
    except (OSError, ValueError, IndexError, KeyError):
        pass
    check("SIGINT: the report is still written", ok)

    # --- analyze ---
    rc, out, err = run(["analyze", "python", "proj/hot.py"])
    check("analyze lists points", rc == 0 and "3 instrumentation points" in out and
          "function                 hot" in out, out + err)
    rc, out, err = run(["analyze", "--json", "-g", "fine", "proj"])
    doc = json.loads(out)
    by_path = {f["path"]: f for f in doc["files"]}
    check("analyze a directory: every .py, errors kept apart", rc == 1 and
          by_path["proj/bad.py"]["error"].startswith("proj/bad.py:3:") and
          [p["name"] for p in by_path["proj/hot.py"]["points"]][:2] == ["<module>", "hot"],
          out[:2000])
    outdir = os.path.join(tmp, "saved")
    rc, out, err = run(["analyze", "-q", "--save-instrumented", "--output-dir", outdir,
                        "python", "proj/hot.py", "proj/wait.py"])
    check("--save-instrumented writes compilable copies", rc == 0 and
          subprocess.run([py, "-m", "py_compile", os.path.join(outdir, "hot.py"),
                          os.path.join(outdir, "wait.py")]).returncode == 0, err)
    rc, out, err = run(["analyze", "--save-instrumented", "--output-dir", outdir + "//",
                        "python", "proj/hot.py"])
    check("a trailing / of --output-dir gives one / in the paths said", rc == 0 and
          "-> %s/hot.py\n" % outdir in out, out)
    rc, out, err = run(["analyze", "--save-instrumented", "--output-dir", proj, "proj/hot.py"])
    check("never overwrites the source", rc == 1 and "refusing to overwrite" in err and
          open(hot).read() == HOT, err)

    print("%d passed, %d failed" % (PASSES[0], len(FAILURES)))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
