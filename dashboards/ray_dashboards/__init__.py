"""Generator of the Grafana dashboards in dashboards/*.json.

The committed JSON files are the source of truth that the chart ships; this package
produces exactly those files so that every dashboard follows the same conventions
(variables, links, UTC, stable layout). `dashboards/build.py --check` proves they agree.
"""
