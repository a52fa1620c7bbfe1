"""The plugin's own test suite runs hwnas's conformance kit (pip install the plugin first)."""

from hwnas.testing import check_backend


def test_onnx_reference_honours_the_backend_contract():
    passed = check_backend("onnx-reference", invalid_options=[{"seed": -1}, {"seed": "zero"}])
    assert "check_fresh_process" in passed
