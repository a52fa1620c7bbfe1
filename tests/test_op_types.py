"""Op types: every built-in passes the conformance kit, and an op type brought by a plugin (an entry point of
``hwnas.ops``, beside the plugin's space) works through every command in fresh processes — a table of its ops
loads, the space offers it, the search and the export run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hwnas.ops import OP_TYPES
from hwnas.testing import check_op_type

from .conftest import REPO, median_target_with, run_hwnas
from .test_plugins import make_plugin


@pytest.mark.parametrize("name", sorted(OP_TYPES))
def test_every_built_in_op_type_passes_the_kit(name):
    passed = check_op_type(name, tflite=False)
    assert {"check_keys", "check_costs", "check_onnx"} <= set(passed)
    assert ("check_supernet" in passed) == OP_TYPES[name].searchable


def test_mbconv_converts_to_tflite_as_it_computes():
    pytest.importorskip("onnx2tf", reason="needs the tflite extra: pip install '.[tflite]'")
    assert "check_tflite" in check_op_type("mbconv_se_hs", tflite=True)


SEPCONV = """
    from pathlib import Path

    from torch import nn

    from hwnas.api import DeclaredSpace, OpType, register


    def space():
        return DeclaredSpace.from_file(Path(__file__).with_name("sep.toml"))


    class SepConv(nn.Module):
        def __init__(self, cin, cout, kernel, stride):
            super().__init__()
            self.depthwise = nn.Conv2d(cin, cin, kernel, stride, padding=kernel // 2, groups=cin, bias=False)
            self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
            self.bn = nn.BatchNorm2d(cout)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.bn(self.pointwise(self.depthwise(x))))


    register(
        OpType(
            "sepconv",
            fields=("kernel", "stride", "cin", "cout", "hw"),
            example="sepconv-k3-s1-cin8-cout16-h16w16",
            macs=lambda s: (s.kernel**2 * s.cin + s.cin * s.cout) * s.out_h * s.out_w,
            params=lambda s: s.kernel**2 * s.cin + s.cin * s.cout + 2 * s.cout,
            build=lambda s: SepConv(s.cin, s.cout, s.kernel, s.stride),
        )
    )
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("sepconv")
    entry_points = "[hwnas.ops]\nsepconv = sepconv_ops\n[hwnas.searchspaces]\nsep = sepconv_ops:space\n"
    env = make_plugin(root / "site", "sepconv_ops", SEPCONV, entry_points)
    declared = (REPO / "searchspaces" / "digits.toml").read_text().replace('name = "digits"', 'name = "sep"')
    declared = declared.replace('ops = ["fmbconv-k3-e2", "conv-k3", "skip"]', 'ops = ["sepconv-k3", "conv-k3", "skip"]')
    assert "sepconv-k3" in declared
    (root / "site" / "sep.toml").write_text(declared)
    return {"root": root, "env": env, "space": "sep"}


def test_a_plugin_op_type_passes_the_kit_in_a_fresh_process(plugin):
    script = "from hwnas.testing import check_op_type\nprint(check_op_type('sepconv', tflite=False))\n"
    r = subprocess.run([sys.executable, "-c", script], env={**os.environ, **plugin["env"]}, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0 and "check_supernet" in r.stdout, r.stdout + r.stderr


def test_a_plugin_op_type_works_through_every_command(plugin):
    root, env = plugin["root"], plugin["env"]
    where = ["--device", "cpu", "--space", plugin["space"], "--preset", "tiny", "--workdir", str(root / "w")]
    r = run_hwnas("spaces", plugin["space"], "--preset", "tiny", env=env)
    assert r.returncode == 0 and any(k.startswith("sepconv-k3-") for k in r.stdout.split()), r.stderr
    assert run_hwnas("profile", *where, "--no-progress", env=env).returncode == 0
    r = run_hwnas("build-lut", *where, "--lut-dir", str(root / "lut"), env=env)
    assert r.returncode == 0, r.stderr
    table = root / "lut" / "cpu" / "sep-tiny.csv"
    sep_key = next(k for k in table.read_text().split() if k.startswith("sepconv-"))
    for args in (("lut", "show", str(table)), ("lut", "lookup", str(table), sep_key.split(",")[0])):
        r = run_hwnas(*args, env=env)  # a fresh process reads a table holding the plugin's ops
        assert r.returncode == 0, r.stderr

    target = median_target_with(env, table, plugin["space"])  # inside the space's range on any machine
    r = run_hwnas("search", *where, "--lut-dir", str(root / "lut"), "--target-ms", target, "--steps", "4",
                  "--no-progress", "--out", str(root / "s"), env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads((root / "s" / "report.json").read_text())["measured"]["measured_ms"] > 0
    r = run_hwnas("export", "--arch", str(root / "s" / "arch.json"), "--out", str(root / "net.onnx"), env=env)
    assert r.returncode == 0 and (root / "net.onnx").is_file(), r.stderr


def test_without_the_plugin_its_ops_are_named_as_unknown(plugin):
    r = run_hwnas("spaces", str(plugin["root"] / "site" / "sep.toml"), "--preset", "tiny")
    assert r.returncode == 2 and "sepconv-k3" in r.stderr and "searchable op types are" in r.stderr
