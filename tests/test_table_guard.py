"""Regression guard of the tables (issue 38): on a shared machine, the tiny preset's table still predicts whole
networks it never saw — on LiteRT — within a factor loose enough for the host's noise and tight enough that a
table 1.75x off fails: ops counted twice, a unit slip, a calibration lost where tiny networks run about twice
their isolated ops (79 % off uncalibrated in one of three local profiles; 31 and 36 % in the others, which this
bound does not catch).

A shared host's speed moves by tens of per cent between processes seconds apart (tiny networks of ~50 us on
this VM: 0.047 ms in one process, 0.072 ms in the next), so the networks are measured in the same processes as
the table's calibration networks and compared at the host's speed of the moment (``check_at_host_speed``).
Locally the median error at host speed was -10 .. +5 % in ten fresh profiles; on CI's host, with no change to
the code, -26 % and -34 % (host x0.98): a 25 % bound does not hold there at this size, so the accuracy claim is
measured by ``benchmarks/lut_fidelity.py`` on the small preset, and this test guards against gross misses."""

from __future__ import annotations

import random
import statistics

import pytest

from hwnas.deploy.endtoend import check_at_host_speed
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.workflows.tables import open_device, table_from_store

FACTOR = 1.75  # the median network at host speed measures within [predicted / FACTOR, predicted * FACTOR]
NETWORKS, ROUNDS = 8, 5  # one fresh process per round measures all of them beside the calibration networks


# `cpu` (onnxruntime) is not guarded: on CI's host its tiny networks split in two speeds 2.5x apart that no
# protocol here averages out (errors +9, +3, +1 % and -47 .. -62 % in one run, 5 rounds x 5 loads); issue 38
@pytest.mark.parametrize("device_name, fixture", [("cpu-tflite", "tflite_tiny")])
def test_the_tiny_table_predicts_networks_it_never_saw(device_name, fixture, request):
    workdir = request.getfixturevalue(fixture)["workdir"]
    device, backend = open_device(device_name)
    preset = get_preset("avatar", "tiny")
    table = table_from_store(device, backend, preset, workdir)
    assert table.network_calibration is not None, "the profile measured no calibration networks"

    rng = random.Random(38)
    archs = [Architecture.sample(preset, rng) for _ in range(NETWORKS)]
    checks = check_at_host_speed(archs, preset, table, device, backend, workdir, rounds=ROUNDS)
    errors = [c.error_at_host_speed for c in checks]
    detail = "; ".join(
        [
            f"{device_name}: host x{checks[0].host_factor:.2f}, errors {[f'{e:+.1%}' for e in errors]}",
            *table.network_calibration.describe(),
        ]
    )
    assert 1 / FACTOR < 1 + statistics.median(errors) < FACTOR, detail
