#!/bin/sh
# test_slurm.sh - the SPANK plugin in a real Slurm: starts munge, slurmctld and slurmd (Debian's
# slurm-wlm) as a one-node cluster on 127.0.0.1 with a generated slurm.conf and the plugin in
# plugstack.conf (sim provider, constant power), runs `srun -n 2 --codegreen=DIR`, merges, and
# checks the job's energy against the sim's known power; then a one-CPU step on the two-CPU node,
# which must be reported as a shared node with the job's share attributed, not measured.
# Stops the daemons at the end. Needs root (slurmd starts job steps as the job's user).
. "$(dirname "$0")/lib.sh"
need munged mungekey slurmctld slurmd srun sinfo /usr/bin/python3
[ -n "${SPANK_PLUGIN:-}" ] && [ -f "$SPANK_PLUGIN" ] || skip "the plugin was not built (libslurm-dev)"
[ -z "${NEMB_SANITIZE:-}" ] || skip "slurmstepd is not built with -fsanitize=$NEMB_SANITIZE, so it cannot load a plugin that is; the release build runs this test"
[ "$(id -u)" -eq 0 ] || skip "slurmd must run as root to start job steps (CI runs as root)"

D=$WORK/slurm

# Steps still running when the test ends (a failure midway): cancel them, give their slurmstepd a
# moment, then end any slurmstepd of this cluster (found by its SLURM_CONF, killed by pid).
before_cleanup() {
  [ -f "$D/slurmctld.pid" ] || return 0
  scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
  wait_for 10 sh -c '[ -z "$(squeue -h 2>/dev/null)" ]' || true
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}
    pid=${pid%/environ}
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slurmstepd ] || continue
    if tr '\0' '\n' < "$env" 2>/dev/null | grep -qx "SLURM_CONF=$D/slurm.conf"; then
      started "$pid"
    fi
  done
}
mkdir -p "$D/state" "$D/spool" "$D/jobs"
chmod 700 "$D"
chmod 777 "$D/jobs"
mungekey --create --keyfile="$D/munge.key" >/dev/null 2>&1 || fail "mungekey failed"
chmod 600 "$D/munge.key"
munged -f --key-file="$D/munge.key" --socket="$D/munge.sock" --pid-file="$D/munged.pid" \
  --log-file="$D/munged.log" --seed-file="$D/munged.seed" || fail "munged did not start"
started "$(cat "$D/munged.pid")"

sim_config > "$D/codegreen.json"
echo "required $SPANK_PLUGIN config=$D/codegreen.json" > "$D/plugstack.conf"
CTL_PORT=$(free_port)
D_PORT=$(free_port)
NCPU=$(nproc)
HOST=$(hostname -s)
cat > "$D/slurm.conf" <<CONF
ClusterName=cgtest
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTL_PORT
SlurmdPort=$D_PORT
AuthType=auth/munge
AuthInfo=socket=$D/munge.sock
CredType=cred/munge
MailProg=/bin/true
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
PlugStackConfig=$D/plugstack.conf
NodeName=cgnode NodeAddr=127.0.0.1 NodeHostname=$(hostname) CPUs=$NCPU State=UNKNOWN
PartitionName=test Nodes=cgnode Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$D/slurm.conf"
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -n 5 "$D/slurmctld.log")"
wait_for 10 test -s "$D/slurmctld.pid" || fail "slurmctld wrote no pid file"
started "$(cat "$D/slurmctld.pid")"
slurmd -f "$SLURM_CONF" -N cgnode || fail "slurmd did not start: $(tail -n 5 "$D/slurmd.log")"
wait_for 10 test -s "$D/slurmd.pid" || fail "slurmd wrote no pid file"
started "$(cat "$D/slurmd.pid")"
wait_for 30 sh -c 'sinfo -h -o %t | grep -q idle' ||
  fail "the node never became idle: $(sinfo 2>&1; tail -n 5 "$D/slurmctld.log")"

cd "$D/jobs"
# Two ranks that burn CPU for a while (about 1 s each).
BURN='i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done'
timeout 120 srun -n 2 --codegreen="$D/jobs/out" sh -c "$BURN" ||
  fail "srun failed: $(tail -n 20 "$D/slurmd.log")"
# slurmstepd writes the report in its exit callback, which may run after srun returned.
wait_for 30 sh -c "ls '$D/jobs/out'/codegreen_*_0_*.json" ||
  fail "the plugin wrote no report: $(tail -n 20 "$D/slurmd.log")"
# A second step on one CPU of the node: a shared node.
if [ "$NCPU" -ge 2 ]; then
  timeout 120 srun -n 1 -c 1 --codegreen="$D/jobs/shared" sh -c "$BURN" ||
    fail "srun (one CPU) failed: $(tail -n 20 "$D/slurmd.log")"
  wait_for 30 sh -c "ls '$D/jobs/shared'/codegreen_*.json" || fail "no report for the one-CPU step"
fi
# A step without --codegreen is not measured.
timeout 60 srun -n 1 --chdir="$D/jobs" true || fail "a plain srun failed"
# A batch job asking for it with #SBATCH: its batch step and its srun step are both measured on
# the node, overlapping in time; the job's GPUs (here only CUDA_VISIBLE_DEVICES, as the job sees
# them) go to the meter's NVML device selection.
cat > "$D/jobs/batch.sh" <<SH
#!/bin/sh
#SBATCH --codegreen=$D/jobs/batch
#SBATCH -n 2
#SBATCH -o $D/jobs/batch.out
srun -n 2 sh -c '$BURN'
SH
CUDA_VISIBLE_DEVICES=1 timeout 120 sbatch --wait --export=ALL "$D/jobs/batch.sh" > /dev/null ||
  fail "the batch job failed: $(cat "$D/jobs/batch.out" 2>/dev/null; tail -n 20 "$D/slurmd.log")"
