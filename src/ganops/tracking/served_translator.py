"""The code MLflow logs as the translator model (models from code): the service it serves,
and the guard of the scoring server that loads it (`ganops.tracking.guard`). Its weights
come with the model (the `weights` and `spec` artifacts), never from this file."""

from mlflow.models import set_model

from ganops.tracking.guard import install
from ganops.tracking.translator_serving import TranslatorService

install()
set_model(TranslatorService())
