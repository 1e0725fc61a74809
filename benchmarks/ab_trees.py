"""Two or more source trees of mtrec, side by side: ``experiment=tutorial`` alternated between them.

    python benchmarks/ab_trees.py TREE [TREE ...] [--data ../shared/data/ml-100k] [--rounds 5]

Each round runs ``bench.py``'s tutorial measurement once per tree, with ``PYTHONPATH`` set to that
tree, in a fresh folder and store; the order rotates every round so neither tree always runs first.
Prints, per tree, the median and every sample of: the process's wall time and peak RSS, its
start-up (to the sweep run's start), the first job's and the later jobs' overhead (job wall time -
fit - evaluate), the report and exit, and the test metrics (which must agree). Make a tree with
``git worktree add --detach /tmp/tree_<commit> <commit>``. It asserts nothing; it reports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import mtrec_tutorial  # noqa: E402

ROWS = ("wall_seconds", "peak_rss_mb", "startup_seconds", "first job overhead", "later jobs overhead")


def sample(tree: Path, data: Path) -> dict[str, float | list[float] | dict[str, float]]:
    """One tutorial process from ``tree``."""
    os.environ["PYTHONPATH"] = str(tree)
    with tempfile.TemporaryDirectory(prefix="mtrec-ab-") as work:
        result = mtrec_tutorial(data, Path(work))
    models = list(result["models"].values())
    return {
        "wall_seconds": result["wall_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "startup_seconds": result["startup_seconds"],
        "report_seconds": result["report_seconds"],
        "first job overhead": models[0]["overhead_seconds"],
        "later jobs overhead": [m["overhead_seconds"] for m in models[1:]],
        "metrics": {
            f"{name} {key}": round(m[key], 5)
            for name, m in result["models"].items()
            for key in ("test/rmse", "test/top_100_accuracy")
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trees", nargs="+", type=Path)
    p.add_argument("--data", type=Path, default=Path("../shared/data/ml-100k"))
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    trees = [t.resolve() for t in args.trees]
    data = args.data.resolve()
    samples: dict[Path, list[dict]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for tree in trees[r % len(trees) :] + trees[: r % len(trees)]:
            samples[tree].append(sample(tree, data))
            print(f"round {r + 1}: {tree.name} {samples[tree][-1]['wall_seconds']:.2f} s", flush=True)
    print(f"\n| measurement | {' | '.join(t.name for t in trees)} |")
    print(f"|---|{'---|' * len(trees)}")
    for row in ("report_seconds", *ROWS):
        values = {
            t: [v for s in samples[t] for v in (s[row] if isinstance(s[row], list) else [s[row]])]
            for t in trees
        }
        print(f"| {row}, median | {' | '.join(f'{statistics.median(values[t]):.2f}' for t in trees)} |")
        print(f"| | {' | '.join(' '.join(f'{v:.2f}' for v in values[t]) for t in trees)} |")
    metrics = {t: {tuple(sorted(s["metrics"].items())) for s in samples[t]} for t in trees}
    for t in trees:
        print(f"{t.name} test metrics: {[dict(m) for m in metrics[t]]}")


if __name__ == "__main__":
    main()
