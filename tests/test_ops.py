import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from hwnas.core.errors import HwnasError
from hwnas.ops import OpKeyError, OpSpec, conv_out

dims = st.integers(1, 64)
spatial = st.integers(1, 40)


@st.composite
def op_specs(draw):
    op = draw(st.sampled_from(["conv", "fmbconv", "skip", "gap", "linear"]))
    cin, cout, h, w = draw(dims), draw(dims), draw(spatial), draw(spatial)
    kernel, stride, expansion = draw(st.sampled_from([1, 3, 5, 7])), draw(st.integers(1, 2)), draw(st.integers(1, 6))
    batch = draw(st.integers(1, 4))
    if op == "conv":
        return OpSpec("conv", cin, cout, kernel=kernel, stride=stride, h=h, w=w, batch=batch)
    if op == "fmbconv":
        return OpSpec("fmbconv", cin, cout, kernel=kernel, expansion=expansion, stride=stride, h=h, w=w, batch=batch)
    if op == "skip":
        return OpSpec("skip", cin, cout, h=h, w=w, batch=batch)
    if op == "gap":
        return OpSpec("gap", cin, h=h, w=w, batch=batch)
    return OpSpec("linear", cin, cout, batch=batch)


@given(op_specs())
def test_key_round_trips(spec):
    assert OpSpec.parse(spec.key) == spec
    assert OpSpec.parse(spec.key).key == spec.key


def test_key_format_is_the_documented_one():
    spec = OpSpec("fmbconv", 16, 32, kernel=3, expansion=4, stride=2, h=96, w=96)
    assert spec.key == "fmbconv-k3-e4-s2-cin16-cout32-h96w96"
    assert OpSpec.parse("fmbconv-k3-e4-s2-cin16-cout32-h96w96-b1-float32").key == spec.key  # defaults normalise


def test_specs_are_hashable_and_deduplicate():
    a = OpSpec.parse("conv-k3-s1-cin8-cout8-h16w16")
    b = OpSpec("conv", 8, 8, kernel=3, stride=1, h=16, w=16)
    assert len({a, b}) == 1


@pytest.mark.parametrize(
    "key",
    [
        "dwconv-k3-s1-cin8-cout8-h8w8",  # unknown op
        "conv-k3-cin8-cout8-h8w8",  # missing stride
        "conv-k3-s1-cin8-cout8-h8w8-e4",  # conv takes no expansion
        "conv-k4-s1-cin8-cout8-h8w8",  # even kernel
        "conv-k3-s1-cin0-cout8-h8w8",  # zero channels
        "skip-cin8-cout8-h8w8-s2",  # skip cannot take a stride
        "linear-cin8-cout8-h8w8",  # linear has no spatial size
        "conv-k3-s1-cin8-cout8-h8w8-float16",  # unsupported dtype
        "conv-k3-k5-s1-cin8-cout8-h8w8",  # token twice
        "conv-k3-s1-cin8-cout8-h8x8",  # garbage token
    ],
)
def test_bad_keys_raise_a_user_error(key):
    with pytest.raises(OpKeyError) as info:
        OpSpec.parse(key)
    assert isinstance(info.value, HwnasError)
    assert key in str(info.value) or "unsupported dtype" in str(info.value) or "must" in str(info.value)


@given(op_specs())
def test_module_output_shape_and_params_match_the_spec(spec):
    module = spec.build_module()
    with torch.no_grad():
        y = module(torch.randn(*spec.input_shape))
    assert tuple(y.shape) == spec.output_shape
    assert sum(p.numel() for p in module.parameters()) == spec.params


@pytest.mark.parametrize(
    "key",
    [
        "conv-k3-s2-cin3-cout16-h32w32",
        "fmbconv-k5-e4-s1-cin8-cout16-h20w20",
        "fmbconv-k3-e1-s2-cin8-cout8-h9w9",
        "linear-cin384-cout64",
        "fmbconv-k3-e6-s1-cin16-cout16-h12w12",
    ],
)
def test_flops_agree_with_torch_flop_counter(key):
    spec = OpSpec.parse(key)
    module = spec.build_module()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.randn(*spec.input_shape))
    assert spec.flops == counter.get_total_flops()


def test_conv_out_is_same_padding():
    assert [conv_out(n, 2) for n in (1, 2, 3, 48, 49)] == [1, 1, 2, 24, 25]
