"""In-batch softmax cross-entropy that never materialises the [batch, batch] logits or labels.

TFRS's Retrieval task scores every query against every candidate of the batch, builds a dense
identity label matrix and applies a categorical cross-entropy summed over the batch. At batch 8192
that is four 256 MB matrices per step, written and read back from memory. The same loss (query i's
positive is candidate i) is computed here block by block: each block of queries is scored, its
softmax taken and its gradient contribution accumulated while the block is still in cache. The
forward pass computes the gradients too, so nothing of size [batch, batch] is kept for backprop.
"""

from __future__ import annotations

import tensorflow as tf


def in_batch_softmax_loss(
    query_embeddings: tf.Tensor,
    candidate_embeddings: tf.Tensor,
    block_rows: int = 256,
    candidate_log_q: tf.Tensor | None = None,
) -> tf.Tensor:
    """Sum over queries of ``logsumexp(q_i . C^T - log Q) - (q_i . c_i - log Q_i)``, exact gradients.

    Args:
      query_embeddings: [num_queries, dim] float32.
      candidate_embeddings: [num_candidates, dim] float32, num_candidates >= num_queries; row i is
        query i's positive, every other row a negative.
      block_rows: queries scored at a time; [block_rows, num_candidates] is the largest
        intermediate.
      candidate_log_q: optional [num_candidates] log of each candidate's sampling probability,
        subtracted from its logits (the logQ correction of in-batch negatives; TFRS's
        ``candidate_sampling_probability``). No gradient flows into it.

    Returns:
      A scalar: the same value as TFRS's Retrieval loss (categorical cross-entropy with identity
      labels, summed over the batch, with the same logQ correction when it is given).
    """
    if candidate_log_q is None:
        candidate_log_q = tf.zeros(tf.shape(candidate_embeddings)[:1], candidate_embeddings.dtype)
    log_q = tf.stop_gradient(candidate_log_q)[None, :]

    @tf.custom_gradient
    def _loss(queries: tf.Tensor, candidates: tf.Tensor):
        num_queries = tf.shape(queries)[0]
        rows = tf.minimum(num_queries, block_rows)
        num_blocks = (num_queries + rows - 1) // rows

        def body(b, total, d_queries, d_candidates):
            start = b * rows
            size = tf.minimum(rows, num_queries - start)
            q = queries[start : start + size]
            logits = tf.matmul(q, candidates, transpose_b=True) - log_q  # [size, num_candidates]
            positives = tf.range(start, start + size)
            # Fused softmax + cross-entropy: per-row losses and d(loss)/d(logits) in one kernel.
            losses, d_logits = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(
                features=logits, labels=positives
            )
            d_queries = d_queries.write(b, tf.matmul(d_logits, candidates))
            d_candidates += tf.matmul(d_logits, q, transpose_a=True)
            return b + 1, total + tf.reduce_sum(losses), d_queries, d_candidates

        _, total, d_queries, d_candidates = tf.while_loop(
            lambda b, *_: b < num_blocks,
            body,
            (
                tf.constant(0),
                tf.constant(0.0, queries.dtype),
                tf.TensorArray(queries.dtype, size=num_blocks, infer_shape=False),
                tf.zeros_like(candidates),
            ),
        )
        d_queries = d_queries.concat()

        def grad(upstream: tf.Tensor):
            return upstream * d_queries, upstream * d_candidates

        return total, grad

    return _loss(query_embeddings, candidate_embeddings)
