"""Train an avatar encoder with the Eq. 4 loss (optionally Eq. 3-weighted); checkpoints resume exactly."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from hwnas.avatar.data import AvatarData
from hwnas.avatar.decoder import VIEW_DIRECTIONS
from hwnas.avatar.losses import AvatarLoss, ExtremeExpressionWeight
from hwnas.rundir import bind_config

CHECKPOINT = "checkpoint.pt"
VIEWS_IN_ROTATION = tuple(VIEW_DIRECTIONS)


@dataclass(frozen=True)
class TrainConfig:
    encoder: str
    preset: str
    steps: int
    batch: int
    lr: float = 2e-3
    seed: int = 0
    ee_loss: bool = True
    checkpoint_every: int = 100
    data: str = "synthetic"


def save_checkpoint(path: Path, state: dict) -> None:
    """State dicts, numbers and lists only, so the file loads with ``weights_only=True``; atomic."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def build_loss(config: TrainConfig, latent_dim: int, render_size: int) -> AvatarLoss:
    return AvatarLoss(latent_dim, render_size, extreme_weight=ExtremeExpressionWeight() if config.ee_loss else None)


def _batch_indices(pool: torch.Tensor, step: int, config: TrainConfig) -> torch.Tensor:
    """Batches depend only on (seed, step): a resumed run sees exactly the batches an unbroken one would."""
    g = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    return pool[torch.randint(len(pool), (config.batch,), generator=g)]


def train(
    model: torch.nn.Module,
    data: AvatarData,
    config: TrainConfig,
    run_dir: Path,
    render_size: int,
    progress: bool = True,
    torch_device: str = "cpu",
    stop_after: int | None = None,
) -> dict:
    """Train to ``config.steps`` (or pause at ``stop_after``), resuming from the run's checkpoint if any."""
    bind_config(run_dir, asdict(config))
    ckpt_path = run_dir / CHECKPOINT
    torch.manual_seed(config.seed)
    device = torch.device(torch_device)
    model.to(device)
    loss_fn = build_loss(config, data.z.shape[1], render_size).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps))
    )
    step, history = 0, []
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, history = state["step"], state["history"]
    pool = data.indices("train")
    model.train()
    loss_fn.train()
    start = time.perf_counter()
    bar = tqdm(total=config.steps, initial=step, desc=f"train {config.encoder}", unit="step", disable=not progress)
    last = min(config.steps, stop_after) if stop_after is not None else config.steps
    while step < last:
        batch = {k: v.to(device) for k, v in data.batch(_batch_indices(pool, step, config)).items()}
        view = VIEWS_IN_ROTATION[step % len(VIEWS_IN_ROTATION)]
        loss, terms = loss_fn(model(batch["views"]), batch, views=(view,))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        history.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]:.4f}", render=f"{terms['render']:.4f}", refresh=False)
        if step % config.checkpoint_every == 0 or step == last:
            save_checkpoint(
                ckpt_path,
                {
                    "model": model.state_dict(),
                    "loss": loss_fn.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "step": step,
                    "history": history,
                },
            )
    bar.close()
    return {"steps": step, "final_loss": history[-1] if history else None, "wall_s": time.perf_counter() - start}
