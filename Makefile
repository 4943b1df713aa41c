# ray-operator: one Makefile for the dev environment, the toolchain, the local
# cluster, the tests and the benchmarks. `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/.tools/bin
export PATH := $(BIN):$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)/tests
export HELM_PLUGINS := $(CURDIR)/.tools/share/helm-plugins
export CT_CONFIG_DIR := $(CURDIR)/.tools/share/ct-etc
PYTEST := $(PY) -m pytest
PACKAGES := operator/src/ray_operator exporter/src/ray_exporter
LINTED := operator exporter tests hack dashboards alerts
OPERATOR_BENCH := $(addprefix tests/bench/,apiserver_audit.py operator_race.py operator_report.py \
	operator_rivals.py test_operator_bench.py test_operator_report.py)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# -- environment -------------------------------------------------------------

$(VENV)/.stamp: constraints.txt requirements-dev.txt operator/pyproject.toml exporter/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e operator -e exporter -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## Create .venv with both packages (editable) and the test tools

$(VENV)-ray/.stamp: requirements-ray.txt constraints-ray.txt
	python3 -m venv $(VENV)-ray
	$(VENV)-ray/bin/pip install -q --upgrade pip
	$(VENV)-ray/bin/pip install -q -c constraints-ray.txt -r requirements-ray.txt
	touch $@

.PHONY: ray-env
ray-env: $(VENV)-ray/.stamp ## Create .venv-ray with a real Ray for the RayJob/RayService tests

.PHONY: lock
lock: ## Re-resolve the Python dependencies and rewrite constraints.txt
	rm -rf $(VENV).lock && python3 -m venv $(VENV).lock
	$(VENV).lock/bin/pip install -q -e operator -e exporter -r requirements-dev.txt
	$(VENV).lock/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf $(VENV).lock

.PHONY: tools
tools: ## Build the pinned Go toolchain into the cache (a no-op when built)
	@bash hack/tools.sh

.PHONY: env
env: ## Print export lines for the pinned tools and the local cluster: eval $$(make -s env)
	@$(PY) -m localkube env

# -- local cluster -------------------------------------------------------------

.PHONY: cluster-up
cluster-up: venv tools ## Start the local control plane (etcd, apiserver, controllers, kwok)
	@$(PY) -m localkube up

.PHONY: cluster-down
cluster-down: ## Stop the local control plane
	@$(PY) -m localkube down

.PHONY: dev
dev: venv tools ## Local cluster + CRDs + operator + exporter + Prometheus + samples
	@bash hack/dev.sh

# -- generated sources ---------------------------------------------------------

.PHONY: crds
crds: venv ## Regenerate the CRDs in charts/ray-operator/crds/ (a test fails when they drift)
	$(PY) operator/hack/gen_crds.py

# -- chart --------------------------------------------------------------------

.PHONY: chart-sync
chart-sync: ## Copy dashboards/ and alerts/ into the chart (a test fails when they differ)
	bash hack/sync-chart-files.sh

.PHONY: chart-docs
chart-docs: venv ## Regenerate docs/chart.md's value tables from values.yaml
	$(PY) hack/gen_chart_docs.py

# -- checks --------------------------------------------------------------------

.PHONY: lint
lint: venv ## ruff, ruff format, mypy --strict, import contracts
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy --strict $(PACKAGES)
	$(VENV)/bin/mypy --strict tests/localkube
	MYPYPATH=dashboards $(VENV)/bin/mypy --strict dashboards/build.py dashboards/ray_dashboards
	$(VENV)/bin/mypy --strict hack/gen_chart_docs.py tests/chart
	MYPYPATH=tests:dashboards $(VENV)/bin/mypy --strict --explicit-package-bases tests/e2e
	MYPYPATH=tests:tests/logs $(VENV)/bin/mypy --strict --explicit-package-bases tests/logs tests/log_capture.py tests/hostile_json.py
	MYPYPATH=tests $(VENV)/bin/mypy --strict --explicit-package-bases tests/release
	MYPYPATH=tests:tests/bench $(VENV)/bin/mypy --strict --explicit-package-bases $(OPERATOR_BENCH)
	$(VENV)/bin/lint-imports

.PHONY: test-unit
test-unit: venv tools ## Unit tests (no cluster; promtool checks need the built tools)
	$(PYTEST) -m "not chart and not integration and not e2e and not bench and not images"

.PHONY: test-chart
test-chart: venv tools ## helm lint/template/unittest, ct lint
	$(PYTEST) -m chart

.PHONY: test-integration
test-integration: venv tools ray-env ## Tests against the real local control plane (and KubeRay's operator side by side)
	@bash hack/tools.sh kuberay
	@bash hack/redis.sh
	$(PYTEST) -m integration

.PHONY: test-e2e
test-e2e: venv tools ray-env ## Real Prometheus and Alertmanager against the real exporter
	$(PYTEST) -m e2e

.PHONY: images
images: venv tools ## Build both images daemonless into dist/images/*.oci.tar; prints digests and sizes
	@bash hack/images.sh

.PHONY: test-images
test-images: images ## Opt-in (root): run both images from their own root filesystems, --version and against the local control plane
	$(PYTEST) -m images tests/release/test_images.py tests/release/test_image_run.py

.PHONY: release-artifacts
release-artifacts: images ## The images, the packaged chart and SHA256SUMS in dist/
	helm package charts/ray-operator --destination dist
	cd dist && sha256sum images/ray-operator.oci.tar images/ray-exporter.oci.tar \
		ray-operator-$$(cat ../VERSION).tgz | tee SHA256SUMS

# The images' tests need root (unshare, mount, chroot): `make test` runs them when it is
# root, as CI's .ci/run is (about 1 minute: building both images 15-30 s, the tests 35 s).
IMAGE_TESTS := $(if $(filter 0,$(shell id -u)),test-images,test-images-skipped)

.PHONY: test-images-skipped
test-images-skipped:
	@echo "make test: not root, so the image tests are skipped (sudo make test-images runs them)"

.PHONY: test
test: lint test-unit test-chart test-integration test-e2e $(IMAGE_TESTS) ## Everything CI runs (the image tests only as root)

.PHONY: dashboard-previews
dashboard-previews: venv tools ## Redraw docs/img/*.png from a real e2e run's query results
	WRITE_DASHBOARD_PREVIEWS=1 $(PYTEST) -m e2e tests/e2e/test_dashboards_alerts.py

# -- benchmarks (opt-in; they print figures, they assert no timings) ------------

.PHONY: bench-operator
bench-operator: venv tools ## 50/200/1000 RayClusters, this operator against KubeRay (one size: OPERATOR_BENCH_SIZES=200)
	@bash hack/tools.sh kuberay
	$(PYTEST) tests/bench/test_operator_bench.py -m bench -s

.PHONY: bench-exporter
bench-exporter: venv tools ## 22,000 Ray objects: this exporter against a KubeRay-style baseline
	$(PYTEST) tests/bench/test_exporter_bench.py -m bench -s

.PHONY: bench-secure-metrics
bench-secure-metrics: venv tools ## /metrics over plain HTTP against HTTPS with token reviews
	$(PYTEST) tests/bench/test_secure_metrics_bench.py -m bench -s
