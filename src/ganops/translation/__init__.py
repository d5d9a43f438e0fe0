"""Image-to-image translation: networks, training, scores."""
