"""What MLflow runs to load an mtrec pyfunc model ("models from code"); see ``mtrec.serving.pyfunc``.

Never imported by mtrec itself: ``set_model`` registers the model globally, which only MLflow's
loader wants.
"""

from mlflow.models import set_model

from mtrec.serving.pyfunc import MtrecPyfunc

set_model(MtrecPyfunc())
