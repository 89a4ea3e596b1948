"""%%codegreen runs its cell as IPython runs any cell (new-user finding F14): the value is shown,
top-level await works, a traceback names the cell's line, and --help prints help instead of
measuring a task named "--help"."""

import pytest

CELLS = r'''
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "codegreen")
ip.run_line_magic("colors", "nocolor")

def report():
    r = ip.user_ns.pop("_codegreen_report", None)
    return None if r is None else [(t["name"], round(t["duration_s"], 3), t["energy_j"] > 0)
                                   for t in r["tasks"]]

res = ip.run_cell("%%codegreen\n1 + 1\n")
print("VALUE", res.result, res.success, report())
res = ip.run_cell("%%codegreen nap\nimport asyncio\nawait asyncio.sleep(0.05)\n'slept'\n")
print("AWAIT", res.result, res.success, report())
res = ip.run_cell("%%codegreen quiet\nx = 6 * 7\n")
print("STATEMENT", res.result, ip.user_ns["x"], report())
res = ip.run_cell("%%codegreen boom\nimport time\ntime.sleep(0.02)\n1 / 0\n")
print("RAISED", res.success, type(res.error_in_exec).__name__, report())
res = ip.run_cell("%%codegreen mid\ny = 1\nraise KeyError('k')\ny = 2\n")
print("MID", res.success, ip.user_ns["y"], report())
res = ip.run_cell("%%codegreen --help\npass\n")
print("HELP", res.success, report())
res = ip.run_cell("%%codegreen -x\npass\n")
print("BADOPT", res.success, report())
res = ip.run_cell("%%codegreen\ny = 3;\n")
print("SEMI", res.result, report())
res = ip.run_cell("2 + 3")
print("PLAIN", res.result)
print("TRACEBACKS FROM HERE")
res = ip.run_cell("%%codegreen lines\nx = 1\n1 / 0\n")
ip.run_line_magic("xmode", "Verbose")
res = ip.run_cell("%%codegreen verbose\ndef f(a):\n    b = a + 1\n    raise KeyError(b)\nf(3)\n")
'''


def test_cell_magic_runs_the_cell_as_ipython_does(run_py):
    pytest.importorskip("IPython")
    r = run_py(CELLS)
    out = r.stdout + r.stderr
    lines = {l.split()[0]: l for l in r.stdout.splitlines() if l[:1].isupper() and " " in l}
    assert lines["VALUE"].startswith("VALUE 2 True [('cell', ")
    assert "Out[1]: 2" in r.stdout  # shown as a plain cell's value is
    assert lines["AWAIT"].startswith("AWAIT slept True [('nap', ")
    nap = float(lines["AWAIT"].split("('nap', ")[1].split(",")[0])
    assert nap >= 0.05
    assert ", True)]" in lines["AWAIT"]  # energy measured (the sim)
    assert lines["STATEMENT"].startswith("STATEMENT None 42 [('quiet', ")
    assert lines["RAISED"].startswith("RAISED False ZeroDivisionError [('boom', ")
    # The traceback names the cell and its line, as a plain cell's does.
    assert "Cell In [1], line 4" in out and "----> 4 1 / 0" in out
    assert "File <string>" not in out
    assert lines["MID"].startswith("MID False 1 [('mid', ")
    assert lines["HELP"] == "HELP True None"  # no task named --help
    assert "%%codegreen [name]" in r.stdout and "top-level await works" in r.stdout
    assert lines["BADOPT"] == "BADOPT False None"
    assert "unknown option '-x'" in out
    assert lines["SEMI"].startswith("SEMI None [('cell', ")
    assert "PLAIN 5" in r.stdout
    # Only the user's code, at the cell's line numbers: never the call line 1 became.
    tracebacks = out.split("TRACEBACKS FROM HERE")[1]
    assert "_codegreen_cell" not in out
    assert "Cell In [1], line 3\n      2 x = 1\n----> 3 1 / 0\n" in tracebacks
    # Verbose mode still parses the cell: its variables are shown.
    assert "----> 5 f(3)" in tracebacks and "----> 4     raise KeyError(b)" in tracebacks
    assert "b = 4" in tracebacks
