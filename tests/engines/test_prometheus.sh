#!/bin/sh
# test_prometheus.sh - `codegreen exporter` scraped by a real Prometheus (Debian's prometheus) on
# 127.0.0.1: the exporter samples the sim provider (constant power), Prometheus scrapes it every
# second, and rate(codegreen_energy_joules_total[...]) through Prometheus' HTTP API must equal the
# sim's power; `promtool check metrics` must accept the exposition. Stops both at the end.
. "$(dirname "$0")/lib.sh"
need prometheus promtool /usr/bin/python3
: "${NEMB_SOURCE:?}"

cd "$WORK"
# The sim's counter wraps every 2.5 s (50 J at 20 W), like a RAPL register: the served counter
# must not notice.
sim_config | /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)
c["providers"]["sim"]["max_energy_range_uj"] = 50000000
json.dump(c, sys.stdout)' > sim.json
EXP_PORT=$(free_port)
"$CODEGREEN_BIN" exporter --listen "127.0.0.1:$EXP_PORT" --config sim.json --window 2 \
  2> exporter.log &
started $!
wait_for 20 http_get "http://127.0.0.1:$EXP_PORT/metrics" ||
  fail "the exporter does not answer: $(cat exporter.log)"

# The exposition itself: promtool's linter, and its content.
http_get "http://127.0.0.1:$EXP_PORT/metrics" > metrics.txt
promtool check metrics < metrics.txt > promtool.log 2>&1 ||
  fail "promtool check metrics rejected the exposition: $(cat promtool.log)"
grep -q '^codegreen_energy_joules_total{domain="package-0",kind="cpu_package",source="sim"} ' \
  metrics.txt || fail "no energy counter for package-0: $(cat metrics.txt)"
grep -q '^codegreen_measurement_info{energy_source="simulated"} 1$' metrics.txt ||
  fail "the provenance is not 'simulated'"
for m in samples_total reads_total late_wakeups_total missed_deadlines_total read_errors_total \
         interval_seconds running; do
  grep -q "^codegreen_sampler_$m " metrics.txt || fail "no codegreen_sampler_$m"
done
http_get "http://127.0.0.1:$EXP_PORT/nothing" >/dev/null 2>&1 && fail "an unknown path answered 200"

PROM_PORT=$(free_port)
cat > prometheus.yml <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: codegreen
    static_configs:
      - targets: ["127.0.0.1:$EXP_PORT"]
YML
promtool check config prometheus.yml > promtool-config.log 2>&1 ||
  fail "promtool rejected the scrape config: $(cat promtool-config.log)"
prometheus --config.file=prometheus.yml --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" > prometheus.log 2>&1 &
started $!

# Query through the HTTP API once the series is older than the rate's range: rate() over a range
# the series only partly covers is extrapolated short of the range, and would read low.
query() {
  /usr/bin/python3 - "http://127.0.0.1:$PROM_PORT" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
with urllib.request.urlopen(url, timeout=10) as r:
    data = json.load(r)
res = data["data"]["result"]
if data["status"] != "success" or not res:
    sys.exit(1)
print(res[0]["value"][1])
PY
}
RATE='rate(codegreen_energy_joules_total{domain="package-0"}[10s])'
wait_for 90 sh -c "[ \$(/usr/bin/python3 - 'http://127.0.0.1:$PROM_PORT' 'count_over_time(codegreen_energy_joules_total{domain=\"package-0\"}[15s])' <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + '/api/v1/query?' + urllib.parse.urlencode({'query': sys.argv[2]})
res = json.load(urllib.request.urlopen(url, timeout=10))['data']['result']
print(int(float(res[0]['value'][1])) if res else 0)
PY
) -ge 13 ]" || fail "Prometheus did not scrape the exporter: $(tail -n 5 prometheus.log)"
rate=$(query "$RATE") || fail "no rate() from Prometheus"
power=$(query 'codegreen_power_watts{domain="package-0"}') || fail "no codegreen_power_watts"
up=$(query 'up{job="codegreen"}') || fail "no up series"
# Monotonic through the sim's wraps: Prometheus saw no counter reset.
resets=$(query 'resets(codegreen_energy_joules_total{domain="package-0"}[15s])') ||
  fail "no resets() result"
[ "$resets" = 0 ] || fail "the energy counter went backwards $resets times"
# How long the slowest scrape in the rate's window took: Prometheus stamps a sample when its
# scrape begins, and the exporter reads the counter somewhere inside the scrape.
slowest=$(query 'max_over_time(scrape_duration_seconds{job="codegreen"}[15s])') ||
  fail "no scrape_duration_seconds"
/usr/bin/python3 - "$rate" "$power" "$up" "$SIM_POWER_W" "$slowest" <<'PY' ||
import sys
rate, power, up, truth, slowest = map(float, sys.argv[1:])
assert up == 1, up
# Prometheus extrapolates rate() over scrapes 1 s apart: 5 % is well above that and well below
# any unit or double-counting error. Each end of the 10 s range may also be misplaced by up to
# a scrape's duration (a busy machine makes scrapes slow; Prometheus reports how slow).
allowed = 0.05 * truth + 2 * slowest / 10 * truth
assert abs(rate - truth) <= allowed, (rate, truth, slowest)
assert abs(power - truth) <= 0.02 * truth, (power, truth)
print("prometheus: rate(codegreen_energy_joules_total) = %.3f W, codegreen_power_watts = %.3f W, "
      "sim truth %.1f W" % (rate, power, truth))
PY
  fail "the rates are wrong"
# Every query of the Grafana dashboard in contrib/ is valid PromQL for this Prometheus, and those
# over the exporter's series return data.
/usr/bin/python3 - "http://127.0.0.1:$PROM_PORT" "$NEMB_SOURCE/contrib/grafana-codegreen.json" \
  <<'PY' || fail "the Grafana dashboard's queries are wrong"
import json, sys, urllib.error, urllib.parse, urllib.request
base, path = sys.argv[1], sys.argv[2]
dash = json.load(open(path))
n = 0
for panel in dash["panels"]:
    for t in panel["targets"]:
        expr = t["expr"].replace("$instance", ".*").replace("$__range", "1m")
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            data = json.load(urllib.request.urlopen(url, timeout=10))
        except urllib.error.HTTPError as e:
            raise SystemExit("%s: %s" % (expr, e.read().decode()))
        assert data["status"] == "success", (expr, data)
        if "codegreen_run_" not in expr:  # pushed series exist only with a Pushgateway
            assert data["data"]["result"], ("no data", expr)
        n += 1
print("grafana: %d dashboard queries valid" % n)
PY
echo ok
