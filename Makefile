.PHONY: install test lint smoke tutorial bench bench-big bench-table bench-tasks

install:
	scripts/install.sh

test:
	pytest

lint:
	ruff check mtrec tests benchmarks hydra_plugins
	ruff format --check mtrec tests benchmarks hydra_plugins
	mypy mtrec hydra_plugins

smoke:
	mtrec experiment=smoke

tutorial:
	mtrec experiment=tutorial dataset.path=../shared/data/ml-100k

bench:
	python benchmarks/bench.py

bench-big:
	python benchmarks/big_synthetic.py

bench-table:
	python benchmarks/table_load.py

bench-tasks:
	python benchmarks/tasks_epoch.py
