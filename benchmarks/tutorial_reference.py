"""The TFRS multitask tutorial's pipeline, done the tutorial's way: the benchmark's reference.

Faithful to https://www.tensorflow.org/recommenders/examples/multitask: StringLookup towers over
string ids, a tf.data pipeline of strings (shuffle 100k with seed 42, take 80k / 20k, batch 8192 /
4096, cache), FactorizedTopK metrics computed on every training batch by streaming the candidates
dataset through the movie tower, both losses always computed, TFRS's dense-label softmax, Adagrad
0.1, 3 epochs, the three weightings one after another. Data comes from the GroupLens files (no
network here) with the same fields TFDS gives.

Run: python benchmarks/tutorial_reference.py ../shared/data/ml-100k  -> one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time

START = time.perf_counter()
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402

IMPORTED = time.perf_counter()


def read_files(folder: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    titles = {}
    with open(f"{folder}/u.item", encoding="latin-1") as f:
        for line in f:
            fields = line.rstrip("\n").split("|")
            titles[fields[0]] = fields[1]
    users, movies, ratings = [], [], []
    with open(f"{folder}/u.data", encoding="latin-1") as f:
        for line in f:
            user, item, rating, _ = line.split("\t")
            users.append(user)
            movies.append(titles[item])
            ratings.append(float(rating))
    columns = {
        "user_id": np.array(users),
        "movie_title": np.array(movies),
        "user_rating": np.array(ratings, np.float32),
    }
    return columns, np.array(list(titles.values()))


class MovielensModel(tfrs.models.Model):
    def __init__(
        self, rating_weight: float, retrieval_weight: float, unique_users, unique_titles, movies
    ) -> None:
        super().__init__()
        embedding_dimension = 32
        self.movie_model = tf.keras.Sequential(
            [
                tf.keras.layers.StringLookup(vocabulary=unique_titles, mask_token=None),
                tf.keras.layers.Embedding(len(unique_titles) + 1, embedding_dimension),
            ]
        )
        self.user_model = tf.keras.Sequential(
            [
                tf.keras.layers.StringLookup(vocabulary=unique_users, mask_token=None),
                tf.keras.layers.Embedding(len(unique_users) + 1, embedding_dimension),
            ]
        )
        self.rating_model = tf.keras.Sequential(
            [
                tf.keras.layers.Dense(256, activation="relu"),
                tf.keras.layers.Dense(128, activation="relu"),
                tf.keras.layers.Dense(1),
            ]
        )
        self.rating_task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError()],
        )
        self.retrieval_task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(candidates=movies.batch(128).map(self.movie_model))
        )
        self.rating_weight = rating_weight
        self.retrieval_weight = retrieval_weight

    def call(self, features):
        user_embeddings = self.user_model(features["user_id"])
        movie_embeddings = self.movie_model(features["movie_title"])
        return (
            user_embeddings,
            movie_embeddings,
            self.rating_model(tf.concat([user_embeddings, movie_embeddings], axis=1)),
        )

    def compute_loss(self, features, training=False):
        ratings = features.pop("user_rating")
        user_embeddings, movie_embeddings, rating_predictions = self(features)
        rating_loss = self.rating_task(labels=ratings, predictions=rating_predictions)
        retrieval_loss = self.retrieval_task(user_embeddings, movie_embeddings)
        return self.rating_weight * rating_loss + self.retrieval_weight * retrieval_loss


def main(folder: str) -> dict:
    t0 = time.perf_counter()
    columns, all_titles = read_files(folder)
    ratings = tf.data.Dataset.from_tensor_slices(columns)
    movies = tf.data.Dataset.from_tensor_slices(all_titles)
    tf.random.set_seed(42)
    shuffled = ratings.shuffle(100_000, seed=42, reshuffle_each_iteration=False)
    train = shuffled.take(80_000)
    test = shuffled.skip(80_000).take(20_000)
    unique_titles = np.unique(np.concatenate(list(movies.batch(1_000))))
    unique_users = np.unique(np.concatenate(list(ratings.batch(1_000_000).map(lambda x: x["user_id"]))))
    cached_train = train.shuffle(100_000).batch(8192).cache()
    cached_test = test.batch(4096).cache()
    data_seconds = time.perf_counter() - t0

    models = {}
    for name, weights in [("rating_only", (1.0, 0.0)), ("retrieval_only", (0.0, 1.0)), ("joint", (1.0, 1.0))]:
        t = time.perf_counter()
        model = MovielensModel(*weights, unique_users, unique_titles, movies)
        model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1))
        t_fit = time.perf_counter()
        model.fit(cached_train, epochs=3, verbose=0)
        t_eval = time.perf_counter()
        metrics = model.evaluate(cached_test, return_dict=True, verbose=0)
        t_end = time.perf_counter()
        models[name] = {
            "build_seconds": t_fit - t,
            "fit_seconds": t_eval - t_fit,
            "evaluate_seconds": t_end - t_eval,
            "test/rmse": float(metrics["root_mean_squared_error"]),
            "test/top_100_accuracy": float(metrics["factorized_top_k/top_100_categorical_accuracy"]),
        }
    return {
        "import_seconds": IMPORTED - START,
        "data_seconds": data_seconds,
        "models": models,
        "in_process_seconds": time.perf_counter() - START,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
