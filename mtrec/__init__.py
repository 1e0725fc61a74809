"""mtrec: run and compare multitask recommender experiments (TFRS + Hydra + MLflow).

TensorFlow Recommenders 0.7 needs the Keras 2 API (the ``tf-keras`` package). TensorFlow reads
``TF_USE_LEGACY_KERAS`` once, on its first import, so it is set here, before any module of this
package can import TensorFlow. A user who already chose explicitly keeps their choice.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CPU feature notes, oneDNN notices) drowns the run's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# MLflow draws a progress bar for the few files it reads back while logging each run's model:
# noise on a sweep's terminal, one bar per job.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

__version__ = "0.1.0"
