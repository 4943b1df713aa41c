#!/usr/bin/env bash
# Build the pinned toolchain from source through the Go module proxy.
#
# Each tool is built once into a directory keyed by its version (and this
# recipe's revision) under $TOOLS_CACHE, outside the work tree, then linked
# into .tools/bin in the repo. With the pins unchanged this is a no-op.
#
# `hack/tools.sh kuberay` builds KubeRay's Go operator, which only
# `make bench-operator` needs; the default list leaves it out.
set -euo pipefail

RECIPE=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tools/versions.env
source "$ROOT/tools/versions.env"
TOOLS_CACHE=${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ray-operator/tools}
# A scratch build (TOOLS_CACHE elsewhere) should also set TOOLS_LINK_DIR, so the
# repo's links keep pointing at the real cache.
LINK_DIR=${TOOLS_LINK_DIR:-$ROOT/.tools/bin}
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
mkdir -p "$TOOLS_CACHE" "$LINK_DIR"

log() { printf '[tools] %s\n' "$*" >&2; }

# tools_module DIR MODULE VERSION [STAGING_VERSION]: a go.mod that requires
# MODULE@VERSION with the target's replace/exclude directives copied in.
tools_module() {
  local dir=$1 module=$2 version=$3 staging=${4:-} gomod
  rm -rf "$dir" && mkdir -p "$dir"
  gomod=$(cd "$dir" && go mod download -json "$module@$version" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
  (cd "$dir" && go mod init local/tools >/dev/null 2>&1 && go mod edit -go=1.26.0 &&
    python3 "$ROOT/hack/gomod_pins.py" "$gomod" "$staging" >>go.mod)
}

# build NAME VERSION FUNCTION: run FUNCTION OUT_DIR unless already built.
build() {
  local name=$1 version=$2 fn=$3 out="$TOOLS_CACHE/$1-$2-r$RECIPE"
  if [[ ! -f $out/.done ]]; then
    log "building $name $version (this takes a while the first time)"
    local start=$SECONDS
    rm -rf "$out" && mkdir -p "$out/bin"
    "$fn" "$out"
    touch "$out/.done"
    log "built $name $version in $((SECONDS - start))s"
  fi
  local bin
  for bin in "$out"/bin/*; do ln -sfn "$bin" "$LINK_DIR/$(basename "$bin")"; done
}

build_kubernetes() {
  local out=$1 src=$1/src minor=${KUBERNETES_VERSION#v1.} ldflags="-s -w" p
  minor=${minor%%.*}
  tools_module "$src" k8s.io/kubernetes "$KUBERNETES_VERSION" "v0.${KUBERNETES_VERSION#v1.}"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  local pkgs=(k8s.io/kubernetes/cmd/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl})
  (cd "$src" && go get "${pkgs[@]/%/@$KUBERNETES_VERSION}" >/dev/null &&
    go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" -o "$out/bin/" "${pkgs[@]}")
}

build_etcd() {
  local out=$1
  tools_module "$out/src" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  (cd "$out/src" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null &&
    go build -trimpath -ldflags "-s -w" -o "$out/bin/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  GOBIN=$1/bin go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # The stage files ship in the module zip; keep a copy beside the binary.
  local dir
  dir=$(cd "$1" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$1/share" && cp -r "$dir/kustomize/stage" "$1/share/kwok-stages" && chmod -R u+w "$1/share"
}

build_helm() {
  local minor=${KUBERNETES_VERSION#v1.} v=helm.sh/helm/v3
  minor=${minor%%.*}
  GOBIN=$1/bin go install -trimpath -ldflags "-s -w -X $v/internal/version.version=$HELM_VERSION \
    -X $v/pkg/chartutil.k8sVersionMajor=1 -X $v/pkg/chartutil.k8sVersionMinor=$minor \
    -X $v/pkg/lint/rules.k8sVersionMajor=1 -X $v/pkg/lint/rules.k8sVersionMinor=$minor" \
    "$v/cmd/helm@$HELM_VERSION"
}

build_helm_unittest() {
  local out=$1 m=github.com/helm-unittest/helm-unittest
  tools_module "$out/src" "$m" "$HELM_UNITTEST_VERSION"
  (cd "$out/src" && go get "$m/cmd/helm-unittest@$HELM_UNITTEST_VERSION" >/dev/null &&
    go build -trimpath -ldflags "-s -w -X $m/internal/build.version=${HELM_UNITTEST_VERSION#v}" \
      -o "$out/bin/untt" "$m/cmd/helm-unittest")
  # An offline plugin install: the plugin.yaml helm reads, next to the binary.
  mkdir -p "$out/plugins/unittest"
  ln -sfn "$out/bin/untt" "$out/plugins/unittest/untt"
  cat >"$out/plugins/unittest/plugin.yaml" <<YAML
name: "unittest"
version: "${HELM_UNITTEST_VERSION#v}"
usage: "unittest for helm charts"
description: "helm-unittest, built from source by hack/tools.sh"
ignoreFlags: false
platformCommand:
  - command: "\$HELM_PLUGIN_DIR/untt"
YAML
}

build_chart_testing() {
  # A tools module, not `go install`: the proxy refuses this module's version
  # list, which `go install` reads to check for deprecation.
  local out=$1 m=github.com/helm/chart-testing/v3
  tools_module "$out/src" "$m" "$CHART_TESTING_VERSION"
  (cd "$out/src" && go get "$m/ct@$CHART_TESTING_VERSION" >/dev/null &&
    go build -trimpath -ldflags "-s -w -X $m/ct/cmd.Version=$CHART_TESTING_VERSION" \
      -o "$out/bin/ct" "$m/ct")
  local dir
  dir=$(cd "$out/src" && go mod download -json "$m@$CHART_TESTING_VERSION" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$out/share" && cp -r "$dir/etc" "$out/share/ct-etc" && chmod -R u+w "$out/share"
}

build_prometheus() {
  local out=$1 m=github.com/prometheus/prometheus
  tools_module "$out/src" "$m" "$PROMETHEUS_VERSION"
  # All service discovery is compiled out except Kubernetes', which the configuration
  # the Prometheus Operator generates from a ServiceMonitor (kubernetes_sd_configs) needs.
  (cd "$out/src" && go get "$m/cmd/prometheus@$PROMETHEUS_VERSION" "$m/cmd/promtool@$PROMETHEUS_VERSION" >/dev/null &&
    go build -trimpath -tags remove_all_sd,enable_kubernetes_sd \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_RELEASE" \
      -o "$out/bin/" "$m/cmd/prometheus" "$m/cmd/promtool")
}

build_umoci() {
  # umoci builds OCI images without a container daemon (make images). Its go.mod
  # replaces go-mtree, so a tools module rather than `go install`.
  local out=$1 m=github.com/opencontainers/umoci
  tools_module "$out/src" "$m" "$UMOCI_VERSION"
  (cd "$out/src" && go get "$m/cmd/umoci@$UMOCI_VERSION" >/dev/null &&
    go build -trimpath -ldflags "-s -w" -o "$out/bin/umoci" "$m/cmd/umoci")
}

build_actionlint() {
  # Lints .github/workflows (a unit test); it reads its version from the build info.
  GOBIN=$1/bin go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
}

build_alertmanager() {
  # The module zip lacks the built web UI that ui/web.go embeds (ui/app/dist),
  # so build from a copy of the module source with a placeholder page there.
  # The HTTP API, which is all the tests use, is unaffected.
  local out=$1 m=github.com/prometheus/alertmanager dir
  tools_module "$out/src" "$m" "$ALERTMANAGER_VERSION"
  dir=$(cd "$out/src" && go mod download -json "$m@$ALERTMANAGER_VERSION" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  cp -r "$dir" "$out/src/alertmanager" && chmod -R u+w "$out/src/alertmanager"
  mkdir -p "$out/src/alertmanager/ui/app/dist"
  echo '<html><body>Alertmanager UI not built; use the API.</body></html>' \
    >"$out/src/alertmanager/ui/app/dist/index.html"
  (cd "$out/src" && go mod edit -require="$m@$ALERTMANAGER_VERSION" -replace="$m=./alertmanager" &&
    cat >tools.go <<GO
//go:build tools

package tools

import (
	_ "$m/cmd/alertmanager"
	_ "$m/cmd/amtool"
)
GO
    go mod tidy >/dev/null &&
    go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${ALERTMANAGER_VERSION#v}" \
      -o "$out/bin/" "$m/cmd/alertmanager" "$m/cmd/amtool")
}

build_kuberay() {
  # Installed as kuberay-operator: its own name, ray-operator, is this project's.
  local out=$1 m=github.com/ray-project/kuberay/ray-operator dir
  GOBIN=$out/bin go install -trimpath -ldflags "-s -w" "$m@$KUBERAY_VERSION"
  mv "$out/bin/ray-operator" "$out/bin/kuberay-operator"
  # Its CRDs ship in the module zip; keep a copy beside the binary.
  dir=$(cd "$out" && go mod download -json "$m@$KUBERAY_VERSION" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$out/share" && cp -r "$dir/config/crd/bases" "$out/share/kuberay-crds" &&
    chmod -R u+w "$out/share"
}

link_share() {
  # Stage files, ct config and the helm plugin dir at stable paths in the repo.
  local share=${LINK_DIR%/bin}/share name target
  mkdir -p "$share"
  for pair in "kwok-stages=kwok-$KWOK_VERSION-r$RECIPE/share/kwok-stages" \
    "ct-etc=chart-testing-$CHART_TESTING_VERSION-r$RECIPE/share/ct-etc" \
    "helm-plugins=helm-unittest-$HELM_UNITTEST_VERSION-r$RECIPE/plugins" \
    "kuberay-crds=kuberay-$KUBERAY_VERSION-r$RECIPE/share/kuberay-crds"; do
    name=${pair%%=*} target=$TOOLS_CACHE/${pair#*=}
    if [[ -d $target ]]; then ln -sfn "$target" "$share/$name"; fi
  done
}

want=${*:-kubernetes etcd kwok helm helm-unittest chart-testing prometheus alertmanager umoci actionlint}
for tool in $want; do
  case $tool in
    kubernetes) build kubernetes "$KUBERNETES_VERSION" build_kubernetes ;;
    etcd) build etcd "$ETCD_VERSION" build_etcd ;;
    kwok) build kwok "$KWOK_VERSION" build_kwok ;;
    helm) build helm "$HELM_VERSION" build_helm ;;
    helm-unittest) build helm-unittest "$HELM_UNITTEST_VERSION" build_helm_unittest ;;
    chart-testing) build chart-testing "$CHART_TESTING_VERSION" build_chart_testing ;;
    prometheus) build prometheus "$PROMETHEUS_VERSION-k8s-sd" build_prometheus ;;
    alertmanager) build alertmanager "$ALERTMANAGER_VERSION" build_alertmanager ;;
    umoci) build umoci "$UMOCI_VERSION" build_umoci ;;
    actionlint) build actionlint "$ACTIONLINT_VERSION" build_actionlint ;;
    kuberay) build kuberay "$KUBERAY_VERSION" build_kuberay ;;
    *) log "unknown tool $tool"; exit 2 ;;
  esac
done
link_share
