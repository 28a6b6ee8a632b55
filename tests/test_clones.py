"""The clones analyzer end to end: copied code found whatever was done to it, named with
its upstream, its line ranges and the fate of its notice."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import scanner.code.clones as clones_mod
from scanner.audit import analyze_target, default_analyzers
from scanner.code.clones import ClonesAnalyzer
from scanner.code.corpus import add_corpus
from scanner.store import default_store_path

TRANSFORMERS = Path(__import__("transformers").__file__).resolve().parent
LLAMA = TRANSFORMERS / "models" / "llama" / "modeling_llama.py"

CUDA = """\
// Copyright 2023 Kernel Authors Inc. All rights reserved.
// SPDX-License-Identifier: Apache-2.0
#include <cuda_runtime.h>

/* Row-wise softmax: one block per row, shared-memory reductions. */
__global__ void row_softmax(const float* __restrict__ input, float* __restrict__ output,
                            int cols) {
  extern __shared__ float buffer[];
  const float* row_in = input + blockIdx.x * cols;
  float* row_out = output + blockIdx.x * cols;
  float local_max = -INFINITY;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    local_max = fmaxf(local_max, row_in[i]);
  }
  buffer[threadIdx.x] = local_max;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      buffer[threadIdx.x] = fmaxf(buffer[threadIdx.x], buffer[threadIdx.x + stride]);
    }
    __syncthreads();
  }
  const float row_max = buffer[0];
  __syncthreads();
  float local_sum = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    float e = expf(row_in[i] - row_max);
    row_out[i] = e;
    local_sum += e;
  }
  buffer[threadIdx.x] = local_sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      buffer[threadIdx.x] += buffer[threadIdx.x + stride];
    }
    __syncthreads();
  }
  const float inv = 1.0f / buffer[0];
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    row_out[i] *= inv;
  }
}

void launch_row_softmax(const float* input, float* output, int rows, int cols,
                        cudaStream_t stream) {
  int threads = 256;
  size_t shared = threads * sizeof(float);
  row_softmax<<<rows, threads, shared, stream>>>(input, output, cols);
}
"""

JS = """\
// Copyright (c) 2021 Widget Makers LLC
// Licensed under the MIT license.
export function debounce(callback, waitMs, options = {}) {
  let timer = null;
  let lastArgs = null;
  const leading = Boolean(options.leading);
  function flush() {
    const args = lastArgs;
    lastArgs = null;
    timer = null;
    if (args !== null) {
      callback.apply(null, args);
    }
  }
  return function debounced(...args) {
    lastArgs = args;
    if (timer === null && leading) {
      callback.apply(null, args);
      lastArgs = null;
    }
    if (timer !== null) {
      clearTimeout(timer);
    }
    timer = setTimeout(flush, waitMs);
  };
}

