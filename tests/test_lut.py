import numpy as np
import pandas as pd
import pytest

from hwnas.core.errors import MissingOpsError
from hwnas.lut import LatencyTable
from hwnas.ops import OpSpec


def test_csv_and_parquet_hold_the_same_table(tiny_lut):
    csv = LatencyTable.load(tiny_lut["table"])
    parquet = LatencyTable.load(tiny_lut["table"].with_suffix(".parquet"))
    pd.testing.assert_frame_equal(csv.frame, parquet.frame, check_dtype=False, rtol=1e-5)


def test_save_then_load_round_trips(tiny_lut, tmp_path):
    table = LatencyTable.load(tiny_lut["table"])
    table.save(tmp_path / "copy.csv")
    again = LatencyTable.load(tmp_path / "copy.csv")
    pd.testing.assert_frame_equal(table.frame, again.frame, rtol=1e-5)
    assert again.metadata == table.metadata


def test_lookup_of_missing_keys_names_them_and_the_fill_command(tiny_lut):
    table = LatencyTable.load(tiny_lut["table"])
    absent = ["conv-k3-s1-cin64-cout64-h8w8", "linear-cin999-cout1"]
    with pytest.raises(MissingOpsError) as info:
        table.latency_ms([*sorted(table.keys)[:2], *absent])
    assert info.value.missing == sorted(absent)
    message = str(info.value)
    assert all(k in message for k in absent)
    assert "hwnas profile --device cpu --space avatar --preset tiny" in message


def test_prediction_pays_the_overhead_once_and_each_ops_cost(tiny_lut):
    table = LatencyTable.load(tiny_lut["table"]).without_network_calibration()
    specs = [OpSpec.parse(k) for k in sorted(table.keys)[:6]]
    medians = table.latency_ms(specs)
    overhead = table.metadata["per_inference_overhead_ms"]
    assert table.predict_ms(specs, calibrated=False) == pytest.approx(medians.sum())
    assert table.predict_ms(specs) == pytest.approx(overhead + np.maximum(medians - overhead, 0).sum())
    if (medians >= overhead).all():
        assert table.predict_ms(specs) == pytest.approx(medians.sum() - 5 * overhead)


def test_ops_measured_below_the_overhead_never_make_a_prediction_negative(tiny_lut):
    """Tiny ops can measure below the identity model: a network of them still costs at least the overhead
    (the differentiable latency went negative on a 2-core machine, and its log-loss gradient vanished)."""
    table = LatencyTable.load(tiny_lut["table"])
    cheapest = table.frame.median_ms.idxmin()
    table.metadata["per_inference_overhead_ms"] = 2 * float(table.frame.median_ms.min())
    spec = OpSpec.parse(cheapest)
    assert table.predict_ms([spec] * 10) == pytest.approx(table.fixed_ms)


def test_diff_ratio_and_one_sided_keys(tiny_lut):
    a = LatencyTable.load(tiny_lut["table"])
    frame = a.frame.copy()
    frame.loc[frame.index[0], "median_ms"] *= 2
    b = LatencyTable(frame.drop(frame.index[1]), dict(a.metadata))
    d = a.diff(b)
    assert d.loc[frame.index[0], "ratio"] == pytest.approx(2.0)
    assert pd.isna(d.loc[frame.index[1], "median_ms_b"])


def test_what_the_tool_said_besides_times_is_kept_and_old_tables_still_load(tmp_path):
    """Placement and peak memory ride with each op (CSV and parquet); a table written before those columns
    existed loads with them empty; `lut show` sums them up and names the ops a delegate took only in part."""
    from hwnas.core.measurement import Measurement, RunSummary

    specs = [OpSpec("conv", 4, 8, kernel=3, stride=1, h=8, w=8), OpSpec("conv", 8, 8, kernel=3, stride=1, h=8, w=8)]
    told = [{"placement": "gpu 3/3 nodes, 1 partition", "peak_memory_mb": 12.5},
            {"placement": "gpu 2/3 nodes, 2 partitions", "peak_memory_mb": 14.0}]  # fmt: skip
    rows = []
    for spec, extra in zip(specs, told, strict=True):
        m = Measurement.from_json(Measurement.from_summary(RunSummary(5, 1.0, 0.01, 0.9, 1.1), 0.1, extra).to_json())
        assert m.extra == extra  # through the store's JSON and back
        rows.append(LatencyTable.row(spec, m.median_ms, m.mean_ms, m.iqr_ms, m.n, m.noisy, m.extra))
    table = LatencyTable.from_rows(rows, {"device": "d", "space": "s", "preset": "p"})
    paths = table.save(tmp_path / "t.csv")
    for path in paths[::2]:  # the CSV and (with pyarrow) the parquet
        back = LatencyTable.load(path)
        assert list(back.frame.placement) == [t["placement"] for t in told]
        assert list(back.frame.peak_memory_mb) == [12.5, 14.0]
    summary = "\n".join(LatencyTable.load(tmp_path / "t.csv").summary())
    assert "placement: 1 of 2 ops wholly on the delegate, 1 partly (conv-k3-s1-cin8-cout8-h8w8)" in summary
    assert "peak memory per op: min 12.50 MB, median 13.25 MB, max 14.00 MB (2 ops)" in summary

    old = pd.read_csv(tmp_path / "t.csv").drop(columns=["placement", "peak_memory_mb"])
    old.to_csv(tmp_path / "t.csv", index=False)
    before = LatencyTable.load(tmp_path / "t.csv")
    assert (before.frame.placement == "").all() and before.frame.peak_memory_mb.isna().all()
    assert "placement" not in "\n".join(before.summary())
