#!/bin/sh
# test_merge.sh - `codegreen merge` on reports whose truth is known by construction (no engine
# needed): two overlapping steps on one node (counted once), a shared node (the job's share
# attributed by CPU time, never measured), a node of MPI ranks that sampled for themselves
# (counted once, not summed), a file that is not a job's report (left out), and the errors.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
mkdir in
/usr/bin/python3 - in <<'PY'
import json, os, sys
d = sys.argv[1]
def step(name, node, step_id, t0, t1, power, tasks, shared=False, busy=0.0, cpus=(8, 8)):
    # A constant power from t0 to t1 (seconds), as the plugin's series of cumulative energy.
    series = [[int(t * 1e9), (t - t0) * power * 1e6] for t in
              [t0 + (t1 - t0) * k / 10 for k in range(11)]]
    rep = {"meta": {"schema_version": "1", "energy_source": "simulated", "hostname": node,
                    "domain_topology": {"package-0": {"top_level": True, "kind": "cpu_package",
                                                      "includes": []}}},
           "tasks": [], "totals": {"session_energy_j": (t1 - t0) * power},
           "slurm": {"job_id": "77", "step_id": step_id, "node": node,
                     "window_mono_ns": [int(t0 * 1e9), int(t1 * 1e9)], "started_at": 1000 + t0,
                     "ended_at": 1000 + t1, "node_energy_series": series,
                     "node_shared": shared, "node_busy_cpu_s": busy,
                     "cpus_on_node": cpus[0], "node_cpus": cpus[1],
                     "tasks": [{"rank": r, "pid": 100 + r, "cpu_time_s": c} for r, c in tasks]}}
    json.dump(rep, open(os.path.join(d, name), "w"))
# node a: step 0 over [0, 10] s and step 1 over [5, 15] s at 10 W: 150 J once, not 200.
step("a0.json", "a", 0, 0, 10, 10, [(0, 3.0), (1, 1.0)])
step("a1.json", "a", 1, 5, 15, 10, [(2, 2.0)])
# node b, shared: 4 of 8 CPUs; 100 J measured, the job used 6 of 24 busy CPU-seconds.
step("b0.json", "b", 0, 0, 10, 10, [(3, 4.0), (4, 2.0)], shared=True, busy=24.0, cpus=(4, 8))
# node c: two MPI ranks that each sampled the whole node for themselves.
for rank, e, cpu in ((5, 30.0, 1.0), (6, 40.0, 3.0)):
    json.dump({"meta": {"energy_source": "simulated", "pid": 500 + rank,
                        "job": {"id": "77", "rank": rank, "node": "c", "role": "self",
                                "cpu_time_s": cpu, "node_energy_j": e}},
               "tasks": [], "totals": {"energy_j": e}},
              open(os.path.join(d, "codegreen_77_%d.json" % rank), "w"))
# node d: two leaders one after the other (their windows never overlap: they add up), and a
# follower of the first (its copy of the node's energy is not added).
for rank, role, e, cpu in ((7, "leader", 12.0, 1.0), (8, "leader", 8.0, 1.0),
                           (9, "follower", None, 2.0)):
    json.dump({"meta": {"energy_source": "simulated", "pid": 500 + rank,
                        "job": {"id": "77", "rank": rank, "node": "d", "role": role,
                                "cpu_time_s": cpu, "node_energy_j": e}},
               "tasks": [], "totals": {"energy_j": 5.0}},
              open(os.path.join(d, "codegreen_77_%d.json" % rank), "w"))
