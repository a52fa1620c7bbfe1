"""The plugin path: an out-of-tree package, pip-installed, found through entry points only."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hwnas.lut import LatencyTable
from hwnas.space import get_preset

from .conftest import REPO, run_hwnas


@pytest.fixture(scope="module")
def plugin_path(gesture):
    """examples/hwnas-gesture (whose backend is `onnx-reference`), pip-installed into a folder of its own."""
    return gesture["site"]


def test_installed_plugin_is_listed_and_available(plugin_path):
    r = run_hwnas("backends", env={"PYTHONPATH": f"{REPO}:{plugin_path}"})
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.startswith("onnx-reference"))
    assert "onnx" in line and "hwnas-gesture" in line and "available (onnx " in line
    r = run_hwnas("devices", env={"PYTHONPATH": f"{REPO}:{plugin_path}"})
    assert "cpu-onnx-reference" in r.stdout and "plugin onnx-reference" in r.stdout


def test_plugin_profiles_and_builds_a_table_through_its_preset(plugin_path, tmp_path, cli_args):
    env = {"PYTHONPATH": f"{REPO}:{plugin_path}"}
    device = {"device": "cpu-onnx-reference", "workdir": tmp_path / "w"}
    r = run_hwnas(*cli_args("profile", "--no-progress", **device), env=env)
    assert r.returncode == 0, r.stderr
    r = run_hwnas(*cli_args("build-lut", **device, lut_dir=tmp_path / "lut"), env=env)
    assert r.returncode == 0, r.stderr
    table = LatencyTable.load(tmp_path / "lut" / "cpu-onnx-reference" / "avatar-tiny.csv")
    assert table.keys == {op.key for op in get_preset("avatar", "tiny").enumerate_ops()}
    assert table.metadata["backend"] == "onnx-reference"
    assert set(table.metadata["versions"]) == {"onnx", "numpy"}
    assert (table.frame.n == 5).all()


def test_without_the_plugin_its_preset_is_unknown(tmp_path, cli_args):
    r = run_hwnas(*cli_args("profile", device="cpu-onnx-reference", workdir=tmp_path / "w"))
    assert r.returncode == 2 and "unknown device 'cpu-onnx-reference'" in r.stderr


def make_plugin(site: Path, name: str, module: str, entry_points: str) -> dict[str, str]:
    """A distribution installed into ``site`` as pip would leave it (module + dist-info with entry points);
    returns the environment that puts it on the path."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(textwrap.dedent(module))
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return {"PYTHONPATH": f"{REPO}:{site}"}


# A backend that breaks the contract where it can while still measuring: it prints, accepts any option value,
# reports no versions, and fails its check() when asked to.
MISBEHAVING = """
    import time
    from hwnas.core.errors import BackendUnavailable
    from hwnas.measure.backends.base import Backend

    PRESETS = '''
    [cpu-chatty]
    backend = "chatty"
    [cpu-unreachable]
    backend = "chatty"
    options = {fail_check = true}
    '''

    def presets():
        return PRESETS

    def bad_presets():
        return "[cpu-bad backend = 'chatty'"

    class Chatty(Backend):
        name = "chatty-class-name"
        artifact_format = "onnx"
        option_defaults = {"fail_check": False, "threads": 1}

        def check(self):
            print("checking the device")
            if self.options["fail_check"]:
                raise BackendUnavailable("the chatty device is unplugged; plug it in")

        def versions(self):
            return {}

        def time_runs(self, artifact, warmup, runs):
            print("measuring", artifact)
            return [0.5 + 0.01 * i for i in range(runs)]
"""


