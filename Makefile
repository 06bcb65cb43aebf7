# The project's plain entry points. Each target creates or refreshes .venv and the pinned CDK CLI first.
PY := .venv/bin/python
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# jsii still runs on Node 20 (end-of-life); say so once in the README instead of in a banner on every synth.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: demo demo-full demo-sweep verify-aws test lint bench synth deploy destroy lock clean

demo:  ## run the whole workshop offline (local mode) on years of 1/5 full size; print the comparison
	@scripts/bootstrap.sh app
	@$(PY) -m local run --scale 0.2

demo-full:  ## the same on full-size years (430,941 rows each, generated from the bundled rows)
	@scripts/bootstrap.sh app
	@$(PY) -m local run --scale full

demo-sweep:  ## the sweep offline: instanceCount 1, 2, 5 x epochs 2, 4, both ways each; table, recommendation, picture
	@scripts/bootstrap.sh app
	@$(PY) -m local run --sweep --scale 0.2 --name demo-sweep-$$(date +%s)

# make verify-aws SUITE=out/<execution>/teststate/suite.json [STACK=shardlab] [REGION=...] [PROFILE=...]
verify-aws:  ## run every recorded state on AWS's TestState (mocked, STRICT; no training) and compare
	@scripts/bootstrap.sh app
	@$(PY) -m local verify-aws --suite $(SUITE) $(if $(STACK),--stack $(STACK)) $(if $(REGION),--region $(REGION)) \
		$(if $(PROFILE),--profile $(PROFILE))

test:  ## the whole test suite (linters included)
	@scripts/bootstrap.sh dev
	@$(PY) -m ruff check .
	@$(PY) -m mypy
	@# 4 workers on 2 cores: local-mode tests spend much of their time waiting on polls and simulated job clocks
	@# (2 workers kept 1.3 cores busy: 357 s; 4 workers: 294 s on the 2-core development machine).
	@$(PY) -m pytest -n 4

lint:
	@scripts/bootstrap.sh dev
	@$(PY) -m ruff check . && $(PY) -m mypy

# The benches with a target; each records its figures in bench/results.json (bench/results.py holds the targets).
RECORDED_BENCHES := bench/bench_compare.py bench/bench_shard.py bench/bench_shard_memory.py bench/bench_demo_full.py bench/bench_sweep.py

bench:  ## every benchmark (not tests): ratios against their baselines -> bench/results.json and README's table; fails under a target
	@scripts/bootstrap.sh dev
	@status=0; started=$$(date +%s); \
	for b in $(RECORDED_BENCHES); do echo "==> $$b"; $(PY) $$b --record || status=1; done; \
	echo "==> bench/bench_linear_learner.py"; $(PY) bench/bench_linear_learner.py || status=1; \
	$(PY) tests/doc_tables.py; \
	echo "make bench: $$(( $$(date +%s) - started )) s; README's benchmark table regenerated from bench/results.json"; \
	exit $$status

synth:
	@scripts/bootstrap.sh app
	@cdk synth --quiet

deploy:
	@scripts/bootstrap.sh app
	@cdk deploy

destroy:
	@scripts/bootstrap.sh app
	@cdk destroy

lock:  ## re-resolve requirements.lock from requirements-dev.txt in a throwaway venv
	rm -rf /tmp/shardlab-lock && python3 -m venv /tmp/shardlab-lock
	/tmp/shardlab-lock/bin/pip install --quiet -r requirements-dev.txt
	{ head -2 requirements.lock; /tmp/shardlab-lock/bin/pip freeze | grep -v -E '^(pip|setuptools|wheel)=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf .venv node_modules cdk.out out .pytest_cache .mypy_cache .ruff_cache
