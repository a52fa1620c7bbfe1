"""The ``hwnas`` command line: list backends/devices/spaces, profile ops, build and inspect latency tables."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from hwnas import __version__
from hwnas.errors import HwnasError

DEFAULT_PRESET = "small"


def _lut_dir_option(f):
    return click.option(
        "--lut-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("HWNAS_LUT_DIR", "lut"),
        show_default="lut (or $HWNAS_LUT_DIR)",
        help="Where latency tables live: <lut-dir>/<device>/<space>-<preset>.csv.",
    )(f)


def _workdir_option(f):
    return click.option(
        "--workdir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("HWNAS_WORKDIR", ".hwnas"),
        show_default=".hwnas (or $HWNAS_WORKDIR)",
        help="Where the measurement store (measurements.sqlite) and the exported op artifacts live.",
    )(f)


def _device_options(f):
    f = click.option(
        "--devices-file",
        type=click.Path(path_type=Path),
        default=None,
        help="Extra device presets (TOML); also read from $HWNAS_DEVICES.",
    )(f)
    return click.option(
        "--device", "device_name", required=True, help="Device preset to measure on (see `hwnas devices`)."
    )(f)


def _space_options(required: bool):
    def decorate(f):
        f = click.option(
            "--preset",
            default=DEFAULT_PRESET,
            show_default=True,
            help="Search-space preset: tiny (tests), small (CPU default), paper (192 px views).",
        )(f)
        return click.option(
            "--space",
            required=required,
            help="Search space name (see `hwnas spaces`) or a path to a .toml declaration.",
        )(f)

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hwnas")
def cli() -> None:
    """Hardware-aware NAS: measure every candidate op of a search space on a device, build its latency
    lookup table, and search architectures against it.

    \b
    Typical use:
      hwnas profile   --device cpu --space avatar --preset small
      hwnas build-lut --device cpu --space avatar --preset small
      hwnas lut show  lut/cpu/avatar-small.csv
    """


@cli.command()
def backends() -> None:
    """List measurement backends (built-in and plugins) and whether each can run here."""
    from hwnas.backends import discover

    click.echo(f"{'name':16s} {'format':7s} {'source':22s} status")
    for name, entry in sorted(discover().items()):
        fmt = entry.cls.artifact_format if entry.cls else "?"
        if entry.cls is None:
            status = f"broken: {entry.load_error}"
        else:
            try:
                backend = entry.cls()
                backend.check()
                status = "available (" + ", ".join(f"{k} {v}" for k, v in backend.versions().items()) + ")"
            except Exception as exc:  # availability is reported, never fatal
                status = f"unavailable: {exc}"
        click.echo(f"{name:16s} {fmt:7s} {entry.source:22s} {status}")


@cli.command()
@click.option(
    "--devices-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Extra device presets (TOML); also read from $HWNAS_DEVICES.",
)
def devices(devices_file: Path | None) -> None:
    """List device presets: built-in, from plugins, and from your devices file."""
    from hwnas.devices import load_devices

    for name, preset in sorted(load_devices(devices_file).items()):
        options = ", ".join(f"{k}={v}" for k, v in preset.options.items())
        click.echo(
            f"{name:14s} backend {preset.backend:14s} [{preset.source}] {preset.description}"
            + (f" ({options})" if options else "")
        )


@cli.command()
@click.argument("space", required=False)
@click.option("--preset", default=None, help="With SPACE: print the op keys of this preset.")
def spaces(space: str | None, preset: str | None) -> None:
    """List search spaces and their presets with unique-op counts; with SPACE --preset, print its op keys."""
    from hwnas.searchspaces import discover, get_space

    if space and preset:
        for spec in get_space(space).preset(preset).enumerate_ops():
            click.echo(spec.key)
        return
    for name in [space] if space else sorted(discover()):
        s = get_space(name)
        counts = ", ".join(f"{p} {len(s.preset(p).enumerate_ops())} ops" for p in s.presets)
        click.echo(f"{s.name:10s} {s.description}\n{'':10s} presets: {counts}")


@cli.command()
@_device_options
@_space_options(required=False)
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    default=None,
    help="Measure this whole model file instead of a search space's ops.",
)
@click.option("--retry-failed", is_flag=True, help="Measure again the ops recorded as failed.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar with ETA.")
@_workdir_option
def profile(device_name, devices_file, space, preset, model, retry_failed, progress, workdir) -> None:
    """Measure every unique op of a search space (or one whole --model) on a device.

    Each result is written to the measurement store the moment it completes: a killed run resumes where it
    stopped, with nothing lost and nothing measured twice. Failing ops are recorded with their reason and
    the run goes on; noisy ops are re-measured; a reference op is re-measured periodically to detect drift.
    """
    from hwnas import backends as registry
    from hwnas.artifacts import ArtifactCache
    from hwnas.devices import get_device
    from hwnas.profiler import Profiler, profile_model
    from hwnas.searchspaces import get_preset
    from hwnas.store import MeasurementStore

    if (space is None) == (model is None):
        raise HwnasError("give exactly one of --space (profile a search space's ops) or --model (one model file)")
    device = get_device(device_name, devices_file)
    backend = registry.create(device.backend, device.options)
    if model is not None:
        m = profile_model(backend, device, model)
        click.echo(f"{model}: {m}")
        return
    specs = get_preset(space, preset).enumerate_ops()
    with MeasurementStore(workdir / "measurements.sqlite") as store:
        profiler = Profiler(device, backend, store, ArtifactCache(workdir / "artifacts"))
        report = profiler.run(specs, progress=progress, retry_failed=retry_failed)
    for line in report.lines():
        click.echo(line)


@cli.command("build-lut")
@_device_options
@_space_options(required=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Table path (.csv); default lut/<device>/<space>-<preset>.csv under --lut-dir.",
)
@_lut_dir_option
@_workdir_option
def build_lut(device_name, devices_file, space, preset, out, lut_dir, workdir) -> None:
    """Turn the measurement store into a latency lookup table (CSV + metadata JSON, parquet with pyarrow).

    Refuses, naming them, when ops of the space are not measured yet.
    """
    from hwnas import backends as registry
    from hwnas.devices import get_device
    from hwnas.lut import build_table, default_table_path
    from hwnas.searchspaces import get_preset
    from hwnas.store import MeasurementStore

    device = get_device(device_name, devices_file)
    backend = registry.create(device.backend, device.options)
    space_preset = get_preset(space, preset)
    store_path = workdir / "measurements.sqlite"
    if not store_path.is_file():
        raise HwnasError(
            f"no measurement store at {store_path}; run: hwnas profile --device {device.name} "
            f"--space {space} --preset {preset}"
        )
    with MeasurementStore(store_path) as store:
        table = build_table(store, device, backend, space_preset)
    target = out or default_table_path(lut_dir, device.name, space_preset.space, preset)
    for path in table.save(target):
        click.echo(f"wrote {path}")
    click.echo(f"{len(table.frame)} ops, per-inference overhead {table.metadata['per_inference_overhead_ms']:.4f} ms")


@cli.group()
def lut() -> None:
    """Inspect latency tables: summary, lookup of keys, diff of two tables."""


@lut.command("show")
@click.argument("table", type=click.Path(path_type=Path))
def lut_show(table: Path) -> None:
    """Summarise a table: device, op counts and latency ranges, overhead, drift."""
    from hwnas.lut import LatencyTable

    t = LatencyTable.load(table)
    for line in t.summary():
        click.echo(line)
    if t.metadata.get("drift"):
        click.echo(f"drift: {json.dumps(t.metadata['drift'])}")


@lut.command("lookup")
@click.argument("table", type=click.Path(path_type=Path))
@click.argument("keys", nargs=-1, required=True)
def lut_lookup(table: Path, keys: tuple[str, ...]) -> None:
    """Print the row of each op KEY (e.g. fmbconv-k3-e4-s2-cin8-cout16-h40w40)."""
    from hwnas.lut import LatencyTable
    from hwnas.ops import OpSpec

    t = LatencyTable.load(table)
    canonical = [OpSpec.parse(k).key for k in keys]
    t.require(canonical)
    for key in canonical:
        row = t.frame.loc[key]
        click.echo(
            f"{key}: median {row.median_ms:.4f} ms  IQR {row.iqr_ms:.4f} ms  n={row.n}"
            f"{'  (noisy)' if row.noisy else ''}  MFLOPs {row.flops / 1e6:.3f}  params {row.params}"
        )


@lut.command("diff")
@click.argument("table_a", type=click.Path(path_type=Path))
@click.argument("table_b", type=click.Path(path_type=Path))
@click.option("--top", default=10, show_default=True, help="How many of the most changed ops to list.")
def lut_diff(table_a: Path, table_b: Path, top: int) -> None:
    """Compare two tables key by key: shared/only-in counts, median ratio B/A, the most changed ops."""
    from hwnas.lut import LatencyTable

    d = LatencyTable.load(table_a).diff(LatencyTable.load(table_b))
    both = d.dropna()
    only_a = int(d.median_ms_b.isna().sum())
    only_b = int(d.median_ms_a.isna().sum())
    click.echo(f"{len(both)} shared ops, {only_a} only in A, {only_b} only in B")
    if len(both):
        click.echo(
            f"ratio B/A: median {both.ratio.median():.3f}, min {both.ratio.min():.3f}, max {both.ratio.max():.3f}"
        )
        changed = both.assign(change=(both.ratio - 1).abs()).sort_values("change", ascending=False).head(top)
        for key, row in changed.iterrows():
            click.echo(f"  {key}: {row.median_ms_a:.4f} -> {row.median_ms_b:.4f} ms (x{row.ratio:.3f})")


@cli.command("train")
@click.option(
    "--arch",
    "encoder",
    required=True,
    help="Encoder to train: eem, eem-ch50, eem-res50, or an architecture .json of the avatar space.",
)
@click.option("--preset", default=DEFAULT_PRESET, show_default=True, help="Task preset: tiny, small (CPU), paper.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Training steps (default: the preset's).")
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Your own HMC data (.npz, see docs/avatar-data.md) instead of the synthetic benchmark.",
)
@click.option(
    "--ee-loss/--no-ee-loss",
    default=True,
    show_default=True,
    help="Weight samples by the extreme-expression term of Eq. 3.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of data, initialisation and batches.")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the checkpoint goes; default runs/<arch>-<preset>. An interrupted run resumes here.",
)
@click.option("--torch-device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ...")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_cmd(encoder, preset, steps, data_file, ee_loss, seed, run_dir, torch_device, progress) -> None:
    """Train an avatar encoder on the synthetic HMC benchmark (or your data) with the paper's loss."""
    from hwnas.avatar.data import task_preset
    from hwnas.avatar.runs import build_encoder, load_data
    from hwnas.avatar.train import TrainConfig, train

    _check_torch_device(torch_device)
    task = task_preset(preset)
    if data_file is not None and not data_file.is_file():
        raise HwnasError(f"data file {data_file} does not exist")
    if encoder.endswith(".json"):
        encoder = str(Path(encoder).resolve())  # a resumed run must find it from any directory
    config = TrainConfig(
        encoder=encoder,
        preset=preset,
        steps=steps or task.steps,
        batch=task.batch,
        seed=seed,
        ee_loss=ee_loss,
        data=str(data_file.resolve()) if data_file else "synthetic",
    )
    data = load_data(config)
    model = build_encoder(config, data)
    run_dir = run_dir or Path("runs") / f"{Path(encoder).stem}-{preset}{'' if ee_loss else '-no-ee'}"
    result = train(model, data, config, run_dir, task.render_size, progress=progress, torch_device=torch_device)
    click.echo(
        f"trained {encoder} for {result['steps']} steps in {result['wall_s']:.0f} s; "
        f"final loss {result['final_loss']:.4f}; checkpoint in {run_dir}"
    )


