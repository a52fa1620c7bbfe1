import random

import numpy as np
import pytest
import torch

from hwnas.apps.avatar.data import SPLITS, load_npz, save_npz, synthesize, task_preset
from hwnas.apps.avatar.expressions import GAZE_RANGE, asymmetry, extreme_frames, training_video
from hwnas.core.errors import HwnasError

from .conftest import run_hwnas


@pytest.fixture(scope="module")
def tiny():
    return synthesize(task_preset("tiny"), seed=0)


def test_generator_is_deterministic_by_seed(tiny):
    again = synthesize(task_preset("tiny"), seed=0)
    assert torch.equal(tiny.views, again.views) and torch.equal(tiny.z, again.z) and torch.equal(tiny.y, again.y)
    other = synthesize(task_preset("tiny"), seed=1)
    assert not torch.equal(tiny.views, other.views)


def test_shapes_follow_the_preset_and_the_avatar_space(tiny):
    t = task_preset("tiny")
    n = t.identities * (t.train_videos * t.frames_per_video + t.test_frames + t.extreme_frames)
    assert tiny.views.shape == (n, 3, t.view_res, t.view_res) and tiny.views.dtype == torch.uint8
    assert tiny.z.shape == (n, t.latent_dim) and tiny.g.shape == (n, 4) and tiny.y.shape == (n, 2 * t.keypoints)
    assert [len(tiny.indices(s)) for s in SPLITS] == [
        t.identities * t.train_videos * t.frames_per_video,
        t.identities * t.test_frames,
        t.identities * t.extreme_frames,
    ]


def test_every_resolution_of_the_space_is_rendered_natively(tiny):
    """A 16 px encoder of the tiny space reads the 16 px rendering of the same frames, not a resampled 24 px
    one: the same scene (strongly correlated with the resampled view) with its own pixels."""
    from hwnas.apps.avatar.network import AvatarNetwork
    from hwnas.space import get_preset
    from hwnas.space.architecture import Architecture

    space = get_preset("avatar", "tiny")
    assert {tiny.views.shape[-1], *tiny.native} == set(space.resolutions["left_eye"])
    batch = tiny.batch(torch.arange(8))
    native, resampled = batch["views"].at(16), torch.nn.functional.interpolate(batch["views"][24], size=16, mode="area")
    assert native.shape == resampled.shape == (8, 3, 16, 16)
    assert not torch.allclose(native, resampled, atol=0.05)
    assert np.corrcoef(native.flatten().numpy(), resampled.flatten().numpy())[0, 1] > 0.9
    arch = Architecture.sample(space, random.Random(0))
    arch = Architecture(arch.space, arch.preset, {v: 16 for v in arch.resolutions}, arch.branches)
    net = AvatarNetwork(arch, space, 24).eval()
    with torch.no_grad():
        from_pyramid = net(batch["views"])["z"]
        assert torch.equal(from_pyramid, net.encode({v: native[:, i : i + 1] for i, v in enumerate(net.views)})["z"])
        assert not torch.allclose(from_pyramid, net(batch["views"][24])["z"])


def test_extreme_frames_are_asymmetric_and_rare_in_training():
    rng = np.random.default_rng(0)
    train = np.concatenate([training_video(rng, 300) for _ in range(20)])
    extreme = extreme_frames(rng, 2000)
    asym_train, asym_extreme = asymmetry(train), asymmetry(extreme)
    assert np.mean(asym_train > 0.5) < 0.02  # the eyes move together in training...
    assert np.mean(asym_extreme > 0.5) > 0.6  # ...and apart in the extreme subset
    rare_gaze = np.abs(extreme[:, [0, 2]]).max(1) > GAZE_RANGE + 0.1
    assert np.mean(np.abs(train[:, [0, 2]]).max(1) > GAZE_RANGE + 0.1) < 0.01
    assert np.mean(rare_gaze) > 0.3
    winks = np.abs(train[:, 4] - train[:, 5]) > 0.5
    assert 0 < np.mean(winks) < 0.02  # winks exist in training, rarely


def test_views_show_the_eyes_that_the_parameters_describe(tiny):
    """A closed lid darkens the eye region less than an open one (the sclera is bright)."""
    p = tiny.params
    left_open, left_closed = p[:, 4] > 0.8, p[:, 4] < 0.1
    assert left_closed.any()
    center = tiny.views[:, 0, 8:16, 6:18].float().mean((1, 2))
    assert center[left_open].mean() > center[left_closed].mean()


def test_npz_round_trip(tiny, tmp_path):
    path = tmp_path / "mine.npz"
    save_npz(tiny, path)
    loaded = load_npz(path)
    for field in ("views", "z", "g", "y", "identity", "split", "appearance"):
        assert torch.equal(getattr(loaded, field), getattr(tiny, field)), field


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda a: a.pop("z"), "lacks array(s) z"),
        (lambda a: a.update(mouth=a["mouth"][:, :5]), "mouth must be (N, R, R)"),
        (lambda a: a.update(g=a["g"][:, :3]), "g must be a numeric"),
        (lambda a: a.update(z=np.full_like(a["z"], np.nan)), "z holds NaN"),
        (lambda a: a.update(split=np.array(["train"] * (len(a["z"]) - 1) + ["holdout"])), "split must be"),
        (lambda a: a.update(left_eye=a["left_eye"].astype(np.float32) * 2), "uint8 or floats in [0, 1]"),
    ],
)
def test_malformed_npz_files_are_refused(tiny, tmp_path, change, needle):
    save_npz(tiny, tmp_path / "good.npz")
    arrays = dict(np.load(tmp_path / "good.npz"))
    change(arrays)
    with pytest.raises(HwnasError, match=needle.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_npz(_write(tmp_path / "bad.npz", **arrays))


def test_not_an_npz_is_a_one_line_cli_error(tmp_path):
    bad = tmp_path / "frames.npz"
    bad.write_bytes(b"definitely not a zip archive")
    r = run_hwnas("train", "--arch", "eem", "--preset", "tiny", "--data", str(bad), "--run-dir", str(tmp_path / "r"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "not a readable npz archive" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r").exists()
