"""Command line for the local control plane: `python -m localkube up|down|status|env`.

`make cluster-up`, `make cluster-down` and `make env` call this with the
repository's `.cluster/` state directory.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from localkube.cluster import REPO_ROOT, TOOLS_BIN, Cluster, ClusterError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localkube", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".cluster")
    parser.add_argument("--nodes", type=int, default=4, help="fake kwok nodes to create")
    args = parser.parse_args(argv)
    cluster = Cluster(args.state_dir, nodes=args.nodes)
    try:
        if args.command == "up":
            start = time.monotonic()
            cluster.up(detached=True)
            print(
                f"control plane ready in {time.monotonic() - start:.1f}s at {cluster.server}\n"
                f"  eval $(make -s env)   # or: export KUBECONFIG={cluster.kubeconfig}"
            )
        elif args.command == "down":
            stopped = cluster.down()
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        elif args.command == "status":
            print("running" if cluster.running() else "stopped")
            return 0 if cluster.running() else 1
        else:
            # The same environment the Makefile gives its targets, so the pinned tools work
            # by hand: helm's unittest plugin, ct's config (and yamale/yamllint from the venv).
            share = TOOLS_BIN.parent / "share"
            venv_bin = REPO_ROOT / ".venv" / "bin"
            print(f'export PATH={shlex.quote(str(TOOLS_BIN))}:{shlex.quote(str(venv_bin))}:"$PATH"')
            print(f"export HELM_PLUGINS={shlex.quote(str(share / 'helm-plugins'))}")
            print(f"export CT_CONFIG_DIR={shlex.quote(str(share / 'ct-etc'))}")
            print(f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}")
    except ClusterError as err:
        print(f"localkube: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
