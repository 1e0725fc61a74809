"""What the strong baselines cost and score on the tutorial split of the real MovieLens 100K.

    python benchmarks/strong_baselines.py ../shared/data/ml-100k [--repeat 3]

Times ``mtrec.evaluation.baselines.compute_baselines`` on the tutorial split (random 80/20, seed 42)
without and with EASE and item-kNN, as a run without a validation split computes them (EASE's λ
chosen on 10% of the training rows carved by ``dataset.split_seed=42``, the defaults of
``baselines.*``), and EASE and item-kNN alone; prints the best of ``--repeat`` timings and every
baseline metric. It asserts nothing (the numbers are tested in tests/evaluation/).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from mtrec.data.grouplens import read_grouplens
from mtrec.data.interactions import Split
from mtrec.data.splits import carve_validation, random_split
from mtrec.evaluation.baselines import (
    TUTORIAL_TASKS,
    StrongBaselines,
    compute_baselines,
    ease_baseline,
    item_knn_predictions,
)

TOP_K = [1, 5, 10, 50, 100]


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="../shared/data/ml-100k")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    split = random_split(read_grouplens(args.path), 0.2, 42)
    carved = carve_validation(split, 0.1, 42)
    assert carved.val is not None
    strong = StrongBaselines(selection=Split(carved.train, carved.val))
    retrieval = TUTORIAL_TASKS[1]
    work: dict[str, Callable[[], object]] = {
        "trivial baselines only": lambda: compute_baselines(split, TOP_K),
        "with EASE and item-kNN": lambda: compute_baselines(split, TOP_K, strong=strong),
        "EASE alone (5 λ + refit)": lambda: ease_baseline(split, TOP_K, retrieval, strong),
        "item-kNN alone": lambda: item_knn_predictions(split),
    }
    seconds = {name: best_of(args.repeat, run) for name, run in work.items()}
    print(f"{split.train.num_users} users, {split.train.num_movies} movies, {len(split.train)} training rows")
    for name, value in seconds.items():
        print(f"{name:<26} {value:6.2f} s (best of {args.repeat})")
    for name, value in sorted(compute_baselines(split, TOP_K, strong=strong).items()):
        print(f"{name:<40} {value:.4f}")


if __name__ == "__main__":
    main()
