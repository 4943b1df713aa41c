"""Entry point of `ray-operator`: settings, logging, then the operator until it stops."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if "--version" in arguments:
        from ray_operator.version import describe

        print(describe())
        return 0
    # kopf imports the `kubernetes` package, when it is installed, only to recognise its model
    # objects, which this operator never hands to kopf; the import alone costs about 20 MiB.
    # Nothing in this process uses it (kubeconfig.py reads the credentials).
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    from ray_operator.app import run
    from ray_operator.logs import configure_logging
    from ray_operator.settings import load_settings
    from ray_operator.wiring import build_runtime

    settings = load_settings(arguments)
    configure_logging(settings)

    async def operate() -> int:
        return await run(build_runtime(settings))

    try:
        return asyncio.run(operate())
    except KeyboardInterrupt:
        return 130
