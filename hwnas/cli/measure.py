"""Commands of the measuring stage: backends, devices, spaces, profile, build-lut."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from hwnas.cli.options import device_options, devices_file_option, lut_dir_option, space_options, workdir_option
from hwnas.core.errors import HwnasError
from hwnas.core.registry import PluginFailure, failed_entry_points


def warn_broken_plugins(known: Sequence[PluginFailure] = ()) -> list[PluginFailure]:
    """Name on stderr, once each, the installed plugins that fail to load: ``known`` (what a registry found
    beyond an import error), then every hwnas entry point whose module does not import."""
    from hwnas.measure.backends import ENTRY_POINT_GROUP as BACKENDS
    from hwnas.measure.devices import DEVICE_ENTRY_POINTS
    from hwnas.ops.registry import ENTRY_POINT_GROUP as OPS
    from hwnas.space import ENTRY_POINT_GROUP as SPACES
    from hwnas.tasks.registry import ENTRY_POINT_GROUP as TASKS

    reported: dict[tuple[str, str], PluginFailure] = {}
    for failure in [*known, *failed_entry_points((BACKENDS, DEVICE_ENTRY_POINTS, SPACES, TASKS, OPS))]:
        if (failure.group, failure.name) not in reported:
            reported[failure.group, failure.name] = failure
            click.echo(f"hwnas: warning: {failure.describe()}", err=True)
    return list(reported.values())


@click.command()
def backends() -> None:
    """List measurement backends (built-in and plugins) and whether each can run here."""
    from hwnas.measure.backends import ENTRY_POINT_GROUP, discover

    entries = discover()
    warn_broken_plugins(
        [PluginFailure(e.source, ENTRY_POINT_GROUP, e.name, e.target, e.load_error) for e in entries.values()
         if e.load_error and e.source != "built-in"]
    )  # fmt: skip
    click.echo(f"{'name':16s} {'format':7s} {'source':22s} status")
    for name, entry in sorted(entries.items()):
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


@click.command()
@devices_file_option
def devices(devices_file: Path | None) -> None:
    """List device presets: built-in, from plugins, and from your devices file."""
    from hwnas.measure.devices import load_devices

    catalog = load_devices(devices_file)
    warn_broken_plugins(catalog.broken_plugins)
    for name, preset in sorted(catalog.presets.items()):
        options = ", ".join(f"{k}={v}" for k, v in preset.options.items())
        click.echo(
            f"{name:14s} backend {preset.backend:14s} [{preset.source}] {preset.description}"
            + (f" ({options})" if options else "")
        )


@click.command()
@click.argument("space", required=False)
@click.option("--preset", default=None, help="With SPACE: print the op keys of this preset.")
def spaces(space: str | None, preset: str | None) -> None:
    """List search spaces, their presets with unique-op counts, their tasks' options and baselines; with SPACE
    --preset, print its op keys."""
    from hwnas.space import ENTRY_POINT_GROUP, discover, get_space

    if space and preset:
        for spec in get_space(space).preset(preset).enumerate_ops():
            click.echo(spec.key)
        return
    if space:
        names = [space]
    else:
        broken = {f.name for f in warn_broken_plugins() if f.group == ENTRY_POINT_GROUP}
        names = sorted(set(discover()) - broken)
    for name in names:
        try:
            s = get_space(name)
        except HwnasError as exc:  # a plugin's factory that fails: named, and the others still listed
            if space:
                raise
            click.echo(f"hwnas: warning: {exc}", err=True)
            continue
        counts = ", ".join(f"{p} {len(s.preset(p).enumerate_ops())} ops" for p in s.presets)
        click.echo(f"{s.name:10s} {s.description}\n{'':10s} presets: {counts}")
        for line in _task_lines(s):
            click.echo(f"{'':10s} {line}")


def _task_lines(space) -> list[str]:
    """The space's task: its options (``--task-option``) and hand-designed networks (``train --arch NAME``),
    where it is a declared space whose task loads."""
    from hwnas.tasks.registry import task_class
    from hwnas.train.options import describe_options

    presets = space.presets
    task = getattr(space.preset(presets[0]), "task", None) if presets else None
    if not task:
        return []
    try:
        cls = task_class(task)
    except HwnasError:  # a broken task plugin: `hwnas search` names it; the listing goes on
        return []
    lines = [describe_options(task, cls.Options) + " (--task-option KEY=VALUE)"]
    if cls.baselines:
        lines.append(f"baselines (hwnas train --arch NAME): {', '.join(cls.baselines)}")
    return lines


@click.command()
@device_options
@space_options(required=False)
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    default=None,
    help="Measure this whole model file instead of a search space's ops.",
)
@click.option(
    "--op-profile",
    is_flag=True,
    help="With --model on an Android device: the model's time per op as benchmark_model profiles it "
    "(--enable_op_profiling), printed and kept with the measurement under <workdir>/models/<device>/.",
)
@click.option("--retry-failed", is_flag=True, help="Measure again the ops recorded as failed.")
@click.option(
    "--farm",
    multiple=True,
    metavar="ADDRESS",
    help="A device of the preset (ip:port in TCP mode, or a USB serial); repeat it to profile on every device at "
    "once, each op measured by whichever is free (needs hwnas[distributed]).",
)
@click.option(
    "--ray-address",
    default=None,
    help="A running Ray cluster for --farm (e.g. auto); default: a local Ray instance on this machine.",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar with ETA.")
@click.option(
    "--verbose",
    is_flag=True,
    help="Print each reference run that finds the device off its baseline (drift is always summed up at the end).",
)
@workdir_option
def profile(device_name, devices_file, device_overrides, space, preset, model, op_profile, retry_failed, farm,
            ray_address, progress, verbose, workdir) -> None:  # fmt: skip
    """Measure every unique op of a search space (or one whole --model) on a device, or on a farm of devices.

    Each result is written to the measurement store the moment it completes: a killed run resumes where it
    stopped, with nothing lost and nothing measured twice. Failing ops are recorded with their reason and
    the run goes on; noisy ops are re-measured; a reference op is re-measured periodically to detect drift
    (thermal throttling, background load), reported once at the end (--verbose: as it happens).
    With --farm, one Ray actor per device measures; a device that goes away is dropped and its op re-queued.
    A missing per-inference overhead (its calibration run failed) is measured again on the next profile.

    Exit code 0 when every op is measured; 3 when some failed on the op itself (the report names them; fix
    and re-run with --retry-failed); 4 when the device failed: unreachable, or max_device_faults runs in a row
    (default 2) hung or lost it, which stops the profile instead of waiting out every op's timeout.
    """
    from hwnas.space import get_preset
    from hwnas.workflows.tables import op_profile_lines, open_device, profile_model_file, profile_space

    if (space is None) == (model is None):
        raise HwnasError("give exactly one of --space (profile a search space's ops) or --model (one model file)")
    if farm and ({"host", "serial"} & device_overrides.keys() or model is not None):
        raise HwnasError("--farm names the devices of a space's profile; drop --host/--serial/--model, or --farm")
    if ray_address and not farm:
        raise HwnasError("--ray-address applies to --farm only")
    if op_profile and model is None:
        raise HwnasError("--op-profile breaks one whole model down per op; give it with --model")
    device, backend = open_device(device_name, devices_file, device_overrides)
    if model is not None:
        measured, kept = profile_model_file(device, backend, model, workdir, op_profile)
        click.echo(f"{model}: {measured}")
        for line in op_profile_lines(measured) if op_profile else []:
            click.echo(line)
        click.echo(f"kept in {kept}")
        return
    report = profile_space(device, backend, get_preset(space, preset), workdir, progress, retry_failed, farm,
                           ray_address, verbose)  # fmt: skip
    for line in report.lines():
        click.echo(line)
    if report.failed:
        from hwnas.cli import EXIT_OPS_FAILED

        raise SystemExit(EXIT_OPS_FAILED)


@click.command("build-lut")
@device_options
@space_options(required=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Table path (.csv); default lut/<device>/<space>-<preset>.csv under --lut-dir.",
)
@lut_dir_option
@workdir_option
def build_lut(device_name, devices_file, device_overrides, space, preset, out, lut_dir, workdir) -> None:
    """Turn the measurement store into a latency lookup table (CSV + metadata JSON, parquet with pyarrow).

    Reads only the store and the device preset: an Android device need not be connected (its tool versions
    come from the store). Refuses, naming them, when ops of the space are not measured yet.
    """
    from hwnas.space import get_preset
    from hwnas.workflows import tables

    device, backend = tables.open_device(device_name, devices_file, device_overrides)
    table, paths = tables.build_lut(device, backend, get_preset(space, preset), workdir, lut_dir, out)
    for path in paths:
        click.echo(f"wrote {path}")
    overhead = table.metadata.get("per_inference_overhead_ms")
    if overhead is None:  # its calibration failed: the table predicts uncalibrated sums until a profile repairs it
        click.echo(
            f"{len(table.frame)} ops; warning: no per-inference overhead was measured (its calibration failed): "
            "re-run `hwnas profile` with the same options to measure it, then build-lut again"
        )
    else:
        click.echo(f"{len(table.frame)} ops, per-inference overhead {overhead:.4f} ms")


@click.command()
@device_options
def doctor(device_name, devices_file, device_overrides) -> None:
    """Check that a device preset can measure: for an Android device the adb key, the benchmark_model binary,
    delegate libraries, connection and authorisation, that the binary runs there, and the big cores. Prints
    the fix for the first failure; exit code 1 when anything fails."""
    from hwnas.workflows.tables import open_device

    device, backend = open_device(device_name, devices_file, device_overrides)
    click.echo(f"{device.name}: backend {backend.name}")
    results = backend.diagnose()
    for name, passed, detail in results:
        click.echo(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")
    if not all(passed for _, passed, _ in results):
        raise SystemExit(1)


COMMANDS = [backends, devices, spaces, profile, build_lut, doctor]