wait_for 30 sh -c "[ \$(ls '$D/jobs/batch'/codegreen_*.json 2>/dev/null | wc -l) -ge 2 ]" ||
  fail "the batch job did not write two step reports: $(ls "$D/jobs/batch")"
"$CODEGREEN_BIN" merge "$D/jobs/batch" -o "$D/jobs/batch.json" || fail "merge (batch) failed"
"$CODEGREEN_BIN" merge "$D/jobs/out" -o "$D/jobs/job.json" || fail "codegreen merge failed"

/usr/bin/python3 - "$D/jobs" "$SIM_POWER_W" "$NCPU" <<'PY' || fail "the reports are wrong"
import glob, json, os, sys
jobs, power, ncpu = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
[step_file] = glob.glob(os.path.join(jobs, "out", "codegreen_*_0_*.json"))
step = json.load(open(step_file))
s = step["slurm"]
assert step["meta"]["energy_source"] == "simulated", step["meta"]["energy_source"]
window_s = (s["window_mono_ns"][1] - s["window_mono_ns"][0]) / 1e9
truth = power * window_s
got = step["totals"]["session_energy_j"]
assert abs(got - truth) <= 0.01 * truth + 0.05, (got, truth)
ranks = sorted(t["rank"] for t in s["tasks"])
assert ranks == [0, 1], ranks
for t in s["tasks"]:
    assert t["pid"] > 0 and t["cpu_time_s"] > 0, t
rank_tasks = [t for t in step["tasks"] if t["name"].startswith("rank ")]
assert len(rank_tasks) == 2 and all(t["parent"] == "step" for t in rank_tasks), rank_tasks
for t in rank_tasks:  # a rank's window energy is the node's power times its duration
    assert abs(t["energy_j"] - power * t["duration_s"]) <= 0.01 * power * t["duration_s"] + 0.05, t

job = json.load(open(os.path.join(jobs, "job.json")))
for key in ("schema_version", "codegreen_version", "run_id", "started_at", "ended_at",
            "energy_source", "measurement_quality", "domain_topology"):
    assert key in job["meta"], key
total = job["totals"]["energy_j"]
assert abs(total - truth) <= 0.01 * truth + 0.05, (total, truth)
[node] = job["job"]["nodes"]
assert not node["node_shared"] and abs(node["measured_energy_j"] - total) < 1e-6, node
attributed = [r["attributed_energy_j"] for r in job["job"]["ranks"]]
assert len(attributed) == 2 and abs(sum(attributed) - total) < 1e-6, attributed
assert job["job"]["attribution"]["is_model"] is True
print("slurm: step %.3f J over %.3f s (sim truth %.3f J); ranks %s" %
      (got, window_s, truth, ["%.3f" % a for a in attributed]))

if ncpu >= 2:
    [shared_file] = glob.glob(os.path.join(jobs, "shared", "codegreen_*.json"))
    sh = json.load(open(shared_file))["slurm"]
    assert sh["node_shared"] is True and sh["cpus_on_node"] < sh["node_cpus"], sh
    assert "attributed" in sh["measured"], sh["measured"]
PY
/usr/bin/python3 - "$D/jobs" "$SIM_POWER_W" <<'PY' || fail "the batch job's reports are wrong"
import glob, json, os, sys
jobs, power = sys.argv[1], float(sys.argv[2])
steps = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(jobs, "batch", "*.json")))]
names = sorted(s["slurm"]["step"] for s in steps)
assert names == ["0", "batch"], names
for s in steps:
    assert s["slurm"]["gpu_selection_from"] == "CUDA_VISIBLE_DEVICES", s["slurm"]
    assert s["slurm"]["gpu_devices"] == ["1"], s["slurm"]
job = json.load(open(os.path.join(jobs, "batch.json")))
[node] = job["job"]["nodes"]
windows = [s["slurm"]["window_mono_ns"] for s in steps]
union = (max(w[1] for w in windows) - min(w[0] for w in windows)) / 1e9  # the srun is inside
step_sum = sum(s["totals"]["session_energy_j"] for s in steps)
truth = power * union
assert abs(node["measured_energy_j"] - truth) <= 0.01 * truth + 0.05, (node, truth)
assert step_sum > node["measured_energy_j"] + 0.5 * power * 0.1, (step_sum, node)  # not summed
print("slurm batch: two overlapping steps %.3f J summed, node counted once %.3f J (truth %.3f J)"
      % (step_sum, node["measured_energy_j"], truth))
PY
if [ "$NCPU" -ge 2 ]; then
  "$CODEGREEN_BIN" merge "$D/jobs/shared" -o "$D/jobs/shared.json" || fail "merge (shared) failed"
  /usr/bin/python3 - "$D/jobs/shared.json" <<'PY' || fail "the shared node is not attributed"
import json, sys
job = json.load(open(sys.argv[1]))
[node] = job["job"]["nodes"]
assert node["node_shared"] is True, node
assert node["job_energy_is"].startswith("attributed"), node["job_energy_is"]
assert 0 <= node["job_energy_j"] <= node["measured_energy_j"], node
ranks = job["job"]["ranks"]
assert abs(sum(r["attributed_energy_j"] for r in ranks) - node["job_energy_j"]) < 1e-6, ranks
print("slurm shared node: measured %.3f J, job's attributed share %.3f J" %
      (node["measured_energy_j"], node["job_energy_j"]))
PY
fi
echo "ok"
