"""The benchmark_model parser against real published outputs (sources in tests/fixtures/benchmark_model/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwnas.measure.benchmark_output import BenchmarkOutputError, RunStats, parse, strip_prefix

FIXTURES = Path(__file__).parent / "fixtures" / "benchmark_model"


def fixture(name: str) -> str:
    text = (FIXTURES / name).read_text()
    header, sep, body = text.partition("\n---\n")
    assert sep and header.startswith("source:"), f"{name} must start with its source"
    return body


def test_every_fixture_names_its_source_and_is_parsed_or_refused():
    names = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert len(names) >= 9
    readme = (FIXTURES / "README.md").read_text()
    for name in names:
        assert f"`{name}`" in readme, f"{name} is not described in the fixtures README"
        body = fixture(name)
        if name in ("qnn_external_not_applied.txt", "hexagon_nodes_delegated.txt"):
            with pytest.raises(BenchmarkOutputError):
                parse(body)
        else:
            assert parse(body).regular.count >= 1


def test_adb_shell_output_without_prefixes():
    out = parse(fixture("adb_gpu_full.txt"))
    assert out.regular == RunStats(50, 119375, 1948, 113737, 124776, 119212, 118055)
    assert out.warmup is not None and out.warmup.count == 4 and out.warmup.avg_us == 122373
    assert out.summary_us["Inference (avg)"] == 119375 and out.summary_us["Init"] == 870557
    assert out.delegate_share(("GPU",)) == 1.0
    assert out.delegate_share(("NNAPI",)) is None  # never asked for, never mentioned


def test_logcat_threadtime_prefixes_and_a_partial_delegate():
    out = parse(fixture("logcat_nnapi_partial.txt"))
    assert out.regular.count == 75 and out.regular.avg_us == pytest.approx(12167.6)
    assert out.warmup.avg_us == pytest.approx(12581.9)
    assert 0 < out.delegate_share(("NNAPI",)) < 1


def test_logcat_brief_prefixes_percentiles_and_replaced_nodes():
    out = parse(fixture("logcat_brief_percentiles.txt"))
    r = out.regular
    assert (r.count, r.avg_us, r.p5_us, r.median_us, r.p95_us) == (10, 2.71985e6, 2640862, 2709263, 3025403)
    assert out.warmup.count == 1 and out.warmup.curr_us == 2732148 and out.warmup.std_us == 0
    assert out.delegate_share(("TfLiteXNNPackDelegate",)) == pytest.approx(1036 / 1097)


def test_scientific_notation_and_the_op_profiling_table_with_a_start_column():
    out = parse(fixture("riscv_op_profiling_start.txt"))
    assert out.regular.avg_us == pytest.approx(2.95034e6) and out.regular.max_us == 3189954
    assert out.warmup.count == 1 and out.warmup.avg_us == 3512391  # `count=1 curr=3512391`
    assert out.summary_us["Warmup (avg)"] == pytest.approx(3.51239e6)
    # the initialization table and its `Timings (microseconds): count=1` line are not mistaken for runs
    assert [row.node_type for row in out.op_profile] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D"]
    first = out.op_profile[0]
    assert (first.start_ms, first.first_ms, first.avg_ms, first.times_called) == (0.066, 87.754, 60.957, 1)
    assert first.name == "[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]:0"


def test_op_profiling_table_without_a_start_column_and_names_with_spaces():
    out = parse(fixture("arm_tc2_op_profiling.txt"))
    assert out.regular.count == 67 and out.regular.avg_us == pytest.approx(7454.97)
    assert len(out.op_profile) == 3
    row = out.op_profile[0]
    assert row.node_type == "Convolution (NHWC, QU8) IGEMM" and row.start_ms is None
    assert (row.first_ms, row.avg_ms) == (0.267, 0.278)


def test_info_prefixes_with_indentation_and_percentiles():
    out = parse(fixture("ti_sdk_percentiles.txt"))
    assert out.regular.median_us == 1239807 and out.regular.p95_us == 1247415
    assert out.warmup.median_us == 1357602


def test_the_2018_average_form():
    out = parse(fixture("old_average_form.txt"))
    assert out.regular.count == 15 and out.regular.avg_us == pytest.approx(66767.6)
    assert out.summary_us == {"Warmup": 76605.9, "Init": 9933, "no stats": 66767.6}


def test_a_delegate_that_took_no_node_is_a_fallback():
    text = fixture("qnn_external_not_applied.txt")
    with pytest.raises(BenchmarkOutputError, match="no timing"):
        parse(text)
    # the same lines followed by a CPU-timed run: the share says the delegate did nothing
    out = parse(text + "Running benchmark for at least 1 iterations\ncount=3 first=5 curr=5 min=4 max=6 avg=5 std=1\n")
    assert out.delegate_share(("TfLiteQnnDelegate", "EXTERNAL")) == 0.0


def test_a_failed_run_names_its_last_error():
    with pytest.raises(BenchmarkOutputError, match="Benchmarking failed"):
        parse(fixture("hexagon_nodes_delegated.txt"))


def test_all_same_form_from_tensorflow_stats_calculator():
    s = RunStats.parse("count=20 curr=1234(all same)")
    assert (s.count, s.avg_us, s.min_us, s.max_us, s.std_us) == (20, 1234, 1234, 1234, 0)
    _, text = strip_prefix("06-18 10:20:41.892  4669  4669 I tflite  : count=5 curr=7(all same)")
    assert RunStats.parse(text).avg_us == 7


@pytest.mark.parametrize(
    "garbled",
    ["", "Segmentation fault", "Running benchmark for at least 5 iterations\ncount=abc", "count=50 first=1 curr=2"],
)
def test_garbled_output_is_refused_with_a_reason(garbled):
    with pytest.raises(BenchmarkOutputError):
        parse(garbled)
