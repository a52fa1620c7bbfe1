"""The ``hwnas`` command line: a thin layer over ``hwnas.workflows``, one module per command group."""

from __future__ import annotations

import os
import sys

import click

from hwnas import __version__
from hwnas.cli import latex, lut, measure, runs, search
from hwnas.core.errors import HwnasError

DATA_PARALLEL_COMMANDS = ("search", "train")  # what `torchrun --nproc-per-node N -m hwnas ...` runs


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hwnas")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Hardware-aware NAS: measure every candidate op of a search space on a device, build its latency
    lookup table, and search architectures against it.

    \b
    Typical use:
      hwnas profile   --device cpu --space avatar --preset small
      hwnas build-lut --device cpu --space avatar --preset small
      hwnas lut show  lut/cpu/avatar-small.csv
      hwnas search    --device cpu --space avatar --target-ms 2.5
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and ctx.invoked_subcommand not in DATA_PARALLEL_COMMANDS:
        raise HwnasError(
            f"`hwnas {ctx.invoked_subcommand}` runs in one process; torchrun runs only "
            f"{' and '.join(DATA_PARALLEL_COMMANDS)} (drop torchrun for this command)"
        )


for _module in (measure, lut, search, runs, latex):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    if os.environ.get("RANK", "0") != "0":  # under torchrun rank 0 speaks for all; errors still reach stderr
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
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
