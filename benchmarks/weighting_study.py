"""``experiment=weighting_study`` on several splits of the real MovieLens 100K: each method's
hypervolume per split, so a difference between methods can be read against the split's noise.

    python benchmarks/weighting_study.py ../shared/data/ml-100k [--split-seeds 42 1 2] [OVERRIDE ...]

Runs ``mtrec -m experiment=weighting_study dataset.path=PATH dataset.split_seed=S`` once per seed
and any further overrides given (e.g. ``trainer.epochs=10``; one MLflow SQLite store and Optuna
study file in a temporary folder), then reads each sweep's
report back from MLflow with mtrec's own report code: per split, each method's hypervolume from that
split's reference point (the worst value of each objective over its 32 jobs), its best test RMSE and
best test top-100 accuracy. Prints Markdown tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow

from mtrec.config.schema import ParetoObjective
from mtrec.reports.methods import reference_point, summarize
from mtrec.reports.sweep import load_sweep
from mtrec.reports.tables import summary_table

PARETO = [ParetoObjective("test/rmse", "min"), ParetoObjective("test/top_100_accuracy", "max")]


def run_study(data: str, seed: int, work: Path, overrides: list[str]) -> tuple[str, float]:
    """Runs the study on one split; returns its sweep's parent run id and its wall time."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mtrec",
            "experiment=weighting_study",
            f"dataset.path={data}",
            f"dataset.split_seed={seed}",
            f"tracking.uri=sqlite:///{work / 'mlflow.db'}",
            f"hydra.sweep.dir={work / f'split-{seed}'}",
            *overrides,
        ],
        cwd=work,
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - started
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    [parent] = mlflow.search_runs(
        experiment_names=["weighting_study"],
        filter_string=f"tags.`mtrec.role` = 'sweep' and tags.`mtrec.sweep_dir` = '{work / f'split-{seed}'}'",
        output_format="list",
    )
    return parent.info.run_id, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="../shared/data/ml-100k")
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("overrides", nargs="*", help="more overrides for every study, e.g. trainer.epochs=10")
    args = parser.parse_args()
    data = str(Path(args.path).resolve())
    volumes: dict[str, list[float]] = {}
    best: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.split_seeds:
            parent, seconds = run_study(data, seed, Path(folder), args.overrides)
            table = summary_table(load_sweep([parent], with_histories=False), PARETO)
            point = reference_point(table, PARETO)
            print(f"split seed {seed}: {seconds:.0f} s, reference point {point}", flush=True)
            for summary in summarize(table, PARETO, point):
                volumes.setdefault(summary.method, []).append(summary.hypervolume)
                mine = table[(table["method"] == summary.method) & (table["status"] == "FINISHED")]
                best.setdefault(summary.method, []).append(
                    (mine["test/rmse"].min(), mine["test/top_100_accuracy"].max())
                )
    seeds = " | ".join(f"split {s}" for s in args.split_seeds)
    print(f"\n| method | {seeds} | mean |\n|---|{'---|' * len(args.split_seeds)}---|")
    for method, values in volumes.items():
        cells = " | ".join(f"{v:.4f}" for v in values)
        print(f"| {method} | {cells} | {statistics.mean(values):.4f} |")
    print(f"\n| method | best test/rmse ({seeds}) | best test/top_100_accuracy ({seeds}) |\n|---|---|---|")
    for method, pairs in best.items():
        rmse = " / ".join(f"{r:.4f}" for r, _ in pairs)
        top = " / ".join(f"{t:.4f}" for _, t in pairs)
        print(f"| {method} | {rmse} | {top} |")


if __name__ == "__main__":
    main()
