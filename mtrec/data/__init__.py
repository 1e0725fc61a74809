"""The data layer: sources (GroupLens files, TFDS, synthetic) -> one interactions table -> splits.

Needs no TensorFlow (except the TFDS source) and reads no config: bad data fails before TF starts.
"""
