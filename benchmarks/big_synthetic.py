"""One ``dataset=synthetic`` run at 10M interactions: time per epoch and peak RSS (``make bench-big``).

    python benchmarks/big_synthetic.py [--interactions 10000000] [--epochs 1] [--out big_synthetic.json]

Users and movies grow as sqrt(scale) from ml-100k's 943 and 1,682, the rule of ``bench.py``'s
scaling table (10M interactions: 9,430 users, 16,820 movies). The run is the whole ``mtrec``
process (data generation, split, baselines, training, evaluation), without MLflow; its peak RSS
is the kernel's. Minutes per epoch on a 2-core CPU. It asserts nothing: this reports.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench import REPO, measure, synthetic_command, synthetic_sizes


def run(num_interactions: int, epochs: int, work: Path) -> dict:
    num_users, num_movies = synthetic_sizes(num_interactions)
    out_dir = work / "run"
    command = synthetic_command(num_interactions, out_dir, f"trainer.epochs={epochs}")
    result = measure(command, work)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    test = metrics["test"]
    return {
        "command": " ".join(["python", *command[1:-1]]),
        "interactions": num_interactions,
        "users": num_users,
        "movies": num_movies,
        "epoch_seconds": [epoch["train/epoch_seconds"] for epoch in metrics["train_history"]],
        "evaluate_seconds": test["time/evaluate_seconds"],
        "wall_seconds": result["wall_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "test/rmse": test["test/rmse"],
        "test/top_100_accuracy": test["test/top_100_accuracy"],
        "baseline/popularity/top_100_accuracy": test["baseline/popularity/top_100_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interactions", type=int, default=10_000_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "big_synthetic.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run(args.interactions, args.epochs, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    epochs = ", ".join(f"{s:.0f} s" for s in report["epoch_seconds"])
    print(
        f"synthetic {report['interactions']:,} interactions ({report['users']:,} users, "
        f"{report['movies']:,} movies): epoch {epochs}, evaluation {report['evaluate_seconds']:.0f} s, "
        f"whole process {report['wall_seconds']:.0f} s, peak RSS {report['peak_rss_mb']:.0f} MB"
    )
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
