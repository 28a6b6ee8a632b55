"""A synth Llama state dict written as a GGUF file with llama.cpp's tensor names."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np

_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_SHORT = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def write_gguf(
    path: Path,
    tensors: dict[str, np.ndarray],
    tokenizer_json: str,
    heads: int,
    kv: int,
    quant: gguf.GGMLQuantizationType | None = None,
) -> None:
    """`quant`: the type of the 2-D tensors (None: float32, as they are)."""
    layers = 1 + max(int(k.split(".")[2]) for k in tensors if k.startswith("model.layers."))
    w = gguf.GGUFWriter(str(path), "qwen2")  # no rotary re-ordering for this architecture
    w.add_embedding_length(int(tensors["model.embed_tokens.weight"].shape[1]))
    w.add_block_count(layers)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_tokenizer_model("gpt2")  # byte-level BPE tokens, as llama.cpp stores them
    w.add_token_list(
        [
            t
            for t, _ in sorted(
                json.loads(tokenizer_json)["model"]["vocab"].items(), key=lambda kv: kv[1]
            )
        ]
    )
    for k, v in tensors.items():
        if k in _NAMES:
            gname = _NAMES[k]
        else:
            layer = k.split(".")[2]
            mid = k.split(f"layers.{layer}.")[1].rsplit(".weight", 1)[0]
            gname = f"blk.{layer}.{_SHORT[mid]}.weight"
        if v.ndim == 2 and quant is not None:
            w.add_tensor(gname, gguf.quants.quantize(v, quant), raw_dtype=quant)
        else:
            w.add_tensor(gname, np.ascontiguousarray(v, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
