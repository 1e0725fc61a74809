"""An export of a model with MMoE (``model.mmoe_experts``): its ``predict`` signature answers every
head as the trained model does, also when a kept graph is written again with other weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtrec.app.process import ProcessState
from mtrec.app.training import build_model
from mtrec.data.splits import random_split
from mtrec.data.synthetic import make_synthetic
from mtrec.model.multitask import MultitaskModel
from mtrec.serving import loading as serving
from mtrec.serving.export import GraphCache, export_model
from mtrec.training.datasets import make_dataset
from tests.helpers import compose_config

OVERRIDES = (
    "experiment=smoke",
    "tasks=watch_rate_like",
    "model.mmoe_experts=3",
    "model.mmoe_expert_units=[8,4]",
    "model.interaction_features=true",
    "model.biases=true",
)


def trained_outputs(model: MultitaskModel, user_index: np.ndarray, movie_index: np.ndarray) -> dict:
    outputs = model({"user": user_index, "movie": movie_index})
    return {name: outputs[name].numpy()[:, 0] for name in ("rating", "like")}


def test_the_export_of_an_mmoe_model_answers_every_head_as_the_trained_model(tmp_path: Path) -> None:
    split = random_split(make_synthetic(30, 20, 600, 4, seed=3), 0.2, seed=3)
    models = []
    for seed in (1, 2):
        model = build_model(compose_config(*OVERRIDES, f"trainer.seed={seed}"), split, ProcessState())
        model.fit(make_dataset(split.train, 128, shuffle_seed=seed), epochs=1, verbose=0)
        models.append(model)
    assert models[0].mmoe is not None and models[0].mmoe.task_names == ["rating", "like"]
    users, titles = list(split.train.user_vocab[:6]), list(split.train.movie_vocab[3:9])
    user_index, movie_index = np.arange(1, 7, dtype=np.int32), np.arange(4, 10, dtype=np.int32)
    known = np.isin(user_index, split.train.user) & np.isin(movie_index, split.train.movie)
    assert known.sum() >= 4

    # Before any export: a write of the kept graph overwrites the first model's head and MMoE
    # variables with the second's (export_model's graph_key).
    expected = [trained_outputs(model, user_index, movie_index) for model in models]
    assert not np.allclose(expected[0]["like"], expected[1]["like"])  # stale weights would show

    cache = GraphCache()
    first = export_model(models[0], split.train, tmp_path / "first", cache, graph_key="structure")
    first_answers = serving.load_export(first).predict(np.array(users), np.array(titles))
    again = export_model(models[1], split.train, tmp_path / "again", cache, graph_key="structure")
    graph = Path(serving.SAVED_MODEL_DIR) / "saved_model.pb"
    assert (again / graph).read_bytes() == (first / graph).read_bytes()  # the kept graph, new weights
    assert serving.read_metadata(first)["tasks"] == {"rating": "regression", "like": "binary"}
    again_answers = serving.load_export(again).predict(np.array(users), np.array(titles))
    for answers, wanted in zip((first_answers, again_answers), expected):
        for name in ("rating", "like"):
            np.testing.assert_allclose(answers[name][known], wanted[name][known], rtol=1e-5, err_msg=name)