def test_the_kit_names_each_broken_promise(tmp_path):
    env = make_plugin(tmp_path / "site", "chatty", MISBEHAVING, "[hwnas.backends]\nchatty = chatty:Chatty\n")
    script = (
        "from hwnas.testing import check_backend\n"
        "if __name__ == '__main__':\n"
        "    try:\n"
        "        check_backend('chatty', invalid_options=[{'threads': 0}])\n"
        "    except AssertionError as exc:\n"
        "        print(exc)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True, text=True)
    assert "backend 'chatty' fails 3 check(s)" in r.stdout, r.stdout + r.stderr
    assert "check_option_validation: AssertionError: options {'threads': 0} were accepted" in r.stdout
    assert "check_versions: AssertionError: versions() is empty" in r.stdout
    assert "check_silent_stdout: AssertionError: measure() wrote to stdout: 'measuring" in r.stdout
    assert "check_fresh_process" not in r.stdout  # printing does not break the worker's result channel


def test_misbehaving_and_broken_plugins_leave_the_built_in_devices_working(tmp_path, cli_args):
    env = make_plugin(
        tmp_path / "site",
        "chatty",
        MISBEHAVING,
        """
        [hwnas.backends]
        chatty = chatty:Chatty
        [hwnas.devices]
        chatty = chatty:presets
        chatty-bad-toml = chatty:bad_presets
        missing = no_such_module:presets
        """,
    )
    r = run_hwnas("devices", env=env)
    assert r.returncode == 0, r.stderr
    assert "cpu-chatty" in r.stdout and "cpu " in r.stdout
    assert (
        "hwnas: warning: plugin chatty failed to load (hwnas.devices: chatty-bad-toml = chatty:bad_presets): "
        "HwnasError: device file plugin chatty-bad-toml is not valid TOML" in r.stderr
    )
    assert "plugin chatty failed to load (hwnas.devices: missing = no_such_module:presets): ModuleNotFound" in r.stderr

    r = run_hwnas(*cli_args("profile", "--no-progress", workdir=tmp_path / "w"), env=env)  # a built-in device
    assert r.returncode == 0 and "45 measured now" in r.stdout, r.stderr

    r = run_hwnas(*cli_args("profile", device="cpu-missing", workdir=tmp_path / "w2"), env=env)
    assert r.returncode == 2 and "unknown device 'cpu-missing'" in r.stderr
    assert "(hwnas.devices: missing = no_such_module:presets): ModuleNotFoundError" in r.stderr

    # a failing check() stops the search before anything is profiled, trained or written
    out = tmp_path / "unreachable"
    args = cli_args("search", "--target-ms", "30", "--steps", "4", "--out", str(out), device="cpu-unreachable",
                    workdir=tmp_path / "w4", lut_dir=tmp_path / "lut4")  # fmt: skip
    r = run_hwnas(*args, env=env)
    assert r.returncode == 2 and "the chatty device is unplugged; plug it in" in r.stderr
    assert not out.exists() and not (tmp_path / "w4").exists() and not (tmp_path / "lut4").exists()


def test_a_plugin_that_fails_to_import_is_named_once_by_every_listing(tmp_path):
    """A package whose module breaks (here: a dependency it lacks) is named with why, once, on stderr, by
    `hwnas backends`, `hwnas devices` and `hwnas spaces`; the built-ins are still listed on stdout."""
    env = make_plugin(
        tmp_path / "site",
        "headset_tools",
        "import no_such_sdk\n",
        """
        [hwnas.backends]
        headset = headset_tools:Backend
        [hwnas.devices]
        headset = headset_tools:presets
        """,
    )
    for command, builtin in (("backends", "onnxruntime"), ("devices", "cpu-tflite"), ("spaces", "avatar")):
        r = run_hwnas(command, env=env)
        assert r.returncode == 0 and builtin in r.stdout, (command, r.stderr)
        warnings = [line for line in r.stderr.splitlines() if line.startswith("hwnas: warning:")]
        assert len(warnings) == 2, (command, r.stderr)  # one per entry point, each once
        for group, name, target in (("backends", "headset", "Backend"), ("devices", "headset", "presets")):
            line = (
                f"hwnas: warning: plugin headset_tools failed to load (hwnas.{group}: {name} = headset_tools:{target})"
                ": ModuleNotFoundError: No module named 'no_such_sdk'; fix it or uninstall it"
            )
            assert any(w.startswith(line) for w in warnings), (command, r.stderr)


def test_a_plugin_written_against_the_old_import_paths_still_works_and_is_warned(tmp_path):
    """The example backend importing what the docs named before the re-layout (hwnas.backends.base, hwnas.errors):
    it passes the kit, its classes are hwnas's own, and each old path is named with its new one in a
    DeprecationWarning."""
    source = (REPO / "examples" / "hwnas-gesture" / "hwnas_gesture" / "backend.py").read_text()
    old = source.replace(
        "from hwnas.api import Backend, BackendUnavailable, HwnasError",
        "from hwnas.backends.base import Backend\nfrom hwnas.errors import BackendUnavailable, HwnasError",
    )
    assert old != source and "hwnas.api" not in old
    env = make_plugin(
        tmp_path / "site", "oldstyle", old, "[hwnas.backends]\noldstyle = oldstyle:ReferenceEvaluatorBackend\n"
    )
    script = (
        "import oldstyle, hwnas.measure.backends.base as base\n"
        "assert issubclass(oldstyle.ReferenceEvaluatorBackend, base.Backend)\n"
        "from hwnas.testing import check_backend\n"
        "if __name__ == '__main__':\n"
        "    print(sorted(check_backend('oldstyle')))\n"
    )
    r = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", script],
                       env={**os.environ, **env}, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "check_fresh_process" in r.stdout  # the kit ran every check and all passed
    for old_path, new_path in (
        ("hwnas.backends.base", "hwnas.measure.backends.base"),
        ("hwnas.errors", "hwnas.core.errors"),
    ):
        assert "oldstyle.py:" in r.stderr and f"DeprecationWarning: {old_path} moved to {new_path}" in r.stderr


def test_no_old_import_path_shadows_a_module_of_today():
    from hwnas._moved import MOVED

    for old in MOVED:
        relative = Path(*old.split("."))
        assert not (REPO / relative.with_suffix(".py")).exists() and not (REPO / relative).is_dir(), old


COMMANDS = """
    import click

    @click.command()
    @click.option("--name", default="world")
    def hello(name):
        '''Greet from a plugin.'''
        click.echo(f"hello {name}")

    not_a_command = 42
"""


def test_a_plugin_adds_a_command_and_a_broken_one_is_named_without_stopping_the_others(tmp_path):
    env = make_plugin(tmp_path / "site", "greeter", COMMANDS,
                      "[hwnas.commands]\nhello = greeter:hello\nbroken = greeter:not_a_command\n"
                      "search = greeter:hello\n")  # fmt: skip
    r = run_hwnas("hello", "--name", "headset", env=env)
    assert r.returncode == 0 and r.stdout.strip() == "hello headset", r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("hwnas: warning:")]
    assert len(warnings) == 2, r.stderr
    assert any("(hwnas.commands: broken = greeter:not_a_command): TypeError" in w for w in warnings), r.stderr
    assert any("(hwnas.commands: search = greeter:hello): names a built-in command" in w for w in warnings)
    r = run_hwnas("--help", env=env)
    assert "hello" in r.stdout and "Greet from a plugin." in r.stdout
    r = run_hwnas("search", "--help", env=env)  # the built-in command stays the built-in one
    assert r.returncode == 0 and "--target-ms" in r.stdout


