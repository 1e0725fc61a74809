"""A loaded export's answers as DataFrames: the rows ``mtrec.serving.pyfunc`` returns to MLflow and
the predict commands print. Imports pandas and the loader, not MLflow."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mtrec.serving import loading


def ratings(
    model: loading.LoadedModel, user_ids: Any, movie_titles: Any, allow_unknown: bool, fix: str
) -> pd.DataFrame:
    """Every task's prediction for [n] (user, movie) pairs, one column per task (the tutorial's:
    ``rating``); ``fix`` ends the message for unknown ids.

    Raises:
      UnknownIdError: for an id outside the run's training data, unless ``allow_unknown``.
    """
    users, movies = _strings(user_ids), _strings(movie_titles)
    out = model.predict(users, movies)
    if not allow_unknown:
        loading.check_known("user", users, out["user_known"], model, fix)
        loading.check_known("movie", movies, out["movie_known"], model, fix)
    tasks = {name: out[name] for name in model.tasks}
    return pd.DataFrame(
        {
            "user_id": users,
            "movie_title": movies,
            **tasks,
            "user_known": out["user_known"],
            "movie_known": out["movie_known"],
        }
    )


def recommendations(
    model: loading.LoadedModel, user_ids: Any, k: int, exclude_seen: bool, allow_unknown: bool, fix: str
) -> pd.DataFrame:
    """The top ``k`` movies of [n] users, one row each, without ``-inf`` padding.

    Raises:
      UnknownIdError: for a user outside the run's training data, unless ``allow_unknown``.
    """
    users = _strings(user_ids)
    out = model.recommend(users, k, exclude_seen)
    if not allow_unknown:
        loading.check_known("user", users, out["user_known"], model, fix)
    k = out["titles"].shape[1]
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(users, k),
            "rank": np.tile(np.arange(1, k + 1), len(users)),
            "movie_title": out["titles"].ravel(),
            "score": out["scores"].ravel(),
            "user_known": np.repeat(out["user_known"], k),
        }
    )
    return frame[np.isfinite(frame["score"])].reset_index(drop=True)


def _strings(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=object).astype(str)
