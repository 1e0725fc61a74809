"""In-batch softmax cross-entropy that never materialises the [batch, batch] logits or labels.

TFRS's Retrieval task scores every query against every candidate of the batch, builds a dense
identity label matrix and applies a categorical cross-entropy summed over the batch. At batch 8192
that is four 256 MB matrices per step, written and read back from memory. The same loss (query i's
positive is candidate i) is computed here block by block: each block of queries is scored, its
softmax taken and its gradient contribution accumulated while the block is still in cache. The
forward pass computes the gradients too, so nothing of size [batch, batch] is kept for backprop.

Within one replica, the model first reduces the batch to its distinct users and movies
(:func:`grouped_in_batch_softmax_loss`): the same loss, over far fewer logits.
"""

from __future__ import annotations

import tensorflow as tf


def in_batch_softmax_loss(
    query_embeddings: tf.Tensor,
    candidate_embeddings: tf.Tensor,
    block_rows: int = 32,
    positive_offset: tf.Tensor | int = 0,
    candidate_log_q: tf.Tensor | None = None,
) -> tf.Tensor:
    """Sum over queries of ``logsumexp(q_i . C^T - log Q) - (q_i . c_p - log Q_p)``, p = offset + i,
    with exact gradients.

    Args:
      query_embeddings: [num_queries, dim] float32.
      candidate_embeddings: [num_candidates, dim] float32, num_candidates >= offset + num_queries;
        row ``positive_offset + i`` is query i's positive, every other row a negative.
      block_rows: queries scored at a time; [block_rows, num_candidates] is the largest
        intermediate (32 rows of 8192 candidates: 1 MB, one core's L2 cache here).
      positive_offset: where query 0's positive is (non-zero when the candidates are the
        global batch gathered from every replica, see :func:`global_in_batch_softmax_loss`).
      candidate_log_q: optional [num_candidates] log of each candidate's sampling probability,
        subtracted from its logits (the logQ correction of in-batch negatives; TFRS's
        ``candidate_sampling_probability``). No gradient flows into it.

    Returns:
      A scalar: the same value as TFRS's Retrieval loss (categorical cross-entropy with identity
      labels, summed over the batch, with the same logQ correction when it is given).
    """
    if candidate_log_q is None:
        candidate_log_q = tf.zeros(tf.shape(candidate_embeddings)[:1], candidate_embeddings.dtype)
    log_q = tf.stop_gradient(tf.cast(candidate_log_q, candidate_embeddings.dtype))
    num_queries = tf.shape(query_embeddings)[0]
    offset = tf.cast(positive_offset, tf.int32)
    positives = tf.reduce_sum(query_embeddings * candidate_embeddings[offset : offset + num_queries], axis=1)
    positives -= log_q[offset : offset + num_queries]
    normalizer = weighted_logsumexp(
        query_embeddings,
        tf.ones([num_queries], query_embeddings.dtype),
        candidate_embeddings,
        -log_q,
        block_rows,
    )
    return normalizer - tf.reduce_sum(positives)


def weighted_logsumexp(
    queries: tf.Tensor,
    weights: tf.Tensor,
    candidates: tf.Tensor,
    bias: tf.Tensor,
    block_rows: int = 32,
    num_scored: tf.Tensor | int | None = None,
) -> tf.Tensor:
    """``sum_i weights[i] * logsumexp_j(queries[i] . candidates[j] + bias[j])``, the softmax's
    normalizer, with exact gradients for the queries and candidates (none for weights and bias),
    computed block by block: no [queries, candidates] matrix is ever written to memory.

    Args:
      queries: [num_queries, dim] float32.
      weights: [num_queries] float32; a row of weight 0 adds nothing (padding).
      candidates: [num_candidates, dim] float32.
      bias: [num_candidates] float32 added to each candidate's logits; a large negative value
        (-1e30) takes a candidate out of every softmax (padding).
      block_rows: queries scored at a time.
      num_scored: only the first ``num_scored`` queries are scored (default: all); the rest are
        padding, which must have weight 0, and get no gradient. As a tensor it may differ from
        call to call without a new compilation: padding up to a few fixed shapes then costs no
        scoring.
    """
    weights, bias = tf.stop_gradient(weights), tf.stop_gradient(bias)

    @tf.custom_gradient
    def _normalizer(queries: tf.Tensor, candidates: tf.Tensor):
        # The gradients are computed in the forward pass: nothing for the tape to record in there.
        total, d_queries, d_candidates = _blocked_logsumexp_and_gradients(
            tf.stop_gradient(queries), weights, tf.stop_gradient(candidates), bias, block_rows, num_scored
        )

        def grad(upstream: tf.Tensor):
            return upstream * d_queries, upstream * d_candidates

        return total, grad

    return _normalizer(queries, candidates)


