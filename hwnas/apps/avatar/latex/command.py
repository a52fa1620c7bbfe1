"""``hwnas latex``: skip the encoder on redundant frames (Auto-CARD's LATEX) and report what it costs."""

from __future__ import annotations

from pathlib import Path

import click

from hwnas.cli.options import PositiveNumber, choice_option, device_options, progress_option, workdir_option


@click.command("latex")
@click.option(
    "--run-dir",
    "run_dirs",
    multiple=True,
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A trained avatar encoder (a folder written by `hwnas train`); repeat to compare encoders side by side.",
)
@device_options
@click.option(
    "--thresholds",
    default=None,
    metavar="A,B,...",
    help="Thresholds on the early code's RMS change (0 = always encode). Default: calibrated on other videos of "
    "the same people to skip 0, 10, 20, 30, 40 and 50%% of the decisions (frames, or views of frames).",
)
@choice_option(
    "--granularity",
    ("frame", "view"),
    "Decide per frame, as the paper does, or per view (eyes and mouth skipped apart; docs/latex.md).",
)
@click.option(
    "--window",
    type=click.IntRange(min=2),
    default=8,
    show_default=True,
    help="T: the first T frames of a stream are encoded; linear extrapolation continues the line through the "
    "last T frames.",
)
@choice_option(
    "--decision",
    ("last-key", "previous"),
    "Compare the head's code with the last key frame's, or with the previous frame's (the paper's wording).",
)
@choice_option(
    "--extrapolation",
    ("hold", "linear"),
    "Fill a skipped frame with the previous frame's outputs, or continue the line through the last T frames "
    "(the paper's formula). docs/latex.md compares them.",
)
@click.option("--frames", type=click.IntRange(min=20), default=300, show_default=True, help="Frames per video.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/latex"),
    show_default=True,
    help="Where latex.json, latex.md (the table), latex_mse.png and linearity.png go.",
)
@workdir_option
@progress_option
def latex(run_dirs, device_name, devices_file, device_overrides, thresholds, granularity, window, decision,
          extrapolation, frames, out_dir, workdir, progress) -> None:  # fmt: skip
    """LATEX (Auto-CARD, Sec. 4.3): a cheap head on the encoder's first layer decides per frame whether the
    encoder runs; skipped frames reuse or extrapolate the previous frames' outputs.

    For each run: fits the head to the frozen encoder (kept in the run folder as latex_head.pt, exported with
    the encoder by `hwnas export`), streams one held-out synthetic video per identity (blinks, winks, saccades)
    at each threshold, and measures the encoder, the encoder + head (a key frame) and the head alone (a skipped
    frame) end to end on the device. Reports per threshold the skip ratio, render MSE against the truth and
    against always-encode, on event frames and on the extreme subset, and the per-frame latency.
    """
    from hwnas.apps.avatar.latex.workflow import LatexRequest, run_latex

    parsed = None
    if thresholds is not None:
        number = PositiveNumber(allow_zero=True)
        parsed = tuple(number.convert(t.strip(), None, None) for t in thresholds.split(",") if t.strip())
    request = LatexRequest(tuple(run_dirs), device_name, parsed, granularity=granularity, window=window,
                           decision=decision, extrapolation=extrapolation, frames=frames, out_dir=out_dir,
                           devices_file=devices_file, workdir=workdir, device_overrides=device_overrides,
                           progress=progress)  # fmt: skip
    _, lines = run_latex(request)
    for line in lines:
        click.echo(line)
    click.echo(f"wrote {out_dir}/latex.json, latex.md, latex_mse.png, linearity.png")


COMMANDS = [latex]
