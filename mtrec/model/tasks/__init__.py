"""Tasks: Keras layers that each own a head (if any), a loss and metrics (TFRS's design)."""