export class LruCache {
  constructor(limit) {
    this.limit = limit;
    this.entries = new Map();
  }
  get(key) {
    if (!this.entries.has(key)) {
      return undefined;
    }
    const value = this.entries.get(key);
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }
  set(key, value) {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value;
      this.entries.delete(oldest);
    }
  }
}
"""

UNRELATED_C = """\
#include <stdio.h>
#include <stdlib.h>
typedef struct node { int key; struct node *left, *right; } node;
static node *insert(node *root, int key) {
  if (!root) { node *n = calloc(1, sizeof *n); n->key = key; return n; }
  if (key < root->key) root->left = insert(root->left, key);
  else if (key > root->key) root->right = insert(root->right, key);
  return root;
}
static int height(const node *root) {
  if (!root) return 0;
  int l = height(root->left), r = height(root->right);
  return 1 + (l > r ? l : r);
}
int main(int argc, char **argv) {
  node *root = NULL;
  for (int i = 1; i < argc; i++) root = insert(root, atoi(argv[i]));
  printf("height %d\\n", height(root));
  return 0;
}
"""


def _strip_comments_and_rename(src: str, renames: dict[str, str]) -> str:
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    for old, new in renames.items():
        src = re.sub(rf"\b{old}\b", new, src)
    return src


def _corpus_folder(tmp_path: Path) -> Path:
    ref = tmp_path / "upstream"
    (ref / "kernels").mkdir(parents=True)
    (ref / "kernels" / "softmax.cu").write_text(CUDA)
    (ref / "web").mkdir()
    (ref / "web" / "util.js").write_text(JS)
    return ref


def _findings_by_path(result) -> dict[str, object]:
    return {f.location.path: f for f in result.findings if f.analyzer == "clones"}


def test_no_corpus_costs_nothing(tmp_path: Path):
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "a.py").write_text(LLAMA.read_text())
    result = analyze_target(str(tmp_path / "rel"), analyzers=[ClonesAnalyzer()])
    assert [f for f in result.findings if f.analyzer == "clones"] == []
    assert not default_store_path().exists()
    assert any(isinstance(a, ClonesAnalyzer) for a in default_analyzers())


def test_cuda_and_js_copies_are_found_with_notice_status(tmp_path: Path):
    add_corpus("kernels", str(_corpus_folder(tmp_path)), license="Apache-2.0")
    rel = tmp_path / "release"
    rel.mkdir()
    # CUDA: header gone, comments gone, identifiers renamed, layout squeezed.
    cu = _strip_comments_and_rename(
        CUDA,
        {
            "row_softmax": "fused_norm",
            "buffer": "smem",
            "local_max": "m",
            "local_sum": "s",
            "row_in": "src",
            "row_out": "dst",
        },
    )
    (rel / "ops.cu").write_text(re.sub(r"\n\s+", "\n", cu))
    # JS: notice kept, one function renamed.
    (rel / "helpers.js").write_text(JS.replace("debounce", "throttleLater"))
    (rel / "tree.c").write_text(UNRELATED_C)
    found = _findings_by_path(analyze_target(str(rel), analyzers=[ClonesAnalyzer()]))
    assert set(found) == {"ops.cu", "helpers.js"}
    cu_f = found["ops.cu"]
    assert cu_f.kind == "notice-removed" and str(cu_f.severity) == "high"
    d = cu_f.evidence.details
    assert d.upstream_path == "kernels/softmax.cu"
    assert d.upstream_license == "Apache-2.0"
    assert d.notice.status == "removed"
    assert cu_f.evidence.score > 0.8
    up_lo, up_hi = d.ranges[0].upstream
    assert up_lo <= 12 and up_hi >= 40  # the kernel's body, in upstream lines
    js_f = found["helpers.js"]
    assert js_f.kind == "copied-code" and str(js_f.severity) == "info"
    assert js_f.evidence.details.notice.status == "kept"
    assert js_f.evidence.details.upstream_path == "web/util.js"


def test_reordered_and_partial_copy_reports_both_ranges(tmp_path: Path):
    add_corpus("kernels", str(_corpus_folder(tmp_path)))
    rel = tmp_path / "release"
    rel.mkdir()
    # Only the LruCache class, after unrelated code, under the copier's own notice.
    cls = JS[JS.index("export class LruCache") :]
    own = (
        "// Copyright 2025 Someone Else\n"
        + "\n".join(f"export const value{i} = compute{i}(input{i}, {i});" for i in range(12))
        + "\n"
    )
    (rel / "mixed.js").write_text(own + cls)
    f = _findings_by_path(analyze_target(str(rel), analyzers=[ClonesAnalyzer()]))["mixed.js"]
    assert f.kind == "notice-removed"
    assert f.evidence.details.notice.status == "replaced"
    r = f.evidence.details.ranges[0]
    cls_line_up = JS[: JS.index("export class LruCache")].count("\n") + 1
    assert r.target[0] >= 14 and abs(r.upstream[0] - cls_line_up) <= 3
    assert f.location.start_line == r.target[0]


def test_llama_with_header_removed_and_classes_renamed_is_attributed(tmp_path: Path, cli):
    """The acceptance case, through the CLI, against the whole installed transformers."""
    rel = tmp_path / "release"
    rel.mkdir()
    lines = LLAMA.read_text().splitlines(True)
    body_start = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    body = re.sub(r"\bLlama(\w*)", r"Zebra\1", "".join(lines[body_start:]))
    (rel / "modeling_zebra.py").write_text(body)
    added = cli("index", "add", "tf", "pkg:transformers")
    assert added.returncode == 0, added.stderr
    listed = cli("index", "list")
    version = __import__("transformers").__version__
    assert "tf" in listed.stdout and version in listed.stdout
    out = tmp_path / "out.json"
    scanned = cli("scan", str(rel), "--json", str(out))
    assert scanned.returncode == 0, scanned.stderr
    findings = [f for f in json.loads(out.read_text())["findings"] if f["kind"] == "notice-removed"]
    assert len(findings) == 1
    f = findings[0]
    d = f["evidence"]["details"]
    assert f["severity"] == "high" and f["location"]["path"] == "modeling_zebra.py"
    assert d["upstream_path"] == "transformers/models/llama/modeling_llama.py"
    assert d["upstream_version"] == version
    assert d["notice"]["status"] == "removed"
    assert any("Copyright" in line for line in d["notice"]["upstream"])
    assert f["evidence"]["score"] > 0.9
    # the ranges cover the file on both sides, shifted by the removed header
    first = d["ranges"][0]
    n_body = body.count("\n")
    assert first["target"][0] <= 10 and first["target"][1] >= n_body - 30
    assert first["upstream"][0] - first["target"][0] == body_start
    assert f["location"]["start_line"] == first["target"][0]
    assert f["evidence"]["null_mean"] is not None and f["evidence"]["p_value"] < 0.01


def test_unrelated_code_is_not_reported(tmp_path: Path):
    add_corpus("tfmodels", "pkg:transformers/models/llama")
    rel = tmp_path / "release"
    rel.mkdir()
    (rel / "tree.c").write_text(UNRELATED_C)
    (rel / "own.py").write_text(Path(clones_mod.__file__).read_text())
    assert _findings_by_path(analyze_target(str(rel), analyzers=[ClonesAnalyzer()])) == {}


@pytest.mark.parametrize(
    "bad",
    [
        ["index", "add", "x", "pkg:no-such-package-zz"],
        ["index", "add", "x", "/no/such/folder"],
        ["index", "add", "bad name!", "pkg:transformers"],
        ["index", "remove", "never-added"],
    ],
)
def test_bad_index_commands_give_one_line(cli, bad: list[str]):
    res = cli(*bad)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "error" in res.stderr
