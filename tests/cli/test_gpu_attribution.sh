#!/bin/sh
# test_gpu_attribution.sh - `codegreen run` attributes GPU energy from the driver's per-process
# utilisation (src/cli/gpu_attr.h), against the fake NVML (tests/fake_nvml): a command alone on
# the GPU gets share 1 and the whole GPU energy; beside another process using the GPU as much, a
# share of at most 0.5 (about 0.5); a driver without per-process figures leaves the GPU energy
# not attributed, with the reason; a GPU used only by others, share 0 with a note.
# usage: test_gpu_attribution.sh CODEGREEN_BIN FAKE_NVML_LIB
cg=$1
. "$(dirname "$0")/lib.sh"
unset FAKE_NVML_INIT FAKE_NVML_LATENCY_US CUDA_VISIBLE_DEVICES NVIDIA_VISIBLE_DEVICES
export CODEGREEN_PROVIDERS=nvml CODEGREEN_NVML_LIB="$2"
export FAKE_NVML_SAMPLE_MS=20 # the fake driver's sample period
# Per-process samples read every 10 ms, so few are left for after the run.
echo '{"providers":{"nvml":{"process_poll_ms":10}}}' >"$tmp/cfg.json"
cd "$tmp" || exit 1

# Alone on the GPU: every sample is the command's.
FAKE_NVML_DEVICES=energy:250 FAKE_NVML_PROCS='children=80' \
  "$cg" run -c cfg.json -o alone.json -o alone.csv -- sleep 1 2>alone.txt
check "alone: exits 0" test $? -eq 0
check "alone: share 1, attributed = the GPU's energy" py "
import json
r=json.load(open('alone.json')); run=r['runs'][0]; t=r['tasks'][0]
g=run['gpu_attribution']['gpu0']
assert g['method']=='nvml_process_utilization', g
assert g['share']==1.0, g
assert g['samples']>=20 and g['own_samples']==g['samples'], g
assert g['energy_j']==t['domains']['gpu0'], (g, t)
assert abs(g['attributed_energy_j']-t['domains']['gpu0'])<1e-9, g
assert abs(run['attributed_gpu_energy_j']-t['domains']['gpu0'])<1e-9, run
assert abs(run['attributed_energy_j']-(run['attributed_cpu_energy_j']+run['attributed_gpu_energy_j']))<1e-9, run
assert run['unattributed_energy_j']==0, run
assert r['attribution']['domains']=={'gpu0':'nvml_process_utilization'}, r['attribution']
assert r['attribution']['gpu_model']=='nvml_process_utilization'
"
check "alone: the CSV says method and share" py "
import csv
row=list(csv.DictReader(open('alone.csv')))[0]
assert row['gpu_attribution']=='gpu0 nvml_process_utilization share 1.0000', row
assert float(row['attributed_gpu_energy_j'])>200, row
"
check "alone: the summary says share and estimate" grep -q "gpu0 .* J  nvml_process_utilization, share 1.000 of the GPU (SM-time)" alone.txt
check "alone: the summary says it is not a measurement" grep -q "an attribution estimate, not a measurement" alone.txt

# Beside pid 1 using the GPU as much: half of every sample period's SM use is the command's; the
# periods at the run's edges, where the command's process is not there yet or any more, are
# pid 1's alone, so the share is 0.5 at most and a little less.
FAKE_NVML_DEVICES=energy:250 FAKE_NVML_PROCS='children=50;1=50' \
  "$cg" run -q -c cfg.json -o half.json -- sleep 2
check "half: share about 0.5, attributed = share x energy" py "
import json
r=json.load(open('half.json')); run=r['runs'][0]; t=r['tasks'][0]
g=run['gpu_attribution']['gpu0']
assert g['method']=='nvml_process_utilization', g
assert 0.4<=g['share']<=0.5, g
assert g['own_samples']>=20 and 2*g['own_samples']<=g['samples'], g
assert abs(g['share']-g['own_samples']/g['samples'])<1e-12, g # equal smUtil: share = sample ratio
assert abs(g['attributed_energy_j']-g['share']*t['domains']['gpu0'])<1e-9, g
"

# The driver has no per-process figures: the GPU energy stays not attributed, and says why.
FAKE_NVML_DEVICES=energy:250:procnotsup FAKE_NVML_PROCS='children=80' \
  "$cg" run -c cfg.json -o ns.json -o ns.csv -- sleep 0.3 2>ns.txt
check "not supported: not attributed, with the reason" py "
import json
r=json.load(open('ns.json')); run=r['runs'][0]; t=r['tasks'][0]
g=run['gpu_attribution']['gpu0']
want='not_attributed: nvmlDeviceGetProcessUtilization: Not Supported (3): this GPU or driver does not offer it'
assert g['method']==want, g
assert g['share'] is None and g['attributed_energy_j'] is None, g
assert run['attributed_gpu_energy_j']==0, run
assert abs(run['unattributed_energy_j']-t['domains']['gpu0'])<1e-9, run
assert r['attribution']['domains']['gpu0']==want, r['attribution']
"
check "not supported: the summary says why" grep -q "gpu0 .*not_attributed: nvmlDeviceGetProcessUtilization: Not Supported (3)" ns.txt
check "not supported: the CSV says why" grep -q "gpu0 not_attributed: nvmlDeviceGetProcessUtilization: Not Supported (3)" ns.csv
FAKE_NVML_DEVICES=energy:250:procnoperm FAKE_NVML_PROCS='children=80' \
  "$cg" run -q -c cfg.json -o np.json -- sleep 0.2
