"""The "Ray / Exporter health" dashboard, from ray-exporter's own ray_exporter_* metrics.

It answers "can I trust the other dashboards?": is every exporter target up and synced,
how stale is its view of each resource, is each watch healthy, what is it holding, how
often does it relist or fail, and how long do renders and scrapes take. Only the two
durations are histograms, so only they use histogram_quantile().
"""

from __future__ import annotations

from .grafana import (
    BAD_ABOVE_ZERO,
    GREEN,
    OK_ONLY,
    RED,
    Json,
    Section,
    Sized,
    dashboard,
    stat,
    state_timeline,
    target,
    thresholds,
    timeseries,
    value_mappings,
)
from .queries import EXPORTER_SCOPE, exporter_variables, sel

ORANGE_AFTER_10_MIN = thresholds((None, GREEN), (600, "orange"))


def exp(metric: str, *matchers: str) -> str:
    return sel(metric, *matchers, scope=EXPORTER_SCOPE)


def staleness(by: str) -> str:
    return f"max by ({by}) (time() - {exp('ray_exporter_last_sync_timestamp_seconds')})"


def _status() -> Section:
    def status_stat(
        title: str,
        description: str,
        expr: str,
        *,
        unit: str = "none",
        steps: Json = OK_ONLY,
        mappings: list[Json] | None = None,
        text_mode: str = "value",
        legend: str = "",
    ) -> Sized:
        query = target(expr, legend, instant=True)
        panel = stat(
            title,
            description,
            [query],
            unit=unit,
            steps=steps,
            mappings=mappings,
            text_mode=text_mode,
        )
        return Sized(panel, 4, 4)

    return Section(
        "Status",
        [
            status_stat(
                "Targets up",
                "ray-exporter targets Prometheus scraped successfully (up == 1).",
                f"count({exp('up')} == 1) or vector(0)",
            ),
            status_stat(
                "Targets down",
                "ray-exporter targets whose last scrape failed (alert RayExporterDown).",
                f"count({exp('up')} == 0) or vector(0)",
                steps=BAD_ABOVE_ZERO,
            ),
            status_stat(
                "Synced",
                "Whether every exporter has finished its first full list of all three "
                "resources (ray_exporter_synced; the minimum across targets).",
                f"min({exp('ray_exporter_synced')})",
                mappings=value_mappings({"1": ("synced", GREEN), "0": ("not synced", RED)}),
            ),
            status_stat(
                "Watches down",
                "Watch streams that are not healthy (ray_exporter_watch_up == 0).",
                f"count({exp('ray_exporter_watch_up')} == 0) or vector(0)",
                steps=BAD_ABOVE_ZERO,
            ),
            status_stat(
                "Oldest sync",
                "Longest time since an exporter last knew it was in sync with a resource "
                "(a list, a watch (re)established, or any watch event including bookmarks).",
                f"max(time() - {exp('ray_exporter_last_sync_timestamp_seconds')})",
                unit="s",
                steps=ORANGE_AFTER_10_MIN,
            ),
            status_stat(
                "Version",
                "ray_exporter_build_info: the version each target runs.",
                f"count by (version) ({exp('ray_exporter_build_info')})",
                text_mode="name",
                legend="{{version}}",
            ),
        ],
    )


def _store() -> Section:
    return Section(
        "Store and sync",
        [
            Sized(
                timeseries(
                    "Objects held",
                    "Objects in the exporter's store, by resource (summed over shards).",
                    [
                        target(
                            f"sum by (resource) ({exp('ray_exporter_objects')})",
                            "{{resource}}",
                        )
                    ],
                ),
                8,
                8,
            ),
            Sized(
                timeseries(
                    "Time since last sync",
                    "Per target and resource. With watch bookmarks this stays near a minute; "
                    "growth means the exporter's view is going stale (alert RayExporterStale).",
                    [target(staleness("instance, resource"), "{{instance}} {{resource}}")],
                    unit="s",
                ),
                8,
                8,
            ),
            Sized(
                state_timeline(
                    "Watch health",
                    "ray_exporter_watch_up per target and resource.",
                    [
                        target(
                            f"min by (instance, resource) ({exp('ray_exporter_watch_up')})",
                            "{{instance}} {{resource}}",
                        )
                    ],
                    mappings=value_mappings({"1": ("up", GREEN), "0": ("down", RED)}),
                ),
                8,
                8,
            ),
        ],
    )


def _watch() -> Section:
    def rate_panel(title: str, description: str, metric: str, by: str, legend: str) -> Sized:
        expr = f"sum by ({by}) (rate({exp(metric)}[$__rate_interval]))"
        return Sized(timeseries(title, description, [target(expr, legend)], unit="ops"), 6, 8)

    return Section(
        "Watch and errors",
        [
            rate_panel(
                "Watch events",
                "Watch events per second by resource and type (ADDED, MODIFIED, DELETED, "
                "BOOKMARK).",
                "ray_exporter_watch_events_total",
                "resource, type",
                "{{resource}} {{type}}",
            ),
            rate_panel(
                "Relists",
                "Full relists per second: after a watch expired (410 Gone) or failed.",
                "ray_exporter_relists_total",
                "resource",
                "{{resource}}",
            ),
            rate_panel(
                "Watch errors by reason",
                "Failed or broken watch streams per second.",
                "ray_exporter_watch_errors_total",
                "resource, reason",
                "{{resource}} {{reason}}",
            ),
            rate_panel(
                "Malformed objects by reason",
                "Objects whose fields could not be read; their series are skipped, the "
                "other objects are unaffected.",
                "ray_exporter_object_errors_total",
                "resource, reason",
                "{{resource}} {{reason}}",
            ),
        ],
    )


def _latency(title: str, description: str, histogram: str) -> Sized:
    def quantile(q: str) -> str:
        buckets = exp(f"{histogram}_bucket")
        return f"histogram_quantile({q}, sum by (le) (rate({buckets}[$__rate_interval])))"

    mean = (
        f"sum(rate({exp(f'{histogram}_sum')}[$__rate_interval]))\n"
        f"/\nsum(rate({exp(f'{histogram}_count')}[$__rate_interval]))"
    )
    return Sized(
        timeseries(
            title,
            description,
            [
                target(quantile("0.5"), "p50"),
                target(quantile("0.99"), "p99"),
                target(mean, "mean"),
            ],
            unit="s",
        ),
        12,
        8,
    )


def _performance() -> Section:
    return Section(
        "Performance",
        [
            _latency(
                "Scrape duration",
                "Time to serve /metrics (the store is only concatenated; no API call).",
                "ray_exporter_scrape_duration_seconds",
            ),
            _latency(
                "Render duration",
                "Time to render one object's series after a watch event.",
                "ray_exporter_render_duration_seconds",
            ),
        ],
    )


def exporter_health() -> Json:
    return dashboard(
        uid="ray-exporter-health",
        title="Ray / Exporter health",
        description="ray-exporter's own health: targets up, sync and staleness per resource, "
        "watch events, relists and errors, scrape and render time.",
        variables=exporter_variables(),
        sections=[_status(), _store(), _watch(), _performance()],
    )
