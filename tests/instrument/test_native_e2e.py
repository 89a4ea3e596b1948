"""test_native_e2e.py - C and Java programs measured end to end (tests/instrument/projects).

usage: python3 test_native_e2e.py CODEGREEN_BIN

- wordfreq: a real multi-file C program with a Makefile, measured both ways: `measure c
  src/*.c` and `measure --build make --instrument src -- ./wordfreq`; its output and status must
  be those of `make && ./wordfreq`, and the report's call counts those its input implies.
- inventory: a multi-class Java program in a package, measured as a source directory with
  --main; output, status and call counts checked the same way.
- SessionDemo: the Java Session API (try-with-resources tasks) writes the report envelope.
- analyze c|cpp|java: points listed, copies saved and compilable; the errors a user meets.

The simulated device measures. Java parts are skipped with a message without a JDK.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECTS = os.path.join(HERE, "projects")
FAILED = []


def check(cond, what):
    print("%s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        FAILED.append(what)
    return cond


def run(cmd, cwd, env, stdin=b""):
    p = subprocess.run(cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def calls(report_path):
    with open(report_path) as f:
        report = json.load(f)
    out = {}
    for fn in report["functions"]:
        out[fn["name"]] = out.get(fn["name"], 0) + fn["calls"]
    return out, report


TEXT = ("the quick brown fox jumps over the lazy dog; the dog sleeps. " * 40
        + "A fox's den, a dog's bed.\n" * 7).encode()


def wordfreq(cg, work, env):
    src = os.path.join(work, "wordfreq")
    shutil.copytree(os.path.join(PROJECTS, "wordfreq"), src)
    b = run(["make", "-s"], src, env)
    if not check(b[0] == 0, "wordfreq: the original builds with make (%s)" % b[2].strip()):
        return
    orig = run(["./wordfreq", "4"], src, env, TEXT)
    run(["make", "-s", "clean"], src, env)
    words = int(re.match(r"(\d+) words", orig[1]).group(1))
    expected = {"main": 1, "read_all": 1, "table_init": 1, "count_words": 1, "table_add": words,
                "table_sorted": 1, "table_free": 1}
    # 1. the files named on the command line
    report = os.path.join(work, "wf1.json")
    r = run([cg, "measure", "-q", "-o", report, "--cflags", "-std=c11 -Wall -Wextra -Werror -O2",
             "c", "src/main.c", "src/table.c", "src/words.c", "--", "4"], src, env, TEXT)
    check(r[:2] == orig[:2] and r[2] == "", "wordfreq: measure c src/*.c prints what the "
          "original prints and exits with its status (%d)" % orig[0])
    got, rep = calls(report)
    check(all(got.get(k) == v for k, v in expected.items()),
          "wordfreq: call counts %s (table_add = the %d words)" % (
              {k: got.get(k) for k in expected}, words))
    check(got.get("hash", 0) >= words and got.get("is_word_char", 0) > words,
          "wordfreq: static helpers measured too (hash %s, is_word_char %s)" % (
              got.get("hash"), got.get("is_word_char")))
    internal = [k for k in rep["meta"]["codegreen_env"]
                if k.startswith("CODEGREEN_MEASURE_") or k == "CODEGREEN_RESULT_FILE"]
    check(rep["meta"]["argv"] == ["src/main.c", "4"] and not internal,
          "wordfreq: meta.argv is what the user ran (%s), codegreen_env without measure's own "
          "variables (%s)" % (rep["meta"]["argv"], internal))
    contexts = {fn["name"]: fn["context"] for fn in rep["functions"]}
    check(contexts.get("table_add") == "src/table.c" and contexts.get("main") == "src/main.c",
          "wordfreq: each function's file as the user named it")
    # 2. the project's own build
    report = os.path.join(work, "wf2.json")
    r = run([cg, "measure", "-q", "-o", report, "--build", "make -s", "--instrument", "src",
             "--", "./wordfreq", "4"], src, env, TEXT)
    check(r[:2] == orig[:2], "wordfreq: measure --build make --instrument src -- ./wordfreq 4 "
          "behaves as the original (%s)" % r[2].strip()[-300:])
    got2, rep2 = calls(report)
    check(got2 == got, "wordfreq: the build path counts the same calls")
    files = rep2.get("instrumentation", {}).get("files")
    check(sorted(files or []) == ["src/main.c", "src/table.c", "src/words.c"],
          "wordfreq: --instrument src instrumented the three sources (%s)" % files)
    check(not os.path.exists(os.path.join(src, "wordfreq")) and
          open(os.path.join(src, "src", "main.c")).read() ==
          open(os.path.join(PROJECTS, "wordfreq", "src", "main.c")).read(),
          "wordfreq: the user's tree is untouched (built in a copy)")
    # a compile error in the user's build is reported as such
    bad = os.path.join(work, "bad.c")
    with open(bad, "w") as f:
        f.write("int main(void) { return undefined_name; }\n")
    r = run([cg, "measure", "c", bad], work, env)
    check(r[0] != 0 and "undefined_name" in r[2] and "the compiler failed" in r[2],
          "measure c: a compile error shows the compiler's message and fails")
    # $CC, $CFLAGS and $LDLIBS are the user's
    envs = os.path.join(work, "envs.c")
    with open(envs, "w") as f:
        f.write("#include <math.h>\n#include <stdlib.h>\n"
                "int main(int argc, char **argv) {\n"
                "  (void)argc;\n  return (int)sqrt(atof(argv[1])) + VALUE;\n}\n")
    e2 = dict(env, CC="gcc", CFLAGS="-DVALUE=2 -Wall -Werror", LDLIBS="-lm")
    r = run([cg, "measure", "-q", "c", envs, "--", "16"], work, e2)
    check(r[0] == 6, "measure c: $CC, $CFLAGS (-DVALUE=2) and $LDLIBS (-lm) are used (exit %d, %s)"
          % (r[0], r[2].strip()[-200:]))


def inventory(cg, work, env):
    src = os.path.join(work, "inventory")
    shutil.copytree(os.path.join(PROJECTS, "inventory"), src)
    classes = os.path.join(work, "inv-classes")
    b = run(["javac", "-Werror", "-Xlint:all", "-d", classes] +
            [os.path.join("app", f) for f in sorted(os.listdir(os.path.join(src, "app")))],
            src, env)
    if not check(b[0] == 0, "inventory: the original compiles (%s)" % b[2].strip()):
        return
    orig = run(["java", "-cp", classes, "app.Main", "3"], src, env)
    report = os.path.join(work, "inv.json")
    r = run([cg, "measure", "-q", "-o", report, "--cflags", "-Werror -Xlint:all", "--main",
             "app.Main", "java", "app", "--", "3"], src, env)
    check(r == orig, "inventory: measure java app --main app.Main prints what the original "
          "prints, stderr and status included (%r)" % (r[2][-300:],))
    got, rep = calls(report)
    expected = {"app.Main.main": 1, "app.Item.Item": 10, "app.Item.value": None,
                "app.Inventory.add": 9, "app.Inventory.totalValue": 1,
                "app.Inventory.mostValuable": 1, "app.Report.render": 1, "app.Report.money": 3,
                "app.Report.line": 5, "app.Inventory.categories": 1}
    wrong = {k: got.get(k) for k, v in expected.items()
             if (v is None and not got.get(k)) or (v is not None and got.get(k) != v)}
    check(not wrong, "inventory: call counts (wrong: %s; all: %s)" % (wrong, got))
    check(rep["instrumentation"]["language"] == "java" and
          len(rep["instrumentation"]["files"]) == 4, "inventory: the four sources instrumented")
    T = rep["totals"]
    check(T["n_tasks_detailed"] == 1 and rep["tasks"][0].get("domains") and
          abs(T["top_level_union_energy_j"] + T["gap_energy_j"] - T["session_energy_j"]) <= 1e-6,
          "inventory: the envelope's rules hold (the JVM's run is the one task)")
    report2 = os.path.join(work, "inv2.json")
    r = run([cg, "measure", "-q", "java", "app", "--main", "app.Main", "-o", report2, "--", "3"],
            src, env)
    check(r == orig and os.path.exists(report2), "inventory: --main and -o after the sources are "
          "codegreen's (%r)" % (r[2][-300:],))
    check(rep["meta"]["argv"] == ["app", "3"] and "CODEGREEN_RESULT_FILE" not in
          rep["meta"]["codegreen_env"], "inventory: meta.argv is what the user ran (%s), not the "
          "java -cp /tmp/... line" % rep["meta"]["argv"])


def session_demo(work, env, jar, libdir):
    classes = os.path.join(work, "sd")
    src = os.path.join(PROJECTS, "session", "SessionDemo.java")
    b = run(["javac", "-Werror", "-Xlint:all", "-cp", jar, "-d", classes, src], work, env)
    if not check(b[0] == 0, "SessionDemo compiles against codegreen-runtime.jar (%s)" % b[2]):
        return
    out = os.path.join(work, "session.json")
    r = run(["java", "-cp", classes + ":" + jar, "-Djava.library.path=" + libdir, "SessionDemo",
             out], work, env)
    check(r[0] == 0 and r[1].splitlines() == [
        "current inner true", "after null",
        "refused: the session is not active (start() it first)",
        "refused: name must be a non-empty string"], "SessionDemo runs (%r)" % (r,))
    with open(out) as f:
        rep = json.load(f)
    tasks = {t["name"]: t for t in rep["tasks"]}
    check(sorted(rep) == ["meta", "tasks", "totals"] and rep["meta"]["session_name"] == "demo",
          "Session: the report envelope (meta, tasks, totals), session_name demo")
    check(tasks.get("inner", {}).get("parent") == "outer" and tasks["inner"]["depth"] == 1 and
          tasks["outer"]["energy_j"] >= tasks["inner"]["energy_j"] > 0,
          "Session: inner nests in outer and outer's energy covers it")


def reference_checkpoints(work, env, jar, libdir):
    classes = os.path.join(work, "rc")
    src = os.path.join(PROJECTS, "session", "ReferenceCheckpoints.java")
    b = run(["javac", "-Werror", "-Xlint:all", "-cp", jar, "-d", classes, src], work, env)
    if not check(b[0] == 0, "ReferenceCheckpoints compiles (%s)" % b[2]):
        return
    out = os.path.join(work, "rc.json")
    r = run(["java", "-cp", classes + ":" + jar, "-Djava.library.path=" + libdir,
             "ReferenceCheckpoints"], work, dict(env, CODEGREEN_RESULT_FILE=out))
    check(r[0] == 0 and r[1].startswith("refused: codegreen checkpoint: checkpointType must be")
          and r[1].endswith("active true id true\n"), "ReferenceCheckpoints runs (%r)" % (r,))
    got, rep = calls(out)
    check(got.get("work") == 3 and got.get("inner") == 3 and got.get("fast") == 5 and
          rep["checkpoints"]["unbalanced"] == 0,
          "CodeGreenRuntime: checkpoint(), measureCheckpoint() and register/enter/exit counted "
          "(%s) into $CODEGREEN_RESULT_FILE from the shutdown hook" % got)


def analyze(cg, work, env):
    native = os.path.join(HERE, "native")
    r = run([cg, "analyze", "cpp", "cpp_constructs.cpp"], native, env)
    check(r[0] == 0 and "square_ce (line 57): left as it is, constexpr function" in r[1] and
          "counter_gen (line 124): left as it is, coroutine" in r[1] and
          "Counter::operator bool" in r[1],
          "analyze cpp: constexpr and coroutines listed as not instrumented")
    # What README says of C and C++ is what analyze does: K&R, variadic and GNU nested
    # functions, templates and constructors with initialiser lists are instrumented (README said
    # they "stay as they were"); constexpr functions and coroutines are left and listed.
    points = {}
    for lang, name in (("c", "c_constructs.c"), ("c", "c_nested.c"), ("cpp", "cpp_constructs.cpp")):
        r = run([cg, "analyze", "--json", lang, name], native, env)
        f = json.loads(r[1])["files"][0]
        points.update({p["name"]: "instrumented" for p in f["points"]})
        points.update({p["name"]: "left" for p in f.get("left", [])})
    want = {"knr_add": "instrumented", "sum_ints": "instrumented", "outer.inner": "instrumented",
            "maximum": "instrumented", "Matrix::get": "instrumented",
            "geo::Shape::Shape": "instrumented", "Counter::Counter": "instrumented",
            "square_ce": "left", "counter_gen": "left"}
    check({k: points.get(k) for k in want} == want,
          "analyze c|cpp: what README says is instrumented and left (%s)"
          % {k: points.get(k) for k in want})
    with open(os.path.join(HERE, "..", "..", "README.md"), encoding="utf-8") as f:
        readme = " ".join(f.read().split())
    check("K&R definitions, variadic functions, GNU nested functions" in readme and
          "stay as they were" not in readme, "README: C and C++ constructs as analyze has them")
    r = run([cg, "analyze", "--json", "java", "JavaConstructs.java"], native, env)
    names = [p["name"] for p in json.loads(r[1])["files"][0]["points"]]
    check("JavaConstructs$Shape$1.area" in names and "JavaConstructs$1Local.twice" in names,
          "analyze java: javac's class names (Outer$Inner, Outer$1, Outer$1Local)")
    out = os.path.join(work, "saved")
    r = run([cg, "analyze", "-q", "--save-instrumented", "--output-dir", out, "c",
             "c_constructs.c"], native, env)
    saved = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs]
    check(r[0] == 0 and len(saved) == 1, "analyze c --save-instrumented writes the copy")
    if saved:
        text = open(saved[0]).read()
        check(text.startswith('#line 1 "') and "#include <codegreen_runtime.h>" in text,
              "the saved copy starts with #line and includes the runtime header")


def diagnostic_columns(cg, work, env):
    """A compile error's file:line:column under measure is the plain compiler's, in C and C++,
    with code after a body's '{' on its line (the guard used to push it right), tabs and
    non-ASCII text before it, and an empty body."""
    d = os.path.join(work, "diag")
    os.makedirs(d)
    cases = [("cerr.c", "c", "cc", "int main(void){ return x; }\n"),
             ("tab.c", "c", "cc", "static int f(void) {}\nint main(void)\t{\treturn f() + y; }\n"),
             ("u.c", "c", "cc", "/* \u00e9t\u00e9 */ int main(void) { return z; }\n"),
             ("e.cpp", "cpp", "c++", "struct S { int a; S(int v) : a(v) {} "
              "int g() { return a +  q; } };\nint main() { S s(1); return s.g(); }\n")]
    for name, lang, compiler, text in cases:
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(text)
        plain = run([compiler, "-c", name, "-o", os.devnull], d, env)[2]
        want = sorted(set(re.findall(r"^%s:\d+:\d+: error" % re.escape(name), plain, re.M)))
        rc, out, err = run([cg, "measure", "-q", lang, name], d, env)
        got = sorted(set(re.findall(r"^%s:\d+:\d+: error" % re.escape(name), err, re.M)))
        check(rc != 0 and want and got == want,
              "diagnostics: %s's errors at the plain compiler's line and column (%s, %s)"
              % (name, want, got))


def exit_inside(cg, work, env):
    """Issue F18: a C program that calls exit() inside a function leaves checkpoints without a
    partner; the note says so in C's terms, with no word of generators or coroutines."""
    d = os.path.join(work, "exit_inside")
    os.makedirs(d)
    with open(os.path.join(d, "prog.c"), "w") as f:
        f.write("#include <stdio.h>\n#include <stdlib.h>\n"
                "static int work(int n) { if (n > 1) exit(3); return n; }\n"
                "int main(int argc, char **argv) { (void)argv; printf(\"%d\\n\", work(argc));"
                " return 0; }\n")
    rc, out, err = run([cg, "measure", "c", "prog.c", "--", "x"], d, env)
    check(rc == 3, "exit inside: the program's exit status (%d)" % rc)
    check("without a partner: functions still running when the program ended" in err and
          "exit() or abort() inside them" in err, "exit inside: the note names exit()")
    check("generator" not in err and "coroutine" not in err,
          "exit inside: no Python words in a C report")
    check(re.search(r"instrumented 2 points \(c, coarse granularity\), 2 called", err) is not None,
          "exit inside: 2 functions called (%s)" % err)


def shared_options(cg, work, env):
    """The options of every measurement work for C too, wherever they stand before the language:
    --carbon-intensity's value is not taken for the language, every -o is written (two were
    one: the last), --sort and --call-graph apply; Python's own options are refused by name."""
    d = os.path.join(work, "shared_options")
    os.makedirs(d)
    with open(os.path.join(d, "prog.c"), "w") as f:
        f.write("#include <stdio.h>\nstatic int twice(int x) { return 2 * x; }\n"
                "int main(void) { printf(\"%d\\n\", twice(21)); return 0; }\n")
    rc, out, err = run([cg, "measure", "-q", "--carbon-intensity", "400", "-o", "r.csv", "-o",
                        "r.md", "-o", "r.json", "--sort", "calls", "c", "prog.c"], d, env)
    check(rc == 0 and out == "42\n" and err == "",
          "shared options: measure --carbon-intensity 400 -o ... c prog.c runs (%d, %s)" % (rc, err))
    written = sorted(x for x in os.listdir(d) if x.startswith("r."))
    check(written == ["r.csv", "r.json", "r.md"], "shared options: every -o written (%s)" % written)
    if "r.csv" in written:
        rows = open(os.path.join(d, "r.csv")).read().splitlines()
        head = rows[0].split(",")
        co2e = [r.split(",")[head.index("co2e_g")] for r in rows[1:]]
        check(len(rows) == 3 and all(c not in ("", "0") for c in co2e),
              "shared options: the CSV has a co2e_g for each function (%s)" % co2e)
    if "r.json" in written:
        rep = json.load(open(os.path.join(d, "r.json")))
        check([f["name"] for f in rep["functions"]] == ["main", "twice"] and
              rep.get("call_graph") is not None,
              "shared options: functions in the report, with its call graph")
    rc, out, err = run([cg, "measure", "--include", "lib", "c", "prog.c"], d, env)
    check(rc == 2 and "--include is for Python programs only" in err and out == "",
          "shared options: a Python-only option is refused by name (%d, %s)" % (rc, err))
    rc, out, err = run([cg, "measure", "--bogus", "c", "prog.c"], d, env)
    check(rc == 2 and "codegreen measure: unrecognized option '--bogus'" in err and
          "c programs cannot be run" not in err,
          "shared options: an unknown option is named (%d, %s)" % (rc, err))


def strict_flags(cg, work, env):
    """A clean program that builds under strict flags builds instrumented under them too: the
    injected codegreen_runtime.h adds no warning of its own (C89, redundant declarations...)."""
    d = os.path.join(work, "strict_flags")
    os.makedirs(d)
    src = ("#include <stdio.h>\nstatic int sq(int x) { return x * x; }\n"
           "int main(void) { int i; int s = 0; for (i = 0; i < 4; i++) s += sq(i);"
           " printf(\"%d\\n\", s); return 0; }\n")
    for name, lang, flags in (
            ("prog.c", "c", "-std=c89 -pedantic -Wall -Wextra -Werror -Wdeclaration-after-statement"
             " -Wredundant-decls -Wmissing-prototypes -Wstrict-prototypes"),
            ("prog.cpp", "cpp", "-Wall -Wextra -Werror -pedantic -std=c++11")):
        with open(os.path.join(d, name), "w") as f:
            f.write(src)
        rc, out, err = run([cg, "measure", "-q", "--cflags", flags, lang, name], d, env)
        check(rc == 0 and out == "14\n" and "error" not in err,
              "strict flags: measure %s %s builds and runs (%d, %s)" % (lang, flags, rc, err[-400:]))


def whole_run(cg, work, env):
    """newuser2 #2, #3, #4, #20, #8: the program of `measure c` is measure's own sampling of the
    whole run (from before the process starts to its exit), the report's envelope holds its own
    rules, no function gets more than the program, a crashing program still gets a report, and
    codegreen's options may follow the files as they may follow a Python script."""
    d = os.path.join(work, "whole_run")
    os.makedirs(d)
    with open(os.path.join(d, "prog.c"), "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n"
                "static long leaf(long x) { return x * 3 + 1; }\n"
                "static long busy(int n) { long s = 0; for (int i = 0; i < n; i++) s += leaf(i);"
                " return s; }\n"
                "int main(int argc, char **argv) {\n"
                "  if (argc > 1 && strcmp(argv[1], \"-o\") == 0) { puts(argv[2]); return 5; }\n"
                "  printf(\"%ld\\n\", busy(200000));\n  return 0;\n}\n")
    with open(os.path.join(d, "seg.c"), "w") as f:
        f.write("#include <signal.h>\n#include <stdio.h>\n"
                "static int crash(void) { fflush(stdout); raise(SIGSEGV); return 1; }\n"
                "int main(void) { puts(\"before\"); return crash(); }\n")
    # options after the files are codegreen's (with a note), as after a Python script
    rc, out, err = run([cg, "measure", "c", "prog.c", "-o", "r.json"], d, env)
    check(rc == 0 and out.strip().isdigit() and os.path.exists(os.path.join(d, "r.json")) and
          "'-o' after the files is taken as codegreen's option; arguments for the program go "
          "after '--'" in err,
          "options after the files: -o r.json is codegreen's, with a note (%d, %s)" % (rc, err[-300:]))
    rc, out, err = run([cg, "measure", "-q", "c", "prog.c", "--", "-o", "x"], d, env)
    check(rc == 5 and out == "x\n", "options after the files: after '--' they are the program's")
    rc, out, err = run([cg, "measure", "c", "prog.c", "--bogus"], d, env)
    check(rc == 2 and "'--bogus' after the files is not a codegreen option" in err and
          "codegreen measure [options] c prog.c -- --bogus" in err and out == "",
          "options after the files: an unknown one is refused with the '--' form (%s)" % err)
    rc, out, err = run([cg, "measure", "c", "prog.c", "--build", "make"], d, env)
    check(rc == 2 and "--build measures `--build CMD --instrument DIR -- PROG ARGS`" in err and
          "is taken as codegreen's option" not in err and out == "",
          "options after the files: --build is refused, without the note (%s)" % err)
    if not os.path.exists(os.path.join(d, "r.json")):
        return
    rep = json.load(open(os.path.join(d, "r.json")))
    T, tasks = rep["totals"], rep["tasks"]
    topo = rep["meta"]["domain_topology"]
    in_total = sum(v for k, v in T["domains"].items() if topo.get(k, {}).get("in_total", True))
    check(len(tasks) == 1 and T["n_tasks"] == 1 and T["n_tasks_detailed"] == 1,
          "envelope: one task, listed (n_tasks_detailed %s)" % T["n_tasks_detailed"])
    check(abs(in_total - T["energy_j"]) <= 1e-6 * max(1.0, T["energy_j"]) and T["energy_j"] > 0,
          "envelope: totals.domains add up to energy_j (%s vs %s)" % (in_total, T["energy_j"]))
    check(abs(T["top_level_union_energy_j"] + T["gap_energy_j"] - T["session_energy_j"]) <= 1e-6,
          "envelope: union + gap = session (%s + %s vs %s)" % (
              T["top_level_union_energy_j"], T["gap_energy_j"], T["session_energy_j"]))
    task = tasks[0] if tasks else {}
    check(all(k in task for k in ("domains", "domains_power_w", "started_at_mono_ns",
                                  "ended_at_mono_ns")),
          "envelope: the program's task has its domains and stamps (%s)" % sorted(task))
    stamps = [m["timestamp"] for m in rep["checkpoints"]["measurements"]]
    check(stamps and task.get("started_at_mono_ns", 1 << 62) < min(stamps) and
          task.get("ended_at_mono_ns", 0) > max(stamps),
          "whole run: the program's span begins before its first function and ends after its "
          "last (measure's own sampling from the process's start)")
    main = [f for f in rep["functions"] if f["name"] == "main"]
    check(main and main[0]["energy_j"] - main[0].get("energy_uncertainty_j", 0) <= T["energy_j"],
          "no function gets more than the program (main %s J, program %s J)" % (
              main and main[0]["energy_j"], T["energy_j"]))
    # a crash still gets a report of the whole run
    rc, out, err = run([cg, "measure", "-o", "seg.json", "c", "seg.c"], d, env)
    check(rc == 128 + 11 and out == "before\n", "crash: the program's status (%d)" % rc)
    seg = os.path.join(d, "seg.json")
    check(os.path.exists(seg), "crash: a report is written (%s)" % err[-300:])
    if os.path.exists(seg):
        srep = json.load(open(seg))
        check(srep["meta"].get("program_report", "").startswith("missing") and
              "killed by a signal" in srep["meta"]["program_report"] and
              srep["totals"]["energy_j"] > 0 and len(srep["tasks"]) == 1 and
              srep["functions"] == [],
              "crash: the whole run's energy, no functions, and why (%s)" %
              srep["meta"].get("program_report"))
        check("the main process wrote no measurements" in err,
              "crash: the table says the functions are missing")


def concurrent(cg, work, env):
    """RAPL is machine-wide: a C measurement is registered while its program runs (another
    codegreen process warns of it), and warns once, as `run` does, of another one measuring."""
    d = os.path.join(work, "concurrent")
    os.makedirs(os.path.join(d, "run"), mode=0o700)
    env = dict(env, XDG_RUNTIME_DIR=os.path.join(d, "run"))  # a registry of this case's own
    with open(os.path.join(d, "wait.c"), "w") as f:
        f.write("#include <stdio.h>\n#include <unistd.h>\n"
                "int main(void) { fclose(fopen(\"up\", \"w\"));"
                " while (access(\"down\", F_OK) != 0) usleep(20000); return 0; }\n")

    def wait_for(path):
        for _ in range(1200):
            if os.path.exists(path):
                return True
            time.sleep(0.05)
        return False

    m = subprocess.Popen([cg, "measure", "-q", "c", "wait.c"], cwd=d, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(os.path.join(d, "up"))
        rc, out, err = run([cg, "run", "--", "true"], d, env)
        check("1 other codegreen process is measuring on this host already (pid %d)" % m.pid in err,
              "concurrent: measure c is registered while its program runs (%s)" % err[-300:])
    finally:
        open(os.path.join(d, "down"), "w").close()
        m.communicate(timeout=300)
    os.unlink(os.path.join(d, "up"))
    os.unlink(os.path.join(d, "down"))
    other = subprocess.Popen([cg, "run", "-q", "--", "sh", "-c",
                              "touch o.up; while [ ! -e o.down ]; do sleep 0.05; done"],
                             cwd=d, env=env)
    try:
        wait_for(os.path.join(d, "o.up"))
        open(os.path.join(d, "down"), "w").close()  # the program ends at once
        rc, out, err = run([cg, "measure", "-o", "r.json", "c", "wait.c"], d, env)
        said = ("1 other codegreen process is measuring on this host already (pid %d); the "
                "energy counters are machine-wide, so both measurements include each other's "
                "energy" % other.pid)
        check(rc == 0 and "codegreen measure: warning: " + said + "\n" in err and
              err.count("other codegreen process") == 1,
              "concurrent: measure c warns once of another measurement (%s)" % err[-300:])
        with open(os.path.join(d, "r.json")) as f:
            check(json.load(f)["warnings"] == ["warning: " + said],
                  "concurrent: the report's warnings carry it")
    finally:
        open(os.path.join(d, "o.down"), "w").close()
        other.wait()


def main():
    cg = os.path.abspath(sys.argv[1])
    env = dict(os.environ)
    env.pop("CODEGREEN_CONFIG", None)
    env["CODEGREEN_PROVIDERS"] = "sim"
    need = env.get("CGI_NEEDS_LIB")
    if need and not os.path.exists(need):
        print("SKIP: a sanitizer build needs the plain build's library (%s)" % need)
        return 77
    work = tempfile.mkdtemp(prefix="cg-native-e2e-")
    env["XDG_CONFIG_HOME"] = os.path.join(work, "no-config")
    try:
        wordfreq(cg, work, env)
        exit_inside(cg, work, env)
        strict_flags(cg, work, env)
        diagnostic_columns(cg, work, env)
        whole_run(cg, work, env)
        shared_options(cg, work, env)
        concurrent(cg, work, env)
        analyze(cg, work, env)
        if shutil.which("javac") is None or shutil.which("java") is None:
            print("SKIP java: no JDK (javac, java); install openjdk-17-jdk-headless "
                  "(./scripts/setup.sh --test)")
        else:
            inventory(cg, work, env)
            jar = env.get("CGI_JAVA_JAR", "")
            libdir = env.get("CGI_JNI_DIR", "")
            if os.path.exists(jar) and os.path.exists(os.path.join(libdir, "libcodegreen-jni.so")):
                session_demo(work, env, jar, libdir)
                reference_checkpoints(work, env, jar, libdir)
            else:
                print("SKIP SessionDemo: codegreen-runtime.jar or libcodegreen-jni.so not built")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d check(s) failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
