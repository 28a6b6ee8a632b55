"""Make the panel's derived checkpoints with the tools users use, never with our own generators.

    TOOLS_PYTHON bench/real/make_variants.py --panel bench/real/panel.toml --cache DIR
                                             [--only VARIANT] [--llama-cpp DIR]

Runs in the tools environment (torch, transformers, onnxruntime, peft, sentence-transformers,
mergekit; bench/real/tools-requirements.txt), never in provscan's. Each [[variant]] of the panel
names a recipe below, its source (a real model or an earlier variant) and its parameters; the
result goes to CACHE/variants/ID with a stamp file, so a second run reuses it. A recipe whose
tool is missing here (llama.cpp's quantizer not built) writes the reason instead of a model,
and the runner reports the pairs that needed it as not run.

Training text comes from the Python installation (the pydoc topics and standard-library
code), read in sorted order, so every run trains on the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path
from typing import Any

# Files a tokenizer or a sentence-transformers model needs beside its weights.
SIDE_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)
STAMP = "VARIANT.json"


class Unavailable(RuntimeError):
    """The tool a recipe needs cannot run on this machine; the reason is recorded."""


def _threads() -> None:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def copy_side_files(src: Path, out: Path) -> None:
    for rel in SIDE_FILES:
        if (src / rel).exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, out / rel)


def prose_topics() -> list[tuple[str, str]]:
    """(topic, text) pairs of the Python documentation topics shipped with the interpreter."""
    sys.path.insert(0, sysconfig.get_paths()["stdlib"])
    from pydoc_data.topics import topics

    return sorted((k, v) for k, v in topics.items() if len(v) > 400)


def code_text(limit: int = 400_000) -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text)
        if size > limit:
            break
    return "\n".join(parts)[:limit]


def sentences(n: int) -> list[str]:
    out = []
    for _, text in prose_topics():
        for line in text.splitlines():
            line = line.strip()
            if 40 <= len(line) <= 200:
                out.append(line)
    random.Random(0).shuffle(out)
    return out[:n]


# ---------------------------------------------------------------------------- ONNX (torch, ORT)


def _encoder_inputs(src: Path):  # noqa: ANN202
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src)
    enc = tok(
        ["provenance of a released model", "a second sentence"], padding=True, return_tensors="pt"
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    return tok, names, tuple(enc[n] for n in names)


def _pin_signature(model, names: list[str]) -> None:  # noqa: ANN001
    """Give forward a plain signature for the TorchScript tracer.

    transformers 5 wraps forward in decorators that pass use_cache by keyword, while the tracer
    fills the signature's later parameters positionally: "got multiple values for argument
    'use_cache'". A subclass with the inputs spelled out keeps every parameter name.
    """
    base = type(model)

    if "token_type_ids" in names:

        class Pinned3(base):  # type: ignore[valid-type, misc]
            def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN202
                return base.forward(
                    self,
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                    return_dict=False,
                )[0]

        model.__class__ = Pinned3
    else:

        class Pinned2(base):  # type: ignore[valid-type, misc]
            def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN202
                return base.forward(
                    self, input_ids=input_ids, attention_mask=attention_mask, return_dict=False
                )[0]

        model.__class__ = Pinned2


def onnx_export(src: Path, out: Path, dynamo: bool = False, opset: int = 17) -> str:
    import torch
    from transformers import AutoModel

    _threads()
    model = AutoModel.from_pretrained(src).eval()
    model.config.use_cache = False
    _, names, tensors = _encoder_inputs(src)
    feeds = dict(zip(names, tensors, strict=True))
    target = out / "model.onnx"
    if dynamo:
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
        shapes = {n: {0: batch, 1: seq} for n in names}
        torch.onnx.export(
            model,
            (),
            target,
            kwargs=feeds,
            input_names=names,
            dynamo=True,
            dynamic_shapes=shapes,
            opset_version=max(opset, 18),
            external_data=False,
        )
        how = f"torch.onnx.export(dynamo=True, opset {max(opset, 18)}), torch {torch.__version__}"
    else:
        _pin_signature(model, names)
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        torch.onnx.export(
            model,
            tensors,
            target,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
        how = (
            f"torch.onnx.export(dynamo=False: TorchScript exporter, opset {opset}), "
            f"torch {torch.__version__}"
        )
    copy_side_files(src, out)
    return how


def ort_quantize_dynamic(src: Path, out: Path) -> str:
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src / "model.onnx", out / "model.onnx", weight_type=QuantType.QInt8)
    copy_side_files(src, out)
    return (
        f"onnxruntime.quantization.quantize_dynamic(weight_type=QInt8), "
        f"onnxruntime {onnxruntime.__version__}"
    )


def ort_quantize_static_qdq(src: Path, out: Path, samples: int = 16) -> str:
    import numpy as np
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src)
    names = [
        i.name
        for i in onnxruntime.InferenceSession(
            str(src / "model.onnx"), providers=["CPUExecutionProvider"]
        ).get_inputs()
    ]
    feeds = []
    for text in sentences(samples):
        enc = tok([text], return_tensors="np", truncation=True, max_length=64)
        feeds.append({n: enc[n].astype(np.int64) for n in names})

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
        per_channel=False,
    )
    copy_side_files(src, out)
    return (
        f"onnxruntime.quantization.quantize_static(QDQ, QInt8 weights, {samples} calibration "
        f"sentences), onnxruntime {onnxruntime.__version__}"
    )


def ort_quantize_4bit(src: Path, out: Path, block_size: int = 32) -> str:
    import onnx
    import onnxruntime
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quant = MatMulNBitsQuantizer(
        onnx.load(src / "model.onnx"), bits=4, block_size=block_size, is_symmetric=True
    )
    quant.process()
    quant.model.save_model_to_file(str(out / "model.onnx"), use_external_data_format=False)
    copy_side_files(src, out)
    return (
        f"onnxruntime MatMulNBitsQuantizer(bits=4, block_size={block_size}, symmetric): "
        f"MatMulNBits, onnxruntime {onnxruntime.__version__}"
    )


# ------------------------------------------------------------------------ sentence-transformers


def st_finetune(
    src: Path, out: Path, steps: int = 20, lr: float = 2e-5, batch: int = 8, seed: int = 0
) -> str:
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer, losses

    _threads()
    torch.manual_seed(seed)
    model = SentenceTransformer(str(src), device="cpu")
    loss = losses.MultipleNegativesRankingLoss(model)
    pairs = [
        (name.replace("-", " "), text.strip().split("\n\n")[0][:300])
        for name, text in prose_topics()
    ]
    random.Random(seed).shuffle(pairs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        chunk = pairs[(step * batch) % len(pairs) :][:batch]
        feats = [model.tokenize([q for q, _ in chunk]), model.tokenize([d for _, d in chunk])]
        value = loss(feats, None)
        opt.zero_grad()
        value.backward()
        opt.step()
    model.save(str(out))
    return (
        f"sentence-transformers {sentence_transformers.__version__} "
        f"MultipleNegativesRankingLoss, {steps} steps of {batch} (topic, text) pairs, lr {lr}"
    )


# ------------------------------------------------------------------ transformers (decoder LMs)


def gguf_to_hf(src: Path, out: Path, dtype: str = "float32") -> str:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _threads()
    gguf = next(src.glob("*.gguf"))
    loaded = AutoModelForCausalLM.from_pretrained(
        src, gguf_file=gguf.name, dtype=getattr(torch, dtype)
    )
    tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf.name)
    # transformers 5 marks a model read from GGUF as quantized and refuses to save it; the
    # dequantized tensors go into a plain model of the same config, as a user would do.
    config = loaded.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return (
        f"transformers {transformers.__version__} from_pretrained(gguf_file=...) "
        f"(dequantized by gguf-py), save_pretrained in {dtype}"
    )


def _load_causal(src: Path, dtype: str = "float32"):  # noqa: ANN202
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src, dtype=getattr(torch, dtype))
    return model, AutoTokenizer.from_pretrained(src)


def relayer(src: Path, out: Path, layers: list[int], dtype: str = "float32") -> str:
    """Keep, drop or repeat decoder layers in the model's own transformers classes."""
    import copy

    import torch
    import transformers

    _threads()
    model, tok = _load_causal(src, dtype)
    old = model.model.layers
    seen: set[int] = set()
    new = []
    for i in layers:
        new.append(copy.deepcopy(old[i]) if i in seen else old[i])
        seen.add(i)
    for idx, layer in enumerate(new):
        if hasattr(layer, "self_attn") and hasattr(layer.self_attn, "layer_idx"):
            layer.self_attn.layer_idx = idx
    model.model.layers = torch.nn.ModuleList(new)
    cfg = model.config
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = [cfg.layer_types[i] for i in layers]
    cfg.num_hidden_layers = len(new)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return (
        f"transformers {transformers.__version__}: {type(model).__name__} loaded, "
        f"model.model.layers rebuilt from source layers {layers}, save_pretrained"
    )


