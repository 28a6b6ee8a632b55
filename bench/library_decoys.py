"""Library entries generated from real fingerprints, to fill the 10,000-entry bench library.

Each decoy is made from a real fingerprint of the panel (bench/real), in one of three ways:

  other-model  the template's architecture and vocabulary with other weights: every sketch
               and form redrawn at random (norms kept), the spectra and std curves jittered,
               the anchor embeddings a mix of the template's (a random share, 20 to 60%,
               with the hidden units permuted and signs flipped) and noise: like an
               unrelated model trained on the same text with the same tokenizer, whose
               embedding geometry correlates 0.3 to 0.7 with the template's (all-MiniLM
               and all-mpnet score 0.49 on the real panel);
  derivative   another fine-tune of a base: every array plus noise of a relative size drawn
               from 2% to 30% (the real panel's fine-tunes move less than 1%);
  sub-vocab    other-model with a vocabulary sub-sampled to 50 to 90% of its tokens.

Every decoy is also sub-sampled to keep the bench library on disk in a few GB: layers 0 and
1 (what the index reads) and two more spaced through the depth, 128 anchor rows (or the
forms' anchors if more), and the 4,096 smallest vocabulary hashes (a bottom-k sample, which
keeps the index's vocabulary sketch exact). Candidate decoys are then cheaper to compare than a
full fingerprint would be; the bench says how many decoys were compared.
"""

from __future__ import annotations

import copy

import numpy as np

from scanner.weights.fingerprint import Fingerprint
from scanner.weights.fingerprint.vocab import VocabSample

KINDS = ("other-model", "derivative", "sub-vocab")
KEEP_ANCHORS = 128
KEEP_VOCAB = 4096


def decoy(template: Fingerprint, kind: str, seed: int, name: str) -> Fingerprint:
    rng = np.random.default_rng(seed)
    fp = _subsampled(template)
    fp.name = name
    if kind == "derivative":
        _derive(fp, rng, float(rng.uniform(0.02, 0.30)))
    else:
        _other_model(fp, rng)
        if kind == "sub-vocab":
            _sub_vocab(fp, rng, float(rng.uniform(0.5, 0.9)))
    for t in fp.tensors.values():
        t["hash"] = f"{int(rng.integers(1 << 32)):08x}"
    return fp


def _subsampled(src: Fingerprint) -> Fingerprint:
    fp = copy.deepcopy(src)
    n = fp.n_layers
    keep = {0, 1} | ({n // 2, n - 1} if n > 2 else set())
    fp.tensors = {k: v for k, v in fp.tensors.items() if k.layer < 0 or k.layer in keep}
    fp.sketches = {k: v for k, v in fp.sketches.items() if k.layer < 0 or k.layer in keep}
    fp.forms = {k: v for k, v in fp.forms.items() if k.layer < 0 or k.layer in keep}
    fp.spectra = {k: v for k, v in fp.spectra.items() if k.layer < 0 or k.layer in keep}
    k_form = max((f.shape[0] for f in fp.forms.values()), default=0)
    rows = max(KEEP_ANCHORS, k_form)
    fp.anchor_hashes = fp.anchor_hashes[:rows]
    if fp.anchor_embed is not None:
        fp.anchor_embed = fp.anchor_embed[:rows]
    if fp.vocab is not None and len(fp.vocab.hashes) > KEEP_VOCAB:
        # the smallest hashes: a bottom-k sample, as fingerprint format 6 keeps large ones
        v = fp.vocab
        fp.vocab = VocabSample(v.hashes[:KEEP_VOCAB], v.ids[:KEEP_VOCAB], v.size)
    fp.meta = dict(fp.meta, decoy_of=src.name)
    return fp


def _noise_like(a: np.ndarray, rng: np.random.Generator, rel: float) -> np.ndarray:
    scale = rel * float(np.linalg.norm(a)) / max(np.sqrt(a.size), 1.0)
    return (a + scale * rng.standard_normal(a.shape)).astype(np.float32)


def _derive(fp: Fingerprint, rng: np.random.Generator, rel: float) -> None:
    fp.sketches = {k: _noise_like(v, rng, rel) for k, v in fp.sketches.items()}
    fp.forms = {k: _unit(_noise_like(v, rng, 2 * rel)) for k, v in fp.forms.items()}
    fp.spectra = {
        k: np.sort(v * np.exp(rng.normal(0, rel / 4, v.shape)))[::-1].astype(np.float32)
        for k, v in fp.spectra.items()
    }
    if fp.anchor_embed is not None:
        fp.anchor_embed = _noise_like(fp.anchor_embed, rng, rel)
    for t in fp.tensors.values():
        t["std"] = float(t.get("std", 0.0)) * float(1 + rng.normal(0, rel / 10))


def _other_model(fp: Fingerprint, rng: np.random.Generator) -> None:
    fp.sketches = {
        k: (rng.standard_normal(v.shape) * np.linalg.norm(v) / np.sqrt(v.size)).astype(np.float32)
        for k, v in fp.sketches.items()
    }
    fp.forms = {
        k: _unit(rng.standard_normal(v.shape).astype(np.float32)) for k, v in fp.forms.items()
    }
    fp.spectra = {
        k: np.sort(v * np.exp(rng.normal(0, 0.3, v.shape)))[::-1].astype(np.float32)
        for k, v in fp.spectra.items()
    }
    if fp.anchor_embed is not None:
        e = fp.anchor_embed.astype(np.float32)
        mixed = e[:, rng.permutation(e.shape[1])] * rng.choice([-1.0, 1.0], e.shape[1])
        w = float(rng.uniform(0.2, 0.6))
        noise = rng.standard_normal(e.shape) * float(e.std())
        fp.anchor_embed = (np.sqrt(w) * mixed + np.sqrt(1 - w) * noise).astype(np.float32)
    for t in fp.tensors.values():
        t["std"] = float(t.get("std", 0.0)) * float(np.exp(rng.normal(0, 0.1)))
        t["mean"] = float(t.get("mean", 0.0)) + float(rng.normal(0, 1e-3))


def _sub_vocab(fp: Fingerprint, rng: np.random.Generator, share: float) -> None:
    if fp.vocab is None:
        return
    v = fp.vocab
    keep = rng.random(len(v.hashes)) < share
    size = int(keep.sum()) if v.complete else max(int(keep.sum()), round(v.size * share))
    fp.vocab = VocabSample(v.hashes[keep], v.ids[keep], size)
    kept = rng.random(len(fp.anchor_hashes)) < share
    kept[: max((f.shape[0] for f in fp.forms.values()), default=0)] = True  # forms' anchors
    fp.anchor_hashes = fp.anchor_hashes[kept]
    if fp.anchor_embed is not None:
        fp.anchor_embed = fp.anchor_embed[kept]


def _unit(x: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(x))
    return x / n if n > 0 else x
