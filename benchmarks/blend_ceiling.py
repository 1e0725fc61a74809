"""How far would blending EASE and item-kNN into ``experiment=best_joint`` go? Measured before building it.

    python benchmarks/blend_ceiling.py ../shared/data/ml-100k [--seed 1]

Trains best_joint on the tutorial split without the refit (so that validation can choose the
blend), exports it, and loads the export. Then, with EASE (λ = 500) and item-kNN fitted on the same
training rows:

- retrieval: score = model / sd(model) + w · EASE / sd(EASE) over every movie, for a grid of w;
- rating: β · model + (1 - β) · item-kNN, for a grid of β.

Prints validation and test metrics for each (top-100 accuracy over every movie, Recall@10 and
NDCG@10 without the user's earlier movies, RMSE), so the weight can be read off validation and its
test numbers compared with the issue's targets. It asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mtrec.app.dataset import prepare
from mtrec.app.process import ProcessState
from mtrec.config import CONF_DIR, Config, register_configs
from mtrec.data.interactions import Interactions
from mtrec.evaluation.baselines import fit_biases
from mtrec.evaluation.ease import fit_ease, gram, user_rows
from mtrec.evaluation.knn import knn_predictions, pearson_baseline_similarity
from mtrec.evaluation.ranking import SeenMovies, recall_ndcg


def retrieval_metrics(scores: np.ndarray, heldout: Interactions, seen: Interactions) -> tuple[float, ...]:
    """Top-100 accuracy over every movie; Recall@10 and NDCG@10 without ``seen``'s movies."""
    own = scores[heldout.user, heldout.movie - 1]
    top_100 = float(np.mean((scores[heldout.user] > own[:, None]).sum(axis=1) < 100))
    relevant = SeenMovies(heldout.user, heldout.movie)
    ranked = scores[relevant.users].copy()
    ranked[user_rows(seen, relevant.users) > 0] = -np.inf
    top = np.argsort(-ranked, axis=1, kind="stable")[:, :10] + 1
    r = recall_ndcg(top, [set(relevant.of(u).tolist()) for u in relevant.users], [10])
    return top_100, r["recall_at_10"], r["ndcg_at_10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    register_configs()
    overrides = [
        "experiment=best_joint",
        f"dataset.path={args.data.resolve()}",
        f"trainer.seed={args.seed}",
        "trainer.refit=false",
        "tracking=none",
        "baselines.strong=false",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    typed: Config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), cfg))  # type: ignore[assignment]
    state = ProcessState()
    split = prepare(typed, state)
    train, val, test = split.train, split.val, split.test
    assert val is not None

    from mtrec.app.training import train as train_model  # TensorFlow
    from mtrec.serving.loading import load_export

    with tempfile.TemporaryDirectory() as out:
        metrics = train_model(typed, split, Path(out), state, export_dir=Path(out) / "export")
        model = load_export(Path(out) / "export")
        users = np.arange(1, train.num_users + 1)
        top = model.recommend(train.user_vocab[users - 1], train.num_movies)
        column = {title: i for i, title in enumerate(train.movie_vocab)}
        scores = np.full((train.num_users + 1, train.num_movies), -np.inf)
        for row, (titles, values) in enumerate(zip(top["titles"], top["scores"])):
            scores[users[row], [column[t] for t in titles]] = values

        def ratings(rows: Interactions) -> np.ndarray:
            out = model.predict(train.user_vocab[rows.user - 1], train.movie_vocab[rows.movie - 1])
            return out["rating"]

        rating_val, rating_test = ratings(val), ratings(test)
    print(f"best_joint, seed {args.seed}, no refit: test RMSE {metrics['test/rmse']:.4f}")

    ease = user_rows(train, np.arange(train.num_users + 1)) @ fit_ease(gram(train), 500.0)
    baseline = fit_biases(train)
    similarity = pearson_baseline_similarity(train, baseline, 100.0)

    def knn(rows: Interactions) -> np.ndarray:
        return np.clip(knn_predictions(train, rows, similarity, baseline, 40), 1.0, 5.0)

    knn_val, knn_test = knn(val), knn(test)
    seen_test = train.concat(val)
    model_sd, ease_sd = scores[1:].std(), ease[1:].std()
    print("retrieval: w, then validation and test (top-100, Recall@10, NDCG@10)")
    for w in (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0):
        blended = scores / model_sd + w * ease / ease_sd
        v, t = retrieval_metrics(blended, val, train), retrieval_metrics(blended, test, seen_test)
        print(f"  w={w:<4} val {' '.join(f'{x:.4f}' for x in v)}  test {' '.join(f'{x:.4f}' for x in t)}")
    print(f"  EASE alone: test {' '.join(f'{x:.4f}' for x in retrieval_metrics(ease, test, seen_test))}")

    def rmse(predictions: np.ndarray, rows: Interactions) -> float:
        return float(np.sqrt(np.mean((predictions - rows.rating) ** 2)))

    print("rating: beta, then validation and test RMSE")
    for beta in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):
        v = rmse(beta * rating_val + (1 - beta) * knn_val, val)
        t = rmse(beta * rating_test + (1 - beta) * knn_test, test)
        print(f"  beta={beta:<4} val {v:.4f}  test {t:.4f}")


if __name__ == "__main__":
    main()
