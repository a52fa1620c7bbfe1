"""Commands of training runs: train, evaluate, export."""

from __future__ import annotations

from pathlib import Path

import click

from hwnas.cli.options import (
    DEFAULT_PRESET,
    check_torch_device,
    choice_option,
    path_option,
    progress_option,
    task_option,
    torch_device_option,
)


@click.command("train")
@click.option(
    "--arch",
    "encoder",
    required=True,
    help="What to train: a hand-designed baseline of an installed task, by name (`hwnas spaces` lists them), or "
    "an architecture .json of any space whose task is installed (written by `hwnas search`).",
)
@click.option("--preset", default=DEFAULT_PRESET, show_default=True, help="Task preset: tiny, small (CPU), paper.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Training steps (default: the preset's).")
@path_option(
    "--data",
    "Your own data instead of the task's built-in benchmark: a file its task reads (see the task's docs).",
    dest="data_file",
    file=True,
)
@task_option
@click.option("--seed", default=0, show_default=True, help="Seed of the data, the initial weights and the batches.")
@click.option(
    "--init-seed",
    type=int,
    default=None,
    help="Another seed for the initial weights and the batch order on the same data (default: --seed): train "
    "twice to see how much a score owes to training alone.",
)
@path_option(
    "--run-dir",
    "Where the checkpoint goes; default runs/train-<space>-<preset>-<encoder> (an architecture file adds its "
    "content hash). An interrupted run resumes here.",
)
@torch_device_option
@progress_option
def train(encoder, preset, steps, data_file, task_options, seed, init_seed, run_dir, torch_device, progress) -> None:
    """Train an encoder from scratch with its task's loss."""
    from hwnas.train.options import split_options
    from hwnas.workflows.runs import train_run

    check_torch_device(torch_device)
    run_dir, result = train_run(
        encoder,
        preset,
        steps,
        seed,
        split_options(task_options),
        data_file,
        run_dir,
        progress,
        torch_device,
        init_seed,
    )
    click.echo(
        f"trained {encoder} for {result['steps']} steps in {result['wall_s']:.0f} s; "
        f"final loss {result['final_loss']:.4f}; checkpoint in {run_dir}; score it with: "
        f"hwnas evaluate --run-dir {run_dir}"
    )


@click.command("evaluate")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="A directory written by `hwnas train`.",
)
def evaluate(run_dir: Path) -> None:
    """Held-out metrics of a trained run, also written to <run-dir>/metrics.json. Which metrics is the task's
    choice (a classifier: accuracy), with FLOPs and params."""
    from hwnas.workflows.runs import evaluate_run

    for line in evaluate_run(run_dir)[1]:
        click.echo(line)


@click.command("export")
@path_option("--run-dir", "A directory written by `hwnas train`: export its trained encoder.")
@path_option(
    "--arch",
    "An architecture JSON: export it with random weights (enough to measure latency).",
    dest="arch_path",
    file=True,
)
@choice_option("--format", ("onnx", "tflite"), "ONNX, or TFLite converted from it and checked.", dest="fmt")
@choice_option(
    "--precision",
    ("float32", "float16"),
    "TFLite weights as float32 or float16 (half the file; inputs and outputs stay float32).",
)
@path_option(
    "--out", "Output file; default <run-dir>/encoder.<format> or the architecture's name with that suffix.", file=True
)
def export(run_dir, arch_path, fmt, precision, out) -> None:
    """Export a network as the device runs it: one input per view at its resolution, one output per branch.

    Pieces that installed plugins add for a trained run (entry-point group hwnas.exports: say, heads an
    application fitted to the encoder) are exported beside it as <out stem>.<piece>.<format>, or replace <out>;
    each plugin says what it added.

    TFLite goes through onnx2tf (pip install 'hwnas[tflite]') and is kept only when LiteRT reproduces
    onnxruntime's outputs. Measure the result with `hwnas profile --device <d> --model <file>`.
    """
    from hwnas.workflows.exports import export_network

    result = export_network(run_dir, arch_path, fmt, precision, out)
    for note in result.notes:
        click.echo(note)
    for path in result.paths:
        click.echo(f"wrote {path}; measure it with: hwnas profile --device <device> --model {path}")


COMMANDS = [train, evaluate, export]
