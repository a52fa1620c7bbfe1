"""``hwnas search``: hardware-aware search of a space against a device's latency table."""

from __future__ import annotations

import click

from hwnas.cli.options import (
    PositiveNumber,
    check_torch_device,
    choice_option,
    device_options,
    lut_dir_option,
    path_option,
    progress_option,
    space_options,
    task_option,
    torch_device_option,
    workdir_option,
)
from hwnas.core.jobs import JobOptions
from hwnas.search.config import (
    ARCH_LOSSES,
    LATENCY_LOSSES,
    LATENCY_STEPS,
    METHODS,
    OP_SAMPLING,
    RESOLUTION_CHOICES,
    WEIGHT_SAMPLING,
)
from hwnas.search.target import LatencyTarget


@click.command("search")
@device_options
@space_options(required=True)
@click.option(
    "--target-ms",
    type=PositiveNumber(),
    default=None,
    help="Latency target of the whole encoder on the device, in ms.",
)
@click.option(
    "--speedup",
    type=PositiveNumber(),
    default=None,
    help="Or a target that means the same on any device: the space's reference network (a baseline of its "
    "task, or its slowest network) measured end to end on the device, divided by this.",
)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Search steps (default: the preset's).")
@choice_option(
    "--latency-loss",
    LATENCY_LOSSES,
    "squared-log: log(lat/target)^2, whose pull fades at the target so that there the task decides; log: "
    "|log(lat/target)|, full pull up to the target; hinge: penalises only going over it.",
)
@choice_option(
    "--latency-step",
    LATENCY_STEPS,
    "The latency loss's optimiser. adam: every op, width and resolution logit steps alike, whatever it costs; "
    "shared: one gradient scale for all, so the logits step in proportion to the latency they cost.",
)
@click.option(
    "--latency-weight",
    type=PositiveNumber(allow_zero=True),
    default=1.0,
    show_default=True,
    help="Coefficient of the latency loss (0: the task alone decides).",
)
@choice_option(
    "--op-sampling",
    OP_SAMPLING,
    "soft: every layer runs the Gumbel-weighted sum of all candidate ops (the paper's form, for a GPU); "
    "hard: weight steps run one sampled op, architecture steps two (ProxylessNAS binary gates, so that op "
    "logits move by how ops compare); several times faster on a CPU.",
)
@choice_option(
    "--weight-sampling",
    WEIGHT_SAMPLING,
    "The paths weight steps train after the warm-up. policy: drawn from the architecture distribution; "
    "uniform: every choice alike; sandwich: the largest and smallest child and two uniform paths per batch "
    "(ranks children best, docs/search-quality.md; 4x the weight passes, which random search then gets too).",
)
@choice_option(
    "--arch-loss",
    ARCH_LOSSES,
    "What chooses the architecture (the weights always train on the task's loss). selection: the task's "
    "selection loss, the error it is judged on; training: the training loss itself, which can order networks "
    "unlike the error they are judged on (docs/search-quality.md).",
)
@choice_option(
    "--resolution-choice",
    RESOLUTION_CHOICES,
    "How the search ends on each view's resolution. policy: the most likely one; held-out: one architecture per "
    "resolution, each fitted to the target and scored as a sub-network of the supernet on held-out examples, the "
    "best kept; trained: the supernet gets half the steps, and the same proposals each train from scratch for a "
    "share of the other half and are compared as random search compares its candidates (docs/search-quality.md).",
)
@choice_option(
    "--method",
    METHODS,
    "random: the equal-budget baseline (architectures predicted within 3% of the target, as the searched one, each "
    "trained for an equal share of the steps; the lowest held-out score by --arch-loss wins).",
)
@task_option
@click.option("--seed", default=0, show_default=True, help="Draws the task's data and the search's randomness.")
@path_option(
    "--out",
    "Where arch.json, report.json, search_curves.png and the checkpoints go; default "
    "runs/search-<space>-<method>-<device>-<preset>-<target>ms (or <S>x).",
    dest="out_dir",
)
@lut_dir_option
@torch_device_option
@click.option(
    "--ray",
    is_flag=True,
    help="With --method random: train the candidates at once as Ray tasks, one CPU (and --gpus-per-job) each "
    "(needs the distributed extra).",
)
@click.option(
    "--ray-address",
    default=None,
    help="With --ray: join this Ray cluster ('auto' finds the local one) instead of starting a new instance; "
    "its nodes must share the --out folder.",
)
@click.option(
    "--gpus-per-job",
    type=PositiveNumber(allow_zero=True),
    default=0.0,
    show_default=True,
    help="With --ray and --torch-device cuda: the share of a GPU each candidate takes (0.25: four per GPU).",
)
@progress_option
@workdir_option
def search(device_name, devices_file, device_overrides, space, preset, target_ms, speedup, steps, latency_loss,
           latency_step, latency_weight, op_sampling, weight_sampling, arch_loss, resolution_choice, method,
           task_options, seed, out_dir,
           lut_dir, torch_device, ray, ray_address, gpus_per_job, progress, workdir) -> None:  # fmt: skip
    """Hardware-aware search of a space (`hwnas spaces` lists them) against the device's latency table.

    The target is --target-ms, or --speedup S: the space's reference network measured on the device, divided
    by S. A target the space cannot reach is refused with the reachable range. Builds the table first when it
    is missing (profiling what the store lacks), alternates weight and architecture steps, fits the most likely
    architecture to the target, exports it and measures it end to end on the device, and writes arch.json,
    report.json and search_curves.png to --out. A killed search resumes from its last checkpoint when re-run
    with the same settings; a finished one is reported again.
    """
    from hwnas.train.options import split_options
    from hwnas.workflows.searches import SearchRequest, run_search, summary

    check_torch_device(torch_device)
    target = LatencyTarget(target_ms, speedup)  # one value from here to the latency loss
    settings = {"latency_loss": latency_loss, "latency_step": latency_step, "latency_weight": latency_weight,
                "op_sampling": op_sampling, "weight_sampling": weight_sampling, "arch_loss": arch_loss,
                "resolution_choice": resolution_choice}  # fmt: skip
    jobs = JobOptions(ray, ray_address, gpus=gpus_per_job)
    request = SearchRequest(space, device_name, target, preset, method, steps, seed,
                            split_options(task_options), settings,
                            devices_file, out_dir, lut_dir, workdir, torch_device, progress, device_overrides,
                            jobs)  # fmt: skip
    outcome = run_search(request)
    for line in summary(outcome):
        click.echo(line)
    out = outcome.out_dir
    click.echo(
        f"wrote {outcome.arch_path}, {out / 'report.json'} and {out / 'search_curves.png'}; train it with: "
        f"hwnas train --arch {outcome.arch_path} --preset {preset}"
    )


COMMANDS = [search]
