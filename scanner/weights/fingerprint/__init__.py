"""The fingerprint: everything the signals compare, extracted in one streaming pass.

A model is compared through its fingerprint, whether the other side is a live checkpoint
or a saved .npz file, so `compare A B` and `scan --against FP` use the same evidence:
per-tensor statistics and count sketches (direct cosine, std curve), embedding rows of
anchor tokens (the tokens with the smallest public string hash: two vocabularies that share
tokens share most anchors), per-layer bilinear forms of QK / OV / MLP products evaluated on
those anchors (free of the residual basis: survive permutation, rotation with norm gains
folded, per-layer rescaling), per-head singular-value spectra, and the vocabulary hashes.

data.py: the Fingerprint, its keys and its file; extraction.py: the pass; reading.py: the
reads it makes (in worker threads); forms.py: the per-layer forms.
"""

from .data import FORMAT_VERSION, Fingerprint, FormKey, is_fingerprint_file
from .extraction import extract, fingerprint_of

__all__ = [
    "FORMAT_VERSION",
    "Fingerprint",
    "FormKey",
    "extract",
    "fingerprint_of",
    "is_fingerprint_file",
]