open(os.path.join(d, "notes.json"), "w").write('{"hello": 1}')
PY
"$CODEGREEN_BIN" merge in -o job.json 2> merge.log || fail "merge failed: $(cat merge.log)"
grep -q "notes.json is not a step or rank report" merge.log || fail "the odd file was not named"
/usr/bin/python3 - <<'PY' || fail "the merged report is wrong"
import json
job = json.load(open("job.json"))
nodes = {n["node"]: n for n in job["job"]["nodes"]}
a, b, c, dn = nodes["a"], nodes["b"], nodes["c"], nodes["d"]
assert abs(dn["measured_energy_j"] - 20) < 1e-6, dn
assert abs(a["measured_energy_j"] - 150) < 1e-6 and not a["node_shared"], a
assert abs(sum(s["counted_energy_j"] for s in a["steps"]) - 150) < 1e-6, a["steps"]
assert b["node_shared"] and abs(b["measured_energy_j"] - 100) < 1e-6, b
assert abs(b["job_energy_j"] - 25) < 1e-6 and b["job_energy_is"].startswith("attributed"), b
assert abs(c["measured_energy_j"] - 40) < 1e-6, c  # the longest window, once
assert abs(job["totals"]["energy_j"] - (150 + 25 + 40 + 20)) < 1e-6, job["totals"]
assert abs(job["totals"]["measured_energy_j"] - (150 + 100 + 40 + 20)) < 1e-6, job["totals"]
ranks = {r["rank"]: r["attributed_energy_j"] for r in job["job"]["ranks"]}
# node a: step 0 counted 100 J split 3:1, step 1 counted the 50 J it added alone.
assert abs(ranks[0] - 75) < 1e-6 and abs(ranks[1] - 25) < 1e-6 and abs(ranks[2] - 50) < 1e-6
assert abs(ranks[3] - 25 * 4 / 6) < 1e-6 and abs(ranks[4] - 25 * 2 / 6) < 1e-6, ranks
assert abs(ranks[5] - 10) < 1e-6 and abs(ranks[6] - 30) < 1e-6, ranks
assert abs(ranks[7] - 5) < 1e-6 and abs(ranks[8] - 5) < 1e-6 and abs(ranks[9] - 10) < 1e-6
assert abs(sum(ranks.values()) - job["totals"]["energy_j"]) < 1e-6
assert job["meta"]["left_out"] == ["notes.json"], job["meta"]["left_out"]
assert job["job"]["attribution"]["is_model"] is True
assert job["meta"]["energy_source"] == "simulated"
assert job["meta"]["measurement_quality"] == "ok" and job["warnings"] == [], job  # no sizes given
print("merge: overlapping steps once, shared node attributed, self-sampled ranks once, "
      "successive leaders added")
PY
# Two `codegreen run` ranks of equal work on node e: the command's CPU time (runs[].cpu_time_s)
# splits the node, not codegreen's own (meta.job.cpu_time_s, 9:1 here: new-user report 9, F3).
# Each node's task has its span and power, so load(...).table() shows no 0 s task (F21).
mkdir runs
/usr/bin/python3 - runs <<'PY'
import json, os, sys
for rank, role, own, e in ((0, "leader", 0.9, 20.0), (1, "follower", 0.1, None)):
    json.dump({"meta": {"energy_source": "simulated", "pid": 700 + rank,
                        "job": {"id": "88", "rank": rank, "node": "e", "role": role,
                                "cpu_time_s": own, "node_energy_j": e}},
               "tasks": [{"name": "run-1", "depth": 0, "parent": None, "energy_j": 10.0,
                          "started_at": 2000.0 + rank, "ended_at": 2004.0 + rank}],
               "totals": {"energy_j": 10.0},
               "runs": [{"task": "run-1", "cpu_time_s": 0.25}, {"task": "run-2", "cpu_time_s": 0.25}]},
              open(os.path.join(sys.argv[1], "codegreen_88_%d.json" % rank), "w"))
# node f: the leader's node energy covers its node window (2 s: the first rank's begin to the
# last rank's end), while the ranks' tasks span 3 s of wall clock: the node's power is over the
# window its energy covers (new-user pass: 26.2 W on a 23 W sim when divided by the span).
# The leader's report is degraded with an uncertainty (the merged verdict and the node's task
# carry them: the follower's copy of it is not added), and the job's size is 8 with rank 7's
# report missing (a warning names it).
for rank, role, e, win in ((2, "leader", 46.0, [5 * 10**9, 7 * 10**9]), (3, "follower", None, None)):
    q = ("degraded", "a domain was lost") if role == "leader" else ("ok", None)
    json.dump({"meta": {"energy_source": "simulated", "pid": 710 + rank,
                        "measurement_quality": q[0], "measurement_quality_reason": q[1],
                        "job": {"id": "88", "rank": rank, "size": 8, "node": "f", "role": role,
                                "cpu_time_s": 0.1, "node_energy_j": e,
                                "node_window_mono_ns": win}},
               "tasks": [{"name": "run-1", "depth": 0, "parent": None, "energy_j": 20.0,
                          "energy_uncertainty_j": 1.5,
                          "started_at": 3000.0 + rank - 2, "ended_at": 3002.0 + rank - 2}],
               "totals": {"energy_j": 20.0}},
              open(os.path.join(sys.argv[1], "codegreen_88_%d.json" % rank), "w"))
