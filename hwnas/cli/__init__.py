"""The ``hwnas`` command line: a thin layer over ``hwnas.workflows``, one module per command group; plugins
and applications add commands through the entry-point group ``hwnas.commands`` (a ``click.Command`` each)."""

from __future__ import annotations

import os
import sys
from importlib import metadata

import click

from hwnas import __version__
from hwnas.cli import lut, measure, runs, search
from hwnas.core.errors import DeviceFailed, DeviceFault, HwnasError
from hwnas.core.registry import PluginFailure

DATA_PARALLEL_COMMANDS = ("search", "train")  # what `torchrun --nproc-per-node N -m hwnas ...` runs
# Exit codes: 0 done; 1 `doctor` found a problem; 2 bad input or environment (one line says which);
# 3 `profile` finished but some ops failed on the op itself (the report names them); 4 the device failed
# (unreachable, or it kept failing runs): nothing is wrong with the ops, re-run once it is back
EXIT_USAGE, EXIT_OPS_FAILED, EXIT_DEVICE_FAILED = 2, 3, 4


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hwnas")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Hardware-aware NAS: measure every candidate op of a search space on a device, build its latency
    lookup table, and search architectures against it.

    \b
    Typical use:
      hwnas spaces
      hwnas profile   --device cpu --space mobile --preset small
      hwnas build-lut --device cpu --space mobile --preset small
      hwnas lut show  lut/cpu/mobile-small.csv
      hwnas search    --device cpu --space mobile --speedup 2
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and ctx.invoked_subcommand not in DATA_PARALLEL_COMMANDS:
        raise HwnasError(
            f"`hwnas {ctx.invoked_subcommand}` runs in one process; torchrun runs only "
            f"{' and '.join(DATA_PARALLEL_COMMANDS)} (drop torchrun for this command)"
        )


COMMANDS_GROUP = "hwnas.commands"

for _module in (measure, lut, search, runs):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def add_plugin_commands(group: click.Group) -> None:
    """Each command of the ``hwnas.commands`` entry points, under its entry point's name; a plugin that fails
    to load, or names a built-in command, is named once on stderr and the others still run."""
    for ep in metadata.entry_points(group=COMMANDS_GROUP):
        if ep.name in group.commands:
            click.echo(f"hwnas: warning: {PluginFailure.of(ep, 'names a built-in command').describe()}", err=True)
            continue
        try:
            command = ep.load()
            if not isinstance(command, click.Command):
                raise TypeError(f"{ep.value} is a {type(command).__name__}, not a click.Command")
        except Exception as exc:
            click.echo(f"hwnas: warning: {PluginFailure.of(ep, exc).describe()}", err=True)
            continue
        group.add_command(command, ep.name)


add_plugin_commands(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    if os.environ.get("RANK", "0") != "0":  # under torchrun rank 0 speaks for all; errors still reach stderr
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    try:
        cli.main(args=argv, prog_name="hwnas", standalone_mode=False)
    except (DeviceFault, DeviceFailed) as exc:
        click.echo(f"hwnas: error: {exc}", err=True)
        sys.exit(EXIT_DEVICE_FAILED)
    except HwnasError as exc:
        click.echo(f"hwnas: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"hwnas: error: {exc.format_message()} (see --help)", err=True)
        sys.exit(2)
    except OSError as exc:  # a place that cannot be written or read, met past the checks made up front
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"hwnas: error: cannot use{where} ({exc.strerror or exc}); check the path, its permissions "
                   "and the free space, or pick another", err=True)  # fmt: skip
        sys.exit(2)
    except click.Abort:
        click.echo("hwnas: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("hwnas: interrupted; re-run the same command to resume", err=True)
        sys.exit(130)
