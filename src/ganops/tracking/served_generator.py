"""The code MLflow logs as the generator model (models from code): the service it serves.
Its weights come with the model (the `generator` artifact), never from this file."""

from mlflow.models import set_model

from ganops.tracking.serving import GeneratorService

set_model(GeneratorService())