@cli.command("evaluate")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="A directory written by `hwnas train`.",
)
def evaluate_cmd(run_dir: Path) -> None:
    """Render MSE (0-255 scale) per viewing direction, per identity and on the extreme subset, with the
    predict-the-mean baseline, FLOPs and params; also written to <run-dir>/metrics.json."""
    from hwnas.avatar.runs import evaluate_run

    m = evaluate_run(run_dir)
    click.echo(f"{m['encoder']} ({m['preset']}, {m['steps']} steps): {m['mflops']:.2f} MFLOPs, {m['params']} params")
    click.echo(f"{'':22s} {'front':>8s} {'left':>8s} {'right':>8s} {'mean':>8s}")
    for label, r in (
        ("test", m["test"]),
        ("extreme", m["extreme"]),
        ("mean baseline, test", m["mean_baseline"]["test"]),
        ("mean baseline, extreme", m["mean_baseline"]["extreme"]),
    ):
        click.echo(f"{label:22s} {r['front']:8.2f} {r['left']:8.2f} {r['right']:8.2f} {r['mean']:8.2f}")
    click.echo("test per identity: " + ", ".join(f"#{k} {v:.2f}" for k, v in m["test"]["per_identity"].items()))


@cli.command("export")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A directory written by `hwnas train`: export its trained encoder.",
)
@click.option(
    "--arch",
    "arch_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An architecture JSON: export it with random weights (enough to measure latency).",
)
@click.option("--format", "fmt", type=click.Choice(["onnx", "tflite"]), default="onnx", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file; default <run-dir>/encoder.<format> or the architecture's name with that suffix.",
)
def export_cmd(run_dir, arch_path, fmt, out) -> None:
    """Export a network as the device runs it: one input per view at its resolution; outputs z, g, y for an
    avatar encoder, the branch outputs for other spaces.

    TFLite goes through onnx2tf (pip install 'hwnas[tflite]') and is kept only when LiteRT reproduces
    onnxruntime's outputs. Measure the result with `hwnas profile --device <d> --model <file>`.
    """
    from hwnas.architecture import Architecture
    from hwnas.avatar.network import AvatarNetwork
    from hwnas.avatar.runs import load_trained
    from hwnas.export import export_encoder
    from hwnas.network import ArchitectureNetwork
    from hwnas.searchspaces import get_preset

    if (run_dir is None) == (arch_path is None):
        raise HwnasError("give exactly one of --run-dir (a trained encoder) or --arch (an architecture JSON)")
    if run_dir is not None:
        _, _, net, _ = load_trained(run_dir)
        out = out or run_dir / f"encoder.{fmt}"
    else:
        arch = Architecture.load(arch_path)
        space = get_preset(arch.space, arch.preset)
        if space.task == "avatar":
            net = AvatarNetwork(arch, space, max(arch.resolutions.values()))
        else:
            net = ArchitectureNetwork(arch, space)
        out = out or arch_path.with_suffix(f".{fmt}")
    path = export_encoder(net, out, fmt)
    click.echo(f"wrote {path}; measure it with: hwnas profile --device <device> --model {path}")


