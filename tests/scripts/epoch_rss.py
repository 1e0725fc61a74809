"""Peak-RSS growth of one shuffled epoch of 2M synthetic rows; prints "rows growth_mb"."""

import resource

import mtrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before Keras loads)
from mtrec.data.synthetic import make_synthetic
from mtrec.training.datasets import make_dataset

rows = make_synthetic(3000, 5000, 2_000_000, 8, seed=1)
ds = make_dataset(rows, 8192, shuffle_seed=1)
next(iter(ds))  # TensorFlow and the pipeline started: the baseline.
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
num_rows = sum(len(batch["rating"]) for batch in ds)
print(num_rows, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