# One XLA program per (input shapes, block size), compiled once per process and shared by every
# model: XLA fuses each block's scoring, softmax and gradient into a few passes over a block that
# stays in cache (about the cost of the bare [batch, batch] logits matmul; TF's own ops are ~2.5x).
@tf.function(jit_compile=True, reduce_retracing=True)
def _blocked_logsumexp_and_gradients(
    queries: tf.Tensor,
    weights: tf.Tensor,
    candidates: tf.Tensor,
    bias: tf.Tensor,
    block_rows: int,
    num_scored: tf.Tensor | None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    num_queries = tf.shape(queries)[0]
    # Queries are padded to whole blocks (XLA needs static block shapes), with weight 0.
    # At least one block: a replica may get no rows of an epoch's last batch.
    padding = tf.maximum((num_queries + block_rows - 1) // block_rows, 1) * block_rows - num_queries
    # Given num_scored, the loop's trip count is a runtime value: blocks past it are not computed.
    # Without it (every query real: the every-id-distinct and multi-replica losses), the count follows
    # from the static shape, as it always did there.
    num_real = num_queries if num_scored is None else tf.cast(num_scored, tf.int32)
    num_blocks = tf.maximum((num_real + block_rows - 1) // block_rows, 1)
    padded = tf.pad(queries, [[0, padding], [0, 0]])
    padded_weights = tf.pad(weights, [[0, padding]])[:, None]

    def body(b, total, d_queries, d_candidates_t):
        rows = b * block_rows + tf.range(block_rows)
        q = tf.slice(padded, [b * block_rows, 0], [block_rows, -1])
        w = tf.slice(padded_weights, [b * block_rows, 0], [block_rows, 1])
        logits = tf.matmul(q, candidates, transpose_b=True) + bias[None, :]  # [block, candidates]
        row_max = tf.reduce_max(logits, axis=1, keepdims=True)
        exp = tf.exp(logits - row_max)
        row_sum = tf.reduce_sum(exp, axis=1, keepdims=True)
        total += tf.reduce_sum(w * (tf.math.log(row_sum) + row_max))
        d_logits = w * exp / row_sum
        d_queries = tf.tensor_scatter_nd_update(d_queries, rows[:, None], tf.matmul(d_logits, candidates))
        # Accumulated transposed: [dim, candidates] += q^T d_logits is a plain (fast) matmul.
        d_candidates_t += tf.matmul(q, d_logits, transpose_a=True)
        return b + 1, total, d_queries, d_candidates_t

    _, total, d_queries, d_candidates_t = tf.while_loop(
        lambda b, *_: b < num_blocks,
        body,
        (
            tf.constant(0),
            tf.zeros((), queries.dtype),
            tf.zeros_like(padded),
            tf.zeros_like(tf.transpose(candidates)),
        ),
    )
    return total, d_queries[:num_queries], tf.transpose(d_candidates_t)


# Up to this many [distinct queries, distinct candidates] logits the grouped loss is computed
# densely by TF's own ops (16 MB of float32 per intermediate; no compilation). Larger ones go
# through the blocked kernel, their sizes rounded up so that XLA compiles it for a few shapes
# only: the queries to QUERY_BUCKET (padded queries are not scored: the kernel's loop stops at
# the last real one), the candidates to the finer CANDIDATE_BUCKET (every block scores them all).
MAX_DENSE_LOGITS = 1 << 22
QUERY_BUCKET = 1024
CANDIDATE_BUCKET = 256


def grouped_in_batch_softmax_loss(
    queries: tf.Tensor,
    query_index: tf.Tensor,
    candidates: tf.Tensor,
    candidate_index: tf.Tensor,
    candidate_log_q: tf.Tensor | None = None,
    max_dense_logits: int = MAX_DENSE_LOGITS,
    num_ids: tuple[int, int] | None = None,
    row_weights: tf.Tensor | None = None,
) -> tf.Tensor:
    """:func:`in_batch_softmax_loss` of a batch whose rows repeat users and movies, from the
    distinct ones: the same value and gradients, at a fraction of the cost.

    Row i's query is ``queries[query_index[i]]`` and its positive ``candidates[candidate_index[i]]``
    (``tf.unique`` of the batch's ids). In the batch's [batch, batch] logits, rows of the same
    query are equal and so are columns of the same candidate, so the summed cross-entropy is

        sum_u n_u * logsumexp_v(q_u . c_v - log Q_v + log m_v) - sum_i (q_a(i) . c_b(i) - log Q_b(i))

    with n_u rows of query u and m_v of candidate v: a [distinct queries, distinct candidates]
    softmax instead of [batch, batch]. A batch of 8192 MovieLens-100K ratings has ~900 distinct
    users and ~1,200 distinct movies: 1/60 of the work. Small ones are scored densely, larger ones
    (a bigger catalogue: up to [batch, batch] when every id is distinct) by the blocked kernel.

    Args:
      queries: [num_unique_queries, dim] float32.
      query_index: [batch] int32, row i's query.
      candidates: [num_unique_candidates, dim] float32.
      candidate_index: [batch] int32, row i's positive candidate.
      candidate_log_q: optional [num_unique_candidates] logQ correction of each candidate.
      max_dense_logits: the largest [distinct queries, distinct candidates] matrix scored densely.
      num_ids: how many query and candidate ids there are (the vocabulary sizes), when known: if
        every batch fits ``max_dense_logits``, the blocked path is not even traced.
      row_weights: optional [batch] weight of each row's cross-entropy (TFRS's ``sample_weight``):
        a row of weight 0 is no query, but its movie is still every query's in-batch negative.
        With weights, n_u is the summed weight of query u's rows.

    Returns:
      A scalar: TFRS's Retrieval loss of the batch's rows (summed over the batch).
    """
    if candidate_log_q is None:
        candidate_log_q = tf.zeros(tf.shape(candidates)[:1], candidates.dtype)
    log_q = tf.stop_gradient(tf.cast(candidate_log_q, candidates.dtype))
    batch = tf.shape(query_index)[0]
    num_queries, num_candidates = tf.shape(queries)[0], tf.shape(candidates)[0]
    ones = tf.ones([batch], queries.dtype)
    weights = ones if row_weights is None else tf.stop_gradient(tf.cast(row_weights, queries.dtype))
    query_counts = tf.math.unsorted_segment_sum(weights, query_index, num_queries)
    candidate_counts = tf.math.unsorted_segment_sum(ones, candidate_index, num_candidates)
    bias = tf.math.log(candidate_counts) - log_q
    positives = tf.reduce_sum(
        tf.gather(queries, query_index) * tf.gather(candidates, candidate_index), axis=1
    )
    positives -= tf.gather(log_q, candidate_index)
    positives = tf.reduce_sum(positives if row_weights is None else weights * positives)

    def dense() -> tf.Tensor:
        logits = tf.matmul(queries, candidates, transpose_b=True) + bias[None, :]
        return tf.reduce_sum(query_counts * tf.reduce_logsumexp(logits, axis=1)) - positives

    def blocked() -> tf.Tensor:
        def padding(n: tf.Tensor, bucket: int) -> tf.Tensor:
            return (n + bucket - 1) // bucket * bucket - n

        query_padding = padding(num_queries, QUERY_BUCKET)
        candidate_padding = padding(num_candidates, CANDIDATE_BUCKET)
        normalizer = weighted_logsumexp(
            tf.pad(queries, [[0, query_padding], [0, 0]]),
            tf.pad(query_counts, [[0, query_padding]]),
            tf.pad(candidates, [[0, candidate_padding], [0, 0]]),
            tf.pad(bias, [[0, candidate_padding]], constant_values=-1e30),
            num_scored=num_queries,
        )
        return normalizer - positives

    if num_ids is not None and num_ids[0] * num_ids[1] <= max_dense_logits:
        return dense()
    num_logits = tf.cast(num_queries, tf.int64) * tf.cast(num_candidates, tf.int64)
    return tf.cond(num_logits <= max_dense_logits, dense, blocked)


def global_in_batch_softmax_loss(
    query_embeddings: tf.Tensor, candidate_embeddings: tf.Tensor, candidate_log_q: tf.Tensor | None = None
) -> tf.Tensor:
    """This replica's share of the in-batch softmax loss over the global batch.

    Under a ``tf.distribute`` strategy with several replicas, each replica's queries are scored
    against the candidates of every replica (gathered, with gradients flowing back to their
    owners), so the negatives are those of the global batch, as on one device. The sum of the
    replicas' returned values is the one-device loss of the global batch, and the sum of their
    gradients (what the optimizer applies) its gradient. With one replica this is
    :func:`in_batch_softmax_loss`.

    Args:
      query_embeddings: [per_replica_batch, dim] float32.
      candidate_embeddings: [per_replica_batch, dim] float32; row i is query i's positive.
      candidate_log_q: optional [per_replica_batch] logQ correction of each candidate.

    Returns:
      A scalar: the loss summed over this replica's queries.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return in_batch_softmax_loss(query_embeddings, candidate_embeddings, candidate_log_q=candidate_log_q)
    # Replicas may hold batches of different sizes (the last batch of an epoch).
    sizes = context.all_gather(tf.shape(query_embeddings)[:1], axis=0)
    offset = tf.reduce_sum(sizes[: context.replica_id_in_sync_group])
    candidates = context.all_gather(candidate_embeddings, axis=0)
    if candidate_log_q is not None:
        candidate_log_q = context.all_gather(candidate_log_q, axis=0)
    return in_batch_softmax_loss(
        query_embeddings, candidates, positive_offset=offset, candidate_log_q=candidate_log_q
    )


def global_batch_size(local_batch_size: tf.Tensor) -> tf.Tensor:
    """The batch size summed over every replica, as float32 (the local size without a strategy).

    Exact where replicas get batches of different sizes (an epoch's last batch; some may be empty),
    which ``num_replicas * local_batch_size`` is not.
    """
    local = tf.cast(local_batch_size, tf.float32)
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return local
    return context.all_reduce(tf.distribute.ReduceOp.SUM, local)
