#!/usr/bin/env bash
# `make dev`: a local cluster with the CRDs, the operator and the exporter as
# local processes, a Prometheus scraping the exporter with the alert rules
# loaded, and the samples applied. Ctrl-C stops everything this script started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STATE=$ROOT/.cluster
DEV=$STATE/dev
EXPORTER_PORT=${EXPORTER_PORT:-18080}
OPERATOR_HEALTH_PORT=${OPERATOR_HEALTH_PORT:-18081}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-19090}
PY=$ROOT/.venv/bin/python
export PYTHONPATH=$ROOT/tests PATH=$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH

say() { printf '\033[1m[dev]\033[0m %s\n' "$*"; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for port in "$EXPORTER_PORT" "$OPERATOR_HEALTH_PORT" "$PROMETHEUS_PORT"; do
  port_free "$port" || { say "port $port is in use; set EXPORTER_PORT/OPERATOR_HEALTH_PORT/PROMETHEUS_PORT"; exit 1; }
done

started_cluster=0
if "$PY" -m localkube status >/dev/null 2>&1; then
  say "reusing the local cluster that is already running"
else
  "$PY" -m localkube up
  started_cluster=1
fi
export KUBECONFIG=$STATE/kubeconfig
rm -rf "$DEV" && mkdir -p "$DEV"

pids=()
cleanup() {
  trap - INT TERM EXIT
  say "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ $started_cluster == 1 ]]; then "$PY" -m localkube down; fi
}
trap cleanup INT TERM EXIT

if compgen -G "charts/ray-operator/crds/*.yaml" >/dev/null; then
  kubectl apply --server-side -f charts/ray-operator/crds/ >/dev/null
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
  say "CRDs installed: $(kubectl get crd -o name | grep -c ray.io) ray.io kinds"
else
  say "no CRDs in charts/ray-operator/crds/ yet: skipping them"
fi

if [[ -x .venv/bin/ray-operator ]] && "$PY" -c 'import ray_operator.main' 2>/dev/null; then
  .venv/bin/ray-operator --log-format console --health-address "127.0.0.1:$OPERATOR_HEALTH_PORT" \
    >"$DEV/operator.log" 2>&1 &
  pids+=($!)
  say "operator running (log: $DEV/operator.log)"
else
  say "the operator is not built yet: not started"
fi

if [[ -x .venv/bin/ray-exporter ]] && "$PY" -c 'import ray_exporter.main' 2>/dev/null; then
  .venv/bin/ray-exporter --log-format console --listen-address "127.0.0.1:$EXPORTER_PORT" \
    >"$DEV/exporter.log" 2>&1 &
  pids+=($!)
  say "exporter running (log: $DEV/exporter.log)"
else
  say "the exporter is not built yet: not started"
fi

if [[ -x .tools/bin/prometheus ]]; then
  rules=$(compgen -G "alerts/*.rules.yaml" | sed 's/^/  - /' || true)
  cat >"$DEV/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
${rules:-  []}
scrape_configs:
  - job_name: ray-exporter
    static_configs:
      - targets: ["127.0.0.1:$EXPORTER_PORT"]
  - job_name: ray-operator
    static_configs:
      - targets: ["127.0.0.1:$OPERATOR_HEALTH_PORT"]
YAML
  (cd "$ROOT" && exec prometheus --config.file="$DEV/prometheus.yml" --storage.tsdb.path="$DEV/prometheus" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" >"$DEV/prometheus.log" 2>&1) &
  pids+=($!)
  say "Prometheus running (log: $DEV/prometheus.log)"
else
  say "prometheus is not built: run 'make tools'"
fi

if compgen -G "samples/*.yaml" >/dev/null && kubectl get crd rayclusters.ray.io >/dev/null 2>&1; then
  kubectl apply -f samples/ >/dev/null && say "samples applied: $(ls samples/*.yaml | xargs -n1 basename | tr '\n' ' ')"
fi

cat <<EOF

  Local Ray operator environment is up. In another shell:
    eval \$(make -s env)                         # pinned kubectl + this cluster
    kubectl get rayclusters,rayjobs,rayservices -A
    kubectl get pods -A -l ray.io/is-ray-node=yes
    curl -s http://127.0.0.1:$EXPORTER_PORT/metrics | grep ^kuberay_
    curl -s 'http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query?query=kuberay_cluster_info'
    curl -s http://127.0.0.1:$PROMETHEUS_PORT/api/v1/alerts
  Logs: $DEV/*.log and $STATE/logs/*.log
  Ctrl-C stops everything started here.
EOF
if ((${#pids[@]})); then
  wait -n "${pids[@]}" 2>/dev/null || true
  say "a process exited; see the logs in $DEV"
else
  sleep infinity & wait $!
fi
