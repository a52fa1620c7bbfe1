"""Per-view LATEX: a view's part of the encoder is skipped on frames where that view has not changed enough.

The avatar encoder reads three views (two eyes, the mouth) through separate parts and fuses their features
with a small dense map (``net.view_parts`` / ``net.fuse``). A blink moves the eyes and leaves the mouth as it
was; a frame-level decision must run all three parts for it. Here each view has its own early head, fitted after
the encoder like the frame head, in two linear steps:
- the view's first layers (the stem of each of its branches), pooled to ``VIEW_GRID`` x ``VIEW_GRID``, map to the
  leading ``RANK`` principal components of that view's part (what the head can tell, cheaply);
- those map to the outputs the avatar renders (``DECISION_OUTPUTS``, each in units of its spread over the
  training frames), by the fusion's linear fit on the training frames (exact where the fusion is linear).
So a view's code says how the avatar would move if only that view were encoded again, and a view is a key when
its code has moved by the threshold since the view's last key frame.

Deployed, a frame runs ``ViewHeadsNetwork`` (every view's taps and head), then ``ViewPartNetwork`` for each key
view, then ``FuseNetwork`` on the fresh and held parts.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hwnas.deploy.early_head import EarlyHead, _pooled, deployed_flops, ridge, ridge_head

VIEW_GRID = 8  # finer than the frame head's 4: one view's taps must tell its own small changes (docs/latex.md)
RANK = 8  # principal components of a view's part the head predicts: keeps the head under 2 % of the encoder
DECISION_OUTPUTS = ("z", "g")  # what the avatar renders; key points are not drawn


def view_maps(net: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, list[torch.Tensor]]:
    return {view: [module(x) for module, x in taps] for view, taps in net.view_taps(inputs).items()}


class ViewHeads(nn.Module):
    """Per view: its early head (pooled taps -> RANK components of its part) and that part's effect on the
    decision outputs (RANK -> outputs)."""

    def __init__(self, heads: dict[str, EarlyHead], effects: dict[str, torch.Tensor]):
        super().__init__()
        self.heads = nn.ModuleDict(heads)
        self.effects = nn.ModuleDict({v: nn.Linear(*e.shape, bias=False) for v, e in effects.items()})
        with torch.no_grad():
            for v, e in effects.items():
                self.effects[v].weight.copy_(e.T)

    def forward(self, maps: dict[str, list[torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {view: self.effects[view](head(maps[view])) for view, head in self.heads.items()}

    def state(self) -> dict:
        return {
            "heads": {v: {"weight": h.linear.weight.data, "bias": h.linear.bias.data} for v, h in self.heads.items()},
            "effects": {v: e.weight.data.T for v, e in self.effects.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> ViewHeads:
        heads = {}
        for view, s in state["heads"].items():
            heads[view] = EarlyHead(s["weight"].shape[1], s["weight"].shape[0], VIEW_GRID)
            heads[view].linear.load_state_dict(s)
        return cls(heads, state["effects"]).eval()


@torch.no_grad()
def fit_view_heads(net: nn.Module, batches: Iterable[torch.Tensor], rank: int = RANK) -> ViewHeads:
    """Fit every view's head (ridge, closed form) to the frozen encoder, on batches of views."""
    net.eval()
    taps: dict[str, list[torch.Tensor]] = {}
    parts: dict[str, list[torch.Tensor]] = {}
    outputs: list[torch.Tensor] = []
    for views in batches:
        inputs = net.inputs_of(views)
        part = net.view_parts(inputs)
        for view, maps in view_maps(net, inputs).items():
            taps.setdefault(view, []).append(_pooled(maps, VIEW_GRID).double())
            parts.setdefault(view, []).append(part[view].double())
        fused = net.fuse(part)
        outputs.append(torch.cat([fused[k].double() for k in DECISION_OUTPUTS], 1))
    out = torch.cat(outputs)
    widths = [int(fused[k].shape[1]) for k in DECISION_OUTPUTS]
    blocks = zip(widths, out.split(widths, 1), strict=True)  # each output in units of its block's mean spread
    spread = torch.cat([torch.full((n,), float(b.std(0).mean().clamp(min=1e-8))) for n, b in blocks]).double()
    heads, codes = {}, {}
    for view in taps:
        x = torch.cat(parts[view])
        centred = x - x.mean(0)
        basis = torch.linalg.svd(centred, full_matrices=False).Vh[:rank]  # (rank, part size)
        codes[view] = centred @ basis.T
        heads[view] = ridge_head(torch.cat(taps[view]), codes[view], VIEW_GRID)
    # the fusion's linear fit: decision outputs (in spreads) from every view's codes; a view's block is its effect
    effect, _ = ridge(torch.cat(list(codes.values()), 1), out / spread)
    effects = dict(zip(codes, effect.float().split([c.shape[1] for c in codes.values()]), strict=True))
    return ViewHeads(heads, effects)


class ViewHeadsNetwork(nn.Module):
    """What every frame runs first: each view's taps and head; outputs each view's code (``early_<view>``),
    which the stream compares with the code at that view's last key frame."""

    def __init__(self, net: nn.Module, heads: ViewHeads):
        super().__init__()
        self.net, self.heads = net, heads
        self.output_names = [f"early_{v}" for v in heads.heads]

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        return self.net.deploy_inputs()

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {f"early_{v}": code for v, code in self.heads(view_maps(self.net, inputs)).items()}


class ViewPartNetwork(nn.Module):
    """What a view's key frame runs: that view's part of the encoder, from the inputs it reads."""

    def __init__(self, net: nn.Module, view: str):
        super().__init__()
        self.net, self.view = net, view
        self.output_names = [f"part_{view}"]

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        every = self.net.deploy_inputs()
        return {self.view: every[self.view]} if self.view in every else every

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {f"part_{self.view}": self.net.view_parts(inputs, [self.view])[self.view]}


class FuseNetwork(nn.Module):
    """What every frame runs last: the outputs from the three parts (fresh or held)."""

    def __init__(self, net: nn.Module, sizes: dict[str, int]):
        super().__init__()
        self.net, self.sizes = net, sizes
        self.output_names = list(net.output_names)

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        return {f"part_{v}": (1, n) for v, n in self.sizes.items()}

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.net.fuse({v: inputs[f"part_{v}"] for v in self.sizes})


@torch.no_grad()
def view_flops(net: nn.Module, heads: ViewHeads, sizes: dict[str, int]) -> dict:
    """FLOPs of the encoder alone and of the per-view pieces: the decision (taps, heads with their pooling), each
    view's part, the fusion; ``head``: what the decision adds beyond the taps."""
    inputs = {name: torch.zeros(shape) for name, shape in net.deploy_inputs().items()}
    counter = FlopCounterMode(display=False)
    with counter:
        maps = view_maps(net.eval(), inputs)
    pooling = sum(m[:1].numel() for view in maps.values() for m in view)
    decision = deployed_flops(ViewHeadsNetwork(net, heads)) + pooling
    return {
        "encoder": deployed_flops(net),
        "decision": decision,
        "head": decision - counter.get_total_flops(),
        "parts": {v: deployed_flops(ViewPartNetwork(net, v)) for v in heads.heads},
        "fuse": deployed_flops(FuseNetwork(net, sizes)),
    }
