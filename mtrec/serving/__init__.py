"""The serving layer: export a trained model as a string-id SavedModel, load it back, and serve it
as an MLflow pyfunc model.

Loading (:mod:`mtrec.serving.loading`, :mod:`mtrec.serving.pyfunc`) needs TensorFlow, pandas and
MLflow only: this file imports nothing, so a logged model's copy of the loading code stays small.
"""