@cli.command("search")
@_device_options
@_space_options(required=True)
@click.option(
    "--target-ms",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Latency target of the whole encoder on the device, in ms.",
)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Search steps (default: the preset's).")
@click.option(
    "--latency-loss",
    type=click.Choice(["log", "hinge"]),
    default="log",
    show_default=True,
    help="log: |log(lat/target)| pulls to the target; hinge: penalises only going over it.",
)
@click.option("--latency-weight", default=1.0, show_default=True, help="Coefficient of the latency loss.")
@click.option(
    "--op-sampling",
    type=click.Choice(["hard", "soft"]),
    default="hard",
    show_default=True,
    help="soft: every layer runs the Gumbel-weighted sum of all candidate ops (the paper's form, for a GPU); "
    "hard: only the sampled op runs, with a straight-through weight (about 5x faster on a CPU).",
)
@click.option(
    "--method",
    type=click.Choice(["differentiable", "random"]),
    default="differentiable",
    show_default=True,
    help="random: the equal-budget baseline (architectures predicted within 10% of the target, each "
    "trained for an equal share of the steps, best held-out loss wins).",
)
@click.option(
    "--ee-loss/--no-ee-loss",
    default=True,
    show_default=True,
    help="Extreme-expression weight of Eq. 3 (--no-ee-loss gives the paper's VC-NAS ablation).",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where arch.json, report.json, search_curves.png and the checkpoint go; default "
    "runs/search-<method>-<device>-<preset>-<target>ms.",
)
@_lut_dir_option
@click.option("--torch-device", default="cpu", show_default=True, help="cpu, cuda, ...")
@click.option("--progress/--no-progress", default=True, show_default=True)
@_workdir_option
def search_cmd(
    device_name,
    devices_file,
    space,
    preset,
    target_ms,
    steps,
    latency_loss,
    latency_weight,
    op_sampling,
    method,
    ee_loss,
    seed,
    out_dir,
    lut_dir,
    torch_device,
    progress,
    workdir,
) -> None:
    """Hardware-aware search of a space (avatar, digits, ...) against the device's latency table.

    Builds the table first when it is missing (profiling what the store lacks), alternates weight and
    architecture steps, fits the most likely architecture to the target, exports it and measures it end to
    end on the device, and writes arch.json, report.json and search_curves.png to --out. A killed search
    resumes from its last checkpoint when re-run with the same settings.
    """
    from hwnas import backends as registry
    from hwnas.devices import get_device
    from hwnas.lut.build import default_table_path, ensure_table
    from hwnas.search.search import search, write_report
    from hwnas.search.tasks import build_task
    from hwnas.searchspaces import get_preset

    _check_torch_device(torch_device)
    space_preset = get_preset(space, preset)
    setup = build_task(space_preset, seed, ee_loss)
    device = get_device(device_name, devices_file)
    backend = registry.create(device.backend, device.options)
    table_path = default_table_path(lut_dir, device.name, space_preset.space, preset)
    table = ensure_table(device, backend, space_preset, workdir, table_path, progress)
    config = setup.search_config(
        target_ms,
        steps,
        latency_loss=latency_loss,
        latency_weight=latency_weight,
        seed=seed,
        ee_loss=ee_loss,
        op_sampling=op_sampling,
    )
    out_dir = out_dir or Path("runs") / f"search-{method}-{device.name}-{preset}-{target_ms:g}ms"
    if method == "random":
        from hwnas.search.random_search import random_search

        result = random_search(space_preset, table, setup.task, config)
    else:
        result = search(space_preset, table, setup.task, config, progress, torch_device, run_dir=out_dir)
    arch = result.architecture
    check = None
    if backend.artifact_format == "onnx":
        from hwnas.export import check_architecture

        check = check_architecture(arch, space_preset, table, device, backend, workdir)
    arch_path = write_report(result, space_preset, config, out_dir, table_path, check.as_dict() if check else None)
    measured = ""
    if check is not None:
        off = check.measured.median_ms / target_ms - 1
        measured = f", measured end to end {check.measured.median_ms:.3f} ms ({off:+.1%} off the target)"
    click.echo(
        f"target {target_ms:g} ms, predicted {result.predicted_ms:.3f} ms{measured}, "
        f"{arch.flops(space_preset) / 1e6:.2f} MFLOPs, search {result.wall_s:.0f} s"
    )
    click.echo("resolutions: " + ", ".join(f"{v} {r}" for v, r in arch.resolutions.items()))
    for b in arch.branches:
        click.echo(f"  {b.view}.{b.branch}: " + " ".join(f"{c.op}@{c.width}" for c in b.layers))
    click.echo(
        f"wrote {arch_path}, {out_dir / 'report.json'} and {out_dir / 'search_curves.png'}; train it with: "
        f"hwnas train --arch {arch_path} --preset {preset}"
    )


def _check_torch_device(name: str) -> None:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise HwnasError(f"--torch-device {name!r} is not a torch device; use cpu, cuda or cuda:<index>") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HwnasError(f"--torch-device {name}: CUDA is not available on this machine; use --torch-device cpu")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="hwnas", standalone_mode=False)
    except HwnasError as exc:
        click.echo(f"hwnas: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"hwnas: error: {exc.format_message()} (see --help)", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("hwnas: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("hwnas: interrupted; re-run the same command to resume", err=True)
        sys.exit(130)
