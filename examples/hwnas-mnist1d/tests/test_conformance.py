"""The plugin's own test suite runs hwnas's conformance kits (pip install the plugin first)."""

from hwnas.testing import check_op_type, check_space, check_task


def test_the_1d_op_types_honour_the_op_type_contract():
    for name in ("conv1d", "sepconv1d"):
        assert "check_supernet" in check_op_type(name, tflite=False)


def test_the_mnist1d_space_honours_the_space_contract():
    assert "check_supernet_children" in check_space("mnist1d")


def test_the_mnist1d_task_honours_the_task_contract():
    assert "check_loss" in check_task("mnist1d", space="mnist1d", options={"train_examples": 500})
