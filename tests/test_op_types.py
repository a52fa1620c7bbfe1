"""Op types: every built-in passes the conformance kit (a plugin's op type, examples/hwnas-gesture's sepconv,
through every command: tests/test_example_plugin.py and tests/test_task_options.py)."""

from __future__ import annotations

import pytest

from hwnas.ops import OP_TYPES
from hwnas.testing import check_op_type


@pytest.mark.parametrize("name", sorted(OP_TYPES))
def test_every_built_in_op_type_passes_the_kit(name):
    passed = check_op_type(name, tflite=False)
    assert {"check_keys", "check_costs", "check_onnx"} <= set(passed)
    assert ("check_supernet" in passed) == OP_TYPES[name].searchable


def test_mbconv_converts_to_tflite_as_it_computes():
    pytest.importorskip("onnx2tf", reason="needs the tflite extra: pip install '.[tflite]'")
    assert "check_tflite" in check_op_type("mbconv_se_hs", tflite=True)
