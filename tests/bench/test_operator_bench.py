"""Benchmark: ray-operator against KubeRay's Go operator, bringing up N RayClusters at once.

Opt-in (`make bench-operator`, or `pytest tests/bench/test_operator_bench.py -m bench -s`).
For each size, each operator runs alone on a fresh local control plane with the same CRDs,
the same nodes and the same limits (tests/bench/operator_race.py); the bench prints a table
with the ratios and whether each target docs/development.md lists was met. It asserts only
that every cluster became ready, never anything about time.

Settings (environment):
- OPERATOR_BENCH_SIZES: RayCluster counts, one test each (default 50,200,1000);
- OPERATOR_BENCH_OPERATORS: which to run, in order (default ours,kuberay);
- OPERATOR_BENCH_CRDS: `ours` (charts/ray-operator/crds, default) or `kuberay` (KubeRay's
  own, .tools/share/kuberay-crds), applied for both operators;
- OPERATOR_BENCH_CONCURRENCY, OPERATOR_BENCH_QPS, OPERATOR_BENCH_BURST: both operators'
  concurrent reconciles and client rate limit (default 16, 100, 200);
- OPERATOR_BENCH_SETTLE_SECONDS, OPERATOR_BENCH_STEADY_SECONDS: the pause after all are
  ready and the steady-state window after it (default 10 and 60).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from operator_race import race
from operator_report import report
from operator_rivals import KUBERAY_BINARY, KUBERAY_CRDS, RIVALS, Limits, OurOperator

from localkube.crds import CRD_DIR

pytestmark = pytest.mark.bench


def _setting(name: str, default: str) -> str:
    return os.environ.get(f"OPERATOR_BENCH_{name}", default)


SIZES = [int(n) for n in _setting("SIZES", "50,200,1000").split(",") if n.strip()]
OPERATORS = [name.strip() for name in _setting("OPERATORS", "ours,kuberay").split(",")]
CRDS = {"ours": CRD_DIR, "kuberay": KUBERAY_CRDS}[_setting("CRDS", "ours")]
LIMITS = Limits(
    concurrency=int(_setting("CONCURRENCY", "16")),
    qps=int(_setting("QPS", "100")),
    burst=int(_setting("BURST", "200")),
)
SETTLE_SECONDS = float(_setting("SETTLE_SECONDS", "10"))
STEADY_SECONDS = float(_setting("STEADY_SECONDS", "60"))


@pytest.mark.parametrize("clusters", SIZES, ids=[f"n{n}" for n in SIZES])
def test_operators_bring_up_many_clusters(clusters: int, tmp_path: Path) -> None:
    needed = [KUBERAY_BINARY] if "kuberay" in OPERATORS else []
    needed += [CRDS]
    missing = [str(path) for path in needed if not path.exists()]
    assert not missing, f"{missing} missing: run `bash hack/tools.sh kuberay`"
    outcomes = [
        race(
            RIVALS[name],
            clusters,
            tmp_path / name,
            limits=LIMITS,
            crds=CRDS,
            settle_seconds=SETTLE_SECONDS,
            steady_seconds=STEADY_SECONDS,
        )
        for name in OPERATORS
    ]
    crds = CRDS.relative_to(CRD_DIR.parents[2]) if CRDS == CRD_DIR else f"KubeRay's ({CRDS})"
    context = [
        f"  each on a fresh local control plane, one after the other; CRDs: {crds}",
        f"  both: {LIMITS.describe()}, all namespaces, no leader election",
        f"  API requests: the apiserver's audit log, by the operator's ServiceAccount;"
        f" steady state: {STEADY_SECONDS:.0f} s after a {SETTLE_SECONDS:.0f} s pause",
        f"  {os.cpu_count()} CPUs shared by the control plane, kwok, the bench and the operator",
    ]
    print("\n" + report(outcomes, OurOperator.label, context))
