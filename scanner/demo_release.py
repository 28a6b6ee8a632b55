"""The example release of `provscan demo`, built at run time from real upstream material.

Nothing here is bundled: the code comes from the installed transformers package (its real
files and notices), the weights from numpy with a fixed seed. The release is what the 2025
case looked like: a card that declares apache-2.0 and no base model, a modeling file copied
with its notice replaced, Qwen configuration files with their notices, and weights that are
a light fine-tune of a small base model.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UsageError

PUBLISHER_NOTICE = "# Copyright 2025 Acme AI Labs. All rights reserved."
RELEASE_NAME = "acme-chat-1b"
BASE_NAME = "tiny-qwen2-base"
# (upstream path inside transformers, path in the release, notice replaced?)
COPIED = (
    ("models/llama/modeling_llama.py", "modeling_acme.py", True),
    ("models/qwen2/configuration_qwen2.py", "configuration_acme.py", False),
    ("models/qwen2/tokenization_qwen2.py", "tokenization_acme.py", False),
)
# The reference corpus: the copied files and their neighbours, at their package paths.
CORPUS = (
    "models/llama/modeling_llama.py",
    "models/llama/configuration_llama.py",
    "models/qwen2/configuration_qwen2.py",
    "models/qwen2/tokenization_qwen2.py",
    "models/qwen2/modeling_qwen2.py",
    "models/mistral/modeling_mistral.py",
)

HIDDEN, LAYERS, VOCAB, FFN, HEADS = 64, 4, 512, 176, 4


@dataclass(frozen=True)
class DemoRelease:
    release: Path
    """The release folder to scan."""
    base: Path
    """The base model the release was (silently) fine-tuned from."""
    corpus: Path
    """A folder of upstream transformers files to index as the reference corpus."""
    transformers_version: str


def transformers_root() -> tuple[Path, str]:
    """The installed transformers package and its version (the demo's upstream)."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(
            "the demo needs the transformers package (its source files are the example's "
            "upstream code; torch is not needed): pip install 'provscan[demo]', or from a "
            "checkout of provscan: pip install '.[demo]'"
        )
    from importlib.metadata import version

    return Path(next(iter(spec.submodule_search_locations))), version("transformers")


def apache_license_text() -> str | None:
    """The Apache-2.0 text as the installed transformers ships it, from its "Apache
    License" title on (the line above it is Hugging Face's own copyright)."""
    tf_root, _ = transformers_root()
    lic = next(tf_root.parent.glob("transformers-*.dist-info/licenses/LICENSE"), None)
    if lic is None:
        return None
    lines = lic.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "Apache License"), 0)
    return "".join(lines[start:])


def replace_first_notice(text: str, new_line: str) -> str:
    """The text with its first copyright line replaced (what a careless vendor does)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines[:20]):
        if "copyright" in line.lower():
            lines[i] = new_line + "\n"
            break
    return "".join(lines)


def _tensor_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (VOCAB, HIDDEN),
        "model.norm.weight": (HIDDEN,),
        "lm_head.weight": (VOCAB, HIDDEN),
    }
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        for proj in ("q", "k", "v", "o"):
            shapes[f"{p}self_attn.{proj}_proj.weight"] = (HIDDEN, HIDDEN)
        for proj in ("q", "k", "v"):
            shapes[f"{p}self_attn.{proj}_proj.bias"] = (HIDDEN,)
        shapes[f"{p}mlp.gate_proj.weight"] = (FFN, HIDDEN)
        shapes[f"{p}mlp.up_proj.weight"] = (FFN, HIDDEN)
        shapes[f"{p}mlp.down_proj.weight"] = (HIDDEN, FFN)
        shapes[f"{p}input_layernorm.weight"] = (HIDDEN,)
        shapes[f"{p}post_attention_layernorm.weight"] = (HIDDEN,)
    return shapes


def make_weights(seed: int) -> dict[str, np.ndarray]:
    """A tiny Qwen2-shaped checkpoint; per-layer scales vary so depth curves have shape."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, shape in _tensor_shapes().items():
        if name.endswith("norm.weight"):
            out[name] = (1.0 + 0.05 * rng.standard_normal(shape)).astype(np.float32)
            continue
        layer = int(name.split(".")[2]) if ".layers." in name else 0
        scale = 0.02 * (1.0 + 0.15 * layer) * rng.uniform(0.7, 1.3)
        out[name] = (scale * rng.standard_normal(shape)).astype(np.float32)
    return out


def fine_tune(
    base: dict[str, np.ndarray], seed: int, strength: float = 0.1
) -> dict[str, np.ndarray]:
    """base + small noise relative to each tensor's scale: what light fine-tuning leaves."""
    rng = np.random.default_rng(seed)
    return {
        k: (v + strength * float(v.std() or 1e-3) * rng.standard_normal(v.shape)).astype(np.float32)
        for k, v in base.items()
    }


def _config(name: str) -> dict[str, object]:
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "_name": name,
        "hidden_size": HIDDEN,
        "intermediate_size": FFN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "vocab_size": VOCAB,
        "torch_dtype": "float32",
    }


def _write_model(folder: Path, tensors: dict[str, np.ndarray], card: str, name: str) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(_config(name), indent=2) + "\n")
    (folder / "README.md").write_text(card)


def build_release(root: Path) -> DemoRelease:
    """Write the example release, its base model and the reference corpus under root (a
    new folder: the demo clears only what it wrote itself, demo.py)."""
    tf_root, tf_version = transformers_root()
    release, base, corpus = root / RELEASE_NAME, root / "base" / BASE_NAME, root / "corpus"

    base_tensors = make_weights(seed=1234)
    _write_model(
        base,
        base_tensors,
        name=BASE_NAME,
        card=(
            "---\nlicense: other\nlicense_name: qwen\nlicense_link: LICENSE\n---\n"
            f"# {BASE_NAME}\n\nA tiny base model (the demo's stand-in for a vendor's base).\n"
        ),
    )
    _write_model(
        release,
        fine_tune(base_tensors, seed=99),
        name=RELEASE_NAME,
        card=(
            "---\nlicense: apache-2.0\nlanguage: [en]\npipeline_tag: text-generation\n---\n"
            f"# {RELEASE_NAME}\n\nAcme's chat model, trained from scratch by Acme AI Labs.\n"
        ),
    )
    apache = apache_license_text()
    if apache is not None:
        (release / "LICENSE").write_text(apache, encoding="utf-8")
    for upstream, dest, replace in COPIED:
        text = (tf_root / upstream).read_text(encoding="utf-8")
        if replace:
            text = replace_first_notice(text, PUBLISHER_NOTICE)
        (release / dest).write_text(text, encoding="utf-8")
    for rel in CORPUS:
        src = tf_root / rel
        if src.is_file():
            (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, corpus / rel)
    return DemoRelease(release=release, base=base, corpus=corpus, transformers_version=tf_version)
