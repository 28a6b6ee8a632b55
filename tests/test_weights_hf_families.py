"""Every tensor of real transformers architectures gets a canonical role.

The tensor names come from the installed transformers package itself: each family's model
class is built with a tiny config on the meta device (shapes, no memory) and its state
dict names are mapped with rules/tensor_roles.toml.
"""

from __future__ import annotations

import pytest

from scanner.weights.fingerprint.reading import heads_of
from scanner.weights.formats.interface import TensorMeta
from scanner.weights.roles import map_roles

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SMALL = dict(
    vocab_size=256,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
)
FAMILIES = {
    "LlamaForCausalLM": ("LlamaConfig", dict(num_key_value_heads=2)),
    "MistralForCausalLM": ("MistralConfig", dict(num_key_value_heads=2)),
    "Qwen2ForCausalLM": ("Qwen2Config", dict(num_key_value_heads=2)),
    "Qwen2MoeForCausalLM": (
        "Qwen2MoeConfig",
        dict(num_experts=4, moe_intermediate_size=32, shared_expert_intermediate_size=64),
    ),
    "Qwen3MoeForCausalLM": ("Qwen3MoeConfig", dict(num_experts=4, moe_intermediate_size=32)),
    "MixtralForCausalLM": ("MixtralConfig", dict(num_local_experts=4)),
    "DeepseekV3ForCausalLM": (
        "DeepseekV3Config",
        dict(
            n_routed_experts=4,
            moe_intermediate_size=32,
            first_k_dense_replace=1,
            q_lora_rank=32,
            kv_lora_rank=16,
            qk_rope_head_dim=8,
            qk_nope_head_dim=8,
            v_head_dim=16,
            n_group=1,
            topk_group=1,
            num_experts_per_tok=2,
        ),
    ),
    "GemmaForCausalLM": ("GemmaConfig", dict(head_dim=16)),
    "PhiForCausalLM": ("PhiConfig", {}),
    "Phi3ForCausalLM": ("Phi3Config", dict(pad_token_id=0)),
    "GPT2LMHeadModel": ("GPT2Config", dict(n_embd=64, n_layer=2, n_head=4)),
    "GPTNeoXForCausalLM": ("GPTNeoXConfig", {}),
    "BertModel": ("BertConfig", {}),
}
CORE = {"embed", "attn_o", "mlp_down"}


@pytest.mark.parametrize("cls_name", sorted(FAMILIES))
def test_every_tensor_of_the_family_has_a_role(cls_name: str) -> None:
    cfg_name, extra = FAMILIES[cls_name]
    cfg_cls = getattr(transformers, cfg_name, None)
    model_cls = getattr(transformers, cls_name, None)
    if cfg_cls is None or model_cls is None:
        pytest.skip(f"{cls_name} not in this transformers version")
    kwargs = {**SMALL, **extra} if cfg_name != "GPT2Config" else {"vocab_size": 256, **extra}
    cfg = cfg_cls(**kwargs)
    with torch.device("meta"):
        model = model_cls(cfg)
    metas = [TensorMeta(k, "F32", tuple(v.shape), "f") for k, v in model.state_dict().items()]
    canon, unknown = map_roles(metas, heads_of(cfg.to_dict(), 64, None))
    assert not unknown, unknown
    roles = {c.key.role for c in canon}
    assert {"attn_q", "attn_v"} & roles or {"attn_q_b", "attn_kv_b"} <= roles, roles
    if "MoE" in cls_name or "Moe" in cls_name or cls_name.startswith(("Mixtral", "Deepseek")):
        assert {"expert_gate", "expert_up", "expert_down", "router"} <= roles, roles
        layers = {c.key.layer for c in canon if c.key.role == "expert_down"}
        experts = {c.key.expert for c in canon if c.key.role == "expert_down"}
        assert layers and experts == {0, 1, 2, 3}
        assert "embed" in roles
    else:
        assert roles >= CORE, roles
    # every block tensor knows its layer
    assert all(c.key.layer in (0, 1) for c in canon if c.key.role.startswith(("attn_q", "mlp")))
