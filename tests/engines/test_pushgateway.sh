#!/bin/sh
# test_pushgateway.sh - `codegreen run --push URL` and Session(push_url=...) against a real
# Prometheus Pushgateway (Debian's prometheus-pushgateway) on 127.0.0.1, scraped by a real
# Prometheus: the pushed totals must be the report's, and the report's the sim's known power
# times the run's duration. Stops both at the end.
. "$(dirname "$0")/lib.sh"
need prometheus-pushgateway prometheus /usr/bin/python3
: "${NEMB_BUILD:?}" "${NEMB_SOURCE:?}"

cd "$WORK"
sim_config > sim.json
export CODEGREEN_CONFIG="$WORK/sim.json"
PG_PORT=$(free_port)
prometheus-pushgateway --web.listen-address="127.0.0.1:$PG_PORT" > pushgateway.log 2>&1 &
started $!
wait_for 30 http_get "http://127.0.0.1:$PG_PORT/metrics" ||
  fail "the Pushgateway does not answer: $(tail -n 5 pushgateway.log)"

# A batch run from the CLI.
"$CODEGREEN_BIN" run -q -o run.json --push "http://127.0.0.1:$PG_PORT" -- sleep 0.5 ||
  fail "codegreen run --push failed"
# The Python Session (not in a sanitizer build: python3 cannot load a library built with
# -fsanitize without the runtime preloaded; the release build runs it).
if [ -n "${NEMB_SANITIZE:-}" ]; then
  echo "note: Session(push_url=...) is checked in the release build only" >&2
else
CODEGREEN_LIB_PATH="$NEMB_BUILD/lib/libcodegreen-nemb.so" PYTHONPATH="$NEMB_SOURCE/python" \
  /usr/bin/python3 - "http://127.0.0.1:$PG_PORT" <<'PY' || fail "Session(push_url=...) failed"
import sys, time, warnings
import codegreen
warnings.simplefilter("error")  # a failed push warns: make it fail the test
with codegreen.Session("pybatch", output_file="py.json", push_url=sys.argv[1]) as s:
    with s.task("work"):
        time.sleep(0.4)
# Names a URL path cannot carry as they are: "." and ".." were dot segments curl removed (pushed
# to /metrics/instance/...), one with '/' another group; they go in the base64 form.
for name in ("..", "a/b"):
    with codegreen.Session(name, save_to_file=False, push_url=sys.argv[1]) as s:
        pass
PY
http_get "http://127.0.0.1:$PG_PORT/metrics" > named.txt
grep -q 'job="\.\."' named.txt || fail "a Session named .. was not pushed as job ..: $(grep job= named.txt | head -5)"
grep -q 'job="a/b"' named.txt || fail "a Session named a/b was not pushed as job a/b"

fi
# A push to nowhere fails with a message, and the run's own status is kept apart from it.
DEAD=$(free_port)
if "$CODEGREEN_BIN" run -q --push "http://127.0.0.1:$DEAD" -- true 2> dead.log; then
  fail "a push to a closed port succeeded"
fi
grep -q "cannot push" dead.log || fail "no message for a failed push: $(cat dead.log)"

PROM_PORT=$(free_port)
cat > prometheus.yml <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$PG_PORT"]
YML
prometheus --config.file=prometheus.yml --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" > prometheus.log 2>&1 &
started $!
cat > query.py <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
res = json.load(urllib.request.urlopen(url, timeout=10))["data"]["result"]
if not res:
    sys.exit(1)
print(res[0]["value"][1])
PY
Q1='codegreen_run_energy_joules{job="codegreen"}'
Q2='codegreen_run_energy_joules{job="pybatch"}'
wait_for 90 /usr/bin/python3 query.py "http://127.0.0.1:$PROM_PORT" "$Q1" ||
  fail "Prometheus has no pushed series: $(tail -n 5 prometheus.log)"
cli_j=$(/usr/bin/python3 query.py "http://127.0.0.1:$PROM_PORT" "$Q1")
py_j=-1
if [ -z "${NEMB_SANITIZE:-}" ]; then
  wait_for 30 /usr/bin/python3 query.py "http://127.0.0.1:$PROM_PORT" "$Q2" ||
    fail "Prometheus has no series pushed from Python"
  py_j=$(/usr/bin/python3 query.py "http://127.0.0.1:$PROM_PORT" "$Q2")
fi
src=$(/usr/bin/python3 query.py "http://127.0.0.1:$PROM_PORT" \
  'codegreen_measurement_info{job="codegreen",energy_source="simulated"}') ||
  fail "the pushed provenance is not 'simulated'"
http_get "http://127.0.0.1:$PG_PORT/metrics" > pushed.txt
/usr/bin/python3 - "$cli_j" "$py_j" "$SIM_POWER_W" <<'PY' || fail "the pushed totals are wrong"
import json, sys
cli_j, py_j, power = map(float, sys.argv[1:])
run = json.load(open("run.json"))
checks = [(run, cli_j)]
if py_j >= 0:
    checks.append((json.load(open("py.json")), py_j))
for rep, got in checks:
    assert abs(got - rep["totals"]["energy_j"]) < 1e-9 * max(1, got), (got, rep["totals"])
    truth = power * rep["totals"]["duration_s"]
    assert abs(got - truth) <= 0.01 * truth + 0.02, (got, truth)
pushed = open("pushed.txt").read()
assert 'codegreen_run_domain_energy_joules{domain="package-0"' in pushed, pushed[:2000]
print("pushgateway: run %.3f J, Session %.3f J, both equal to their reports and the sim" %
      (cli_j, py_j))
PY
echo ok
