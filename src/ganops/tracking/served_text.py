"""The code MLflow logs as the text-to-image model (models from code): the service it serves,
and the guard of the scoring server that loads it (`ganops.tracking.guard`). Its weights and
vocabulary come with the model (the `model` artifact), never from this file."""

from mlflow.models import set_model

from ganops.tracking.guard import install
from ganops.tracking.text_serving import TextService

install()
set_model(TextService())
