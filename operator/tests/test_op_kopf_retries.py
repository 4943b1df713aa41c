"""kopf logs every retried API request at ERROR; ours says WARNING until kopf gives up."""

from __future__ import annotations

import io
import json
import logging

from log_capture import restored_logging

from ray_operator.logs import configure_logging
from ray_operator.settings import Settings


def test_a_retried_request_is_a_warning_and_giving_up_stays_an_error() -> None:
    stream = io.StringIO()
    with restored_logging():
        configure_logging(Settings(), stream)
        api = logging.getLogger("kopf._cogs.clients.api")
        api.error("Request attempt #1/41 failed; will retry: GET https://k/api -> refused")
        api.error("Request attempt #41/41 failed; escalating: GET https://k/api -> refused")
        logging.getLogger("other.library").error("x failed; will retry")
    levels = [json.loads(line)["level"] for line in stream.getvalue().splitlines()]
    assert levels == ["warning", "error", "error"]
