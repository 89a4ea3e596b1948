"""bench_instrument_native.py - what instrumenting C, C++ and Java costs. Prints figures; asserts
nothing.

usage: python3 bench/bench_instrument_native.py [BUILD_DIR] [--repeat N]

1. Cost per instrumented call. A call-heavy program (recursive fib, a small function in a loop)
   in C, C++ and Java is built as it is and instrumented (`codegreen analyze
   --save-instrumented`, then the same compiler and flags, -O2), and both run N times,
   interleaved (original, instrumented, original, ...). Energy comes from the simulated device,
   so the difference is the instrumentation's own cost: (median instrumented - median original
   - fixed cost) / calls, where the fixed cost (the session's start and end) is the same
   difference for a program that makes one call.
2. Instrumentation speed against the compiler: `codegreen analyze --save-instrumented` of this
   repository's C sources against `cc -O0 -c` of the same files, interleaved, medians; and of
   the C++ and Java corpus files against c++ and javac.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

C_PROG = r'''
#include <stdio.h>
#include <stdlib.h>
static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static long small(long a, long b) { return a * b + 1; }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 27, loops = argc > 2 ? atoi(argv[2]) : 1000000;
  long t = fib(n);
  for (long i = 0; i < loops; i++) t += small(i, 3);
  printf("%ld\n", t);
  return 0;
}
'''

CPP_PROG = r'''
#include <cstdio>
#include <cstdlib>
struct Calc {
  long fib(int n) const { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
  static long small(long a, long b) { return a * b + 1; }
};
int main(int argc, char **argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 27, loops = argc > 2 ? std::atoi(argv[2]) : 1000000;
  Calc c;
  long t = c.fib(n);
  for (long i = 0; i < loops; i++) t += Calc::small(i, 3);
  std::printf("%ld\n", t);
  return 0;
}
'''

JAVA_PROG = r'''
public class Bench {
  static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
  static long small(long a, long b) { return a * b + 1; }
  public static void main(String[] args) {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 27;
    int loops = args.length > 1 ? Integer.parseInt(args[1]) : 1000000;
    long t = fib(n);
    for (long i = 0; i < loops; i++) t += small(i, 3);
    System.out.println(t);
  }
}
'''


def fib_calls(n):
    a, b = 1, 1  # calls(0) = calls(1) = 1; calls(n) = 1 + calls(n-1) + calls(n-2)
    for _ in range(n - 1):
        a, b = b, 1 + a + b
    return b if n > 0 else 1


def timed(cmd, env, cwd):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t


def paired(a, b, n, env, cwd):
    ta, tb = [], []
    for _ in range(n):
        ta.append(timed(a, env, cwd))
        tb.append(timed(b, env, cwd))
    return statistics.median(ta), statistics.median(tb)


def instrumented_copy(cg, lang, path, out):
    subprocess.run([cg, "analyze", "-q", "--save-instrumented", "--output-dir", out, lang, path],
                   check=True)
    for d, _, files in os.walk(out):
        for f in files:
            return os.path.join(d, f)
    raise RuntimeError("no instrumented copy")


def per_call(build, cg, work, repeat, env):
    inc = os.path.join(ROOT, "include")
    lib = os.path.join(build, "lib")
    jar = os.path.join(build, "java", "codegreen-runtime.jar")
    rows = []
    for lang, text, cc in (("c", C_PROG, "cc"), ("cpp", CPP_PROG, "c++"),
                           ("java", JAVA_PROG, "javac")):
        if shutil.which(cc) is None or (lang == "java" and not os.path.exists(jar)):
            print("  %-5s skipped (no %s)" % (lang, cc))
            continue
        d = os.path.join(work, lang)
        os.makedirs(d)
        src = os.path.join(d, "Bench.java" if lang == "java" else "bench." + lang)
        with open(src, "w") as f:
            f.write(text)
        inst = instrumented_copy(cg, lang, src, os.path.join(d, "copy"))
        if lang == "java":
            for name, s in (("orig", src), ("inst", inst)):
                subprocess.run(["javac", "-cp", jar, "-d", os.path.join(d, name), s], check=True)
            run_o = ["java", "-cp", os.path.join(d, "orig"), "Bench"]
            run_i = ["java", "-cp", os.path.join(d, "inst") + ":" + jar,
                     "-Djava.library.path=" + lib, "Bench"]
        else:
            flags = ["-O2"] + (["-std=c++17"] if lang == "cpp" else [])
            subprocess.run([cc] + flags + [src, "-o", os.path.join(d, "orig")], check=True)
            subprocess.run([cc] + flags + ["-I", inc, inst, "-o", os.path.join(d, "inst"),
                            "-L" + lib, "-lcodegreen-nemb", "-Wl,-rpath," + lib], check=True)
            run_o, run_i = [os.path.join(d, "orig")], [os.path.join(d, "inst")]
        n, loops = 27, 1000000
        calls = fib_calls(n) + loops + 1
        o1, i1 = paired(run_o + ["1", "0"], run_i + ["1", "0"], repeat, env, d)
        o, i = paired(run_o + [str(n), str(loops)], run_i + [str(n), str(loops)], repeat, env, d)
        fixed = i1 - o1
        cost = (i - o - fixed) / calls * 1e9
        rows.append((lang, o, i, fixed, calls, cost))
        print("  %-5s original %.3f s, instrumented %.3f s (fixed cost %.3f s), %d calls: "
              "%.1f ns per instrumented call" % (lang, o, i, fixed, calls, cost))
    return rows


def speed(build, cg, work, repeat, env):
    srcs = []
    for d in ("src/nemb", "src/nemb/providers", "src/cli", "src/instrument"):
        p = os.path.join(ROOT, d)
        srcs += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".c"))
    out = os.path.join(work, "speed")
    inc = ["-I" + os.path.join(ROOT, d) for d in ("include", "src/nemb", "src/nemb/providers",
                                                  "src/cli", "src/instrument")]
    inc.append("-I" + build)  # generated headers, if any
    ok = [s for s in srcs if subprocess.run(
        ["cc", "-std=c11", "-D_GNU_SOURCE", "-O0", "-fsyntax-only"] + inc + [s],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0]
    size = sum(os.path.getsize(s) for s in ok)
    analyze = [cg, "analyze", "-q", "--save-instrumented", "--output-dir", out, "c"] + ok
    # each file compiled on its own (cc refuses -o with several -c files), in one shell
    compile_ = ["sh", "-c", "for f in %s; do cc -std=c11 -D_GNU_SOURCE -O0 %s -c -o %s/x.o \"$f\""
                " || exit 1; done" % (" ".join(ok), " ".join(inc), work)]
    a, c = paired(analyze, compile_, repeat, env, work)
    print("  C: %d files (%d kB): instrumenting %.3f s, cc -O0 -c %.3f s: the instrumenter "
          "takes %.1f%% of the compiler's time" % (len(ok), size // 1024, a, c, 100 * a / c))
    for lang, path, cmd in (
            ("cpp", os.path.join(ROOT, "tests/instrument/native/cpp_constructs.cpp"),
             ["c++", "-std=c++20", "-O0", "-c", "-o", os.path.join(work, "y.o")]),
            ("java", os.path.join(ROOT, "tests/instrument/native/JavaConstructs.java"),
             ["javac", "-d", os.path.join(work, "jc")])):
        if shutil.which(cmd[0]) is None:
            continue
        a, c = paired([cg, "analyze", "-q", "--save-instrumented", "--output-dir", out, lang,
                       path], cmd + [path], repeat, env, work)
        print("  %s: %s: instrumenting %.3f s, %s %.3f s: %.1f%%" % (
            lang, os.path.basename(path), a, cmd[0], c, 100 * a / c))


def main():
    args = sys.argv[1:]
    repeat = 5
    if "--repeat" in args:
        k = args.index("--repeat")
        repeat = int(args[k + 1])
        del args[k:k + 2]
    build = os.path.abspath(args[0] if args else os.path.join(ROOT, "build"))
    cg = os.path.join(build, "bin", "codegreen")
    env = dict(os.environ, CODEGREEN_PROVIDERS="sim")
    env.pop("CODEGREEN_CONFIG", None)
    work = tempfile.mkdtemp(prefix="cg-bench-native-")
    env["CODEGREEN_RESULT_FILE"] = os.path.join(work, "result.json")
    try:
        print("cost per instrumented call (medians of %d, interleaved):" % repeat)
        per_call(build, cg, work, repeat, env)
        print("instrumentation speed against the compiler (medians of %d, interleaved):" % repeat)
        speed(build, cg, work, repeat, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
