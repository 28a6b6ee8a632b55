"""Which ONNX initializer is which weight: names, orientation and dequantization from the graph.

Real exporters lose the parameter names: the TorchScript exporter keeps only those constant
folding left alone (the MatMul weights become `onnx::MatMul_886`), the dynamo exporter calls
them `val_49`, and quantizers wrap them in their own nodes. The graph still says what each
initializer is. A weight's name is, in this order of trust:

1. its own name, once the quantizer's suffix is dropped (`x_quantized` -> `x`), or the name
   of the value it is dequantized into (`Cast -> Mul` writes `...word_embeddings.weight`);
2. the bias beside its product: `encoder.layer.0.output.dense.bias` added to a MatMul's
   output names that MatMul's weight `encoder.layer.0.output.dense.weight`;
3. the module path the dynamo exporter leaves in the node's metadata
   (`pkg.torch.onnx.name_scopes`);
4. the TorchScript exporter's node name (`/encoder/layer.0/attention/self/query/MatMul`);
5. its place in the sequence of products along the graph (`graph.blocks.N.*`), for graphs
   that keep no name at all.

Quantized weights are dequantized the way the runtime would: DequantizeLinear (per tensor,
per axis, blocked), weight-only int8 as `Cast -> Mul(scale)` (with an optional `Sub`),
onnxruntime's dynamic quantization (MatMulInteger / DynamicQuantizeLinear, the scale found
beside the product, and its fused forms), QLinearMatMul, Gather on int8 embeddings followed
by DequantizeLinear, and the contrib op MatMulNBits (2, 4 or 8-bit codes packed low bits
first along K, one scale and zero point per block, zero point 2^(bits-1) when absent).

Over 400 lines on purpose: the naming rules and the quantization patterns are read from the
same walk of the graph, and each rule is a small function beside the others it overrides.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .interface import WeightFormatError

# Products whose weight operand is input 1, stored (in, out).
_MATMULS = {"MatMul", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}
_PRODUCTS = _MATMULS | {"Gemm", "MatMulNBits", "QLinearMatMul", "Gather"}
_NORMS = {
    "LayerNormalization",
    "SimplifiedLayerNormalization",
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "RMSNormalization",
}
_PASS = {"Identity", "Transpose", "Cast"}
"""Nodes a weight may pass through between its dequantization and its product."""
_MOVES = {"Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten"}
"""Nodes that move values without changing them."""
_OUT_PASS = {"Cast", "Identity", "QuantizeLinear", "DequantizeLinear", "Mul"}
"""Nodes between a product and the Add of its bias (a quantizer's requantization, the
scale of an integer product)."""
_QUANT_SUFFIXES = (
    "_quantized",
    ".quantized",
    "_quant",
    "_int8",
    "_q",
    "_Q4",
    "_Q8",
    "_Q2",
    "_Transposed",
)
_NAMED = re.compile(r"[A-Za-z_][\w\-]*(?:\.[\w\-]+)+")
_SCOPE_PART = re.compile(r"[\w\-]+(?:\.[\w\-]+)*")
_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
_MAX_META = 16_384
_NBITS = (2, 4, 8)
_TAIL_GROUPS = 2


@dataclass(frozen=True)
class Dequant:
    """(stored - zero_point) * scale, the scale and zero point broadcast onto the stored
    tensor: along `axis` (a 1-D scale, DequantizeLinear per axis), repeated `block` times
    along it (blocked DequantizeLinear), or as numpy broadcasts them (Cast x Mul)."""

    scale: str
    zero_point: str | None = None
    axis: int | None = None
    block: int = 0


@dataclass(frozen=True)
class NBits:
    """MatMulNBits: B (N, blocks, block * bits / 8) codes, packed low bits first along K."""

    scales: str
    zero_points: str | None
    bits: int
    block: int
    k: int
    n: int
    g_idx: str | None = None


@dataclass(frozen=True)
class GraphWeight:
    """One weight of the graph: where its values are and how they become floats."""

    name: str
    init: str
    """The initializer that holds its (stored) values."""
    shape: tuple[int, ...]
    """As read: (out, in) for the weight of a product, like every other format."""
    transposed: bool
    """Stored (in, out): read transposed."""
    dequant: Dequant | NBits | None
    dtype: str
    """The stored type: FLOAT, FLOAT16, INT8, UINT8, INT4, ..."""


@dataclass(frozen=True)
class Stored:
    """What the graph needs of an initializer: its dims and stored element type."""

    dims: tuple[int, ...]
    dtype: str
    """ONNX's type name (FLOAT, INT8, ...)."""

    @property
    def is_float(self) -> bool:
        return self.dtype in ("FLOAT", "FLOAT16", "DOUBLE", "BFLOAT16")

    @property
    def is_quantized(self) -> bool:
        """Integers of the widths quantizers store weights in."""
        return self.dtype in ("INT8", "UINT8", "INT4", "UINT4", "INT16", "UINT16")

    @property
    def size(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


def strip_quant_suffix(name: str) -> str:
    """The name a quantizer started from: `x_quantized` -> `x`, and onnxruntime's copy of a
    Gemm weight it transposed for an integer product, `x_Transposed_quantized` -> `x`."""
    for _ in range(2):
        for s in _QUANT_SUFFIXES:
            if name.endswith(s) and len(name) > len(s):
                name = name[: -len(s)]
                break
    return name


def is_named(name: str) -> bool:
    """A module path (`encoder.layer.0.output.dense.weight`), not an exporter's made-up name
    (`onnx::MatMul_886`, `val_49`, `/encoder/.../MatMul_output_0`)."""
    return _NAMED.fullmatch(name) is not None


def _attr(node: Any, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def _perm(node: Any) -> list[int] | None:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), None)


