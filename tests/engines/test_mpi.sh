#!/bin/sh
# test_mpi.sh - MPI ranks on one node with Debian's Open MPI: `mpirun -np 4 --oversubscribe` of a
# small C program using the C Session API (sim provider, constant power). Exactly one rank (the
# node's leader) samples; the others record their spans and use its samples; each writes
# codegreen_<job>_<rank>.json. `codegreen merge` must count the node's energy once (the sim's
# truth over the leader's window) and attribute it to the ranks so the parts add up to it.
# Then the same with `codegreen run` as the rank program.
. "$(dirname "$0")/lib.sh"
need mpicc mpirun /usr/bin/python3
: "${NEMB_BUILD:?}" "${NEMB_SOURCE:?}"

cd "$WORK"
# In a sanitizer build the test program is built the same way as the library it loads.
SAN=""
if [ -n "${NEMB_SANITIZE:-}" ]; then
  SAN="-fsanitize=$NEMB_SANITIZE -fno-omit-frame-pointer"
  export OMPI_CC="${NEMB_CC:-cc}"
fi
# shellcheck disable=SC2086
mpicc -O1 $SAN -o mpi_ranks "$NEMB_SOURCE/tests/engines/mpi_ranks.c" -I"$NEMB_SOURCE/include" \
  -L"$NEMB_BUILD/lib" -lcodegreen-nemb -Wl,-rpath,"$NEMB_BUILD/lib" ||
  fail "mpicc could not build the test program"
sim_config > sim.json
export CODEGREEN_CONFIG="$WORK/sim.json"
# Open MPI refuses root unless told; in containers, shared-memory single copy may be missing.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI never frees its start-up allocations, many made by components it unloads again, so
# LeakSanitizer cannot tell them apart: the leak check is off for the MPI program only. The same
# leader and follower code is leak-checked in test_job (two processes, no MPI).
mkdir ranks runs
(cd ranks && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
  timeout 180 mpirun -np 4 --oversubscribe "$WORK/mpi_ranks") > mpirun.log 2>&1 ||
  fail "mpirun failed: $(tail -n 20 mpirun.log)"
"$CODEGREEN_BIN" merge ranks -o job.json || fail "codegreen merge failed"
(cd runs && timeout 180 mpirun -np 2 --oversubscribe "$CODEGREEN_BIN" run -q -- sh -c 'sleep 0.3') \
  > mpirun-run.log 2>&1 || fail "mpirun of codegreen run failed: $(tail -n 20 mpirun-run.log)"
"$CODEGREEN_BIN" merge runs -o runs.json || fail "codegreen merge (runs) failed"

/usr/bin/python3 - "$WORK" "$SIM_POWER_W" <<'PY' || fail "the reports are wrong"
import glob, json, os, re, sys
work, power = sys.argv[1], float(sys.argv[2])

def check(dirname, nranks, merged, barrier):
    files = sorted(glob.glob(os.path.join(work, dirname, "codegreen_*_*.json")))
    assert len(files) == nranks, files
    reports = [json.load(open(f)) for f in files]
    jobs = {r["meta"]["job"]["id"] for r in reports}
    assert len(jobs) == 1, jobs
    for f, r in zip(files, reports):
        j = r["meta"]["job"]
        assert os.path.basename(f) == "codegreen_%s_%d.json" % (j["id"], j["rank"]), f
    ranks = sorted(r["meta"]["job"]["rank"] for r in reports)
    assert ranks == list(range(nranks)), ranks
    roles = sorted(r["meta"]["job"]["role"] for r in reports)
    leaders = [r for r in reports if r["meta"]["job"]["role"] == "leader"]
    if barrier:
        # Every rank began before any ended (a barrier after begin): one leader for the node.
        assert roles == ["follower"] * (nranks - 1) + ["leader"], roles
    else:
        # Without a barrier a rank may begin after the leader ended: it then leads in turn.
        assert set(roles) <= {"leader", "follower"} and leaders, roles
    pids = {r["meta"]["pid"] for r in leaders}
    for r in reports:
        j = r["meta"]["job"]
        assert j["sampled_by_pid"] in pids, (j, pids)
        assert r["meta"]["energy_source"] == "simulated", r["meta"]
        # Each rank's tasks are computed from the leader's samples: power times duration.
        for t in r["tasks"]:
            assert abs(t["energy_j"] - power * t["duration_s"]) <= 0.01 * power * t["duration_s"] + 0.02, t
    by_pid = {r["meta"]["pid"]: r["meta"]["job"] for r in leaders}
    windows = sorted(lj["node_window_mono_ns"] for lj in by_pid.values())
    for a, b in zip(windows, windows[1:]):
        assert a[1] <= b[0], windows  # leaders follow each other, never overlap
    for r in reports:
        # A leader samples from before any of its followers began until the last one ended.
        w = r["meta"]["job"]["window_mono_ns"]
        nw = by_pid[r["meta"]["job"]["sampled_by_pid"]]["node_window_mono_ns"]
        assert nw[0] <= w[0] and w[1] <= nw[1], (w, nw)
        if r["meta"]["job"]["role"] == "follower":
            assert r["meta"]["job"]["node_energy_j"] is None, r["meta"]["job"]
    truth = 0
    for lj in by_pid.values():
        t = power * (lj["node_window_mono_ns"][1] - lj["node_window_mono_ns"][0]) / 1e9
        assert abs(lj["node_energy_j"] - t) <= 0.01 * t + 0.02, (lj["node_energy_j"], t)
        truth += lj["node_energy_j"]
    job = json.load(open(os.path.join(work, merged)))
    [node] = job["job"]["nodes"]
    assert abs(node["measured_energy_j"] - truth) < 1e-6, node  # each window counted once
    assert abs(job["totals"]["energy_j"] - truth) < 1e-6, job["totals"]
    att = [r["attributed_energy_j"] for r in job["job"]["ranks"]]
    assert len(att) == nranks and abs(sum(att) - node["measured_energy_j"]) < 1e-6, att
    assert job["job"]["attribution"]["method"] == "cpu_time_share"
    return truth, att

truth, att = check("ranks", 4, "job.json", True)
# Each rank's attribution is its CPU time's share (Open MPI spins in barriers, so the shares
# depend on scheduling; the rule is checked, not the shares themselves).
job = json.load(open(os.path.join(work, "job.json")))
cpu = sum(r["cpu_time_s"] for r in job["job"]["ranks"])
for r in job["job"]["ranks"]:
    want = job["totals"]["energy_j"] * r["cpu_time_s"] / cpu
    assert abs(r["attributed_energy_j"] - want) < 1e-6, (r, want)
print("mpi: node %.3f J once (sim truth), ranks %s" % (truth, ["%.3f" % a for a in att]))
truth, att = check("runs", 2, "runs.json", False)
print("mpi codegreen run: node %.3f J once, ranks %s" % (truth, ["%.3f" % a for a in att]))
PY
echo ok
