"""Reference-guided translation (`task: restyle`): a content image drawn in the style of a
style image (docs/style.md)."""
