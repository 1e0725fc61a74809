"""mtrec: run and compare multitask recommender experiments (TFRS + Hydra + MLflow).

TensorFlow Recommenders 0.7 needs the Keras 2 API (the ``tf-keras`` package). TensorFlow reads
``TF_USE_LEGACY_KERAS`` once, on its first import, so it is set here, before any module of this
package can import TensorFlow. A user who already chose explicitly keeps their choice.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CPU feature notes, oneDNN notices) drowns the run's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
