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
