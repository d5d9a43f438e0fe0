"""The code MLflow logs as the restyler model (models from code): the service it serves,
and the guard of the scoring server that loads it (`ganops.tracking.guard`). Its weights
come with the model (the `weights` and `spec` artifacts), never from this file."""

from mlflow.models import set_model

from ganops.tracking.guard import install
from ganops.tracking.restyler_serving import RestylerService

install()
set_model(RestylerService())