check "no permission: not attributed, with the reason" py "
import json
g=json.load(open('np.json'))['runs'][0]['gpu_attribution']['gpu0']
assert g['method'].startswith('not_attributed: nvmlDeviceGetProcessUtilization: Insufficient Permissions (4)'), g
"
FAKE_NVML_DEVICES=energy:250:mig FAKE_NVML_PROCS='children=80' \
  "$cg" run -q -c cfg.json -o mig.json -- sleep 0.2
check "MIG: not attributed, with the reason" py "
import json
g=json.load(open('mig.json'))['runs'][0]['gpu_attribution']['gpu0']
assert g['method']=='not_attributed: MIG mode: NVML gives no per-process utilisation of the whole GPU', g
"

# Only another process uses the GPU: share 0, attributed 0, and a note.
FAKE_NVML_DEVICES=energy:250 FAKE_NVML_PROCS='1=50' "$cg" run -q -c cfg.json -o other.json -- sleep 0.3
check "others only: share 0 with a note" py "
import json
g=json.load(open('other.json'))['runs'][0]['gpu_attribution']['gpu0']
assert g['method']=='nvml_process_utilization' and g['share']==0 and g['attributed_energy_j']==0, g
assert g['samples']>0 and g['own_samples']==0, g
assert g['note']==\"none of the command's processes appeared in the GPU's utilisation samples\", g
"

# Driver-like fake: each sample is stamped with when the fake sampled. A command that has ended
# (and been reaped) before its samples are read still owns them: one read at the start, none
# until 60 s later, then the read codegreen makes after the command exits.
echo '{"providers":{"nvml":{"process_poll_ms":60000}}}' >"$tmp/slow.json"
FAKE_NVML_SAMPLE_MS=50 FAKE_NVML_DEVICES=energy:250 FAKE_NVML_PROCS='children=80' \
  "$cg" run -q -c slow.json -o ended.json -- sleep 0.5
check "ended before the read: still the command's, share 1" py "
import json
g=json.load(open('ended.json'))['runs'][0]['gpu_attribution']['gpu0']
assert g['method']=='nvml_process_utilization', g
assert g['share']==1.0, g
assert g['samples']>=5 and g['own_samples']==g['samples'] and g['other_samples']==0, g
assert g['samples_dropped']==0, g
"
# Samples stamped before the run (another program's, during --idle) are outside it, not in it:
# the run's own samples are at most one per sample period of the run (sleep 0.3 s, 50 ms).
FAKE_NVML_SAMPLE_MS=50 FAKE_NVML_DEVICES=energy:250 FAKE_NVML_PROCS='1=20' \
  "$cg" run -q -c cfg.json --idle 0.6 -o window.json -- sleep 0.3
check "window: samples before the run are not counted" py "
import json
r=json.load(open('window.json')); run=r['runs'][0]
g=run['gpu_attribution']['gpu0']
assert g['own_samples']==0 and g['share']==0, g
assert g['samples_outside_run']>=6, g # the idle 0.6 s: 12 periods of 50 ms
wall=run.get('wall_s') or run.get('duration_s')
assert g['samples']>=1 and g['samples']<=wall/0.05+1, (g, wall)
"

# More samples at once than the provider's first buffer (512): 12 processes sampled every 10 ms,
# read once after the command exits (600 or more samples). The buffer grows and none is lost:
# the share is the command's 50 % samples against the others' 5 % ones, each counted (the periods
# after the command ended hold only the others').
FAKE_NVML_SAMPLE_MS=10 FAKE_NVML_DEVICES=energy:250 \
  FAKE_NVML_PROCS='children=50;1=5;2=5;3=5;4=5;5=5;6=5;7=5;8=5;9=5;10=5;11=5' \
  "$cg" run -q -c slow.json -o many.json -- sleep 0.5
check "many samples at once: none lost, each counted in the share" py "
import json
g=json.load(open('many.json'))['runs'][0]['gpu_attribution']['gpu0']
assert g['method']=='nvml_process_utilization', g
own, other = g['own_samples'], g['samples']-g['own_samples']
# the child lives 0.5 s: 50 periods of 10 ms. The fake records a period's processes at its next
# device call, and the poller spaces its calls to keep within its CPU share (slower under ASan on
# a loaded machine), so the periods after the poller's last call before the child ended are not
# the child's (46 seen in CI under ASan): the count, not the share, depends on the schedule.
assert g['samples']>512 and own>=35 and other>=11*own, g
# Each sample counted once with its value (the fake driver, like a real one, has no sample of
# the child from before it started, even when the poller calls late on a busy machine).
assert abs(g['share']-50*own/(50*own+5*other))<1e-9, g
"

finish gpu_attribution
