"""run_corpus.py - the instrumenter against tricky Python programs (tests/instrument/corpus).

usage: python3 run_corpus.py CODEGREEN_BIN [FILE...]

Each corpus file runs twice with this interpreter: as it is, and under `codegreen measure` on the
simulated device. The two runs must print the same stdout and stderr (tracebacks and warnings
included) and exit with the same status, and the report must list every function that ran with
the call count the file declares in its header:

    # expect-calls: name=N other=M      every function that runs (qualified names), and its calls
                                        (N = *: any number of calls, at least one)
    # expect-exit: N                    the status both runs exit with (default 0)
    # expect-includes: outer>inner      outer's inclusive energy covers inner's
    # expect-unbalanced: N              checkpoints without a partner (default 0)
    # granularity: fine                 measure with -g fine
    # args: ...                         arguments (shell words)
    # stdin: ...                        text for stdin (\\n for newlines)
    # env: NAME=VALUE ...               environment of both runs (shell words)
    # expect-report: none               the program does not run (a syntax error): no report

A file named X.py.in is written as X.py with CR LF line ends first. Exits 77 (skipped) when the
codegreen_runtime module is not there yet.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def header(path):
    meta = {"calls": {}, "exit": 0, "includes": [], "unbalanced": 0, "granularity": "coarse",
            "args": [], "stdin": "", "env": {}, "report": True}
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("#"):
            continue
        key, _, value = line[1:].strip().partition(":")
        value = value.strip()
        if key == "expect-calls":
            for item in value.split():
                name, _, n = item.rpartition("=")
                meta["calls"][name] = n if n == "*" else int(n)
        elif key == "expect-exit":
            meta["exit"] = int(value)
        elif key == "expect-includes":
            meta["includes"] += [tuple(p.split(">")) for p in value.split()]
        elif key == "expect-unbalanced":
            meta["unbalanced"] = int(value)
        elif key == "granularity":
            meta["granularity"] = value
        elif key == "args":
            meta["args"] = shlex.split(value)
        elif key == "expect-report":
            meta["report"] = value != "none"
        elif key == "env":
            meta["env"].update(w.split("=", 1) for w in shlex.split(value))
        elif key == "stdin":
            meta["stdin"] = value.replace("\\n", "\n")
    return meta


def run(cmd, stdin, env, cwd):
    p = subprocess.run(cmd, input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, cwd=cwd, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check_file(cg, path, workdir, env):
    errors = []
    meta = header(path)
    name = os.path.basename(path)
    if name.endswith(".in"):
        with open(path, "rb") as f:
            data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        path = os.path.join(workdir, name[:-3])
        with open(path, "wb") as f:
            f.write(data)
    cwd = os.path.dirname(path)
    result = os.path.join(workdir, name + ".json")
    env = dict(env, **meta["env"])
    a = run([sys.executable, path] + meta["args"], meta["stdin"], env, cwd)
    b = run([cg, "measure", "-q", "-g", meta["granularity"], "--python", sys.executable,
             "-o", result, "python", path, "--"] + meta["args"], meta["stdin"], env, cwd)
    if a[0] != meta["exit"]:
        errors.append("the original exits %d, the header says %d" % (a[0], meta["exit"]))
    if a[0] != b[0]:
        errors.append("exit status %d instrumented, %d original" % (b[0], a[0]))
    if a[1] != b[1]:
        errors.append("stdout differs:\n--- original\n%s--- instrumented\n%s" % (
            a[1].decode(errors="replace"), b[1].decode(errors="replace")))
    if a[2] != b[2]:
        errors.append("stderr differs:\n--- original\n%s--- instrumented\n%s" % (
            a[2].decode(errors="replace"), b[2].decode(errors="replace")))
    if not meta["report"]:
        if os.path.exists(result):
            errors.append("a report was written although the program did not run")
        return errors
    try:
        with open(result) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        errors.append("no report: %s" % e)
        return errors
    calls = {}
    energy = {}
    for fn in report.get("functions", []):
        if fn["calls"] == 0:
            continue
        calls[fn["name"]] = calls.get(fn["name"], 0) + fn["calls"]
        energy[fn["name"]] = energy.get(fn["name"], 0.0) + fn["energy_j"]
    for k, v in meta["calls"].items():
        if v == "*" and calls.get(k, 0) > 0:
            calls[k] = "*"
    if calls != meta["calls"]:
        missing = {k: v for k, v in meta["calls"].items() if calls.get(k) != v}
        extra = {k: v for k, v in calls.items() if k not in meta["calls"]}
        errors.append("calls: expected %s, got %s (full report: %s)" % (
            missing, {k: calls.get(k) for k in missing} or extra, calls))
    unbalanced = report.get("checkpoints", {}).get("unbalanced")
    if unbalanced != meta["unbalanced"]:
        errors.append("unbalanced checkpoints: %s, expected %d" % (unbalanced, meta["unbalanced"]))
    for outer, inner in meta["includes"]:
        if not energy.get(outer, 0) >= 0.9 * energy.get(inner, 0) > 0:
            errors.append("%s (%g J) does not include %s (%g J)" % (
                outer, energy.get(outer, 0), inner, energy.get(inner, 0)))
    points = {p["name"] for p in report.get("instrumentation", {}).get("points", [])}
    for fn in meta["calls"]:
        if fn not in points:
            errors.append("%s is not among the instrumentation points %s" % (fn, sorted(points)))
    return errors


def runtime_present(cg, env):
    probe = subprocess.run([cg, "measure", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    if probe.returncode != 0:
        return False
    pydir = env.get("CODEGREEN_PYTHON_DIR") or os.path.join(HERE, "..", "..", "python")
    return os.path.exists(os.path.join(pydir, "codegreen_runtime.py"))


def main():
    cg = os.path.abspath(sys.argv[1])
    files = sys.argv[2:] or sorted(
        os.path.join(HERE, "corpus", f) for f in os.listdir(os.path.join(HERE, "corpus"))
        if f.endswith(".py") or f.endswith(".py.in"))
    env = dict(os.environ)
    env.pop("CODEGREEN_CONFIG", None)
    env["CODEGREEN_PROVIDERS"] = "sim"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    if not runtime_present(cg, env):
        print("SKIP: codegreen_runtime.py is not there (python/), nothing to run against")
        return 77
    need = env.get("CGI_NEEDS_LIB")
    if need and not os.path.exists(need):
        print("SKIP: a sanitizer build needs the plain build's library for Python (%s)" % need)
        return 77
    workdir = tempfile.mkdtemp(prefix="cg-corpus-")
    env["XDG_CONFIG_HOME"] = os.path.join(workdir, "no-config")
    failed = 0
    try:
        for path in files:
            errors = check_file(cg, path, workdir, env)
            print("%s %s" % ("ok  " if not errors else "FAIL", os.path.basename(path)))
            for e in errors:
                print("    " + e.replace("\n", "\n    "))
            failed += bool(errors)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d of %d corpus files failed" % (failed, len(files)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
