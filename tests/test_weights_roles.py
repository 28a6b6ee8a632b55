"""Canonical roles across families (names as each family's checkpoints spell them)."""

from __future__ import annotations

import numpy as np
import pytest

from scanner.weights.formats.interface import TensorMeta
from scanner.weights.roles import CanonLoader, Heads, RoleKey, map_roles

H = Heads(n_heads=4, n_kv=2, head_dim=8)


def _roles(
    names: list[str], shapes: dict[str, tuple[int, ...]] | None = None, heads: Heads = H
) -> dict[str, RoleKey]:
    metas = [TensorMeta(n, "F32", (shapes or {}).get(n, (32, 32)), "f") for n in names]
    canon, unknown = map_roles(metas, heads)
    assert not unknown, unknown
    return {c.key.label(): c.key for c in canon}


@pytest.mark.parametrize("prefix", ["model.", "model.language_model."])
def test_llama_qwen2_mistral_gemma_names(prefix: str) -> None:
    p = f"{prefix}layers.3."
    got = _roles(
        [
            f"{prefix}embed_tokens.weight",
            f"{prefix}norm.weight",
            "lm_head.weight",
            p + "self_attn.q_proj.weight",
            p + "self_attn.q_proj.bias",
            p + "self_attn.k_proj.weight",
            p + "self_attn.v_proj.weight",
            p + "self_attn.o_proj.weight",
            p + "mlp.gate_proj.weight",
            p + "mlp.up_proj.weight",
            p + "mlp.down_proj.weight",
            p + "input_layernorm.weight",
            p + "post_attention_layernorm.weight",
            p + "self_attn.q_norm.weight",
        ]
    )
    assert set(got) == {
        "embed",
        "final_norm",
        "lm_head",
        "attn_q@3",
        "attn_q_bias@3",
        "attn_k@3",
        "attn_v@3",
        "attn_o@3",
        "mlp_gate@3",
        "mlp_up@3",
        "mlp_down@3",
        "attn_norm@3",
        "mlp_norm@3",
        "q_norm@3",
    }


def test_moe_families_have_experts_and_routers() -> None:
    qwen = _roles(
        [
            "model.layers.1.mlp.experts.7.gate_proj.weight",
            "model.layers.1.mlp.experts.7.down_proj.weight",
            "model.layers.1.mlp.gate.weight",
            "model.layers.1.mlp.shared_expert.up_proj.weight",
            "model.layers.1.mlp.shared_expert_gate.weight",
        ]
    )
    assert set(qwen) == {
        "expert_gate@1#e7",
        "expert_down@1#e7",
        "router@1",
        "shared_up@1",
        "shared_router@1",
    }
    mixtral = _roles(
        [
            "model.layers.0.block_sparse_moe.experts.2.w1.weight",
            "model.layers.0.block_sparse_moe.experts.2.w2.weight",
            "model.layers.0.block_sparse_moe.experts.2.w3.weight",
            "model.layers.0.block_sparse_moe.gate.weight",
        ]
    )
    assert set(mixtral) == {"expert_gate@0#e2", "expert_down@0#e2", "expert_up@0#e2", "router@0"}
    deepseek = _roles(
        [
            "model.layers.5.self_attn.q_a_proj.weight",
            "model.layers.5.self_attn.q_b_proj.weight",
            "model.layers.5.self_attn.kv_a_proj_with_mqa.weight",
            "model.layers.5.self_attn.kv_b_proj.weight",
            "model.layers.5.mlp.shared_experts.down_proj.weight",
            "model.layers.5.mlp.gate.e_score_correction_bias",
        ]
    )
    assert set(deepseek) == {
        "attn_q_a@5",
        "attn_q_b@5",
        "attn_kv_a@5",
        "attn_kv_b@5",
        "shared_down@5",
        "router_bias@5",
    }


