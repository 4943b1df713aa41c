"""`python -m ray_exporter`: the container entry point, same as the `ray-exporter` command."""

from ray_exporter.main import main

raise SystemExit(main())
