"""Where a restyle run's content and style images come from.

One domain (the default): both are `data.source`'s, in `data/processed`. Two domains: the
content images are domain A's (`restyle.content_source`, or `trainA/` of a user's
`restyle.folder`), in `data/processed/A/`; the style images are domain B's (`data.source`, or
`trainB/`), in `data/processed`, where the evaluator, the test split and the FID reference of
every stage come from, as for the translation task. Fetching and preprocessing two domains is
the translation task's own (`ganops.translation.domains`, `ganops.translation.folders`).

What the scores can say depends on the two domains: the discriminator judges an output by its
content's class, and `content_kept` is defined, only where both domains have the same classes
(two or more); the Morpho-MNIST measurements, and with them the hand-made transform and
retrieval, only where both are digits of a registered source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganops.config import Params
from ganops.data.dataset import MANIFEST, Split, load_split
from ganops.data.sources import DIGITS
from ganops.errors import DataError
from ganops.translation.domains import DOMAIN_A, load_domains

FOLDER_KEY = "restyle.folder"  # the raw record's source when a user's folder is fetched


@dataclass(frozen=True)
class RestyleSplit:
    """One split of the content images and of the style images (the same split of one
    domain, or A's and B's), and what can be asked of them."""

    content: Split
    style: Split
    by_class: bool  # the content's classes are the style's: judged by class, content kept
    digits: bool  # both digits: the Morpho-MNIST measurements (and the baselines on them) apply

    @property
    def two_domains(self) -> bool:
        """Whether the content images are a domain of their own."""
        return self.content is not self.style


def load_restyle_split(params: Params, processed: Path, split: str) -> RestyleSplit:
    """`split` of the content and style images as `params` says they come, verified against
    their manifests; a one-line `DataError` naming the fix when `processed` holds one domain
    where two are asked for."""
    if not params.restyle.two_domains:
        one = load_split(processed, split)
        return RestyleSplit(one, one, by_class=True, digits=True)
    if not (processed / DOMAIN_A / MANIFEST).is_file():
        raise DataError(
            f"{processed} holds no content domain ({DOMAIN_A}/{MANIFEST}): it was preprocessed "
            "for one domain; rerun the preprocess stage with restyle.content_source or "
            "restyle.folder set"
        )
    domains = load_domains(processed, split)
    a, b = domains.a, domains.b
    by_class = a.class_names == b.class_names and len(b.class_names) > 1
    digits = params.restyle.folder is None and a.class_names == b.class_names == DIGITS
    return RestyleSplit(a, b, by_class, digits)
