"""`python -m ray_operator`: the container entry point, same as the `ray-operator` command."""

from ray_operator.main import main

raise SystemExit(main())
