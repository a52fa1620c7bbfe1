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
    assert len(names) >= 23
    readme = (FIXTURES / "README.md").read_text()
    for name in names:
        assert f"`{name}`" in readme, f"{name} is not described in the fixtures README"
        body = fixture(name)
        if name in REFUSED:  # no timing of the runs in them: refused, saying what was looked for and found
            with pytest.raises(BenchmarkOutputError, match=r"looked for .* found"):
                parse(body)
        else:
            assert parse(body).regular.count >= 1, name


# Real outputs with no timing of the runs: a failed run, a delegate that failed to prepare, memory lines alone,
# an op-profiling table posted without the statistics line
REFUSED = {
    "qnn_external_not_applied.txt",
    "hexagon_nodes_delegated.txt",
    "nnapi_failed_to_prepare.txt",
    "peak_memory_periodic.txt",
    "peak_memory_periodic_damaged_prefix.txt",
    "nnapi_op_profiling_mi11.txt",
}


def test_logcat_prefixes_as_the_docs_elide_them_and_the_summary_only_forms():
    """`... tflite  :` (TensorFlow's docs), an older build's summary line as the only timing (its average is
    the median, no spread is claimed), and the older `Inference:` label."""
    out = parse(fixture("logcat_ellipsis_summary_only.txt"))
    assert out.summary_only and out.regular.avg_us == pytest.approx(14575.2) and out.regular.std_us == 0
    assert out.summary_us["Init"] == 5685
    assert parse(fixture("logcat_ellipsis_average_old.txt")).regular.avg_us == pytest.approx(80660.1)
    partial = parse(fixture("summary_only_nnapi_partial.txt"))
    assert partial.regular.avg_us == 143630 and partial.delegate_share(("NNAPI",)) == 0.5  # "partially"
    full = parse(fixture("summary_only_nnapi_full_sci.txt"))
    assert full.regular.avg_us == pytest.approx(8459.69) and full.summary_us["Warmup (avg)"] == pytest.approx(9.99242e6)
    assert full.placement("nnapi", ("NNAPI",)).describe() == "nnapi all"
    for tag in ("I tflite  : ", "I/tflite  : ", "W/tflite: ", "... tflite  : "):
        assert strip_prefix(tag + "count=5 curr=7(all same)")[1] == "count=5 curr=7(all same)"


def test_a_count_in_the_flag_dump_is_the_count_of_a_summary_only_run():
    text = "Num runs: [50]\nInference timings in us: Init: 3, First inference: 9, Warmup (avg): 8, Inference (avg): 7"
    assert parse(text).regular.count == 50
    with pytest.raises(BenchmarkOutputError, match="Running benchmark for at least` line without a `count="):
        parse("Running benchmark for at least 5 iterations\nInference timings in us: Init: 3, Inference (avg): 7")


def test_delegate_placement_with_node_counts_and_partitions():
    out = parse(fixture("synaptics_nnapi_full_count1.txt"))
    assert out.regular.count == 520 and out.warmup.count == 1 and out.warmup.curr_us == 637079
    placement = out.placement("nnapi", ("TfLiteNnapiDelegate", "NNAPI"))
    assert (placement.nodes, placement.total, placement.partitions) == (31, 31, 1)
    assert placement.describe() == "nnapi 31/31 nodes, 1 partition"
    vx = parse(fixture("synaptics_vx_external_full.txt"))
    assert vx.regular.count == 876 and vx.placement("vx", ("Vx Delegate",)).describe() == "vx 31/31 nodes, 1 partition"
    assert vx.delegate_share(("EXTERNAL",)) == 1.0
    brief = parse(fixture("logcat_brief_percentiles.txt"))
    assert brief.placement("xnnpack", ("TfLiteXNNPackDelegate",)).partitions == 23
    assert parse(fixture("nnapi_not_executed_forum.txt")).delegate_share(("NNAPI",)) == 0.0
    ti = parse(fixture("ti_xnnpack_partial_percentiles.txt"))
    assert ti.delegate_share(("XNNPACK",)) == 0.5 and ti.regular.median_us == 899281


def test_peak_memory_in_each_form_it_is_printed():
    assert parse(fixture("nnapi_not_executed_forum.txt")).peak_memory_mb == pytest.approx(63.4023)  # overall delta
    assert parse(fixture("peak_memory_old_label.txt")).peak_memory_mb == pytest.approx(12.8672)  # 2020 label
    periodic = fixture("peak_memory_periodic.txt") + "Running benchmark for at least 1 iterations\ncount=1 curr=5\n"
    assert parse(periodic).peak_memory_mb == pytest.approx(13.1797)  # the periodic peak wins over the delta
    assert parse(fixture("adb_gpu_full.txt")).peak_memory_mb is None


def test_litert_compiled_model_results_block():
    """LiteRT's newer CompiledModel tool prints a results block in milliseconds with its source lines."""
    out = parse(fixture("litert_compiled_model_results.txt"))
    r = out.regular
    assert (r.count, r.avg_us, r.min_us, r.max_us, r.std_us) == (10, 7430200.0, 7416400.0, 7448860.0, 9920.0)
    assert out.warmup.count == 1 and out.warmup.avg_us == pytest.approx(7441040.0)
    assert out.peak_memory_mb == pytest.approx(6391.74)


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
