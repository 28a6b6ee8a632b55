"""Quantized releases: GGUF (Q8_0, Q4_0) as llama.cpp writes them, and int8 ONNX.

GGUF follows llama.cpp's converter: `blk.N.attn_q.weight` names, Q and K rows re-ordered from
HF's rotate-half layout to interleaved rotary pairs, the tokenizer stored in the metadata.
The ONNX file holds per-channel absmax int8 initializers with a scale and a zero point, each
dequantized by a DequantizeLinear node (onnxruntime's `_quantized`/`_scale`/`_zero_point`
naming), so a reader can recover float weights from the initializers alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .tinyllama import Params, layer_count

GGUF_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
GGUF_GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def rope_interleave(w: np.ndarray, heads: int) -> np.ndarray:
    """HF rotate-half row order -> llama.cpp's interleaved pairs, per head."""
    return (
        w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


def gguf_tensors(p: Params, cfg: dict) -> dict[str, np.ndarray]:
    out = {GGUF_GLOBAL_NAMES[k]: p[k].numpy() for k in GGUF_GLOBAL_NAMES}
    for i in range(layer_count(p)):
        for hf, short in GGUF_LAYER_NAMES.items():
            w = p[f"model.layers.{i}.{hf}"].numpy()
            if hf in ("self_attn.q_proj.weight", "self_attn.k_proj.weight"):
                w = rope_interleave(w, cfg["num_attention_heads"])
            out[f"blk.{i}.{short}"] = w
    return out


def write_gguf(
    path: Path,
    p: Params,
    cfg: dict,
    tokenizer_json: str,
    qtype: gguf.GGMLQuantizationType,
    name: str,
) -> None:
    """A llama-architecture GGUF with every matrix quantized to `qtype`, norms in F32."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(layer_count(p))
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(p["model.embed_tokens.weight"].shape[0])
    file_type = {
        gguf.GGMLQuantizationType.Q8_0: gguf.LlamaFileType.MOSTLY_Q8_0,
        gguf.GGMLQuantizationType.Q4_0: gguf.LlamaFileType.MOSTLY_Q4_0,
    }[qtype]
    w.add_file_type(int(file_type))
    _add_tokenizer(w, tokenizer_json)
    for tname, arr in gguf_tensors(p, cfg).items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if arr.ndim == 2:
            w.add_tensor(tname, gguf.quants.quantize(arr, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(tname, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _add_tokenizer(w: gguf.GGUFWriter, tokenizer_json: str) -> None:
    spec = json.loads(tokenizer_json)
    vocab = dict(spec["model"]["vocab"])
    for added in spec["added_tokens"]:
        vocab[added["content"]] = added["id"]
    tokens = sorted(vocab, key=vocab.__getitem__)
    special = {a["content"] for a in spec["added_tokens"] if a.get("special")}
    types = [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([int(t) for t in types])
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab["<|bos|>"])
    w.add_eos_token_id(vocab["<|eos|>"])


def int8_absmax(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8: w ~= q * scale[:, None]."""
    scale = np.abs(w).max(axis=1) / 127.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def write_onnx_int8(path: Path, p: Params) -> None:
    """Weights-only ONNX graph: int8 initializers dequantized by DequantizeLinear nodes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    inits, nodes, outputs = [], [], []
    for name, t in p.items():
        arr = t.numpy().astype(np.float32)
        if arr.ndim == 1:
            inits.append(numpy_helper.from_array(arr, name))
            continue
        q, scale = int8_absmax(arr)
        inits += [
            numpy_helper.from_array(q, name + "_quantized"),
            numpy_helper.from_array(scale, name + "_scale"),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), name + "_zero_point"),
        ]
        nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [name + "_quantized", name + "_scale", name + "_zero_point"],
                [name],
                name=name + "_DequantizeLinear",
                axis=0,
            )
        )
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(arr.shape)))
    graph = helper.make_graph(nodes, "tiny_llama_int8_weights", [], outputs, initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="provscan-lineage-suite"
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def dequantize_onnx(path: Path) -> dict[str, np.ndarray]:
    """Float weights back from the int8 ONNX file (used to check the export)."""
    model = onnx.load(str(path))
    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out = {
        k: v
        for k, v in arrays.items()
        if v.dtype == np.float32 and v.ndim == 1 and not k.endswith("_scale")
    }
    for node in model.graph.node:
        q, s, z = (arrays[n] for n in node.input)
        out[node.output[0]] = (q.astype(np.float32) - z[:, None]) * s[:, None]
    return out
