"""The e2e stack is real: Prometheus scrapes, evaluates a rule, and Alertmanager delivers it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from localkube.monitoring import Alertmanager, Prometheus, WebhookReceiver, free_port, wait_until

pytestmark = pytest.mark.e2e


def test_alert_travels_from_rule_to_webhook(
    tmp_path: Path, alertmanager: Alertmanager, webhook: WebhookReceiver
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "stack",
                        "rules": [
                            {
                                "alert": "SelfScraped",
                                "expr": 'up{job="self"} == 1',
                                "labels": {"severity": "info"},
                                "annotations": {"summary": "Prometheus scraped itself"},
                            },
                            {"alert": "NeverFires", "expr": 'up{job="self"} == 0'},
                        ],
                    }
                ]
            }
        )
    )
    port = free_port()
    prom = Prometheus(
        tmp_path / "prometheus",
        targets={"self": [f"127.0.0.1:{port}"]},
        rule_files=[rules],
        alertmanager_url=alertmanager.url,
        port=port,
    )
    try:
        wait_until("self target up", prom.targets_up)
        result = prom.query('up{job="self"}')
        assert [r["value"][1] for r in result] == ["1"]
        firing = wait_until("SelfScraped at the webhook", lambda: webhook.alerts("firing"))
        names = {a["labels"]["alertname"] for a in firing.values()}
        assert names == {"SelfScraped"}
        alert = next(iter(firing.values()))
        assert alert["labels"]["severity"] == "info"
        assert alert["annotations"]["summary"] == "Prometheus scraped itself"
    finally:
        prom.stop()
