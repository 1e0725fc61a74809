"""How much top-100 accuracy can a strong non-neural model reach on the tutorial split, with and
without the user's already-rated movies among the candidates?

    python benchmarks/ease_ceiling.py ../shared/data/ml-100k

Prints popularity and EASE (Steck 2019, closed form, numpy) top-100 accuracy, both ways.
"""

from __future__ import annotations

import sys

import numpy as np

from mtrec.data.grouplens import read_grouplens
from mtrec.data.splits import random_split
from mtrec.evaluation.ease import fit_ease


def top_100_accuracy(scores: np.ndarray, seen: np.ndarray, users: np.ndarray, movies: np.ndarray) -> tuple:
    out = []
    for exclude in (False, True):
        s = scores.copy()
        s[:, 0] = -np.inf  # index 0 is no movie
        if exclude:
            s[seen] = -np.inf
        top = np.argpartition(-s, 100, axis=1)[:, :100]
        out.append(float(np.mean((top[users] == movies[:, None]).any(axis=1))))
    return tuple(out)


def main(path: str) -> None:
    data = read_grouplens(path)
    split = random_split(data, 0.2, 42)
    x = np.zeros((data.num_users + 1, data.num_movies + 1), np.float32)
    x[split.train.user, split.train.movie] = 1
    seen, users, movies = x > 0, split.test.user, split.test.movie
    print("model            top-100 (all movies)  top-100 (seen excluded)")
    pop = np.tile(x.sum(axis=0), (len(x), 1))
    all_movies, unseen = top_100_accuracy(pop, seen, users, movies)
    print(f"popularity       {all_movies:.4f}                {unseen:.4f}")
    gram = (x.T @ x).astype(np.float64)
    for lam in (200, 500, 1000, 2000, 5000):
        b = fit_ease(gram, lam)  # column 0 (no movie) has no interactions: its weights are 0
        print(
            f"EASE lambda={lam:<5d} %.4f                %.4f" % top_100_accuracy(x @ b, seen, users, movies)
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/ml-100k")
