"""The training layer: tf.data input, Keras callbacks, and ``train_and_evaluate``."""
