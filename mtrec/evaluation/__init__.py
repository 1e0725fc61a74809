"""The evaluation layer: metrics over held-out splits, per-user ranking metrics and baselines."""
