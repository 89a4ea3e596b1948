"""check_stdlib.py - every .py of this interpreter's standard library, instrumented, compiles.

usage: python3 check_stdlib.py CODEGREEN_BIN [--granularity coarse|fine] [STDLIB_DIR]

One `codegreen analyze --save-instrumented` over the whole library (site-packages left out), then,
in this one process, compile() of each original and of its instrumented copy, from memory. A file
fails the test when the original compiles and
  - the instrumented copy does not, or
  - the instrumenter refused it and it is not a known limitation of the grammar (below).
Files Python itself does not compile (deliberately broken test data) must be refused or, if the
grammar accepts them, are only counted.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings

# Valid Python that tree-sitter-python 0.23 does not parse; the instrumenter refuses these with a
# syntax error rather than writing anything.
GRAMMAR_LIMITS = {
    # a continuation line inside brackets dedented below the enclosing block
    "test/test_compile.py",
}


def main():
    args = sys.argv[1:]
    cg = os.path.abspath(args.pop(0))
    gran = "coarse"
    if args and args[0] == "--granularity":
        gran = args[1]
        args = args[2:]
    stdlib = args[0] if args else sysconfig.get_paths()["stdlib"]
    stdlib = os.path.realpath(stdlib)
    entries = sorted(os.path.join(stdlib, e) for e in os.listdir(stdlib)
                     if e not in ("site-packages", "dist-packages", "__pycache__")
                     and not e.startswith("."))
    entries = [e for e in entries if os.path.isdir(e) or e.endswith(".py")]
    out = tempfile.mkdtemp(prefix="cg-stdlib-")
    try:
        t0 = time.monotonic()
        p = subprocess.run([cg, "analyze", "--json", "-g", gran, "--save-instrumented",
                            "--output-dir", out, "python"] + entries,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t_instrument = time.monotonic() - t0
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            print("FAIL: analyze printed no JSON (exit %d):\n%s" % (p.returncode,
                                                                    p.stderr.decode()[-3000:]))
            return 1
        warnings.simplefilter("ignore")
        failures = []
        compiled = refused_ok = broken_originals = 0
        t0 = time.monotonic()
        for f in doc["files"]:
            path = f["path"]
            rel = os.path.relpath(path, stdlib)
            with open(path, "rb") as fh:
                original = fh.read()
            try:
                compile(original, path, "exec", dont_inherit=True)
                original_ok = True
            except (SyntaxError, ValueError):
                original_ok = False
                broken_originals += 1
            if f.get("error"):
                if original_ok and rel not in GRAMMAR_LIMITS:
                    failures.append("%s: refused although Python compiles it: %s"
                                    % (rel, f["error"]))
                else:
                    refused_ok += 1
                continue
            with open(f["instrumented"], "rb") as fh:
                instrumented = fh.read()
            try:
                compile(instrumented, path, "exec", dont_inherit=True)
                compiled += 1
            except (SyntaxError, ValueError) as e:
                if original_ok:
                    failures.append("%s: the instrumented copy does not compile: %s: %s"
                                    % (rel, type(e).__name__, e))
        t_compile = time.monotonic() - t0
        print("stdlib %s (%s granularity): %d files, %d points; instrumented in %.2f s; "
              "%d instrumented copies compile (%.2f s for originals and copies); %d refused "
              "(syntax errors, not UTF-8, known grammar limits); %d originals do not compile"
              % (stdlib, gran, doc["n_files"], doc["n_points"], t_instrument, compiled,
                 t_compile, refused_ok, broken_originals))
        for msg in failures:
            print("FAIL: " + msg)
        if doc["n_files"] < 100:
            print("FAIL: only %d files found under %s" % (doc["n_files"], stdlib))
            return 1
        return 1 if failures else 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