class _Index:
    """Who produces and who consumes each value of the graph."""

    def __init__(self, graph: Any, stored: dict[str, Stored]):
        self.nodes = list(graph.node)
        self.outputs = [str(o.name) for o in graph.output]
        self.stored = stored
        self.consumers: dict[str, list[tuple[Any, int]]] = defaultdict(list)
        self.producer: dict[str, Any] = {}
        self.order: dict[int, int] = {}
        for pos, node in enumerate(self.nodes):
            self.order[id(node)] = pos
            for i, x in enumerate(node.input):
                if x:
                    self.consumers[x].append((node, i))
            for o in node.output:
                if o:
                    self.producer[o] = node

    def init(self, node: Any, i: int) -> str | None:
        """Input i of a node, if it is an initializer."""
        if i < len(node.input) and node.input[i] in self.stored:
            return str(node.input[i])
        return None

    def uses(self, value: str, op: str | set[str]) -> list[tuple[Any, int]]:
        ops = {op} if isinstance(op, str) else op
        return [(n, i) for n, i in self.consumers.get(value, []) if n.op_type in ops]


@dataclass(eq=False)
class _Found:
    """What the first pass learns of one initializer."""

    init: str
    value: str
    """The value holding its float numbers (the initializer itself if stored as floats)."""
    dequant: Dequant | NBits | None = None
    product: Any = None
    """The node that uses it as a weight (MatMul, Gemm, Gather...), if any."""
    transposed: bool = False
    own_name: str | None = None


def graph_weights(graph: Any, stored: dict[str, Stored]) -> tuple[list[GraphWeight], set[str]]:
    """Every weight of the graph, and the initializers that are only scales or zero points
    of others (not weights of their own)."""
    g = _Index(graph, stored)
    found: dict[str, _Found] = {}
    helpers: set[str] = set()
    for name in stored:
        f = _dequantized(g, name)
        if f.dequant is not None:
            helpers |= _helpers_of(f.dequant)
        _find_use(g, f)
        f.own_name = _own_name(f)
        found[name] = f
    by_value = {f.value: f.own_name for f in found.values() if f.own_name is not None}
    named: dict[str, str] = {}
    for name, f in found.items():
        if name in helpers:
            continue
        derived = f.own_name or _graph_name(g, f, by_value)
        if derived is not None:
            named[name] = derived
    _name_by_sequence(g, found, named, helpers)
    out: list[GraphWeight] = []
    taken: set[str] = set()
    for name, f in found.items():
        if name in helpers:
            continue
        shown = named.get(name, strip_quant_suffix(name))
        if shown in taken:  # two initializers claim one name: the later keeps its own
            shown = name
        taken.add(shown)
        out.append(
            GraphWeight(shown, name, _shape_of(g, f), f.transposed, f.dequant, stored[name].dtype)
        )
    return out, helpers