# node g: a leader whose node window is [0, 1.5] s (34.5 J) and two followers that sampled for
# themselves once it stopped, each over [0.2, 3.2] s (69 J at 23 W): the node's energy is the
# leader's plus the part of the self windows it did not cover, once (34.5 + 69 * 1.7 / 3), over
# 3.2 s; the leader's 34.5 J over 1.5 s alone was the job's.
for rank, role, e, win in ((4, "leader", 34.5, [0, 1.5 * 10**9]),
                           (5, "self", 69.0, [2 * 10**8, 3.2 * 10**9]),
                           (6, "self", 69.0, [2 * 10**8, 3.2 * 10**9])):
    json.dump({"meta": {"energy_source": "simulated", "pid": 720 + rank,
                        "job": {"id": "88", "rank": rank, "node": "g", "role": role,
                                "cpu_time_s": 0.1, "node_energy_j": e,
                                "node_window_mono_ns": win}},
               "tasks": [], "totals": {"energy_j": e}},
              open(os.path.join(sys.argv[1], "codegreen_88_%d.json" % rank), "w"))
PY
"$CODEGREEN_BIN" merge runs -o runs.json 2> runs.log || fail "merge of run ranks failed: $(cat runs.log)"
/usr/bin/python3 - <<'PY' || fail "run ranks are not split by the command's CPU time"
import json
job = json.load(open("runs.json"))
ranks = {r["rank"]: r for r in job["job"]["ranks"]}
assert abs(ranks[0]["attributed_energy_j"] - 10) < 1e-9, ranks
assert abs(ranks[1]["attributed_energy_j"] - 10) < 1e-9, ranks
assert ranks[0]["cpu_time_s"] == 0.5 and ranks[0]["cpu_time_from"].startswith("runs[]"), ranks[0]
t = {x["name"]: x for x in job["tasks"]}["e"]
assert abs(t["duration_s"] - 5) < 1e-9, t  # no node window (an older leader): the span
assert abs(t["avg_power_w"] - 20 / 5) < 1e-9, t
f = {x["name"]: x for x in job["tasks"]}["f"]
assert abs(f["duration_s"] - 2) < 1e-9 and abs(f["avg_power_w"] - 23) < 1e-9, f
nf = {n["node"]: n for n in job["job"]["nodes"]}["f"]
assert abs(nf["energy_window_s"] - 2) < 1e-9 and abs(nf["reports_span_s"] - 3) < 1e-9, nf
assert f["energy_uncertainty_j"] == 1.5, f  # the leader's, once
assert job["totals"]["energy_uncertainty_j"] == 1.5, job["totals"]
assert job["meta"]["measurement_quality"] == "degraded", job["meta"]
assert job["meta"]["measurement_quality_reason"] == \
    "codegreen_88_2.json: degraded (a domain was lost)", job["meta"]
assert any("1 of the job's 8 ranks wrote no report (rank 7)" in w for w in job["warnings"]), job["warnings"]
g = {n["node"]: n for n in job["job"]["nodes"]}["g"]
assert abs(g["measured_energy_j"] - (34.5 + 69 * 1.7 / 3)) < 1e-6, g
assert abs(g["energy_window_s"] - 3.2) < 1e-9, g
# node f's energy covers 2 s of its ranks' 3 s: said plainly
assert any(w.startswith("node f: its energy covers 2.000 s of its ranks' 3.000 s span")
           for w in job["warnings"]), job["warnings"]
print("merge: run ranks split by the command's CPU time; node task with duration and power")
PY
/usr/bin/python3 - <<'PY' || fail "a step node's task has no span"
import json
t = {x["name"]: x for x in json.load(open("job.json"))["tasks"]}
assert abs(t["a"]["duration_s"] - 15) < 1e-9 and abs(t["a"]["avg_power_w"] - 150 / 15) < 1e-9, t["a"]
PY
mkdir empty
"$CODEGREEN_BIN" merge empty -o none.json 2> empty.log && fail "merging nothing succeeded"
grep -q "no step or rank report" empty.log || fail "no message for an empty directory"
"$CODEGREEN_BIN" merge "$WORK/missing" 2> missing.log && fail "a missing directory merged"
grep -q "cannot open directory" missing.log || fail "no message for a missing directory"
echo ok
