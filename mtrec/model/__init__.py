"""The model layer: shared towers, tasks that own their loss and metrics, and the model composing
them. Plain arguments only (no config)."""
