"""Synthetic users x movies with 1-5 ratings from latent factors: any size, deterministic by seed."""

from __future__ import annotations

import numpy as np

from mtrec.data.interactions import Interactions


def make_synthetic(
    num_users: int, num_movies: int, num_interactions: int, num_factors: int, seed: int
) -> Interactions:
    """Users x movies with ratings 1-5 from latent factors, deterministic by ``seed``.

    Each movie belongs to one of ``num_factors`` genres (its side feature, one-hot) and has a
    Zipf-like popularity; a user picks a genre from their own preference, then a movie of that
    genre by popularity. The rating is the rounded, clipped affinity of user and movie factors
    plus noise. Generation is O(n) and vectorised, so it scales to tens of millions of rows.
    """
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(size=(num_users, num_factors)).astype(np.float32)
    movie_factors = rng.normal(size=(num_movies, num_factors)).astype(np.float32)
    movie_genre = np.argmax(movie_factors, axis=1)
    popularity = 1.0 / np.arange(1, num_movies + 1) ** 0.8
    rng.shuffle(popularity)
    user_activity = 1.0 / np.arange(1, num_users + 1) ** 0.5

    user = rng.choice(num_users, size=num_interactions, p=user_activity / user_activity.sum())
    genre_logits = user_factors[user]
    genre = np.argmax(genre_logits + rng.gumbel(size=genre_logits.shape), axis=1)
    movie = np.empty(num_interactions, dtype=np.int64)
    for g in range(num_factors):
        rows = np.flatnonzero(genre == g)
        members = np.flatnonzero(movie_genre == g)
        if len(members) == 0:
            members = np.arange(num_movies)
        weights = popularity[members] / popularity[members].sum()
        movie[rows] = rng.choice(members, size=len(rows), p=weights)

    affinity = np.einsum("ij,ij->i", user_factors[user], movie_factors[movie]) / np.sqrt(num_factors)
    rating = np.clip(np.rint(3.0 + 1.2 * affinity + rng.normal(scale=0.5, size=num_interactions)), 1, 5)
    width = len(str(max(num_users, num_movies)))
    genres = np.zeros((num_movies + 1, num_factors), np.float32)  # row 0: the out-of-vocabulary id
    genres[np.arange(1, num_movies + 1), movie_genre] = 1.0
    return Interactions(
        user_vocab=np.array([f"user_{i:0{width}d}" for i in range(num_users)]),
        movie_vocab=np.array([f"movie_{i:0{width}d}" for i in range(num_movies)]),
        user=(user + 1).astype(np.int32),
        movie=(movie + 1).astype(np.int32),
        rating=rating.astype(np.float32),
        timestamp=np.arange(num_interactions, dtype=np.int64),
        movie_features=genres,  # each movie's genre, one-hot; synthetic users have no features
    )