def _helpers_of(d: Dequant | NBits) -> set[str]:
    if isinstance(d, Dequant):
        return {x for x in (d.scale, d.zero_point) if x}
    return {x for x in (d.scales, d.zero_points, d.g_idx) if x}


def _dequantized(g: _Index, name: str) -> _Found:
    """How an initializer becomes floats, and the value that holds them."""
    st = g.stored[name]
    for node, i in g.consumers.get(name, []):
        op = node.op_type
        if op == "DequantizeLinear" and i == 0 and g.init(node, 1):
            axis = _attr(node, "axis", 1)
            axis = axis + len(st.dims) if axis < 0 else axis
            axis = 0 if len(st.dims) == 1 else axis
            d = Dequant(str(node.input[1]), g.init(node, 2), axis, _attr(node, "block_size", 0))
            return _Found(name, str(node.output[0]), d)
        if op == "MatMulNBits" and i == 1 and g.init(node, 2):
            return _Found(name, name, _nbits(g, node, st), node)
        if op in ("MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul") and i == 1:
            scale, zp = _integer_product_scale(g, node, name)
            if scale is not None:
                return _Found(name, name, Dequant(scale, zp, None), node, True)
        if op == "QLinearMatMul" and i == 3 and g.init(node, 4):
            return _Found(
                name, name, Dequant(str(node.input[4]), g.init(node, 5), None), node, True
            )
        if op == "Gather" and i == 0 and st.is_quantized:
            gathered = _gathered_dequant(g, node)
            if gathered is not None:
                return _Found(name, name, gathered, node)
        if op == "Cast" and i == 0 and st.is_quantized:
            chain = _cast_scaled(g, str(node.output[0]))
            if chain is not None:
                value, scale, zp = chain
                return _Found(name, value, Dequant(scale, zp, None))
    return _Found(name, name)


