import itertools
from pathlib import Path

import pytest

from hwnas.core.errors import HwnasError
from hwnas.ops import conv_out
from hwnas.space import discover, get_preset, get_space


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
