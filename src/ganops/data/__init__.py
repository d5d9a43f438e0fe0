"""Data: named sources (fetch), preprocessing (split + manifest), the training tensor."""
