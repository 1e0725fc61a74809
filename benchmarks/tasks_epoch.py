"""What a third task costs an epoch: ``tasks=watch_rate_like`` against ``tasks=tutorial``, side by side.

    python benchmarks/tasks_epoch.py [--data ../shared/data/ml-100k] [--repeats 2] [--epochs 4]

Each run is a fresh ``mtrec`` process on the same data and seed (no MLflow); an epoch's time is
its ``train/epoch_seconds`` from the run's ``metrics.json``, the first epoch (which traces the
training step) left out. The two configs alternate, so load on the machine hits both alike. Prints
each config's median epoch and their ratio (the issue's target: at most 1.3).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"2 tasks (tutorial)": "tasks=tutorial", "3 tasks (watch_rate_like)": "tasks=watch_rate_like"}


def epoch_seconds(data: Path, option: str, epochs: int, work: Path) -> list[float]:
    out = work / option.replace("=", "_")
    cmd = [sys.executable, "-m", "mtrec", option, f"dataset.path={data}", f"trainer.epochs={epochs}"]
    cmd += ["tracking=none", f"hydra.run.dir={out}"]
    subprocess.run(cmd, cwd=work, check=True, capture_output=True)
    history = json.loads((out / "metrics.json").read_text())["train_history"]
    return [epoch["train/epoch_seconds"] for epoch in history[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-100k")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.repeats):
            for name, option in CONFIGS.items():
                times[name] += epoch_seconds(args.data.resolve(), option, args.epochs, Path(work))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name}: median epoch {value:.3f} s over {len(times[name])} epochs")
    two, three = medians.values()
    print(f"3-task / 2-task epoch: {three / two:.2f}x")


if __name__ == "__main__":
    main()
