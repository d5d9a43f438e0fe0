"""The code MLflow logs as the generator model (models from code): the service it serves,
and the guard of the scoring server that loads it (`ganops.tracking.guard`). Its weights
come with the model (the `generator` artifact), never from this file."""

from mlflow.models import set_model

from ganops.tracking.guard import install
from ganops.tracking.serving import GeneratorService

install()
set_model(GeneratorService())
