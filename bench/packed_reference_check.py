"""Check provscan's GPTQ / AWQ dequantization against the quantizers' own code.

    python bench/packed_reference_check.py --awq DIR --gptq DIR

DIR: unpacked sources of AutoAWQ (the folder holding awq/utils/packing_utils.py, e.g. from
`pip download --no-deps autoawq==0.2.9`) and of auto-gptq (the folder holding
auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py, e.g. the unzipped auto-gptq 0.7.1 wheel).
Neither package installs in CI (CUDA kernels, heavy dependencies), so their reading code is
loaded from those files alone (it needs torch and transformers, both in the eval extra) and
fed random packed words: AWQ's dequantize_gemm, and the CPU path of auto-gptq's QuantLinear
for 2, 4 and 8 bits. Both compute in float16, so agreement is to float16 rounding.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402
from scanner.weights.formats.packed import dequantize, layout_of  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _words(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(-(2**31), 2**31, shape, dtype=np.int64).astype(np.int32)


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--awq", type=Path, required=True)
    parser.add_argument("--gptq", type=Path, required=True)
    args = parser.parse_args(argv)
    print(f"# machine: {describe(REPO)}")
    rng = np.random.default_rng(0)
    inp, out, group = 256, 192, 64
    worst = 0.0

    awq = _load(args.awq / "awq/utils/packing_utils.py", "awq_packing")
    qw, qz = _words(rng, (inp, out // 8)), _words(rng, (inp // group, out // 8))
    sc = rng.random((inp // group, out)).astype(np.float16)
    ref = (
        awq.dequantize_gemm(
            torch.from_numpy(qw), torch.from_numpy(qz), torch.from_numpy(sc), 4, group
        )
        .float()
        .numpy()
    )  # W^T
    lay = layout_of(
        {"qweight": qw.shape, "qzeros": qz.shape, "scales": sc.shape},
        {"qweight": "I32", "qzeros": "I32"},
        {"quant_method": "awq"},
    )
    assert lay is not None and lay.kind == "AWQ"
    mine = dequantize(lay, qw, qz, sc, None, np.arange(out), np.arange(inp))
    diff = float(np.abs(mine.T - ref).max() / np.abs(ref).max())
    worst = max(worst, diff)
    print(f"AWQ 4-bit (AutoAWQ dequantize_gemm): largest difference {diff:.1e} of the range")

    gptq = _load(args.gptq / "auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py", "gptq_old")
    for bits in (2, 4, 8):
        n = 32 // bits
        layer = gptq.QuantLinear(bits, group, inp, out, bias=False)
        qw, qz = _words(rng, (inp // n, out)), _words(rng, (inp // group, out // n))
        sc = rng.random((inp // group, out)).astype(np.float16)
        layer.qweight.copy_(torch.from_numpy(qw))
        layer.qzeros.copy_(torch.from_numpy(qz))
        layer.scales.copy_(torch.from_numpy(sc))
        with torch.no_grad():  # x @ W^T with x = I: the weights as the layer uses them
            ref = layer(torch.eye(inp, dtype=torch.float16)).float().numpy()
        lay = layout_of(
            {"qweight": qw.shape, "qzeros": qz.shape, "scales": sc.shape},
            {"qweight": "I32", "qzeros": "I32"},
            {"checkpoint_format": "gptq"},
        )
        assert lay is not None and lay.kind == "GPTQ" and lay.bits == bits
        mine = dequantize(lay, qw, qz, sc, None, np.arange(out), np.arange(inp))
        diff = float(np.abs(mine.T - ref).max() / np.abs(ref).max())
        worst = max(worst, diff)
        print(
            f"GPTQ {bits}-bit (auto-gptq QuantLinear): largest difference {diff:.1e} of the range"
        )
    ok = worst < 2e-3  # float16 has 11 bits of precision: ~5e-4 of the range, a few roundings
    print("agree to float16 rounding" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
