#!/usr/bin/env bash
# Build the ray-operator and ray-exporter images without a container daemon:
#   hack/images.sh [operator] [exporter]     (make images)
#
# The root filesystem is the files of the Debian packages pinned in
# images/debian-packages.txt (python3.11 and the libraries it loads; no package
# manager, no compiler), a virtualenv at /opt/venv with the project's wheel and its
# dependencies pinned by constraints.txt, and a non-root user 65532. umoci packs it
# as one layer; every mtime is SOURCE_DATE_EPOCH (the commit's time) and the
# archive's entries are sorted, so the same commit gives the same digests.
# Writes dist/images/ray-<name>.oci.tar (an OCI image layout in a tar).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
UMOCI=$ROOT/.tools/bin/umoci
PY=$ROOT/.venv/bin/python
VERSION=$(<VERSION)
COMMIT=$(git rev-parse HEAD)
SOURCE=https://github.com/ray-operator/ray-operator
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
WORK=$ROOT/build/images
OUT=$ROOT/dist/images
mkdir -p "$WORK/debs" "$WORK/wheels" "$OUT"

log() { printf '[images] %s\n' "$*" >&2; }

debs() {
  # Exactly the pinned versions, downloaded once.
  local pkgs
  mapfile -t pkgs < <(grep -v '^#' images/debian-packages.txt | grep .)
  (cd "$WORK/debs" && for p in "${pkgs[@]}"; do
    ls "${p%%=*}_"*.deb >/dev/null 2>&1 || apt-get download -q "$p" >&2
  done)
}

wheels() {
  # Our two wheels plus every dependency, at the versions in constraints.txt.
  "$PY" -m pip wheel -q -c constraints.txt -w "$WORK/wheels" ./operator ./exporter >&2
}

rootfs() {
  local project=$1 fs=$2 package=ray_$1 deb
  rm -rf "$fs" && mkdir -p "$fs"
  for deb in "$WORK"/debs/*.deb; do dpkg-deb -x "$deb" "$fs"; done
  rm -rf "$fs"/usr/share/{doc,man,info,lintian,locale} "$fs"/usr/lib/python3.11/{ensurepip,idlelib,tkinter,turtledemo}
  # A virtualenv laid out by hand (the image's python never runs at build time).
  mkdir -p "$fs/opt/venv/bin" "$fs/opt/venv/lib/python3.11/site-packages" "$fs/tmp" "$fs/etc"
  ln -s /usr/bin/python3.11 "$fs/opt/venv/bin/python"
  printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n' >"$fs/opt/venv/pyvenv.cfg"
  "$PY" -m pip install -q --no-index --no-compile --no-warn-script-location --find-links "$WORK/wheels" \
    -c constraints.txt --target "$fs/opt/venv/lib/python3.11/site-packages" "ray-$project==$VERSION" >&2
  # pip wrote console scripts (with the build host's interpreter in their shebangs) to
  # bin/; drop them and their RECORD lines, so no path of the build machine is left.
  rm -rf "$fs/opt/venv/lib/python3.11/site-packages/bin"
  sed -i '\#^\.\./\.\./bin/#d' "$fs"/opt/venv/lib/python3.11/site-packages/*.dist-info/RECORD
  echo "$COMMIT" >"$fs/opt/venv/lib/python3.11/site-packages/$package/COMMIT"
  printf '#!/opt/venv/bin/python\nimport sys\n\nfrom %s.main import main\n\nif __name__ == "__main__":\n    sys.exit(main())\n' \
    "$package" >"$fs/opt/venv/bin/ray-$project"
  chmod 755 "$fs/opt/venv/bin/ray-$project"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nray:x:65532:65532:ray:/tmp:/sbin/nologin\n' >"$fs/etc/passwd"
  printf 'root:x:0:\nray:x:65532:\n' >"$fs/etc/group"
  chmod 1777 "$fs/tmp"
  ldconfig -r "$fs"
  find "$fs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

image() {
  local project=$1 name=ray-$1 layout=$WORK/$1-layout fs=$WORK/$1-rootfs
  log "building $name $VERSION ($COMMIT)"
  rootfs "$project" "$fs"
  rm -rf "$layout"
  "$UMOCI" init --layout "$layout"
  "$UMOCI" new --image "$layout:$VERSION"
  "$UMOCI" insert --image "$layout:$VERSION" --history.created "$CREATED" \
    --history.created_by "hack/images.sh" "$fs" /
  "$UMOCI" config --image "$layout:$VERSION" --no-history --created "$CREATED" \
    --os linux --architecture amd64 --config.user 65532:65532 --config.workingdir /tmp \
    --config.entrypoint "/opt/venv/bin/$name" \
    --config.env PATH=/opt/venv/bin:/usr/bin:/bin --config.env PYTHONDONTWRITEBYTECODE=1 \
    --config.env PYTHONUNBUFFERED=1 \
    --config.label "org.opencontainers.image.source=$SOURCE" \
    --config.label "org.opencontainers.image.revision=$COMMIT" \
    --config.label "org.opencontainers.image.version=$VERSION" \
    --config.label "org.opencontainers.image.title=$name" \
    --config.label "org.opencontainers.image.created=$CREATED"
  "$UMOCI" gc --layout "$layout"
  find "$layout" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$layout" -cf "$OUT/$name.oci.tar" .
  local manifest size
  manifest=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$layout/index.json")
  size=$(python3 - "$layout" "$manifest" <<'PYTHON'
import json, sys
layout, digest = sys.argv[1], sys.argv[2]
manifest = json.load(open(f"{layout}/blobs/sha256/{digest.split(':')[1]}"))
print(sum(layer["size"] for layer in manifest["layers"]))
PYTHON
)
  printf '%s  %s  compressed %s MiB, unpacked %s\n' "$name.oci.tar" "$manifest" \
    "$(awk "BEGIN{printf \"%.1f\", $size/1048576}")" "$(du -sh "$fs" | cut -f1)"
}

want=${*:-operator exporter}
debs
wheels
for project in $want; do image "$project"; done
