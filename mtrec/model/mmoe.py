"""Multi-gate Mixture-of-Experts (Ma et al. 2018, "Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts"), between the shared embeddings and the task heads.

K expert MLPs read the representation the regression and binary heads read without MMoE (each
row's ``[u, m]``, or ``[u, m, u * m]`` with interaction features); each of those tasks has its
own softmax gate over the experts, and its head reads the gate's mixture of the experts' outputs.
The retrieval task is not mixed: it scores the towers' embeddings directly (its dot product
needs a user and a movie vector in one space, which a mixture of the pair is not).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from mtrec.model.tasks.base import head_input_width, head_inputs


class MMoE(tf.keras.layers.Layer):
    """Shared experts and one softmax gate per task over them.

    For a row's input ``x`` ([u, m] concatenated), expert ``k``'s output is ``e_k(x)`` (an MLP of
    ReLU layers), task ``t``'s gate is ``g_t(x) = softmax(W_t x)`` over the K experts (no bias,
    as in the paper) and task ``t``'s head reads ``sum_k g_t(x)[k] * e_k(x)``.
    """

    def __init__(
        self,
        task_names: Sequence[str],
        embedding_dim: int,
        num_experts: int,
        expert_units: Sequence[int] = (64,),
        interaction_features: bool = False,
    ) -> None:
        """Creates the experts and gates, with their weights.

        Args:
          task_names: the mixed tasks (one gate each), in the order of :meth:`call`'s outputs.
          embedding_dim: size of the shared user and movie embeddings.
          num_experts: K, the number of shared experts (>= 1).
          expert_units: ReLU layer sizes of each expert; the last is the mixture's width, which
            each task's head reads.
          interaction_features: the experts read ``[u, m, u * m]`` instead of ``[u, m]``.

        Raises:
          ValueError: no task, no expert or an empty ``expert_units``.
        """
        super().__init__(name="mmoe")
        if not task_names or num_experts < 1 or not expert_units:
            raise ValueError(
                f"MMoE needs tasks, experts and expert units (got {list(task_names)}, "
                f"{num_experts}, {list(expert_units)})"
            )
        self.task_names = list(task_names)
        self.num_experts = num_experts
        self.interaction_features = interaction_features
        self.input_width = head_input_width(embedding_dim, interaction_features, None)
        self.output_width = int(expert_units[-1])
        self.experts = []
        for _ in range(num_experts):
            expert = tf.keras.Sequential(
                [tf.keras.layers.Dense(units, activation="relu") for units in expert_units]
            )
            expert.build((None, self.input_width))
            self.experts.append(expert)
        self.gate_layers = []
        for _ in self.task_names:
            gate = tf.keras.layers.Dense(num_experts, use_bias=False)
            gate.build((None, self.input_width))
            self.gate_layers.append(gate)

    def inputs(self, user_embeddings: tf.Tensor, movie_embeddings: tf.Tensor) -> tf.Tensor:
        """[batch, dim] x [batch, dim] -> [batch, input_width]: what the experts and gates read."""
        return head_inputs(user_embeddings, movie_embeddings, self.interaction_features)

    def gates(self, user_embeddings: tf.Tensor, movie_embeddings: tf.Tensor) -> tf.Tensor:
        """[batch, num_tasks, num_experts]: each task's softmax weights over the experts (each
        row sums to 1 over the experts)."""
        x = self.inputs(user_embeddings, movie_embeddings)
        return tf.stack([tf.nn.softmax(gate(x), axis=-1) for gate in self.gate_layers], axis=1)

    def expert_outputs(self, user_embeddings: tf.Tensor, movie_embeddings: tf.Tensor) -> tf.Tensor:
        """[batch, num_experts, output_width]: every expert's output."""
        x = self.inputs(user_embeddings, movie_embeddings)
        return tf.stack([expert(x) for expert in self.experts], axis=1)

    def call(self, user_embeddings: tf.Tensor, movie_embeddings: tf.Tensor) -> dict[str, tf.Tensor]:
        """[batch, dim] x [batch, dim] -> {task name: [batch, output_width] its gate's mixture}."""
        # [batch, num_tasks, num_experts] x [batch, num_experts, output_width]
        mixtures = tf.matmul(
            self.gates(user_embeddings, movie_embeddings),
            self.expert_outputs(user_embeddings, movie_embeddings),
        )
        return {name: mixtures[:, i] for i, name in enumerate(self.task_names)}
