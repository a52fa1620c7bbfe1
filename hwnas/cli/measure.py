"""Commands of the measuring stage: backends, devices, spaces, profile, build-lut."""

from __future__ import annotations

from pathlib import Path

import click

from hwnas.cli.options import device_options, devices_file_option, lut_dir_option, space_options, workdir_option
from hwnas.core.errors import HwnasError


@click.command()
def backends() -> None:
    """List measurement backends (built-in and plugins) and whether each can run here."""
    from hwnas.measure.backends import discover

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


@click.command()
@devices_file_option
def devices(devices_file: Path | None) -> None:
    """List device presets: built-in, from plugins, and from your devices file."""
    from hwnas.measure.devices import load_devices

    catalog = load_devices(devices_file)
    for name, preset in sorted(catalog.presets.items()):
        options = ", ".join(f"{k}={v}" for k, v in preset.options.items())
        click.echo(
            f"{name:14s} backend {preset.backend:14s} [{preset.source}] {preset.description}"
            + (f" ({options})" if options else "")
        )
    for plugin, reason in sorted(catalog.broken_plugins.items()):
        click.echo(f"broken plugin {plugin}: {reason}")


@click.command()
@click.argument("space", required=False)
@click.option("--preset", default=None, help="With SPACE: print the op keys of this preset.")
def spaces(space: str | None, preset: str | None) -> None:
    """List search spaces and their presets with unique-op counts; with SPACE --preset, print its op keys."""
    from hwnas.space import discover, get_space

    if space and preset:
        for spec in get_space(space).preset(preset).enumerate_ops():
            click.echo(spec.key)
        return
    for name in [space] if space else sorted(discover()):
        s = get_space(name)
        counts = ", ".join(f"{p} {len(s.preset(p).enumerate_ops())} ops" for p in s.presets)
        click.echo(f"{s.name:10s} {s.description}\n{'':10s} presets: {counts}")


@click.command()
@device_options
@space_options(required=False)
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    default=None,
    help="Measure this whole model file instead of a search space's ops.",
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
@workdir_option
def profile(device_name, devices_file, device_overrides, space, preset, model, retry_failed, farm, ray_address,
            progress, workdir) -> None:  # fmt: skip
    """Measure every unique op of a search space (or one whole --model) on a device, or on a farm of devices.

    Each result is written to the measurement store the moment it completes: a killed run resumes where it
    stopped, with nothing lost and nothing measured twice. Failing ops are recorded with their reason and
    the run goes on; noisy ops are re-measured; a reference op is re-measured periodically to detect drift.
    With --farm, one Ray actor per device measures; a device that goes away is dropped and its op re-queued.
    """
    from hwnas.measure.profiler import profile_model
    from hwnas.space import get_preset
    from hwnas.workflows.tables import open_device, profile_space

    if (space is None) == (model is None):
        raise HwnasError("give exactly one of --space (profile a search space's ops) or --model (one model file)")
    if farm and ({"host", "serial"} & device_overrides.keys() or model is not None):
        raise HwnasError("--farm names the devices of a space's profile; drop --host/--serial/--model, or --farm")
    if ray_address and not farm:
        raise HwnasError("--ray-address applies to --farm only")
    device, backend = open_device(device_name, devices_file, device_overrides)
    if model is not None:
        click.echo(f"{model}: {profile_model(backend, device, model)}")
        return
    report = profile_space(device, backend, get_preset(space, preset), workdir, progress, retry_failed, farm,
                           ray_address)  # fmt: skip
    for line in report.lines():
        click.echo(line)


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

    Refuses, naming them, when ops of the space are not measured yet.
    """
    from hwnas.lut import default_table_path
    from hwnas.space import get_preset
    from hwnas.workflows.tables import open_device, table_from_store

    device, backend = open_device(device_name, devices_file, device_overrides)
    space_preset = get_preset(space, preset)
    table = table_from_store(device, backend, space_preset, workdir)
    target = out or default_table_path(lut_dir, device.name, space_preset.space, preset)
    for path in table.save(target):
        click.echo(f"wrote {path}")
    click.echo(f"{len(table.frame)} ops, per-inference overhead {table.metadata['per_inference_overhead_ms']:.4f} ms")


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
