"""The runner's fast path (src/instrument/python/runner.py, compile_fast(): CPython 3.11+ compiles
the instrumented text and moves the code objects' positions back to the user's file) gives every
instruction the position the syntax tree's round trip gives it, and the same first lines and
3.13's __firstlineno__. The instrumented files and their line maps come from a real `codegreen
measure --keep-temp` of the instrument corpus (each file as one of the program's modules)."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

CG = os.environ.get("CODEGREEN_BIN") or os.path.join(ROOT, "build", "bin", "codegreen")
RUNNER = os.path.join(ROOT, "src", "instrument", "python", "runner.py")

pytestmark = pytest.mark.skipif(not os.path.exists(CG), reason="no codegreen executable built")

# Run by the interpreter under test: argv = runner, modules.tsv. Prints one line per module:
# "fast" (compared: equal), "slow REASON" (the round trip does it), or "DIFF ...".
COMPARE = r'''
import ast, dis, importlib.util, json, sys, types, warnings
spec = importlib.util.spec_from_file_location("runner", sys.argv[1])
R = importlib.util.module_from_spec(spec)
spec.loader.exec_module(R)
sys.setrecursionlimit(100000)
SKIP = ("NOP", "EXTENDED_ARG", "CACHE")

def shape(code):
    """What the two compiles must agree on, leaving out NOPs and jumps (the compiler keeps a NOP
    or an unthreaded jump where it compared instrumented lines)."""
    ins = sorted([(i.opname, i.argval.co_name if isinstance(i.argval, types.CodeType)
                   else i.argrepr if i.opcode not in dis.hasjrel else "", tuple(i.positions))
                  for i in dis.get_instructions(code)
                  if i.opname not in SKIP and "JUMP" not in i.opname], key=repr)
    ints = sorted(c for c in code.co_consts if type(c) is int)
    return (code.co_name, code.co_firstlineno, ins, ints)

def walk(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from walk(c)

def main():
    for row in open(sys.argv[2]):
        path, inst, lm = row.rstrip("\n").split("\t")[:3]
        source = open(inst, "rb").read()
        lines = json.load(open(lm))["lines"]
        fx = R.fixups(path, path, "/nonexistent", "codegreen_runtime", "/nonexistent/x.pyc")
        try:
            fast = R.compile_fast(source, lines, path, fx)[0]
        except R.NotExact as e:
            print("slow", path, e)
            continue
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            trip = R.compile_round_trip(source, lines, path, path, "/nonexistent",
                                        "codegreen_runtime", "/nonexistent/x.pyc")
        a, b = list(walk(fast)), list(walk(trip))
        bad = [(shape(x), shape(y)) for x, y in zip(a, b) if shape(x) != shape(y)]
        if len(a) != len(b) or bad:
            x, y = bad[0] if bad else ((), ())
            print("DIFF", path, len(a), len(b), x[:2], y[:2],
                  [(u, v) for u, v in zip(x[2], y[2]) if u != v][:1] if bad else "")
        else:
            print("fast", path)

import threading  # the round trip recurses deeply (limits.py): as the runner, on a big stack
threading.stack_size(512 * 1024 * 1024)
done = []
t = threading.Thread(target=lambda: done.append(main()))
t.start()
t.join()
print("mover", "C" if R.FAST_MOVER and R.FAST_MOVER[0] is not None else "Python")
sys.exit(0 if done else 1)  # an exception in main() leaves done empty
'''


@pytest.fixture(scope="module")
def instrumented(tmp_path_factory):
    """modules.tsv of a measured run whose directory holds the corpus files."""
    d = tmp_path_factory.mktemp("fastpath")
    prog = d / "prog"
    prog.mkdir()
    for f in glob.glob(os.path.join(ROOT, "tests", "instrument", "corpus", "*.py")):
        shutil.copy(f, str(prog / os.path.basename(f)))
    (prog / "main.py").write_text("print('ran')\n")
    env = dict(os.environ, CODEGREEN_PROVIDERS="sim", PYTHONDONTWRITEBYTECODE="1",
               TMPDIR=str(d))
    env.pop("PYTHONPATH", None)
    p = subprocess.run([CG, "measure", "-q", "--keep-temp", "--python", sys.executable, "-o",
                        str(d / "report.json"), "python", "main.py"], cwd=str(prog), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.decode() == "ran\n", p.stderr.decode()
    kept = glob.glob(str(d / "codegreen-measure-*" / "modules.tsv"))
    assert len(kept) == 1, p.stderr.decode()
    return kept[0]


def interpreters():
    found = [sys.executable]
    for v in ("3.12", "3.13"):
        found += sorted(glob.glob("/root/.pyenv/versions/%s.*/bin/python%s" % (v, v)))[:1]
    return found


EXT = os.path.join(os.path.dirname(CG), "..", "lib", "_codegreen_fast.abi3.so")


@pytest.mark.parametrize("mover", ["C", "Python"])
@pytest.mark.parametrize("python", interpreters())
def test_the_fast_path_gives_the_round_trips_positions(instrumented, python, mover):
    """Both position movers: the extension's (linetable.c) and runner.py's own."""
    if subprocess.run([python, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]).returncode:
        pytest.skip("the fast path is for CPython 3.11+")
    env = dict(os.environ)
    if mover == "C":
        if not os.path.exists(EXT):
            pytest.skip("no _codegreen_fast built")
        env["CODEGREEN_LIB_PATH"] = os.path.dirname(os.path.abspath(EXT))
        env.pop("CODEGREEN_RUNTIME_CTYPES", None)
    else:
        env["CODEGREEN_RUNTIME_CTYPES"] = "1"
    p = subprocess.run([python, "-c", COMPARE, RUNNER, instrumented], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env)
    assert p.returncode == 0, p.stderr.decode()
    out = p.stdout.decode().splitlines()
    assert out[-1] == "mover " + mover, out
    assert [line for line in out if line.startswith("DIFF")] == [], out
    fast = {os.path.basename(line.split()[1]) for line in out if line.startswith("fast")}
    slow = {os.path.basename(line.split()[1]) for line in out if line.startswith("slow")}
    # the async wrappers' files take the round trip; the others the fast path
    assert {"async_protocols.py", "coroutines.py"} <= slow, out
    assert {"limits.py", "scopes.py", "returns_exceptions.py", "generators.py",
            "nested_blocks.py", "tabs.py", "syntax_mix.py"} <= fast
