import itertools
import random
from pathlib import Path

import pytest
import torch

from hwnas.core.errors import HwnasError
from hwnas.ops import conv_out
from hwnas.space import discover, get_preset, get_space
from hwnas.space.architecture import Architecture
from hwnas.space.network import ArchitectureNetwork


@pytest.fixture(scope="module")
def tiny():
    return get_preset("avatar", "tiny")


def test_avatar_is_found_through_the_registry():
    assert "avatar" in discover()
    assert get_space("avatar").presets == ["tiny", "small", "paper"]


def test_macro_structure_is_the_papers(tiny):
    assert tiny.views == {
        "left_eye": ("gaze", "keypoints", "features"),
        "right_eye": ("gaze", "keypoints", "features"),
        "mouth": ("features",),
    }
    # three 128-d... (here tiny: 16-d) feature vectors concatenated and regressed to the latent code
    reg = tiny.regressor_op()
    assert (reg.cin, reg.cout) == (3 * tiny.outputs["features"], tiny.latent_dim)
    assert get_preset("avatar", "small").outputs["features"] == 128
    assert max(get_preset("avatar", "paper").resolutions["left_eye"]) == 192


def test_enumeration_is_deduplicated_and_sorted(tiny):
    ops = tiny.enumerate_ops()
    keys = [op.key for op in ops]
    assert len(keys) == len(set(keys))
    assert keys == sorted(keys)


def test_every_width_pair_of_consecutive_layers_is_enumerated(tiny):
    keys = {op.key for op in tiny.enumerate_ops()}
    for size in tiny.resolutions["left_eye"]:
        layers = tiny.layer_candidates(size)
        for prev, layer in itertools.pairwise(layers):
            assert layer.in_widths == prev.out_widths
        for layer in layers:
            for template in layer.ops:
                for cin in layer.in_widths:
                    for cout in layer.out_widths:
                        assert template.instantiate(cin, cout, layer.stride, layer.size).key in keys


def test_skip_only_where_the_layer_keeps_resolution(tiny):
    for size in (16, 24):
        for layer in tiny.layer_candidates(size):
            has_skip = any(t.op == "skip" for t in layer.ops)
            assert has_skip == (layer.stride == 1)


def test_spatial_sizes_follow_the_strides(tiny):
    layers = tiny.layer_candidates(24)
    assert layers[0].size == conv_out(24, tiny.stem.stride)
    assert layers[1].size == conv_out(layers[0].size, layers[0].stride)


def test_presets_grow(tiny):
    counts = [len(get_preset("avatar", p).enumerate_ops()) for p in ("tiny", "small", "paper")]
    assert counts == sorted(counts) and counts[0] < 100


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(HwnasError, match="known: tiny, small, paper"):
        get_preset("avatar", "huge")


def test_a_user_toml_space_works_by_path(tmp_path):
    text = Path(get_space("avatar").source).read_text()
    path = tmp_path / "mine.toml"
    path.write_text(text.replace('name = "avatar"', 'name = "mine"'))
    preset = get_preset(str(path), "tiny")
    assert preset.space == "mine"
    assert {o.key for o in preset.enumerate_ops()} == {o.key for o in get_preset("avatar", "tiny").enumerate_ops()}


SIGNALS = """
name = "signals"
task = "digits"
input_height = 1
[views]
signal = ["logits"]
[presets.tiny]
outputs = { logits = 10 }
resolutions = { signal = [24, 40] }
stem = { op = "conv", width = 4, kernel = 3, stride = 2 }
ops = ["conv-k3", "skip"]
layers = [{ stride = 2, widths = [4, 8] }, { stride = 1, widths = [8] }]
"""


def test_a_space_of_signals_keeps_its_inputs_one_row_high(tmp_path):
    path = tmp_path / "signals.toml"
    path.write_text(SIGNALS)
    preset = get_preset(str(path), "tiny")
    keys = {o.key for o in preset.enumerate_ops()}
    assert {"conv-k3-s2-cin1-cout4-h1w40", "conv-k3-s2-cin4-cout8-h1w20", "conv-k3-s1-cin8-cout8-h1w10"} <= keys
    assert "gap-cin8-h1w10" in keys and "gap-cin8-h1w6" in keys  # 24 -> 12 -> 6
    assert not any("h40w40" in k or "h20w20" in k for k in keys)
    arch = Architecture.sample(preset, random.Random(0))
    net = ArchitectureNetwork(arch, preset)
    res = arch.resolutions["signal"]
    assert net.deploy_inputs() == {"signal": (1, 1, 1, res)}
    out = net(torch.randn(3, 1, 1, 40))  # the signal at its stored length, resampled to the architecture's
    assert out["signal.logits"].shape == (3, 10)
    assert {s.h for s in arch.op_specs(preset) if s.op in ("conv", "gap")} == {1}


@pytest.mark.parametrize(
    "change, problem",
    [
        (("input_height = 1", "input_height = 0"), "input_height must be a positive integer"),
        (('op = "conv"', 'op = "conv2"'), "unknown op type 'conv2'"),
    ],
)
def test_a_bad_input_height_or_stem_op_is_named(tmp_path, change, problem):
    path = tmp_path / "signals.toml"
    path.write_text(SIGNALS.replace(*change))
    with pytest.raises(HwnasError, match="malformed") as info:
        get_preset(str(path), "tiny")
    assert problem in str(info.value)


def test_final_size_still_answers_for_square_spaces_with_a_deprecation_warning():
    preset = get_preset("digits", "tiny")
    with pytest.warns(DeprecationWarning, match="final_hw"):
        assert preset.final_size(24) == preset.final_hw(24)[1] == 12
    assert preset.head("logits", 8, 12) == preset.head("logits", 8, (12, 12))
