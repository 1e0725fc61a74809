"""Composes and validates experiment=smoke in a fresh process; prints whether TensorFlow loaded."""

import sys

from mtrec.config import validate
from tests.helpers import compose_config

validate(compose_config("experiment=smoke"))
print("tensorflow" in sys.modules)
