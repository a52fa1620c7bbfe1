"""Per-view LATEX: a view's part of the encoder is skipped on frames where that view has not changed enough.

The avatar encoder reads three views (two eyes, the mouth) through separate parts and fuses their features
with a small dense map: ``encode == fuse(view_parts(view_stems(inputs)))``. A blink moves the eyes and leaves
the mouth as it was; a frame-level decision must run all three parts for it. Here each view has its own early
head, fitted after the encoder like the frame head, in two linear steps:
- the view's stems (the first module of each of its branches), pooled to ``VIEW_GRID`` x ``VIEW_GRID``, map to
  the leading ``RANK`` principal components of that view's part (its code: what the head can tell, cheaply);
- those map to the outputs the avatar renders (``DECISION_OUTPUTS``, each in units of its spread over the
  training frames), by the fusion's linear fit on the training frames (exact where the fusion is linear).
So a view's decision code says how the avatar would move if only that view were encoded again, and a view is
a key when it has moved by the threshold since the view's last key frame. A held part may follow the code's
change, mapped back into the part by the components' basis (``LatexPolicy.gain``).

Deployed (``view_pieces``), a frame runs ``ViewHeadsNetwork`` (every view's stems and head), then
``ViewPartNetwork`` from the stems of each key view, then ``FuseNetwork`` on the fresh and held parts.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hwnas.apps.avatar.latex.early_head import EarlyHead, _pooled, deployed_flops, ridge, ridge_head

VIEW_GRID = 8  # finer than the frame head's 4: one view's taps must tell its own small changes (docs/latex.md)
RANK = 8  # principal components of a view's part the head predicts: keeps the head under 2 % of the encoder
DECISION_OUTPUTS = ("z", "g")  # what the avatar renders; key points are not drawn


class ViewHeads(nn.Module):
    """Per view: its early head (pooled stems -> RANK components of its part), the components' basis in the
    part (what a change of the code means for the part) and their effect on the decision outputs."""

    def __init__(self, heads: dict[str, EarlyHead], bases: dict[str, torch.Tensor], effects: dict[str, torch.Tensor]):
        super().__init__()
        self.heads = nn.ModuleDict(heads)
        self.bases = nn.ModuleDict({v: nn.Linear(*b.shape, bias=False) for v, b in bases.items()})
        self.effects = nn.ModuleDict({v: nn.Linear(*e.shape, bias=False) for v, e in effects.items()})
        with torch.no_grad():
            for v in heads:
                self.bases[v].weight.copy_(bases[v].T)
                self.effects[v].weight.copy_(effects[v].T)

    def forward(self, stems: dict[str, list[torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Per view its code (RANK components of its part, as the head predicts them)."""
        return {view: head(stems[view]) for view, head in self.heads.items()}

    def decision(self, codes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per view the code's effect on the decision outputs: what the stream compares."""
        return {view: self.effects[view](code) for view, code in codes.items()}

    def in_part(self, view: str, code: torch.Tensor) -> torch.Tensor:
        """A code (or a change of it) as a vector of the view's part."""
        return self.bases[view](code)

    def state(self) -> dict:
        return {
            "heads": {v: {"weight": h.linear.weight.data, "bias": h.linear.bias.data} for v, h in self.heads.items()},
            "bases": {v: b.weight.data.T for v, b in self.bases.items()},
            "effects": {v: e.weight.data.T for v, e in self.effects.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> ViewHeads:
        heads = {}
        for view, s in state["heads"].items():
            heads[view] = EarlyHead(s["weight"].shape[1], s["weight"].shape[0], VIEW_GRID)
            heads[view].linear.load_state_dict(s)
        return cls(heads, state["bases"], state["effects"]).eval()


@torch.no_grad()
def fit_view_heads(net: nn.Module, batches: Iterable[torch.Tensor], rank: int = RANK) -> ViewHeads:
    """Fit every view's head (ridge, closed form) to the frozen encoder, on batches of views."""
    net.eval()
    pooled: dict[str, list[torch.Tensor]] = {}
    parts: dict[str, list[torch.Tensor]] = {}
    outputs: list[torch.Tensor] = []
    for views in batches:
        stems = net.view_stems(net.inputs_of(views))
        part = net.view_parts(stems)
        for view, maps in stems.items():
            pooled.setdefault(view, []).append(_pooled(maps, VIEW_GRID).double())
            parts.setdefault(view, []).append(part[view].double())
        fused = net.fuse(part)
        outputs.append(torch.cat([fused[k].double() for k in DECISION_OUTPUTS], 1))
    out = torch.cat(outputs)
    widths = [int(fused[k].shape[1]) for k in DECISION_OUTPUTS]
    blocks = zip(widths, out.split(widths, 1), strict=True)  # each output in units of its block's mean spread
    spread = torch.cat([torch.full((n,), float(b.std(0).mean().clamp(min=1e-8))) for n, b in blocks]).double()
    heads, bases, codes = {}, {}, {}
    for view in pooled:
        x = torch.cat(parts[view])
        centred = x - x.mean(0)
        bases[view] = torch.linalg.svd(centred, full_matrices=False).Vh[:rank]  # (rank, part size)
        codes[view] = centred @ bases[view].T
        heads[view] = ridge_head(torch.cat(pooled[view]), codes[view], VIEW_GRID)
    # the fusion's linear fit: decision outputs (in spreads) from every view's codes; a view's block is its effect
    effect, _ = ridge(torch.cat(list(codes.values()), 1), out / spread)
    effects = dict(zip(codes, effect.float().split([c.shape[1] for c in codes.values()]), strict=True))
    return ViewHeads(heads, {v: b.float() for v, b in bases.items()}, effects)


def stem_name(view: str, i: int) -> str:
    """The name of a view's i-th stem between the deployed pieces."""
    return f"stem_{view}_{i}"


class ViewHeadsNetwork(nn.Module):
    """What every frame runs first: each view's stems and head. Outputs per view the decision code
    (``early_<view>``, which the stream compares with the one at that view's last key frame), the code itself
    (``code_<view>``) and the stems (``stem_<view>_<i>``), from which a key view's part goes on."""

    def __init__(self, net: nn.Module, heads: ViewHeads):
        super().__init__()
        self.net, self.heads = net, heads
        inputs = {k: torch.zeros(s) for k, s in net.deploy_inputs().items()}
        with torch.no_grad():
            stems = net.eval().view_stems(inputs)
        self.stem_shapes = {view: [tuple(m.shape) for m in maps] for view, maps in stems.items()}
        self.output_names = [
            *(f"early_{v}" for v in heads.heads),
            *(f"code_{v}" for v in heads.heads),
            *(stem_name(v, i) for v in heads.heads for i in range(len(self.stem_shapes[v]))),
        ]

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        return self.net.deploy_inputs()

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        stems = self.net.view_stems(inputs)
        codes = self.heads(stems)
        out = {f"early_{v}": e for v, e in self.heads.decision(codes).items()}
        out.update({f"code_{v}": c for v, c in codes.items()})
        out.update({stem_name(v, i): m for v, maps in stems.items() for i, m in enumerate(maps)})
        return out


class ViewPartNetwork(nn.Module):
    """What a view's key frame runs after the heads: that view's part of the encoder, from its stems."""

    def __init__(self, net: nn.Module, view: str, stem_shapes: list[tuple[int, ...]]):
        super().__init__()
        self.net, self.view, self.stem_shapes = net, view, stem_shapes
        self.output_names = [f"part_{view}"]

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        return {stem_name(self.view, i): shape for i, shape in enumerate(self.stem_shapes)}

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        stems = [inputs[stem_name(self.view, i)] for i in range(len(self.stem_shapes))]
        return {f"part_{self.view}": self.net.view_parts({self.view: stems}, [self.view])[self.view]}


class FuseNetwork(nn.Module):
    """What every frame runs last: the outputs from the three parts, fresh or held; a held part first moves
    by its code's change since its key frame (``shift_<view>``, zero on a key frame, scaled by the stream's
    gain)."""

    def __init__(self, net: nn.Module, heads: ViewHeads, sizes: dict[str, int]):
        super().__init__()
        self.net, self.heads, self.sizes = net, heads, sizes
        self.output_names = list(net.output_names)

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        parts = {f"part_{v}": (1, n) for v, n in self.sizes.items()}
        return {**parts, **{f"shift_{v}": (1, self.heads.bases[v].in_features) for v in self.sizes}}

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        moved = {v: inputs[f"part_{v}"] + self.heads.in_part(v, inputs[f"shift_{v}"]) for v in self.sizes}
        return self.net.fuse(moved)


@torch.no_grad()
def view_pieces(net: nn.Module, heads: ViewHeads) -> dict[str, nn.Module]:
    """What a device runs for per-view LATEX, by name: ``heads`` on every frame, ``part-<view>`` on the view's
    key frames, ``fuse`` on every frame."""
    decision = ViewHeadsNetwork(net, heads)
    inputs = {name: torch.zeros(shape) for name, shape in net.deploy_inputs().items()}
    sizes = {v: int(p.shape[1]) for v, p in net.eval().view_parts(net.view_stems(inputs)).items()}
    parts = {f"part-{v}": ViewPartNetwork(net, v, decision.stem_shapes[v]) for v in heads.heads}
    return {"heads": decision, **parts, "fuse": FuseNetwork(net, heads, sizes)}


@torch.no_grad()
def view_flops(net: nn.Module, pieces: dict[str, nn.Module]) -> dict:
    """FLOPs of the encoder alone and of the per-view pieces: the decision (stems, heads with their pooling),
    each view's part after its stems, the fusion; ``head``: what the decision adds beyond the stems."""
    inputs = {name: torch.zeros(shape) for name, shape in net.deploy_inputs().items()}
    counter = FlopCounterMode(display=False)
    with counter:
        stems = net.eval().view_stems(inputs)
    pooling = sum(m[:1].numel() for maps in stems.values() for m in maps)
    decision = deployed_flops(pieces["heads"]) + pooling
    return {
        "encoder": deployed_flops(net),
        "decision": decision,
        "head": decision - counter.get_total_flops(),
        "parts": {k.removeprefix("part-"): deployed_flops(m) for k, m in pieces.items() if k.startswith("part-")},
        "fuse": deployed_flops(pieces["fuse"]),
    }
