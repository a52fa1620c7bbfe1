"""Bad input: a one-line error naming the problem, exit code 2, no traceback, nothing half-written."""

import pytest

from hwnas.lut import LatencyTable

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


def test_table_without_sidecar_and_unparseable_key(tmp_path, tiny_lut):
    lone = tmp_path / "lone.csv"
    lone.write_text(tiny_lut["table"].read_text())
    assert_user_error(run_hwnas("lut", "show", str(lone)), "no metadata sidecar lone.json")
    r = run_hwnas("lut", "lookup", str(tiny_lut["table"]), "conv-k3-cin8")
    assert_user_error(r, "bad op key 'conv-k3-cin8'")
    # a key of the space that a table lacks: the hint is the command that measures it, with the user's folders
    table = LatencyTable.load(tiny_lut["table"])
    table.frame = table.frame.drop(index="conv-k3-s1-cin4-cout8-h4w4")
    table.save(tmp_path / "lut" / "cpu" / "avatar-tiny.csv")
    r = run_hwnas("search", "--device", "cpu", *TINY, "--target-ms", "1", "--workdir", str(tmp_path / "w"),
                  "--lut-dir", str(tmp_path / "lut"), "--out", str(tmp_path / "s"))  # fmt: skip
    assert_user_error(
        r,
        "missing from the latency table: conv-k3-s1-cin4-cout8-h4w4",
        f"hwnas profile --device cpu --space avatar --preset tiny --workdir {tmp_path / 'w'} && hwnas build-lut "
        f"--device cpu --space avatar --preset tiny --workdir {tmp_path / 'w'} --lut-dir {tmp_path / 'lut'}",
    )
    assert not (tmp_path / "s").exists()


def test_hints_carry_the_users_devices_file_and_folders(tmp_path):
    devices = tmp_path / "my devices.toml"
    devices.write_text("[lab-cpu]\nbackend = 'onnxruntime'\n")
    work = tmp_path / "work"
    r = run_hwnas("build-lut", "--device", "lab-cpu", "--devices-file", str(devices), *TINY, "--workdir", str(work))
    hint = f"run: hwnas profile --device lab-cpu --devices-file '{devices}' --space avatar --preset tiny"
    assert_user_error(r, f"{hint} --workdir {work}")