def relayer_encoder(src: Path, out: Path, layers: list[int]) -> str:
    """Keep encoder layers of a BERT-style sentence-transformers model (its own classes)."""
    import torch
    import transformers
    from transformers import AutoModel

    _threads()
    model = AutoModel.from_pretrained(src)
    model.encoder.layer = torch.nn.ModuleList([model.encoder.layer[i] for i in layers])
    model.config.num_hidden_layers = len(layers)
    model.save_pretrained(out)
    copy_side_files(src, out)
    (out / "config.json").write_text(json.dumps(model.config.to_dict(), indent=2))
    return (
        f"transformers {transformers.__version__}: {type(model).__name__}.encoder.layer "
        f"kept {layers}, save_pretrained"
    )


def lora_merge(
    src: Path,
    out: Path,
    steps: int = 30,
    lr: float = 5e-4,
    rank: int = 8,
    seq: int = 64,
    batch: int = 4,
    text: str = "prose",
    seed: int = 0,
) -> str:
    import peft
    import torch
    from peft import LoraConfig, get_peft_model

    _threads()
    torch.manual_seed(seed)
    model, tok = _load_causal(src)
    cfg = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
    )
    model = get_peft_model(model, cfg)
    corpus = "\n\n".join(t for _, t in prose_topics()) if text == "prose" else code_text()
    ids = tok(corpus[:200_000], return_tensors="pt")["input_ids"][0]
    rng = random.Random(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        starts = [rng.randrange(0, len(ids) - seq - 1) for _ in range(batch)]
        x = torch.stack([ids[s : s + seq] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    merged = model.merge_and_unload()
    merged.save_pretrained(out)
    tok.save_pretrained(out)
    return (
        f"peft {peft.__version__} LoRA r={rank} on q/k/v/o/gate/up/down, {steps} steps of "
        f"{batch}x{seq} tokens of {text} text, lr {lr} (loss {losses[0]:.2f} -> "
        f"{losses[-1]:.2f}), merge_and_unload, save_pretrained"
    )


# ----------------------------------------------------------------------------------- llama.cpp


def convert_hf_to_gguf(src: Path, out: Path, outtype: str, llama_cpp: Path | None) -> str:
    if llama_cpp is None or not (llama_cpp / "convert_hf_to_gguf.py").exists():
        raise Unavailable("llama.cpp sources (llama-cpp-python sdist) not fetched")
    target = out / f"model-{outtype}.gguf"
    env = dict(os.environ, PYTHONPATH=str(llama_cpp / "gguf-py"))
    done = subprocess.run(
        [
            sys.executable,
            str(llama_cpp / "convert_hf_to_gguf.py"),
            str(src),
            "--outfile",
            str(target),
            "--outtype",
            outtype,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"convert_hf_to_gguf.py failed: {done.stderr.strip()[-600:]}")
    return (
        f"llama.cpp convert_hf_to_gguf.py --outtype {outtype} "
        f"(llama.cpp vendored in {llama_cpp.parts[-3]})"
    )


def llama_quantize(src: Path, out: Path, qtype: str, llama_cpp: Path | None) -> str:
    binary = llama_cpp / "build" / "bin" / "llama-quantize" if llama_cpp else None
    if binary is None or not binary.exists():
        raise Unavailable(
            "llama.cpp's llama-quantize is not built here "
            "(bench/real/run_panel.py --build-llama-quantize builds it)"
        )
    source = next(src.glob("*.gguf"))
    target = out / f"model-{qtype}.gguf"
    done = subprocess.run(
        [str(binary), str(source), str(target), qtype], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"llama-quantize failed: {done.stderr.strip()[-600:]}")
    return f"llama.cpp llama-quantize {qtype} from {source.name}"


# ------------------------------------------------------------------------------------ mergekit


def mergekit(out: Path, method: str, sources: dict[str, Path], config: str) -> str:
    import importlib.metadata

    text = config
    for name, path in sources.items():
        text = text.replace("{" + name + "}", str(path))
    (out / "mergekit.yml").write_text(text)
    exe = Path(sys.executable).with_name("mergekit-yaml")
    done = subprocess.run(
        [str(exe), str(out / "mergekit.yml"), str(out), "--copy-tokenizer"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mergekit-yaml failed: {done.stderr.strip()[-800:]}")
    return f"mergekit {importlib.metadata.version('mergekit')} mergekit-yaml, merge_method {method}"


# ------------------------------------------------------------------------------------- driver

RECIPES = {
    "onnx_export": onnx_export,
    "ort_quantize_dynamic": ort_quantize_dynamic,
    "ort_quantize_static_qdq": ort_quantize_static_qdq,
    "ort_quantize_4bit": ort_quantize_4bit,
    "st_finetune": st_finetune,
    "gguf_to_hf": gguf_to_hf,
    "relayer": relayer,
    "relayer_encoder": relayer_encoder,
    "lora_merge": lora_merge,
    "convert_hf_to_gguf": convert_hf_to_gguf,
    "llama_quantize": llama_quantize,
    "mergekit": mergekit,
}
NEEDS_LLAMA_CPP = {"convert_hf_to_gguf", "llama_quantize"}


def folder_of(ref: str, cache: Path) -> Path:
    for kind in ("variants", "models"):
        path = cache / kind / ref
        if path.exists():
            return path
    raise FileNotFoundError(f"{ref}: neither a model nor a variant made so far")


def make(variant: dict[str, Any], cache: Path, llama_cpp: Path | None, log) -> dict:  # noqa: ANN001
    out = cache / "variants" / variant["id"]
    stamp = out / STAMP
    if stamp.exists():
        return json.loads(stamp.read_text())
    params = dict(variant.get("params", {}))
    recipe = RECIPES[variant["recipe"]]
    if variant["recipe"] in NEEDS_LLAMA_CPP:
        params["llama_cpp"] = llama_cpp
    tmp = out.with_name(out.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    started = time.time()
    log(f"making {variant['id']} ({variant['recipe']})")
    try:
        if variant["recipe"] == "mergekit":
            sources = {k: folder_of(v, cache) for k, v in variant["sources"].items()}
            how = recipe(tmp, params["method"], sources, params["config"])
        else:
            how = recipe(folder_of(variant["from"], cache), tmp, **params)
    except Unavailable as exc:
        shutil.rmtree(tmp)
        log(f"  unavailable: {exc}")
        return {"id": variant["id"], "unavailable": str(exc)}
    record = {"id": variant["id"], "made_by": how, "seconds": round(time.time() - started, 1)}
    (tmp / STAMP).write_text(json.dumps(record, indent=1))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log(f"  done in {record['seconds']} s: {how}")
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panel", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--llama-cpp", type=Path, default=None)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args(argv)
    panel = tomllib.loads(args.panel.read_text())

    def log(msg: str) -> None:
        print(msg, flush=True)

    records = []
    for variant in panel.get("variant", []):
        if args.only and variant["id"] not in args.only:
            continue
        try:
            records.append(make(variant, args.cache, args.llama_cpp, log))
        except Exception as exc:  # noqa: BLE001 - one failed tool must not stop the others
            log(f"  FAILED {variant['id']}: {type(exc).__name__}: {exc}")
            records.append({"id": variant["id"], "failed": f"{type(exc).__name__}: {exc}"})
    (args.cache / "variants").mkdir(parents=True, exist_ok=True)
    (args.cache / "variants" / "made.json").write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
