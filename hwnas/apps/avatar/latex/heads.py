"""The LATEX heads of a trained run: fitted once to the frozen encoder, kept in the run folder beside its
checkpoint, refitted when the encoder trained further, and exported with it (entry point ``hwnas.exports``)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from hwnas.apps.avatar.data import AvatarData
from hwnas.apps.avatar.latex.early_head import EarlyHead, EarlyHeadNetwork, KeyFrameNetwork, fit_early_head
from hwnas.apps.avatar.latex.view_heads import ViewHeads, fit_view_heads, view_pieces
from hwnas.train.checkpoint import load_checkpoint, save_checkpoint

HEAD_FILE = "latex_head.pt"
VIEW_HEADS_FILE = "latex_view_heads.pt"


def _read_head(path: Path) -> tuple[EarlyHead, int]:
    state = load_checkpoint(path, ("weight", "bias", "step"))
    head = EarlyHead(state["weight"].shape[1], state["weight"].shape[0])
    head.linear.load_state_dict({"weight": state["weight"], "bias": state["bias"]})
    return head.eval(), state["step"]


def early_head(run_dir: Path, net: nn.Module, data: AvatarData, step: int) -> EarlyHead:
    """The run's head, fitted once to its trained encoder on the training frames and kept in the run folder
    (``hwnas export`` exports it with the encoder); refitted when the encoder was trained further."""
    path = Path(run_dir) / HEAD_FILE
    if path.is_file():
        head, fitted_at = _read_head(path)
        if fitted_at == step:
            return head
    train = data.indices("train")
    head = fit_early_head(net, ((data.batch(train[i : i + 256])["views"], None) for i in range(0, len(train), 256)))
    save_checkpoint(path, {"weight": head.linear.weight.data, "bias": head.linear.bias.data, "step": step})
    return head


def view_heads(run_dir: Path, net: nn.Module, data: AvatarData, step: int) -> ViewHeads:
    """The run's per-view heads, fitted once like the frame head and kept beside it."""
    path = Path(run_dir) / VIEW_HEADS_FILE
    if path.is_file():
        state = load_checkpoint(path)  # a cache: refitted when stale or written by an older hwnas
        if {"heads", "bases", "effects", "step"} <= set(state) and state["step"] == step:
            return ViewHeads.from_state(state)
    train = data.indices("train")
    heads = fit_view_heads(net, (data.batch(train[i : i + 256])["views"] for i in range(0, len(train), 256)))
    save_checkpoint(path, {**heads.state(), "step": step})
    return heads


def load_early_head(run_dir: Path) -> EarlyHead | None:
    """The head `hwnas latex` fitted for this run, if any."""
    path = Path(run_dir) / HEAD_FILE
    return _read_head(path)[0] if path.is_file() else None


def load_view_heads(run_dir: Path) -> ViewHeads | None:
    """The per-view heads `hwnas latex --granularity view` fitted for this run, if any."""
    path = Path(run_dir) / VIEW_HEADS_FILE
    return ViewHeads.from_state(load_checkpoint(path, ("heads", "bases", "effects"))) if path.is_file() else None


def exported_heads(run_dir: Path, network: nn.Module) -> tuple[dict[str, nn.Module], list[str]]:
    """What a run's LATEX deployment runs beside (or instead of) the plain encoder, by file-name infix (``""``:
    the main file), and a note on each: key frames run the encoder with the head's output ``z_early``, skipped
    frames the head alone (``early``); per-view heads add the pieces a per-view stream runs."""
    modules: dict[str, nn.Module] = {}
    notes = []
    head, heads = load_early_head(run_dir), load_view_heads(run_dir)
    if head is not None:
        modules = {"": KeyFrameNetwork(network, head), "early": EarlyHeadNetwork(network, head)}
        notes.append("the run has a LATEX head: the main file adds the output z_early; .early is the head alone")
    if heads is not None:
        pieces = view_pieces(network, heads)
        modules.update(pieces)
        notes.append(f"the run has per-view LATEX heads: {', '.join('.' + k for k in pieces)}")
    return modules, notes
