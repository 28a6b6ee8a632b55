"""Generate the lineage evaluation suite: tiny Llama models, their disguised derivatives and
unrelated look-alikes, plus OUTDIR/pairs.json listing every labelled pair.

    python bench/lineage/make_suite.py OUTDIR [--quick] [--threads N]

Everything is trained on CPU with fixed seeds on text from installed packages, so two runs
give the same suite. Function-preserving disguises are checked by a forward pass here, and
the check's figure is written into pairs.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gguf  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from bench.lineage import export  # noqa: E402
from bench.lineage import transforms as tf  # noqa: E402
from bench.lineage.corpus import corpus, encode, tokenizer_json, train_tokenizer  # noqa: E402
from bench.lineage.tinyllama import (  # noqa: E402
    BASE_CONFIG,
    Params,
    eval_loss,
    init_params,
    save_model,
    train,
)
from bench.lineage.vocab import change_vocabulary  # noqa: E402

FUNCTION_TOLERANCE = 1e-3  # max |logit difference| allowed for a function-preserving disguise


@dataclass(frozen=True)
class Plan:
    """Training lengths; --quick shortens everything and keeps fewer negatives."""

    base_steps: int
    finetune_steps: int
    continued_steps: int
    short_steps: int
    batch: int
    seq_len: int
    independent: tuple[tuple[str, int, str], ...]  # (name, seed, corpus)
    combined: bool = False
    long_negative: bool = False  # an unrelated model trained as long as base + continued


FULL = Plan(
    300,
    60,
    900,
    30,
    16,
    64,
    (
        ("indep_code_a", 101, "code"),
        ("indep_code_b", 102, "code"),
        ("indep_prose", 103, "prose"),
        ("indep_hf_tok", 104, "hf"),
    ),
    combined=True,
    long_negative=True,
)
QUICK = Plan(60, 15, 120, 6, 8, 48, (("indep_code_a", 101, "code"), ("indep_hf_tok", 104, "hf")))


@dataclass
class Suite:
    out: Path
    models: dict[str, dict] = field(default_factory=dict)
    pairs: list[dict] = field(default_factory=list)

    def add_model(self, name: str, rel_path: str, recipe: str, **info: object) -> None:
        self.models[name] = {"path": rel_path, "recipe": recipe, **info}

    def pair(
        self, a: str, b: str, label: str, relation: str | None = None, accept: tuple[str, ...] = ()
    ) -> None:
        accepted = sorted({relation, *accept} - {None}) if label == "derived" else []
        self.pairs.append(
            {
                "a": self.models[a]["path"],
                "b": self.models[b]["path"],
                "a_name": a,
                "b_name": b,
                "label": label,
                "relation": relation,
                "accept": accepted,
            }
        )


class Builder:
    """Holds tokenizers and token streams; writes each model as a release folder."""

    def __init__(self, out: Path, plan: Plan) -> None:
        self.plan, self.suite = plan, Suite(out)
        self.text = {name: corpus(name) for name in ("code", "prose", "hf")}
        self.tok = train_tokenizer(self.text["code"], 1024)
        self.tok_hf = train_tokenizer(self.text["hf"], 768)
        self.tokens = {name: encode(self.tok, text) for name, text in self.text.items()}
        self.tokens_hf = encode(self.tok_hf, self.text["hf"])
        self.cfg = dict(BASE_CONFIG, num_hidden_layers=6, vocab_size=1024)

    def save(
        self,
        name: str,
        p: Params,
        recipe: str,
        cfg: dict | None = None,
        tok: Tokenizer | None = None,
        **info: object,
    ) -> None:
        cfg = dict(cfg or self.cfg, vocab_size=p["model.embed_tokens.weight"].shape[0])
        tok = tok or self.tok
        save_model(self.suite.out / "models" / name, p, cfg, tokenizer_json(tok))
        if tok is self.tok and ".block_sparse_moe." not in "".join(p):
            info.setdefault("loss_code", round(eval_loss(p, cfg, self.tokens["code"]), 3))
            info.setdefault("loss_prose", round(eval_loss(p, cfg, self.tokens["prose"]), 3))
        self.suite.add_model(name, f"models/{name}", recipe, **info)

    def train(
        self,
        p: Params,
        tokens: torch.Tensor,
        steps: int,
        lr: float,
        seed: int,
        cfg: dict | None = None,
    ) -> None:
        train(
            p,
            cfg or self.cfg,
            tokens,
            steps,
            lr,
            seed,
            seq_len=self.plan.seq_len,
            batch=self.plan.batch,
        )

    def trained(self, seed: int, text: str, steps: int) -> Params:
        vocab = self.tok_hf.get_vocab_size() if text == "hf" else self.tok.get_vocab_size()
        p = init_params(self.cfg, vocab, seed)
        tokens = self.tokens_hf if text == "hf" else self.tokens[text]
        self.train(p, tokens, steps, 3e-3, seed)
        return p

    def check_function(self, base: Params, other: Params, name: str) -> float:
        ids = self.tokens["prose"][5000 : 5000 + 4 * 64].view(4, 64)
        diff = tf.max_logit_diff(base, other, self.cfg, ids)
        if diff > FUNCTION_TOLERANCE:
            raise AssertionError(f"{name}: function changed, max |logit diff| {diff:.2e}")
        return diff


def build(out: Path, plan: Plan, log=print) -> dict:  # noqa: ANN001
    """Write every model and OUTDIR/pairs.json; returns the manifest."""
    torch.manual_seed(0)
    started = time.time()
    b = Builder(out, plan)
    s, cfg, st = b.suite, b.cfg, plan.short_steps

    def step(msg: str) -> None:
        log(f"[{time.time() - started:6.1f}s] {msg}")

    base = b.trained(1, "code", plan.base_steps)
    b.save("base", base, f"init seed 1, {plan.base_steps} steps on stdlib code")
    step("base trained")

    for name, seed, text in plan.independent:
        p = b.trained(seed, text, plan.base_steps)
        if text == "hf":
            b.save(
                name,
                p,
                f"seed {seed}, own tokenizer, {plan.base_steps} steps on hf code",
                tok=b.tok_hf,
            )
        else:
            b.save(name, p, f"seed {seed}, {plan.base_steps} steps on {text}")
    if plan.long_negative:
        steps = plan.base_steps + plan.continued_steps
        p = b.trained(105, "code", steps)
        b.save("indep_code_long", p, f"seed 105, {steps} steps on code (as long as continued)")
    for name, seed in (("random_a", 201), ("random_b", 202)):
        b.save(name, init_params(cfg, 1024, seed), f"random init seed {seed}, untrained")
    step("negatives trained")

    finetune = tf.clone(base)
    b.train(finetune, b.tokens["prose"], plan.finetune_steps, 1e-3, 11)
    b.save("finetune", finetune, f"{plan.finetune_steps} steps lr 1e-3 on prose")
    continued = tf.clone(base)
    mix = torch.cat([b.tokens["prose"], b.tokens["hf"]])
    b.train(continued, mix, plan.continued_steps, 2e-3, 12)
    b.save("continued", continued, f"{plan.continued_steps} more steps lr 2e-3 on prose+hf")
    step("fine-tune and continued training done")

    other = tf.clone(base)
    b.train(other, b.tokens["hf"], plan.finetune_steps, 1e-3, 13)
    b.save("merged", tf.average([finetune, other]), "mean of the prose and hf fine-tunes")

    qdir = out / "models"
    for qname, qtype in (
        ("q8_0", gguf.GGMLQuantizationType.Q8_0),
        ("q4_0", gguf.GGMLQuantizationType.Q4_0),
    ):
        export.write_gguf(
            qdir / qname / f"model-{qname}.gguf",
            base,
            cfg,
            tokenizer_json(b.tok),
            qtype,
            "tiny-llama-base",
        )
        s.add_model(qname, f"models/{qname}/model-{qname}.gguf", f"GGUF {qname.upper()}")
    export.write_onnx_int8(qdir / "int8_onnx" / "model.onnx", base)
    (qdir / "int8_onnx" / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (qdir / "int8_onnx" / "tokenizer.json").write_text(tokenizer_json(b.tok))
    s.add_model("int8_onnx", "models/int8_onnx", "ONNX per-channel absmax int8")
    step("quantized exports written")

    pruned = tf.select_layers(base, [0, 1, 2, 5])
    pcfg = dict(cfg, num_hidden_layers=4)
    b.train(pruned, b.tokens["code"], st, 1e-3, 14, pcfg)
    b.save("pruned", pruned, f"layers 3,4 dropped, healed {st} steps", cfg=pcfg)
    upscaled = tf.select_layers(base, [0, 1, 2, 3, 2, 3, 4, 5])
    ucfg = dict(cfg, num_hidden_layers=8)
    b.train(upscaled, b.tokens["code"], st, 1e-3, 15, ucfg)
    b.save("upscaled", upscaled, f"layers 2,3 duplicated (8 layers), trained {st} steps", cfg=ucfg)
    moe = tf.upcycle(base, experts=4, seed=16)
    mcfg = dict(
        cfg,
        architectures=["MixtralForCausalLM"],
        model_type="mixtral",
        num_local_experts=4,
        num_experts_per_tok=2,
        router_aux_loss_coef=0.02,
        output_router_logits=False,
    )
    b.train(moe, b.tokens["code"], 2 * st, 1e-3, 16, mcfg)
    b.save("moe", moe, f"upcycled to 4 experts (top-2), trained {2 * st} steps", cfg=mcfg)
    step("pruned, up-scaled and upcycled models trained")

    for name, fn, seed in (
        ("permuted", tf.permute, 17),
        ("rotated", tf.rotate, 18),
        ("rescaled", tf.rescale, 19),
    ):
        p = fn(base, cfg, seed)
        b.save(
            name, p, f"{name} (function preserved)", max_logit_diff=b.check_function(base, p, name)
        )
    new_tok, vp, _ = change_vocabulary(b.tok, base, b.text["prose"][:300_000], seed=20)
    vtokens = encode(new_tok, b.text["prose"])
    b.train(vp, vtokens, st, 1e-3, 20)
    b.save("vocab", vp, f"tokens removed/added/re-ordered, fine-tuned {st} steps", tok=new_tok)
    if plan.combined:
        rotated_q4 = tf.rotate(base, cfg, 21)
        export.write_gguf(
            qdir / "rotated_q4" / "model-q4_0.gguf",
            rotated_q4,
            cfg,
            tokenizer_json(b.tok),
            gguf.GGMLQuantizationType.Q4_0,
            "disguised",
        )
        s.add_model("rotated_q4", "models/rotated_q4/model-q4_0.gguf", "rotated then Q4_0")
    step("disguised variants written")

    add_pairs(s, plan)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    manifest = {
        "schema_version": 1,
        "quick": plan is QUICK,
        "seconds": round(time.time() - started, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "models": s.models,
        "pairs": s.pairs,
    }
    (out / "pairs.json").write_text(json.dumps(manifest, indent=2) + "\n")
    step(f"{len(s.pairs)} pairs written to {out / 'pairs.json'}")
    return manifest


def add_pairs(s: Suite, plan: Plan) -> None:
    """Positives against the base; negatives among independent models and disguised ones."""
    positives = [
        ("finetune", "fine-tune", ()),
        ("continued", "continued-pretraining", ()),
        ("merged", "merged", ("fine-tune",)),
        ("q8_0", "quantized", ()),
        ("q4_0", "quantized", ()),
        ("int8_onnx", "quantized", ()),
        ("pruned", "pruned", ()),
        ("upscaled", "depth-upscaled", ()),
        ("moe", "upcycled-moe", ()),
        ("permuted", "permuted", ()),
        ("rotated", "rotated", ()),
        ("rescaled", "unknown", ()),
        ("vocab", "fine-tune", ("unknown",)),
    ]
    if plan.combined:
        positives.append(("rotated_q4", "rotated", ("quantized",)))
    for name, relation, accept in positives:
        s.pair("base", name, "derived", relation, accept)
    unrelated = [n for n, _, _ in plan.independent] + ["random_a", "random_b"]
    if plan.long_negative:
        unrelated.insert(len(plan.independent), "indep_code_long")
    for i, a in enumerate(["base", *unrelated]):
        for b_name in unrelated[i:]:
            if a != b_name and (plan is FULL or a == "base" or a == "random_a"):
                s.pair(a, b_name, "unrelated")
    first = plan.independent[0][0]
    disguised = ("finetune", "q4_0", "permuted", "rotated", "moe", "pruned", "vocab")
    for name in disguised if plan is FULL else disguised[1:4]:
        s.pair(name, first, "unrelated")
    if plan.long_negative:
        s.pair("continued", "indep_code_long", "unrelated")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--quick", action="store_true", help="short training, fewer negatives")
    # one thread: on a shared machine, torch's spinning worker threads cost more than they give
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.outdir.mkdir(parents=True, exist_ok=True)
    build(args.outdir, QUICK if args.quick else FULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
