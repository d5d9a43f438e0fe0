"""What each stage does, per task: one module a stage, each with a table from the task's
name (`params.task`) to its function. The stage script looks its task up and calls it.

- `generate`: a GAN draws images from noise (the pipeline's first task);
- `translate`: a translator maps domain A's images into domain B's (docs/translation.md);
- `restyle`: a content image drawn in the style of a style image (docs/style.md);
- `text`: digits drawn from a caption (docs/text.md).

A third task is one function in each stage's module and one entry in its table (the train
stage has a second table, `CHECK_INPUTS`: what a task checks before torchrun starts its
processes), and its name in `ganops.config`; the stage scripts do not change. The evaluator
(train_evaluator) is the same for every task: the classifier of `data.source`.
"""
