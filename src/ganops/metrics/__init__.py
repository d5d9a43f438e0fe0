"""The evaluator network and the scores computed with its features.

- `evaluator`: the classifier (train, save, load, extract features and logits);
- `features`: a loaded evaluator's features of a set of images, and the checks on them;
- `scores`: FID, KID, precision/recall, IS analogue, coverage, copy check (a registry);
- `diversity`, `conditional`: intra-class diversity; conditional accuracy and CAS;
- `probe`: the quick scores during training; `evaluation`: the evaluate stage's computation;
- `morpho`: a digit's shape (Morpho-MNIST); `restyle_scores`: style moved from one image and
  the restyle baselines that need no GAN;
- `directions`: which way is better for each score (for reports).

    evaluator = load_evaluator(path)
    generated = feature_set(evaluator, images, batch_size, device)
    scores = score(generated, evaluator_reference(evaluator), cfg)   # {"fid": ..., ...}
"""
