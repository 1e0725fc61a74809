"""MMoE: per-task softmax gates over shared experts, the mixtures' shapes and values, and a model
whose regression and binary heads read them while retrieval reads the embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mtrec.model.mmoe import MMoE
from mtrec.model.multitask import MultitaskModel
from mtrec.model.tasks.binary import BinaryTask
from mtrec.model.tasks.regression import RegressionTask
from mtrec.model.tasks.retrieval import RetrievalTask
from mtrec.model.towers import Towers

NUM_USERS, NUM_MOVIES, DIM = 4, 5, 3
FEATURES = {
    "user": tf.constant([1, 2, 3, 4, 1, 2], tf.int32),
    "movie": tf.constant([2, 5, 1, 3, 4, 4], tf.int32),
    "rating": tf.constant([4.0, 1.0, 5.0, 3.0, 2.0, 4.5]),
}


def embeddings(rows: int = 6, seed: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(seed)
    return (
        tf.constant(rng.normal(size=(rows, DIM)), tf.float32),
        tf.constant(rng.normal(size=(rows, DIM)), tf.float32),
    )


@pytest.mark.parametrize("interaction_features", [False, True])
def test_gates_are_per_task_softmax_weights_over_the_experts(interaction_features: bool) -> None:
    tf.keras.utils.set_random_seed(0)
    mmoe = MMoE(
        ["rating", "like"], DIM, num_experts=4, expert_units=[5, 2], interaction_features=interaction_features
    )
    users, movies = embeddings()
    gates = mmoe.gates(users, movies).numpy()
    assert gates.shape == (6, 2, 4)
    assert (gates > 0).all()
    np.testing.assert_allclose(gates.sum(axis=-1), 1.0, rtol=1e-6)
    # Two tasks, two gates: not the same weights.
    assert not np.allclose(gates[:, 0], gates[:, 1])
    assert mmoe.input_width == (3 if interaction_features else 2) * DIM
    assert mmoe.experts[0].layers[0].kernel.shape == (mmoe.input_width, 5)


def test_each_mixture_is_its_gates_weighted_sum_of_the_experts() -> None:
    tf.keras.utils.set_random_seed(1)
    mmoe = MMoE(["rating", "like", "click"], DIM, num_experts=3, expert_units=[4])
    users, movies = embeddings()
    mixtures = mmoe(users, movies)
    assert list(mixtures) == ["rating", "like", "click"]
    x = np.concatenate([users.numpy(), movies.numpy()], axis=1)
    experts = []
    for expert in mmoe.experts:
        kernel, bias = (w.numpy() for w in expert.layers[0].weights)
        experts.append(np.maximum(x @ kernel + bias, 0.0))  # [batch, 4]
    for t, name in enumerate(mmoe.task_names):
        logits = x @ mmoe.gate_layers[t].kernel.numpy()  # [batch, 3]
        gate = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        expected = sum(gate[:, k, None] * experts[k] for k in range(3))
        assert mixtures[name].shape == (6, 4)
        np.testing.assert_allclose(mixtures[name].numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [{"task_names": []}, {"num_experts": 0}, {"expert_units": []}],
    ids=["tasks", "experts", "units"],
)
def test_an_empty_mmoe_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="MMoE needs tasks, experts and expert units"):
        MMoE(
            **{
                "task_names": ["rating"],
                "embedding_dim": DIM,
                "num_experts": 2,
                "expert_units": [4],
                **kwargs,
            }
        )


def mixed_model(num_experts: int) -> MultitaskModel:
    tf.keras.utils.set_random_seed(0)
    sizes = {"num_users": NUM_USERS, "num_movies": NUM_MOVIES}
    width = 4 if num_experts else None
    tasks = [
        RegressionTask(**sizes, embedding_dim=DIM, rating_hidden_units=[4], mixture_width=width),
        BinaryTask(DIM, label="rating", name="like", threshold=4.0, hidden_units=[], mixture_width=width),
        RetrievalTask(NUM_MOVIES, DIM, top_k=[1, 2]),
    ]
    mmoe = (
        MMoE(["rating", "like"], DIM, num_experts=num_experts, expert_units=[6, 4]) if num_experts else None
    )
    model = MultitaskModel(Towers(**sizes, embedding_dim=DIM), tasks, mmoe=mmoe)
    model(FEATURES)
    return model


def test_heads_read_their_mixture_and_retrieval_the_embeddings() -> None:
    model = mixed_model(num_experts=3)
    outputs = model(FEATURES)
    assert outputs["rating"].shape == (6, 1) and outputs["like"].shape == (6, 1)
    mixtures = model.mmoe(outputs["user"], outputs["movie"])
    like = model.task("like")
    np.testing.assert_allclose(
        outputs["like"].numpy(), tf.sigmoid(like.head(mixtures["like"])).numpy(), rtol=1e-6
    )
    assert like.head.layers[0].kernel.shape == (4, 1)  # reads the 4-wide mixture, not [u, m]
    # The retrieval loss does not depend on the MMoE: its gradient there is None.
    with tf.GradientTape() as tape:
        batch = model.encode(FEATURES)
        loss = model.retrieval.compute_loss(batch, training=True)
    assert all(g is None for g in tape.gradient(loss, model.mmoe.trainable_variables))
    with tf.GradientTape() as tape:
        loss = model.compute_loss(FEATURES, training=True)
    gradients = tape.gradient(loss, model.mmoe.trainable_variables)
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in gradients)
    # 3 experts x 2 layers x (kernel, bias) + 2 gates' kernels, each once among the model's variables.
    assert len(model.mmoe.trainable_variables) == 14
    assert len({id(v) for v in model.trainable_variables}) == len(model.trainable_variables)


def test_without_mmoe_the_model_has_no_mixing_variables() -> None:
    plain, mixed = mixed_model(num_experts=0), mixed_model(num_experts=3)
    assert plain.mmoe is None
    assert not any("mmoe" in v.name for v in plain.variables)
    assert plain.task("like").head.layers[0].kernel.shape == (2 * DIM, 1)
    assert len(mixed.trainable_variables) == len(plain.trainable_variables) + 14


def test_heads_and_mmoe_must_agree_on_the_mixed_tasks_and_width() -> None:
    sizes = {"num_users": NUM_USERS, "num_movies": NUM_MOVIES}

    def model(width: int | None, mmoe: MMoE | None) -> MultitaskModel:
        tasks = [
            RegressionTask(**sizes, embedding_dim=DIM, rating_hidden_units=[4], mixture_width=width),
            RetrievalTask(NUM_MOVIES, DIM),
        ]
        return MultitaskModel(Towers(**sizes, embedding_dim=DIM), tasks, mmoe=mmoe)

    with pytest.raises(
        ValueError, match=r"read an MMoE mixture \{'rating': 4\} are not the MMoE's tasks \{\}"
    ):
        model(4, None)
    with pytest.raises(ValueError, match=r"\{\} are not the MMoE's tasks \{'rating': 4\}"):
        model(None, MMoE(["rating"], DIM, num_experts=2, expert_units=[4]))
    with pytest.raises(ValueError, match=r"\{'rating': 8\} are not the MMoE's tasks \{'rating': 4\}"):
        model(8, MMoE(["rating"], DIM, num_experts=2, expert_units=[4]))
    with pytest.raises(ValueError, match=r"\{'rating': 4\} are not the MMoE's tasks \{'like': 4\}"):
        model(4, MMoE(["like"], DIM, num_experts=2, expert_units=[4]))
    assert model(4, MMoE(["rating"], DIM, num_experts=2, expert_units=[4])).mmoe is not None
