"""run_native_corpus.py - the instrumenter against C, C++ and Java programs (tests/instrument/native).

usage: python3 run_native_corpus.py CODEGREEN_BIN [FILE...]

Each corpus file is built and run twice: as it is (the compiler with the file's flags, which
include -Werror; javac -Werror), and under `codegreen measure` on the simulated device with the
same flags. Both runs must print the same stdout and stderr and exit with the same status (so the
instrumented copy compiled without a warning, and __FILE__ and __LINE__ are the user's), and the
report must hold exactly the call counts the file declares in its header:

    // expect-calls: name=N ...       every function that runs, and its calls (shell words)
    // expect-skipped: name ...       functions listed as not instrumented
    // expect-exit: N                 the status both runs exit with (default 0)
    // expect-unbalanced: N           checkpoints without a partner (default 0)
    // cflags: ...                    compiler flags (C, C++)
    // files: more.c ...              other files of the program
    // compiler: gcc                  a compiler the file needs (skipped without it)
    // main: pkg.Main                 Java: the class to run (default: the file's name)
    // args: ...                      the program's arguments

Java files are skipped (with a message) when no JDK is installed. Exits 77 when nothing ran.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "native")


def header(path):
    meta = {"calls": {}, "skipped": [], "exit": 0, "unbalanced": 0, "cflags": [], "files": [],
            "compiler": None, "main": None, "args": []}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("//"):
                continue
            key, _, value = line[2:].strip().partition(":")
            value = value.strip()
            if key == "expect-calls":
                for item in shlex.split(value):
                    name, _, n = item.rpartition("=")
                    meta["calls"][name] = int(n)
            elif key == "expect-skipped":
                meta["skipped"] = shlex.split(value)
            elif key in ("expect-exit", "expect-unbalanced"):
                meta[key[7:]] = int(value)
            elif key in ("cflags", "files", "args"):
                meta[key] = shlex.split(value)
            elif key in ("compiler", "main"):
                meta[key] = value
    return meta


def run(cmd, env, cwd, stdin=b""):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def language(path):
    return {".c": "c", ".cpp": "cpp", ".java": "java"}[os.path.splitext(path)[1]]


def original(path, meta, work, env):
    """Builds and runs the file as it is. Returns (rc, stdout, stderr) or an error string."""
    lang = language(path)
    name = os.path.basename(path)
    if lang == "java":
        classes = os.path.join(work, "orig-classes")
        os.makedirs(classes)
        b = run(["javac", "-Werror", "-Xlint:all", "-d", classes, name] + meta["files"], env,
                CORPUS)
        if b[0] != 0:
            return "javac failed on the original:\n" + b[2].decode(errors="replace")
        main = meta["main"] or os.path.splitext(name)[0]
        return run(["java", "-cp", classes, main] + meta["args"], env, CORPUS)
    cc = meta["compiler"] or ("cc" if lang == "c" else "c++")
    exe = os.path.join(work, "orig")
    b = run([cc] + meta["cflags"] + [name] + meta["files"] + ["-o", exe], env, CORPUS)
    if b[0] != 0:
        return "the compiler failed on the original:\n" + b[2].decode(errors="replace")
    return run([exe] + meta["args"], env, CORPUS)


def measured(cg, path, meta, work, env):
    lang = language(path)
    name = os.path.basename(path)
    result = os.path.join(work, "report.json")
    cmd = [cg, "measure", "-q", "-o", result]
    if lang == "java":
        if meta["main"]:
            cmd += ["--main", meta["main"]]
        cmd += ["--cflags", "-Werror -Xlint:all"]
    else:
        cmd += ["--cc", meta["compiler"] or ("cc" if lang == "c" else "c++"),
                "--cflags", " ".join(shlex.quote(f) for f in meta["cflags"])]
    cmd += [lang, name] + meta["files"] + ["--"] + meta["args"]
    return run(cmd, env, CORPUS), result


def check_file(cg, path, work, env):
    meta = header(path)
    lang = language(path)
    if meta["compiler"] and shutil.which(meta["compiler"]) is None:
        return None, "needs %s" % meta["compiler"]
    if lang == "java" and (shutil.which("javac") is None or shutil.which("java") is None):
        return None, ("no JDK (javac and java): install openjdk-17-jdk-headless "
                      "(./scripts/setup.sh --test)")
    errors = []
    a = original(path, meta, work, env)
    if isinstance(a, str):
        return [a], None
    b, result = measured(cg, path, meta, work, env)
    if a[0] != meta["exit"]:
        errors.append("the original exits %d, the header says %d" % (a[0], meta["exit"]))
    if a[0] != b[0]:
        errors.append("exit status %d instrumented, %d original" % (b[0], a[0]))
    for i, what in ((1, "stdout"), (2, "stderr")):
        if a[i] != b[i]:
            errors.append("%s differs:\n--- original\n%s--- instrumented\n%s" % (
                what, a[i].decode(errors="replace"), b[i].decode(errors="replace")))
    try:
        with open(result) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        errors.append("no report: %s" % e)
        return errors, None
    calls = {}
    for fn in report.get("functions", []):
        if fn["calls"]:
            calls[fn["name"]] = calls.get(fn["name"], 0) + fn["calls"]
    if calls != meta["calls"]:
        wrong = {k: (v, calls.get(k)) for k, v in meta["calls"].items() if calls.get(k) != v}
        extra = {k: v for k, v in calls.items() if k not in meta["calls"]}
        errors.append("calls (expected, got): %s; not expected: %s" % (wrong, extra))
    left = report.get("instrumentation", {}).get("left", [])
    skipped = sorted(p["name"] for p in left)
    if skipped != sorted(meta["skipped"]):
        errors.append("not instrumented: %s, expected %s" % (skipped, sorted(meta["skipped"])))
    unbalanced = report.get("checkpoints", {}).get("unbalanced")
    if unbalanced != meta["unbalanced"]:
        errors.append("unbalanced checkpoints: %s, expected %d" % (unbalanced, meta["unbalanced"]))
    return errors, None


def main():
    cg = os.path.abspath(sys.argv[1])
    files = sys.argv[2:] or sorted(
        os.path.join(CORPUS, f) for f in os.listdir(CORPUS)
        if os.path.splitext(f)[1] in (".c", ".cpp", ".java") and not f.startswith("lib_"))
    env = dict(os.environ)
    env.pop("CODEGREEN_CONFIG", None)
    env["CODEGREEN_PROVIDERS"] = "sim"
    need = env.get("CGI_NEEDS_LIB")
    if need and not os.path.exists(need):
        print("SKIP: a sanitizer build needs the plain build's library for the programs (%s)"
              % need)
        return 77
    failed = ran = 0
    for path in files:
        work = tempfile.mkdtemp(prefix="cg-native-")
        env["XDG_CONFIG_HOME"] = os.path.join(work, "no-config")
        try:
            errors, skip = check_file(cg, path, work, env)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if skip:
            print("SKIP %s: %s" % (os.path.basename(path), skip))
            continue
        ran += 1
        print("%s %s" % ("ok  " if not errors else "FAIL", os.path.basename(path)))
        for e in errors:
            print("    " + e.replace("\n", "\n    "))
        failed += bool(errors)
    print("%d of %d corpus files failed" % (failed, ran))
    if ran == 0:
        return 77
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
