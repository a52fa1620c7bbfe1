import pytest
import torch
from torch.autograd import gradcheck

from hwnas.apps.avatar.decoder import AvatarDecoder, pixel_grid, render, soft_disc, soft_polygon
from hwnas.apps.avatar.expressions import Identity
from hwnas.apps.avatar.losses import ExtremeExpressionWeight


def test_soft_polygon_covers_inside_and_not_outside():
    square = torch.tensor([[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]])
    pixels = torch.tensor([[0.0, 0.0], [0.9, 0.0], [0.0, -0.9]])
    cover = soft_polygon(square, pixels, sharpness=50.0)[0]
    assert cover[0] > 0.99 and cover[1] < 0.01 and cover[2] < 0.01


def test_rasteriser_gradients_match_finite_differences():
    pixels = pixel_grid(6).double()
    poly = torch.tensor([[[-0.6, -0.4], [0.5, -0.5], [0.4, 0.6], [-0.5, 0.4]]], dtype=torch.double, requires_grad=True)
    assert gradcheck(lambda v: soft_polygon(v, pixels, 4.0), (poly,))
    center = torch.tensor([[0.1, -0.2]], dtype=torch.double, requires_grad=True)
    radius = torch.tensor([0.4], dtype=torch.double, requires_grad=True)
    assert gradcheck(lambda c, r: soft_disc(c, r, pixels, 4.0), (center, radius))


def test_rendered_avatar_is_differentiable_in_z_and_g():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        decoder = AvatarDecoder(16)
        app = torch.tensor(Identity.sample(0, 0).appearance()).double()[None]
        z = (0.2 * torch.randn(1, 16)).requires_grad_()
        g = (0.2 * torch.randn(1, 4)).requires_grad_()
        for view in ("front", "left"):
            assert gradcheck(lambda z, g, v=view: render(decoder(z, g, app), app, v, 8), (z, g), atol=1e-5)
    finally:
        torch.set_default_dtype(previous)


def test_gaze_moves_the_iris_in_the_render():
    decoder = AvatarDecoder(16)
    app = torch.tensor(Identity.sample(0, 0).appearance())[None]
    z = torch.zeros(1, 16)
    z_open = decoder.W[:, 4:6].sum(1)[None] * 0.9  # both lids open
    left = render(decoder(z + z_open, torch.tensor([[-0.8, 0, -0.8, 0]]), app), app, "front", 48)
    right = render(decoder(z + z_open, torch.tensor([[0.8, 0, 0.8, 0]]), app), app, "front", 48)
    assert (left - right).abs().max() > 0.2


def test_extreme_expression_weight_grows_with_gaze_rareness():
    weight = ExtremeExpressionWeight(tau=0.5, momentum=0.9, max_weight=100.0)
    weight.train()
    common = 0.05 * torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    for _ in range(20):
        weight(common)  # the moving average settles on the common gaze
    assert weight.g_bar.abs().max() < 0.05
    weight.eval()
    distances = torch.tensor([0.0, 0.2, 0.5, 1.0])
    w = weight(distances[:, None] * torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    assert torch.all(w[1:] > w[:-1])  # rarer gaze, larger weight
    expected = torch.exp((distances[:, None] * torch.tensor([[1.0, 0, 1, 0]]) - weight.g_bar).norm(dim=1) / 0.5)
    assert torch.allclose(w, expected)
    assert ExtremeExpressionWeight(max_weight=3.0).eval()(torch.full((1, 4), 5.0)).item() == 3.0


def test_held_out_scores_leave_out_the_eq3_weight():
    """A model that predicts the mean gaze gets Eq. 3 weight ~1 on every sample; scoring with its own weight
    would be lenient to it. The avatar task's score is the unweighted loss."""
    import torch

    from hwnas.apps.avatar.task import AvatarTask
    from hwnas.train.objective import TaskRequest

    task = AvatarTask.create(TaskRequest("tiny"))
    idx = task.train_pool()[:16]
    batch = task.batch(idx)
    pred = {"z": batch["z"] + 0.1, "g": batch["g"] + 0.3, "y": batch["y"]}  # off in gaze: Eq. 3 weight > 1
    task.train()
    task.loss(pred, batch, 0)  # initialises the moving average of gaze
    task.eval()
    weighted = float(task.loss_fn(pred, batch)[0])
    unweighted = float(task.loss_fn(pred, batch, extreme_weighted=False)[0])
    assert weighted != unweighted
    assert task.score(pred, batch) == unweighted
    assert torch.isfinite(torch.tensor(weighted))


def test_the_selection_loss_is_the_render_error_alone():
    """Eq. 4 counts key points, which do not render; the loss an architecture is chosen by ignores them, and
    charges what does render — the latent code — as the training loss does."""
    from hwnas.apps.avatar.task import AvatarTask
    from hwnas.train.objective import TaskRequest

    task = AvatarTask.create(TaskRequest("tiny", options={"ee_loss": False}))
    batch = task.batch(task.train_pool()[:16])
    truth = {"z": batch["z"], "g": batch["g"], "y": batch["y"]}
    off_keypoints = {**truth, "y": batch["y"] + 0.5}
    off_latent = {**truth, "z": batch["z"] + 0.5}
    assert float(task.loss(off_keypoints, batch, 0)) > 0.1
    assert float(task.selection_loss(off_keypoints, batch, 0)) == 0.0
    assert task.selection_score(off_keypoints, batch) == 0.0
    assert float(task.selection_loss(off_latent, batch, 0)) > 0.0
    render_term = task.loss_fn(off_latent, batch, extreme_weighted=False)[1]["render"]
    assert task.selection_score(off_latent, batch) == pytest.approx(255.0**2 * render_term, rel=1e-5)
