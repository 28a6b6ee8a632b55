"""ONNX files as the real tools write them, made at test time from small transformers models.

Each folder holds config.json and tokenizer.json beside its weights, as an export folder
does. The exports are the exporters' and quantizers' own output (torch.onnx.export with the
TorchScript and the dynamo exporter, onnxruntime's quantize_dynamic, quantize_static in QDQ
format and MatMulNBitsQuantizer); `cast_mul` rewrites an export into weight-only int8 stored
as Cast -> Mul(scale), the layout a third-party int8 export on the package index uses, which
no tool here writes; `anonymous` strips an export of every name the graph could give.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

VOCAB = 256
TOKENIZER = json.dumps(
    {"model": {"type": "WordLevel", "vocab": {f"w{i}": i for i in range(VOCAB)}, "unk_token": "w0"}}
)


def tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A small BERT from a config (random weights, fixed seed), saved as safetensors."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    _trained_looking(BertModel(cfg)).save_pretrained(folder)
    (folder / "tokenizer.json").write_text(TOKENIZER)
    return folder


def tiny_llama(folder: Path, seed: int = 0) -> Path:
    """A small Llama (no biases anywhere) from a config, saved as safetensors."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    _trained_looking(LlamaModel(cfg)).save_pretrained(folder)
    (folder / "tokenizer.json").write_text(TOKENIZER)
    return folder


def _trained_looking(model):  # noqa: ANN001, ANN202
    """Noise on every parameter: at initialisation all biases are 0 and all norms 1, and
    exporters share equal constants, which no trained model has."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model.eval()


def _side_files(src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(src / name, out / name)


def export(src: Path, out: Path, dynamo: bool) -> Path:
    """torch.onnx.export of the model in `src`, TorchScript (constant folding) or dynamo."""
    import torch
    from transformers import AutoModel

    _side_files(src, out)
    model = AutoModel.from_pretrained(src).eval()
    model.config.use_cache = False
    ids = torch.randint(0, VOCAB, (1, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    target = out / "model.onnx"
    if dynamo:
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
        torch.onnx.export(
            model,
            (),
            target,
            kwargs={"input_ids": ids, "attention_mask": mask},
            dynamic_shapes={n: {0: batch, 1: seq} for n in ("input_ids", "attention_mask")},
            dynamo=True,
            opset_version=18,
            external_data=False,
        )
    else:
        _plain_forward(model)
        torch.onnx.export(
            model,
            (ids, mask),
            target,
            input_names=["input_ids", "attention_mask"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask")},
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    return out


def _plain_forward(model) -> None:  # noqa: ANN001
    """forward(input_ids, attention_mask) for the TorchScript tracer, which fills later
    parameters by position where transformers passes use_cache by keyword."""
    base = type(model)

    class Plain(base):  # type: ignore[valid-type, misc]
        def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN202
            out = base.forward(self, input_ids=input_ids, attention_mask=attention_mask)
            return out.to_tuple()  # every output: the graph keeps what computes them

    model.__class__ = Plain


def quantize_int8(src: Path, out: Path) -> Path:
    """onnxruntime dynamic quantization: MatMulInteger, int8 weights with zero points."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _side_files(src, out)
    quantize_dynamic(src / "model.onnx", out / "model.onnx", weight_type=QuantType.QInt8)
    return out


def quantize_qdq(src: Path, out: Path, per_channel: bool) -> Path:
    """onnxruntime static quantization in QDQ format (DequantizeLinear before each use)."""
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    _side_files(src, out)
    names = [
        i.name
        for i in onnxruntime.InferenceSession(
            str(src / "model.onnx"), providers=["CPUExecutionProvider"]
        ).get_inputs()
    ]
    rng = np.random.default_rng(3)
    feeds = []
    for _ in range(4):
        ids = rng.integers(0, VOCAB, (1, 12)).astype(np.int64)
        feeds.append({n: ids if n == "input_ids" else np.ones((1, 12), np.int64) for n in names})

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self):  # noqa: ANN202
            return next(self.it, None)

    quantize_static(
        src / "model.onnx",
        out / "model.onnx",
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
    )
    return out


def quantize_nbits(src: Path, out: Path, bits: int = 4, symmetric: bool = True) -> Path:
    """onnxruntime's MatMulNBitsQuantizer: the contrib op MatMulNBits, blocks of 32."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    _side_files(src, out)
    quant = MatMulNBitsQuantizer(
        onnx.load(src / "model.onnx"), bits=bits, block_size=32, is_symmetric=symmetric
    )
    quant.process()
    quant.model.save_model_to_file(str(out / "model.onnx"), use_external_data_format=False)
    return out


def cast_mul(src: Path, out: Path) -> Path:
    """Every float matrix as int8 with a scale per output unit, dequantized in the graph by
    Cast -> Mul (the weight-only int8 layout some published exports use)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    _side_files(src, out)
    model = onnx.load(src / "model.onnx")
    graph = model.graph
    kept, nodes = [], []
    for init in graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype != np.float32 or w.ndim != 2:
            kept.append(init)
            continue
        axis = 0 if init.name.endswith("embeddings.weight") else 1
        scale = np.abs(w).max(axis=1 - axis, keepdims=True) / 127
        scale = np.where(scale > 0, scale, 1).astype(np.float32)
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        kept += [
            numpy_helper.from_array(q, init.name + "_q"),
            numpy_helper.from_array(scale, init.name + "_scale"),
        ]
        nodes += [
            helper.make_node("Cast", [init.name + "_q"], [init.name + "_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [init.name + "_f", init.name + "_scale"], [init.name]),
        ]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    old = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old)
    onnx.save(model, out / "model.onnx")
    return out


def anonymous(src: Path, out: Path) -> Path:
    """The export with no name left: initializers renamed, node names and metadata cleared."""
    import onnx

    _side_files(src, out)
    model = onnx.load(src / "model.onnx")
    graph = model.graph
    rename = {t.name: f"w{i}" for i, t in enumerate(graph.initializer)}
    for t in graph.initializer:
        t.name = rename[t.name]
    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        del node.metadata_props[:]
        for j, x in enumerate(node.input):
            if x in rename:
                node.input[j] = rename[x]
    onnx.save(model, out / "model.onnx")
    return out
