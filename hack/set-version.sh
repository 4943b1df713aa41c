#!/usr/bin/env bash
# Set the release version: hack/set-version.sh 0.2.0
#
# VERSION is the one source; this stamps it into the places that cannot read
# it themselves (the two Python projects, Chart.yaml's version and appVersion,
# and the helm-unittest suites that expect the default image tags).
# tests/release/test_version.py fails when any of them disagrees with VERSION.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
new=${1:?usage: hack/set-version.sh NEW_VERSION}
[[ $new =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "not a SemVer: $new" >&2; exit 2; }
old=$(<"$ROOT/VERSION")
echo "$new" >"$ROOT/VERSION"
sed -i "s/^version = \"$old\"$/version = \"$new\"/" "$ROOT/operator/pyproject.toml" "$ROOT/exporter/pyproject.toml"
sed -i -e "s/^version: $old$/version: $new/" -e "s/^appVersion: \"$old\"$/appVersion: \"$new\"/" \
  "$ROOT/charts/ray-operator/Chart.yaml"
sed -i "s#\(ghcr.io/ray-operator/ray-[a-z]*\):$old\$#\1:$new#" "$ROOT"/charts/ray-operator/tests/*_test.yaml
echo "version $old -> $new; add its section to CHANGELOG.md"
