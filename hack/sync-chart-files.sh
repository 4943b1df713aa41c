#!/usr/bin/env bash
# Copy the sources of truth the chart ships into the chart, since Helm cannot read
# files outside the chart directory:
#   dashboards/*.json        -> charts/ray-operator/files/dashboards/
#   alerts/*.rules.yaml      -> charts/ray-operator/files/alerts/
#   alerts/alerts.yaml       -> charts/ray-operator/files/alerts/ (the tunables manifest)
# Copies whose source is gone are removed. tests/chart/test_chart_sync.py fails when
# the copies differ from the sources. Usage: hack/sync-chart-files.sh (make chart-sync).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=$ROOT/charts/ray-operator/files

# sync SRC_DIR PATTERN DEST_DIR: make DEST_DIR hold exactly the SRC_DIR files matching PATTERN.
sync() {
  local src=$1 pattern=$2 dest=$3 f name
  mkdir -p "$dest"
  for f in "$dest"/$pattern; do
    [[ -e $f ]] || continue
    name=$(basename "$f")
    if [[ ! -e $src/$name ]]; then
      rm -f "$f"
      echo "removed  ${f#"$ROOT"/}"
    fi
  done
  for f in "$src"/$pattern; do
    [[ -e $f ]] || continue
    name=$(basename "$f")
    if ! cmp -s "$f" "$dest/$name"; then
      cp "$f" "$dest/$name"
      echo "copied   ${f#"$ROOT"/} -> ${dest#"$ROOT"/}/$name"
    fi
  done
}

sync "$ROOT/dashboards" '*.json' "$FILES/dashboards"
sync "$ROOT/alerts" '*.rules.yaml' "$FILES/alerts"
sync "$ROOT/alerts" 'alerts.yaml' "$FILES/alerts"