def test_gguf_names_and_stacked_experts() -> None:
    got = _roles(
        [
            "token_embd.weight",
            "output_norm.weight",
            "output.weight",
            "blk.2.attn_q.weight",
            "blk.2.attn_output.weight",
            "blk.2.ffn_down.weight",
            "blk.2.attn_norm.weight",
            "blk.2.ffn_norm.weight",
            "blk.2.ffn_gate_exps.weight",
            "blk.2.ffn_gate_inp.weight",
        ],
        {"blk.2.ffn_gate_exps.weight": (3, 64, 32)},
    )
    assert {
        "embed",
        "final_norm",
        "lm_head",
        "attn_q@2",
        "attn_o@2",
        "mlp_down@2",
        "attn_norm@2",
        "mlp_norm@2",
        "router@2",
    } <= set(got)
    assert {"expert_gate@2#e0", "expert_gate@2#e1", "expert_gate@2#e2"} <= set(got)


class _Reader:
    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    def read(self, name: str) -> np.ndarray:
        return self.arrays[name]


def test_gpt2_fused_transposed_qkv_is_split() -> None:
    d = 32
    w = np.random.default_rng(0).standard_normal((d, 3 * d)).astype(np.float32)  # Conv1D
    metas = [
        TensorMeta("transformer.h.0.attn.c_attn.weight", "F32", w.shape, "f"),
        TensorMeta("transformer.h.0.mlp.c_fc.weight", "F32", (d, 4 * d), "f"),
        TensorMeta("transformer.wte.weight", "F32", (100, d), "f"),
        TensorMeta("transformer.ln_f.weight", "F32", (d,), "f"),
    ]
    canon, unknown = map_roles(metas, Heads(4, 4, 8))
    assert not unknown
    by = {c.key.label(): c for c in canon}
    assert by["mlp_up@0"].shape == (4 * d, d)
    loader = CanonLoader(_Reader({"transformer.h.0.attn.c_attn.weight": w}), Heads(4, 4, 8))
    q, k, v = (loader.load(by[f"attn_{x}@0"]) for x in "qkv")
    np.testing.assert_array_equal(q, w.T[:d])
    np.testing.assert_array_equal(v, w.T[2 * d :])
    assert k.shape == (d, d)


def test_neox_interleaved_qkv_and_phi3_fused_projections_are_split() -> None:
    heads = Heads(4, 4, 8)
    d = 32
    w = np.arange(3 * d * d, dtype=np.float32).reshape(3 * d, d)
    metas = [
        TensorMeta("gpt_neox.layers.1.attention.query_key_value.weight", "F32", w.shape, "f"),
        TensorMeta("gpt_neox.embed_in.weight", "F32", (50, d), "f"),
        TensorMeta("embed_out.weight", "F32", (50, d), "f"),
        TensorMeta("gpt_neox.layers.1.mlp.dense_4h_to_h.weight", "F32", (d, 4 * d), "f"),
    ]
    canon, unknown = map_roles(metas, heads)
    assert not unknown
    by = {c.key.label(): c for c in canon}
    loader = CanonLoader(_Reader({metas[0].name: w}), heads)
    k = loader.load(by["attn_k@1"])
    per_head = w.reshape(4, 3, 8, d)
    np.testing.assert_array_equal(k, per_head[:, 1].reshape(-1, d))
    gqa = Heads(4, 2, 8)
    phi = [
        TensorMeta("model.layers.0.self_attn.qkv_proj.weight", "F32", (32 + 16 + 16, d), "f"),
        TensorMeta("model.layers.0.mlp.gate_up_proj.weight", "F32", (2 * 64, d), "f"),
    ]
    canon, _ = map_roles(phi, gqa)
    shapes = {c.key.label(): c.shape for c in canon}
    assert shapes == {
        "attn_q@0": (32, d),
        "attn_k@0": (16, d),
        "attn_v@0": (16, d),
        "mlp_gate@0": (64, d),
        "mlp_up@0": (64, d),
    }


