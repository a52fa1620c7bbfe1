"""A training run on disk: its data, its encoder, its checkpoint, its metrics — rebuilt from config.json."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import torch

from hwnas.architecture import Architecture
from hwnas.avatar.data import AvatarData, load_npz, synthesize, task_preset
from hwnas.avatar.encoders import BASELINES, build_baseline, count_flops, count_params
from hwnas.avatar.evaluate import mean_predictor, model_predictor, render_mse
from hwnas.avatar.network import AvatarNetwork
from hwnas.avatar.train import CHECKPOINT, TrainConfig, load_checkpoint
from hwnas.errors import HwnasError
from hwnas.searchspaces import get_preset


def load_data(config: TrainConfig) -> AvatarData:
    if config.data == "synthetic":
        return synthesize(task_preset(config.preset), seed=config.seed)
    return load_npz(Path(config.data))


def build_encoder(config: TrainConfig, data: AvatarData) -> torch.nn.Module:
    """A baseline by name, or the network of an architecture JSON of the avatar space."""
    if config.encoder.endswith(".json"):
        arch = Architecture.load(Path(config.encoder))
        if arch.preset != config.preset:
            raise HwnasError(
                f"architecture {config.encoder} is for preset {arch.preset!r}; pass --preset {arch.preset}"
            )
        return AvatarNetwork(arch, get_preset(arch.space, arch.preset), data.views.shape[-1])
    if config.encoder not in BASELINES:
        raise HwnasError(
            f"unknown encoder {config.encoder!r}; available: {', '.join(BASELINES)} or an architecture .json"
        )
    return build_baseline(config.encoder, config.preset, data.views.shape[-1], data.z.shape[1], data.y.shape[1] // 2)


def read_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise HwnasError(f"{run_dir} is not a training run (no config.json); train one with `hwnas train`")
    raw = json.loads(path.read_text())
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in raw.items() if k in known})


def load_trained(run_dir: Path) -> tuple[TrainConfig, AvatarData, torch.nn.Module, int]:
    """The run's config, data, encoder with its checkpoint's weights, and the step it reached."""
    config = read_config(run_dir)
    ckpt = Path(run_dir) / CHECKPOINT
    if not ckpt.is_file():
        raise HwnasError(f"{run_dir} has no checkpoint yet; run `hwnas train` first")
    data = load_data(config)
    model = build_encoder(config, data)
    state = load_checkpoint(ckpt)
    model.load_state_dict(state["model"])
    return config, data, model, state["step"]


def evaluate_run(run_dir: Path) -> dict:
    config, data, model, step = load_trained(run_dir)
    render_size = task_preset(config.preset).render_size
    metrics = {
        "encoder": config.encoder,
        "preset": config.preset,
        "ee_loss": config.ee_loss,
        "steps": step,
        "mflops": count_flops(model, model.input_res) / 1e6,
        "params": count_params(model),
        "test": render_mse(model_predictor(model), data, "test", render_size),
        "extreme": render_mse(model_predictor(model), data, "extreme", render_size),
        "mean_baseline": {
            "test": render_mse(mean_predictor(data), data, "test", render_size),
            "extreme": render_mse(mean_predictor(data), data, "extreme", render_size),
        },
    }
    (Path(run_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
