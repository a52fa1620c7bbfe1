"""The plugin's own test suite runs hwnas's conformance kits (pip install the plugin first)."""

from hwnas.testing import check_backend, check_op_type, check_space, check_task


def test_onnx_reference_honours_the_backend_contract():
    passed = check_backend("onnx-reference", invalid_options=[{"seed": -1}, {"seed": "zero"}])
    assert "check_fresh_process" in passed


def test_sepconv_honours_the_op_type_contract():
    assert "check_supernet" in check_op_type("sepconv", tflite=False)


def test_the_gesture_space_honours_the_space_contract():
    assert "check_supernet_children" in check_space("gesture")


def test_the_gesture_task_honours_the_task_contract():
    assert "check_loss" in check_task("gesture", space="gesture", options={"camera_noise": 0.3})
