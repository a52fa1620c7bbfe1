"""``hwnas lut``: inspect latency tables."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hwnas.core.errors import HwnasError, list_keys


@click.group()
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
    outside = ops_outside_space(t, canonical)
    if outside:
        space, preset = t.metadata["space"], t.metadata["preset"]
        raise HwnasError(
            f"{list_keys(outside)} {'is not an op' if len(outside) == 1 else 'are not ops'} of {space}/{preset}, "
            f"so no profile of it can fill this table; list its ops with: hwnas spaces {space} --preset {preset}"
        )
    t.require(canonical)
    for key in canonical:
        row = t.frame.loc[key]
        click.echo(
            f"{key}: median {row.median_ms:.4f} ms  IQR {row.iqr_ms:.4f} ms  n={row.n}"
            f"{'  (noisy)' if row.noisy else ''}  MFLOPs {row.flops / 1e6:.3f}  params {row.params}"
        )


def ops_outside_space(table, keys: list[str]) -> list[str]:
    """Keys the table's space and preset can never hold (empty when that space is not installed here)."""
    from hwnas.space import get_preset

    try:
        space_ops = {s.key for s in get_preset(table.metadata["space"], table.metadata["preset"]).enumerate_ops()}
    except HwnasError:
        return []
    return [k for k in keys if k not in space_ops]


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


COMMANDS = [lut]
