"""ganops: a reproducible GAN pipeline (DVC stages, MLflow tracking, PyTorch models)."""

__version__ = "0.1.0"
