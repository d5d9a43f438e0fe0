"""Text for images: captions made for digits (captions), their words (vocab), a user's
captioned images (layouts) and a model that says how well a caption fits an image (matching).
"""