PIECES = """
    import torch

    class Halved(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net
            self.output_names = net.output_names

        def deploy_inputs(self):
            return self.net.deploy_inputs()

        def encode(self, inputs):
            return {k: v / 2 for k, v in self.net.encode(inputs).items()}

    def pieces(run_dir, network):
        return {"half": Halved(network)}, [f"the half plugin added .half for {run_dir.name}"]
"""


def test_an_export_plugin_adds_its_piece_beside_a_trained_network(tmp_path, cli_args):
    """``hwnas.exports``: the piece is exported under its infix, its note printed, and it computes what the
    plugin says (half the trained network's outputs)."""
    import numpy as np
    import onnxruntime as ort

    env = make_plugin(tmp_path / "site", "halver", PIECES, "[hwnas.exports]\nhalf = halver:pieces\n")
    run_dir = tmp_path / "run"
    r = run_hwnas("train", "--arch", "eem", "--preset", "tiny", "--steps", "2", "--run-dir", str(run_dir),
                  "--no-progress", env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run_hwnas("export", "--run-dir", str(run_dir), "--out", str(tmp_path / "enc.onnx"), env=env)
    assert r.returncode == 0, r.stderr
    assert "the half plugin added .half for run" in r.stdout
    full, half = (ort.InferenceSession(str(tmp_path / n)) for n in ("enc.onnx", "enc.half.onnx"))
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in full.get_inputs()}
    for a, b in zip(full.run(None, feeds), half.run(None, feeds), strict=True):
        np.testing.assert_allclose(b, a / 2, rtol=1e-4, atol=1e-5)