def test_bert_and_phi_names() -> None:
    bert = _roles(
        [
            "bert.embeddings.word_embeddings.weight",
            "bert.encoder.layer.4.attention.self.query.weight",
            "bert.encoder.layer.4.attention.output.dense.weight",
            "bert.encoder.layer.4.intermediate.dense.weight",
            "bert.encoder.layer.4.output.dense.weight",
            "bert.encoder.layer.4.output.LayerNorm.bias",
        ]
    )
    assert set(bert) == {
        "embed",
        "attn_q@4",
        "attn_o@4",
        "mlp_up@4",
        "mlp_down@4",
        "post_mlp_norm_bias@4",
    }
    phi = _roles(
        [
            "model.layers.0.self_attn.dense.weight",
            "model.layers.0.mlp.fc1.weight",
            "model.layers.0.mlp.fc2.weight",
            "model.final_layernorm.weight",
        ]
    )
    assert set(phi) == {"attn_o@0", "mlp_up@0", "mlp_down@0", "final_norm"}


@pytest.mark.parametrize("wrapper", ["", "0.auto_model.", "model.0.auto_model.", "inner."])
def test_mpnet_attention_and_norms_are_recognised_inside_any_wrapper(wrapper: str) -> None:
    """all-mpnet-base-v2 names its attention attn.q/k/v/o: once 122 of its 200 tensors went
    unrecognised and it was compared on its MLPs alone; sentence-transformers and other
    wrappers put the model under a prefix."""
    p = f"{wrapper}encoder.layer.7."
    got = _roles(
        [
            f"{wrapper}embeddings.word_embeddings.weight",
            f"{wrapper}embeddings.LayerNorm.weight",
            p + "attention.attn.q.weight",
            p + "attention.attn.k.bias",
            p + "attention.attn.v.weight",
            p + "attention.attn.o.weight",
            p + "attention.LayerNorm.weight",
            p + "intermediate.dense.weight",
            p + "output.dense.weight",
            p + "output.LayerNorm.weight",
            f"{wrapper}encoder.relative_attention_bias.weight",
        ]
    )
    assert set(got) == {
        "embed",
        "emb_norm",
        "attn_q@7",
        "attn_k_bias@7",
        "attn_v@7",
        "attn_o@7",
        "mlp_norm@7",
        "mlp_up@7",
        "mlp_down@7",
        "post_mlp_norm@7",
        "rel_pos_bias",
    }


def test_gemma_sandwich_norms_get_their_own_roles_in_hf_and_gguf_names() -> None:
    """Gemma 2/3 normalise the attention's output (post_attention_layernorm) and the MLP's
    input (pre_feedforward_layernorm): the first is no MLP norm there, unlike in Llama."""
    hf = _roles(
        [
            "model.layers.2.input_layernorm.weight",
            "model.layers.2.post_attention_layernorm.weight",
            "model.layers.2.pre_feedforward_layernorm.weight",
            "model.layers.2.post_feedforward_layernorm.weight",
        ]
    )
    gguf = _roles(
        [
            "blk.2.attn_norm.weight",
            "blk.2.post_attention_norm.weight",
            "blk.2.ffn_norm.weight",
            "blk.2.post_ffw_norm.weight",
        ]
    )
    want = {"attn_norm@2", "post_attn_norm@2", "mlp_norm@2", "post_mlp_norm@2"}
    assert set(hf) == set(gguf) == want
    llama = _roles(["model.layers.2.post_attention_layernorm.weight"])
    assert set(llama) == {"mlp_norm@2"}


def test_buffers_are_neither_recognised_nor_unrecognised() -> None:
    metas = [
        TensorMeta(n, "F32", (4, 4), "f")
        for n in (
            "embeddings.position_ids",
            "model.layers.0.self_attn.rotary_emb.inv_freq",
            "h.0.attn.masked_bias",
            "model.layers.0.self_attn.q_proj.weight",
        )
    ]
    canon, unknown = map_roles(metas, H)
    assert [c.key.label() for c in canon] == ["attn_q@0"] and unknown == []


def test_a_second_tensor_claiming_a_role_is_unrecognised_not_merged() -> None:
    metas = [
        TensorMeta(n, "F32", (32, 32), "f")
        for n in ("model.layers.0.self_attn.q_proj.weight", "layers.0.self_attn.q_proj.weight")
    ]
    canon, unknown = map_roles(metas, H)
    assert [c.source for c in canon] == ["model.layers.0.self_attn.q_proj.weight"]
    assert unknown == ["layers.0.self_attn.q_proj.weight"]
