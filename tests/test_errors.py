"""Bad input: a one-line error naming the problem, exit code 2, no traceback, nothing half-written."""

import pandas as pd
import pytest

from .conftest import run_hwnas

TINY = ["--space", "avatar", "--preset", "tiny"]


def assert_user_error(result, *needles):
    assert result.returncode == 2, (result.stdout, result.stderr)
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("hwnas: error: ")
    for needle in needles:
        assert needle in err, err


def _devices(tmp_path, text):
    path = tmp_path / "devices.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[x\nbackend = 'onnxruntime'", "not valid TOML"),
        ("[x]\ndescription = 'no backend'", "has no backend"),
        ("[x]\nbackend = 'tensorrt'", "unknown backend 'tensorrt'"),
        ("[x]\nbackend = 'onnxruntime'\n[x.profile]\nruns = 0", "profile.runs: Input should be greater than 0, not 0"),
        ("[x]\nbackend = 'onnxruntime'\n[x.profile]\nrepeats = 3", "profile.repeats: unknown key"),
        ("[x]\nbackend = 'onnxruntime'\n[x.options]\nintra_op_threads = 0", "intra_op_threads must be"),
        ("[x]\nbackend = 'onnxruntime'\n[x.options]\nthreads = 4", "has no option(s) threads"),
        ("[x]\nbackend = 'onnxruntime'\ncolour = 'red'", "colour: unknown key"),
    ],
)
def test_malformed_device_files(tmp_path, toml, needle):
    work = tmp_path / "work"
    r = run_hwnas("profile", "--device", "x", "--devices-file", _devices(tmp_path, toml), *TINY, "--workdir", str(work))
    assert_user_error(r, needle)
    assert not work.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--device", "quest9", *TINY], "unknown device 'quest9'"),
        (["--device", "cpu", "--space", "resnet", "--preset", "tiny"], "unknown search space 'resnet'"),
        (["--device", "cpu", "--space", "avatar", "--preset", "huge"], "unknown preset 'huge'"),
        (["--device", "cpu"], "exactly one of --space"),
        (["--device", "cpu", "--model", "does-not-exist.onnx"], "does not exist"),
        (["--device", "cpu", "--devices-file", "nope.toml", *TINY], "devices file nope.toml does not exist"),
        (["--device", "cpu", "--space", "avatar", "--bogus"], "No such option"),
    ],
)
def test_bad_profile_arguments(tmp_path, args, needle):
    work = tmp_path / "work"
    r = run_hwnas("profile", *args, "--workdir", str(work))
    assert_user_error(r, needle)
    assert not work.exists()


def test_model_of_the_wrong_format(tmp_path):
    model = tmp_path / "net.tflite"
    model.write_bytes(b"TFL3")
    assert_user_error(run_hwnas("profile", "--device", "cpu", "--model", str(model)), "takes .onnx files")


def test_corrupt_model_file(tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(b"not a protobuf")
    assert_user_error(run_hwnas("profile", "--device", "cpu", "--model", str(model)), "could not run")


def test_build_lut_without_store_and_with_missing_ops(tmp_path, tiny_lut, cli_args):
    lut = tmp_path / "lut"
    r = run_hwnas(*cli_args("build-lut", workdir=tmp_path / "none", lut_dir=lut))
    assert_user_error(r, "no measurement store", "hwnas profile --device cpu")
    # the tiny store does not hold the small preset's ops: refuse, name them and the command that fills them
    r = run_hwnas(*cli_args("build-lut", preset="small", workdir=tiny_lut["workdir"], lut_dir=lut))
    assert_user_error(
        r,
        "not measured on cpu yet",
        "conv-k3-s1-cin16-cout16-h10w10",
        "hwnas profile --device cpu --space avatar --preset small",
    )
    assert not lut.exists()


def _bad_table(tmp_path, tiny_lut, mutate):
    frame = pd.read_csv(tiny_lut["table"])
    frame = mutate(frame)
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    path.with_suffix(".json").write_text(tiny_lut["table"].with_suffix(".json").read_text())
    return str(path)


def _set(column, value):
    def mutate(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[3, column] = value
        return frame

    return mutate


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda f: f.drop(columns=["median_ms", "iqr_ms"]), "lacks column(s) median_ms, iqr_ms"),
        (_set("median_ms", float("nan")), "missing or non-numeric times"),
        (_set("median_ms", "fast"), "missing or non-numeric times"),
        (_set("mean_ms", -0.5), "negative times"),
        (_set("key", "conv-k3-s1-cin4-cout4-h4w4-b1"), "not canonical"),
        (_set("key", "warp-k3"), "unknown op type 'warp'"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "twice"),
        (lambda f: f.iloc[0:0], "has no rows"),
    ],
)
def test_malformed_tables(tmp_path, tiny_lut, mutate, needle):
    assert_user_error(run_hwnas("lut", "show", _bad_table(tmp_path, tiny_lut, mutate)), needle)


def test_table_without_sidecar_and_unparseable_key(tmp_path, tiny_lut):
    lone = tmp_path / "lone.csv"
    lone.write_text(tiny_lut["table"].read_text())
    assert_user_error(run_hwnas("lut", "show", str(lone)), "no metadata sidecar lone.json")
    r = run_hwnas("lut", "lookup", str(tiny_lut["table"]), "conv-k3-cin8")
    assert_user_error(r, "bad op key 'conv-k3-cin8'")
    r = run_hwnas("lut", "lookup", str(tiny_lut["table"]), "conv-k3-s1-cin64-cout64-h8w8")
    assert_user_error(
        r,
        "missing from the latency table: conv-k3-s1-cin64-cout64-h8w8",
        "hwnas profile --device cpu --space avatar --preset tiny",
    )