def _nbits(g: _Index, node: Any, st: Stored) -> NBits:
    bits, block = _attr(node, "bits", 4), _attr(node, "block_size", 0)
    k, n = _attr(node, "K", 0), _attr(node, "N", 0)
    if bits not in _NBITS or block < 16 or block & (block - 1) or k <= 0 or n <= 0:
        raise WeightFormatError(
            f"MatMulNBits {node.name[:200]!r}: bits {bits}, block {block}, K {k}, N {n}"
        )
    blocks = -(-k // block)
    if st.dims != (n, blocks, block * bits // 8):
        raise WeightFormatError(f"MatMulNBits {node.name[:200]!r}: B is {st.dims}")
    scales = str(node.input[2])
    if g.stored[scales].size != n * blocks:
        raise WeightFormatError(f"MatMulNBits {node.name[:200]!r}: scales do not fit B")
    zp = g.init(node, 3)
    g_idx = g.init(node, 4)
    return NBits(scales, zp, bits, block, k, n, g_idx)


def _integer_product_scale(g: _Index, node: Any, name: str) -> tuple[str | None, str | None]:
    """The scale and zero point of an integer product's weight."""
    op = node.op_type
    if op == "MatMulIntegerToFloat":
        return g.init(node, 3), g.init(node, 5)
    if op == "DynamicQuantizeMatMul":
        return g.init(node, 2), g.init(node, 3)
    zp = g.init(node, 3)
    # onnxruntime: MatMulInteger -> Cast -> Mul(., Mul(activation scale, weight scale))
    for cast, _ in g.uses(str(node.output[0]), "Cast"):
        for mul, i in g.uses(str(cast.output[0]), "Mul"):
            other = str(mul.input[1 - i])
            if other in g.stored:
                return other, zp
            scales = g.producer.get(other)
            if scales is not None and scales.op_type == "Mul":
                s = g.init(scales, 0) or g.init(scales, 1)
                if s is not None:
                    return s, zp
    base = strip_quant_suffix(name)
    scale = base + "_scale"
    return (scale if scale in g.stored else None), zp


def _gathered_dequant(g: _Index, gather: Any) -> Dequant | None:
    """onnxruntime quantizes an embedding as Gather(int8 table) -> DequantizeLinear, maybe
    with a Transpose or Reshape between: the table's scale is that node's (per tensor once
    the rows have moved)."""
    value, direct = str(gather.output[0]), True
    for _ in range(4):
        dq = g.uses(value, "DequantizeLinear")
        if dq:
            node = dq[0][0]
            scale, zp = g.init(node, 1), g.init(node, 2)
            if scale is None or not direct and g.stored[scale].size != 1:
                return None
            return Dequant(scale, zp, None)
        moves = [n for n, _ in g.consumers.get(value, []) if n.op_type in _MOVES]
        if len(moves) != 1:
            return None
        value, direct = str(moves[0].output[0]), False
    return None


def _cast_scaled(g: _Index, cast_out: str) -> tuple[str, str, str | None] | None:
    """`Cast -> [Sub(zero point)] -> Mul(scale)` with constant zero point and scale."""
    value, zp = cast_out, None
    subs = g.uses(value, "Sub")
    if subs and subs[0][1] == 0 and g.init(subs[0][0], 1):
        zp, value = g.init(subs[0][0], 1), str(subs[0][0].output[0])
    for mul, i in g.uses(value, "Mul"):
        scale = g.init(mul, 1 - i)
        if scale is not None:
            return str(mul.output[0]), scale, zp
    return None


def _find_use(g: _Index, f: _Found) -> None:
    """The product a weight feeds (through Identity, Cast, Transpose), and whether it is
    stored (in, out)."""
    if f.product is not None:
        return
    value, flips = f.value, False
    for _ in range(4):
        uses = g.consumers.get(value, [])
        for node, i in uses:
            op = node.op_type
            if (op in _MATMULS and i == 1) or (op == "QLinearMatMul" and i == 3):
                f.product, f.transposed = node, not flips
                return
            if op == "Gemm" and i == 1:
                f.product, f.transposed = node, (not _attr(node, "transB", 0)) != flips
                return
            if op == "Gather" and i == 0:
                f.product, f.transposed = node, flips
                return
        step = next(((n, i) for n, i in uses if n.op_type in _PASS), None)
        if step is None:
            return
        node = step[0]
        if node.op_type == "Transpose":
            perm = _perm(node)
            if perm not in (None, [1, 0]):
                return
            flips = not flips
        value = str(node.output[0])


def _own_name(f: _Found) -> str | None:
    for candidate in (strip_quant_suffix(f.init), f.value):
        if is_named(candidate):
            return candidate
    return None


def _graph_name(g: _Index, f: _Found, by_value: dict[str, str]) -> str | None:
    """A module path for an initializer whose own name is made up (see the module doc)."""
    st = g.stored[f.init]
    if f.product is not None:
        if f.product.op_type != "Gather":
            bias = _bias_beside(g, f.product, by_value)
            if bias is not None:
                return bias.removesuffix(".bias") + ".weight"
        scope = _scope(f.product)
        return None if scope is None else scope + ".weight"
    if not st.is_float:
        return None
    for node, i in g.consumers.get(f.value, []):
        suffix = _param_suffix(g, node, i, by_value)
        scope = _scope(node) if suffix else None
        if scope is not None:
            return scope + suffix
    return None


def _param_suffix(g: _Index, node: Any, i: int, by_value: dict[str, str]) -> str:
    """What a float parameter is to the node using it: a norm's weight or bias, a scale
    (Mul), or the bias of a product (Add beside it)."""
    op = node.op_type
    if op in _NORMS:
        if op.startswith("Skip"):
            i -= 1  # SkipLayerNormalization(input, skip, gamma, beta)
        return {1: ".weight", 2: ".bias"}.get(i, "")
    if op == "Mul":
        return ".weight"
    if op == "Add":
        other = str(node.input[1 - i]) if len(node.input) == 2 else ""
        src = g.producer.get(other)
        if src is not None and src.op_type in _PRODUCTS:
            return ".bias"
    return ""


def _bias_beside(g: _Index, product: Any, by_value: dict[str, str]) -> str | None:
    """The named bias added to a product's output (Gemm: its third input)."""
    if product.op_type == "Gemm":
        b = str(product.input[2]) if len(product.input) > 2 else ""
        name = by_value.get(b)
        return name if name and name.endswith(".bias") else None
    values = [str(product.output[0])]
    for _ in range(4):
        nxt: list[str] = []
        for v in values:
            for node, i in g.consumers.get(v, []):
                if node.op_type == "Add" and len(node.input) == 2:
                    name = by_value.get(str(node.input[1 - i]))
                    if name and name.endswith(".bias"):
                        return name
                elif node.op_type in _OUT_PASS:
                    nxt.append(str(node.output[0]))
        values = nxt
    return None


def _scope(node: Any) -> str | None:
    """The module path of the node that uses a weight: dynamo's metadata, else the
    TorchScript node name."""
    for p in node.metadata_props:
        if p.key == _SCOPES_KEY and len(p.value) < _MAX_META:
            scopes = re.findall(r"'([^']*)'", p.value)
            if len(scopes) >= 2 and _SCOPE_PART.fullmatch(scopes[-2]):
                return scopes[-2]
    name = str(node.name)
    if not name.startswith("/"):
        return None
    parts = name.strip("/").split("/")[:-1]
    path: list[str] = []
    for part in parts:
        if not _SCOPE_PART.fullmatch(part):
            return None
        # TorchScript names a container's child "<container>.<index>" under the container
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path) if path else None


def _shape_of(g: _Index, f: _Found) -> tuple[int, ...]:
    d = f.dequant
    if isinstance(d, NBits):
        return (d.n, d.k)
    dims = g.stored[f.init].dims
    if f.transposed and len(dims) == 2:
        return (dims[1], dims[0])
    return dims


def _name_by_sequence(
    g: _Index, found: dict[str, _Found], named: dict[str, str], helpers: set[str]
) -> None:
    """Names by position for the weights no other clue names (see sequence_names)."""
    unnamed = {n: f for n, f in found.items() if n not in named and n not in helpers}
    products = [
        f
        for f in unnamed.values()
        if f.product is not None and f.product.op_type != "Gather" and len(_shape_of(g, f)) == 2
    ]
    if not products:
        return
    names, inputs = sequence_names(g, products)
    for f, name in names.items():
        named[f.init] = name
    if not names:
        return
    by_value = {f.value: f for f in unnamed.values() if f.init not in named}
    for layer, norm, value in inputs:
        for f, param in _norm_feeding(g, value, by_value):
            block = f"blocks.{layer}." if layer >= 0 else ""
            named[f.init] = f"graph.{block}{norm}.{param}"
    width = _shape_of(g, next(iter(names)))[1]
    tables = [
        f
        for f in unnamed.values()
        if f.init not in named
        and f.product is not None
        and f.product.op_type == "Gather"
        and len(_shape_of(g, f)) == 2
        and _shape_of(g, f)[1] == width
    ]
    if len(tables) == 1:  # the token embedding, if it is the only table of that width
        named[tables[0].init] = "graph.embed.weight"


def _norm_feeding(g: _Index, value: str, by_value: dict[str, _Found]) -> list[tuple[_Found, str]]:
    """The gain (and bias) of the norm whose output a block's group of products reads:
    a LayerNormalization-like node, or the Mul by a gain that ends an RMS norm."""
    for _ in range(4):
        node = g.producer.get(value)
        if node is None:
            return []
        if node.op_type in _NORMS:
            first = 2 if node.op_type.startswith("Skip") else 1
            params = [
                (by_value.get(str(x)), p)
                for x, p in zip(node.input[first:], ("weight", "bias"), strict=False)
            ]
            return [(f, p) for f, p in params if f is not None]
        if node.op_type == "Mul":
            gains = [by_value[str(x)] for x in node.input if str(x) in by_value]
            gains = [f for f in gains if len(g.stored[f.init].dims) == 1]
            return [(gains[0], "weight")] if len(gains) == 1 else []
        if node.op_type not in _OUT_PASS:
            return []
        value = str(node.input[0])
    return []


def sequence_names(
    g: _Index, weights: list[_Found]
) -> tuple[dict[_Found, str], list[tuple[int, str, str]]]:
    """Blocks recovered from the order of the products along the graph.

    A transformer block reads its input with a group of products that share it (q, k, v;
    or one fused qkv), projects the attention back (o), then reads the MLP's input with
    one or two products that share it (up; or gate and up) and projects back (down), whose
    input width is the hidden width of the up projection. Products are taken in graph
    order and grouped by their shared input; the groups are matched to that pattern. Only a
    graph whose every anonymous product fits the pattern gets names (`graph.blocks.N.q`...,
    known to rules/tensor_roles.toml); anything else is left unnamed, never guessed.
    Also returned: the value each block's attention and MLP read (their norms name by it).
    """
    ordered = sorted(weights, key=lambda f: g.order.get(id(f.product), 0))
    groups: list[list[_Found]] = []
    for f in ordered:
        source = str(f.product.input[0])
        if groups and str(groups[-1][0].product.input[0]) == source:
            groups[-1].append(f)
        else:
            groups.append([f])
    names: dict[_Found, str] = {}
    inputs: list[tuple[int, str, str]] = []
    layer, i = 0, 0
    while i < len(groups):
        block = _block_at(g, groups, i)
        if block is None:
            break
        for f, part in block[0]:
            names[f] = f"graph.blocks.{layer}.{part}.weight"
        inputs.append((layer, "attn_norm", str(groups[i][0].product.input[0])))
        inputs.append((layer, "mlp_norm", str(groups[i + 2][0].product.input[0])))
        layer, i = layer + 1, i + block[1]
    # after the blocks, at most a head and a pooler stay unnamed; anything else: no names
    if not layer or len(groups) - i > _TAIL_GROUPS:
        return {}, []
    # the last norm feeds the head, or is the graph's output
    final = str(groups[i][0].product.input[0]) if i < len(groups) else next(iter(g.outputs), "")
    inputs.append((-1, "final_norm", final))
    return names, inputs


def _block_at(
    g: _Index, groups: list[list[_Found]], i: int
) -> tuple[list[tuple[_Found, str]], int] | None:
    """The block starting at group i: its weights with their parts, and the groups used."""
    if i + 3 >= len(groups):
        return None
    attn, o, mlp, down = groups[i : i + 4]
    shape = {id(f): _shape_of(g, f) for grp in (attn, o, mlp, down) for f in grp}
    if len(o) != 1 or len(down) != 1 or len(mlp) not in (1, 2) or len(attn) not in (1, 3):
        return None
    d = shape[id(o[0])][0]
    ff = shape[id(mlp[-1])][0]
    if shape[id(down[0])] != (d, ff) or any(shape[id(f)][1] != d for f in (*attn, *mlp)):
        return None
    parts: list[tuple[_Found, str]] = []
    parts += list(zip(attn, ("q", "k", "v") if len(attn) == 3 else ("qkv",), strict=True))
    parts.append((o[0], "o"))
    parts += list(zip(mlp, ("gate", "up") if len(mlp) == 2 else ("up",), strict=True))
    parts.append((down[0], "down"))
    return parts, 4
