#!/usr/bin/env bash
# Installs Debian's redis-server when it is missing: the GCS fault-tolerance integration
# tests start their own Redis on a free loopback port (tests/localkube/redis.py).
set -euo pipefail
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends redis-server >/dev/null
# The package starts a system-wide Redis on port 6379; the tests need none of it.
if command -v service >/dev/null; then service redis-server stop >/dev/null 2>&1 || true; fi
command -v redis-server
