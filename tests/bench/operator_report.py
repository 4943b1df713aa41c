"""What one operator bench run measured (`Outcome`) and the table that compares two of them.

Pure: outcomes in, text out, so the table and the target verdicts are tested without a
cluster (tests/bench/test_operator_report.py). The targets are the ones docs/development.md
lists for `make bench-operator`; they are printed, never asserted.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apiserver_audit import Tally

TARGET_SIZES = (200, 1000)
MAX_CPU_RATIO = 1.5
MAX_RSS_RATIO = 1.5


@dataclass(frozen=True)
class Outcome:
    """One operator bringing up `clusters` RayClusters on a fresh control plane."""

    label: str
    clusters: int
    created_in: float  # seconds to submit every create
    wall: float  # seconds from the first create until all were ready
    last_pod_ready: (
        float  # from the first create until the last pod was Ready (whole-second stamps)
    )
    per_cluster: Sequence[float]  # create -> ready per cluster, whole seconds (status stamps)
    cpu: float  # operator CPU seconds from the first create until all were ready
    peak_rss: int  # bytes, VmHWM
    startup: Tally  # requests before the first create
    until_ready: Tally  # requests from the first create until all were ready
    steady: Tally  # requests in the steady-state window
    steady_seconds: float
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)  # 1, 5, 15 min, at the end of the run

    @property
    def requests_per_cluster(self) -> float:
        return self.until_ready.total / self.clusters

    @property
    def steady_per_minute(self) -> float:
        return self.steady.total * 60 / self.steady_seconds if self.steady_seconds else 0.0

    def spread(self) -> str:
        if not self.per_cluster:
            return "n/a"
        ordered = sorted(self.per_cluster)
        p90 = statistics.quantiles(ordered, n=10)[8] if len(ordered) > 1 else ordered[0]
        return f"p50 {statistics.median(ordered):.0f} s, p90 {p90:.0f} s, max {ordered[-1]:.0f} s"


Figure = Callable[[Outcome], float]
ROWS: tuple[tuple[str, Figure, str], ...] = (
    ("wall time to all ready (s)", lambda o: o.wall, "{:.1f}"),
    ("CPU seconds, create->ready", lambda o: o.cpu, "{:.2f}"),
    ("peak RSS (MiB)", lambda o: o.peak_rss / 2**20, "{:.1f}"),
    ("API requests until ready", lambda o: o.until_ready.total, "{:.0f}"),
    ("API requests per RayCluster", lambda o: o.requests_per_cluster, "{:.2f}"),
    ("last pod Ready, the floor (whole s)", lambda o: o.last_pod_ready, "{:.0f}"),
    ("watches opened until ready", lambda o: o.until_ready.watches, "{:.0f}"),
    ("requests at startup", lambda o: o.startup.total, "{:.0f}"),
    ("steady requests/min (no watches)", lambda o: o.steady_per_minute, "{:.1f}"),
    ("steady watches opened", lambda o: o.steady.watches, "{:.0f}"),
)
RATIO_ROWS = 5  # the first rows get an ours/KubeRay ratio


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "n/a"


def table(outcomes: Sequence[Outcome]) -> list[str]:
    """One column per operator, and ours/theirs when there are exactly two."""
    pair = len(outcomes) == 2
    head = f"  {'':<34}" + "".join(f"{o.label:>16}" for o in outcomes)
    lines = [head + (f"{'ratio':>10}" if pair else "")]
    for index, (name, figure, form) in enumerate(ROWS):
        line = f"  {name:<34}" + "".join(f"{form.format(figure(o)):>16}" for o in outcomes)
        if pair and index < RATIO_ROWS:
            line += f"{_ratio(figure(outcomes[0]), figure(outcomes[1])):>10}"
        lines.append(line)
    return lines


def _verdict(met: bool, detail: str) -> str:
    return f"{'met' if met else 'NOT met':<8} ({detail})"


def targets(ours: Outcome, theirs: Outcome | None) -> list[str]:
    """Each target and whether this run met it."""
    lines = []
    if theirs is not None:
        cpu, rss = ours.cpu / theirs.cpu, ours.peak_rss / theirs.peak_rss
        lines += [
            f"  {'wall time <= KubeRay:':<44}"
            + _verdict(ours.wall <= theirs.wall, f"{ours.wall:.1f} s vs {theirs.wall:.1f} s"),
            f"  {f'CPU seconds <= {MAX_CPU_RATIO}x KubeRay:':<44}"
            + _verdict(cpu <= MAX_CPU_RATIO, f"{cpu:.2f}x"),
            f"  {f'peak RSS <= {MAX_RSS_RATIO}x KubeRay:':<44}"
            + _verdict(rss <= MAX_RSS_RATIO, f"{rss:.2f}x"),
        ]
    lines.append(
        f"  {'steady state: 0 requests besides watches:':<44}"
        + _verdict(ours.steady.total == 0, f"{ours.steady_per_minute:.1f}/min")
    )
    return lines


def report(outcomes: Sequence[Outcome], ours_label: str, context: Sequence[str]) -> str:
    """The bench's printout for one size: the table, the details, the targets."""
    size = outcomes[0].clusters
    lines = [f"operator bench: {size} RayClusters x (1 head + 2 workers)", *context, ""]
    lines += table(outcomes)
    lines.append("")
    for o in outcomes:
        lines += [
            f"  {o.label}: creates submitted in {o.created_in:.1f} s;"
            f" per cluster create->ready {o.spread()};"
            f" load average {o.load[0]:.1f} {o.load[1]:.1f} {o.load[2]:.1f}",
            f"    requests until ready: {o.until_ready.top()}",
            f"    steady state ({o.steady_seconds:.0f} s): {o.steady.top()}",
        ]
    ours = next((o for o in outcomes if o.label == ours_label), None)
    if ours is not None:
        theirs = next((o for o in outcomes if o.label != ours_label), None)
        where = "" if size in TARGET_SIZES else " (the targets are set for N = 200 and 1000)"
        lines += ["", f"  targets{where}:", *targets(ours, theirs)]
    return "\n".join(lines)
