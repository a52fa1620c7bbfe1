"""The conformance kit of op types: ``check_op_type("mbconv")`` (see ``hwnas.testing``).

An op type's declared FLOPs and parameters must be what torch counts, its key must round-trip, its module must
export to ONNX (and TFLite, with the tflite extra) as it computes in torch, and — for a type a search may choose
— the supernet's layer with the type as its candidate must compute every narrower child exactly.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from hwnas.measure.artifacts import export_onnx
from hwnas.ops import OpSpec, OpTemplate
from hwnas.ops.registry import OpType, known, lookup
from hwnas.search.supernet import MixedLayer, Sampling
from hwnas.space.declared import LayerCandidates
from hwnas.testing.kit import Skipped, run_checks

SUPERNET_WIDTHS = (4, 8)  # the input and output widths a layer offers in the supernet check


@dataclass
class _Kit:
    name: str
    keys: list[str]  # instances to check besides the example
    tflite: bool | None
    folder: Path

    @property
    def op_type(self) -> OpType:
        found = lookup(self.name)
        assert found is not None, f"no op type {self.name!r}; known: {known()}"
        return found

    @functools.cached_property
    def instances(self) -> list[OpSpec]:
        return _instances(self.op_type, self.keys)


def check_op_type(name: str, instances: Sequence[str] = (), tflite: bool | None = None) -> list[str]:
    """Run every check on the op type registered as ``name`` (built in, or brought by a plugin's ``hwnas.ops``
    entry point), on its example key, on ``instances`` (more keys) and on variants of them. ``tflite``: check
    the TFLite export too (None: when onnx2tf and LiteRT are installed)."""
    with tempfile.TemporaryDirectory(prefix="hwnas-op-type-") as tmp:
        return run_checks(f"op type {name!r}", CHECKS, _Kit(name, list(instances), tflite, Path(tmp)))


def _instances(t: OpType, keys: Sequence[str]) -> list[OpSpec]:
    """The example and the given keys, and each at stride 1 and 2 and with cout = cin where the type has them."""
    specs = [OpSpec.parse(t.example), *(OpSpec.parse(k) for k in keys)]
    variants = []
    for s in specs:
        if "stride" in t.fields:
            variants += [replace(s, stride=1), replace(s, stride=2)]
        if "cout" in t.fields:
            variants.append(replace(s, cout=s.cin, **({"stride": 1} if "stride" in t.fields else {})))
    return list(dict.fromkeys([*specs, *variants]))


def _inputs(spec: OpSpec) -> torch.Tensor:
    return torch.randn(*spec.input_shape, generator=torch.Generator().manual_seed(0))


def check_registered(kit: _Kit) -> None:
    """Found under its name (a plugin's op types load through the ``hwnas.ops`` entry points), with an example
    key that parses."""
    OpSpec.parse(kit.op_type.example)


def check_keys(kit: _Kit) -> None:
    """Every instance's key parses back to the same instance; the example is in canonical form."""
    assert OpSpec.parse(kit.op_type.example).key == kit.op_type.example, "the example key is not canonical"
    for spec in kit.instances:
        assert OpSpec.parse(spec.key) == spec, f"{spec.key} does not parse back to itself"


def check_costs(kit: _Kit) -> None:
    """``params`` is what the module holds; ``flops`` (2 x multiply-adds) is what torch's FLOP counter counts —
    for types whose ``macs`` are plain additions (pooling) only that they are not negative."""
    for spec in kit.instances:
        module = spec.build_module().eval()
        held = sum(p.numel() for p in module.parameters())
        assert spec.params == held, f"{spec.key}: declares {spec.params} parameters, the module holds {held}"
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = module(_inputs(spec))
        assert tuple(out.shape) == spec.output_shape, f"{spec.key}: output {tuple(out.shape)}, not {spec.output_shape}"
        if kit.op_type.counts_adds:
            assert spec.flops >= 0, f"{spec.key}: negative FLOPs"
        else:
            counted = counter.get_total_flops()
            assert spec.flops == counted, f"{spec.key}: declares {spec.flops} FLOPs, torch counts {counted}"


def check_onnx(kit: _Kit) -> None:
    """Exported as hwnas exports ops, onnxruntime computes what torch computes."""
    import onnxruntime as ort

    for i, spec in enumerate(kit.instances):
        module, x = spec.build_module().eval(), _inputs(spec)
        path = export_onnx(module, {"input": spec.input_shape}, kit.folder / f"op{i}.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            want = module(x).numpy()
        assert np.allclose(got, want, atol=1e-4, rtol=1e-3), f"{spec.key}: onnxruntime differs from torch"


def check_tflite(kit: _Kit) -> None:
    """Converted to TFLite through onnx2tf, LiteRT computes what onnxruntime computes (the converter checks)."""
    if kit.tflite is None:
        try:
            import ai_edge_litert  # noqa: F401
            import onnx2tf  # noqa: F401
        except ImportError:
            raise Skipped from None
    elif not kit.tflite:
        raise Skipped
    from hwnas.measure.tflite import onnx_to_tflite

    for i, spec in enumerate(kit.instances[:3]):
        path = export_onnx(spec.build_module(), {"input": spec.input_shape}, kit.folder / f"tfl{i}.onnx")
        onnx_to_tflite(path, kit.folder / f"tfl{i}.tflite")


def check_supernet(kit: _Kit) -> None:
    """A searchable type: the supernet's layer with the type as its candidate, built at the widest widths,
    computes each child of every input and output width it offers exactly — the child's weights the leading
    slices of the layer's — in training and in evaluation mode (``hwnas.ops.sharing.SharesWidths``)."""
    t = kit.op_type
    if not t.searchable:
        raise Skipped
    strides = (1, 2) if "stride" in t.fields else (1,)
    for spec in kit.instances:
        template = OpTemplate(spec.op, spec.kernel, spec.expansion)
        for stride in strides:
            layer = LayerCandidates(0, stride, SUPERNET_WIDTHS, SUPERNET_WIDTHS, (template,), spec.w, spec.h)
            _check_layer(layer, template)


def _check_layer(layer: LayerCandidates, template: OpTemplate) -> None:
    torch.manual_seed(0)
    mixed = MixedLayer(layer)
    widest = mixed.candidates[0].state_dict()
    for training in (True, False):
        mixed.train(training)
        for i, cin in enumerate(layer.in_widths):
            for j, cout in enumerate(layer.out_widths):
                x = torch.randn(2, max(layer.in_widths), layer.height or layer.size, layer.size)
                x[:, cin:] = 0  # what the previous layer's width mask leaves
                mixed.alpha_width.data = torch.full((len(layer.out_widths),), -1e4)
                mixed.alpha_width.data[j] = 1e4
                w_in = torch.nn.functional.one_hot(torch.tensor(i), len(layer.in_widths)).float()
                with torch.no_grad():
                    y, _ = mixed(x, Sampling(tau=1.0, ops="hard", hard_width=True), w_in)
                child = layer.instantiate(template, cin, cout).build_module().train(training)
                child.load_state_dict({k: widest[k][tuple(slice(0, n) for n in v.shape)]
                                       for k, v in child.state_dict().items()})  # fmt: skip
                with torch.no_grad():
                    want = child(x[:, :cin])
                where = f"{template.name} at stride {layer.stride}, {cin} -> {cout} channels, training={training}"
                assert torch.allclose(y[:, :cout], want, atol=1e-5), f"{where}: the layer differs from the child"
                assert bool((y[:, cout:] == 0).all()), f"{where}: channels beyond the child's width are not zero"


CHECKS: list[Callable[[_Kit], None]] = [
    check_registered,
    check_keys,
    check_costs,
    check_onnx,
    check_tflite,
    check_supernet,
]
