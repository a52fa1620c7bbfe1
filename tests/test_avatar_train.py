import json
from dataclasses import replace

import torch

from hwnas.apps.avatar.data import synthesize, task_preset
from hwnas.apps.avatar.encoders import build_baseline, count_flops
from hwnas.apps.avatar.evaluate import mean_predictor, render_mse
from hwnas.apps.avatar.task import AvatarTask
from hwnas.train.objective import TaskRequest
from hwnas.train.trainer import CHECKPOINT, TrainConfig, fit
from hwnas.workflows.runs import RUN_CONFIG, TrainRun, build_model, load_trained, train_run

from .conftest import run_hwnas

TINY = task_preset("tiny")


def _model(name="eem"):
    torch.manual_seed(0)
    return build_baseline(name, "tiny", TINY.view_res, TINY.latent_dim, TINY.keypoints)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    config = TrainConfig(steps=12, batch=8, checkpoint_every=4)
    whole = _model()
    fit(whole, AvatarTask.create(TaskRequest("tiny")), config, tmp_path / "whole", progress=False)
    paused = _model()
    fit(paused, AvatarTask.create(TaskRequest("tiny")), config, tmp_path / "paused", progress=False, stop_after=6)
    state = torch.load(tmp_path / "paused" / CHECKPOINT, weights_only=True)
    assert state["step"] == 6 and len(state["history"]) == 6
    resumed = _model()  # a fresh process would start from fresh weights and a fresh task, and load the checkpoint
    task = AvatarTask.create(TaskRequest("tiny"))
    result = fit(resumed, task, config, tmp_path / "paused", progress=False)
    assert result["steps"] == 12
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    assert bool(task.loss_fn.extreme_weight.initialised)  # the Eq. 3 moving average came back with the checkpoint


def test_compressed_baselines_cost_less():
    eem, ch50, res50 = (_model(n) for n in ("eem", "eem-ch50", "eem-res50"))
    flops = [count_flops(m, m.input_res) for m in (eem, ch50, res50)]
    assert flops[1] < 0.4 * flops[0] and flops[2] < 0.6 * flops[0]


def test_perfect_predictions_render_with_zero_error_and_the_mean_does_not():
    data = synthesize(TINY)
    truth = render_mse(lambda b: {k: b[k] for k in ("z", "g", "y")}, data, "test", TINY.render_size)
    mean = render_mse(mean_predictor(data), data, "extreme", TINY.render_size)
    assert truth["mean"] < 1e-6 and mean["mean"] > 1.0
    assert set(mean["per_identity"]) == {"0", "1"}


def test_train_and_evaluate_commands(tmp_path):
    run = tmp_path / "run"
    r = run_hwnas(
        "train", "--arch", "eem-ch50", "--preset", "tiny", "--steps", "6", "--run-dir", str(run), "--no-progress"
    )
    assert r.returncode == 0, r.stderr
    r = run_hwnas("evaluate", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    assert "eem-ch50 (tiny, 6 steps)" in r.stdout and "extreme" in r.stdout
    assert (run / "metrics.json").is_file()
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # a disk that filled up, a copy cut short
    r = run_hwnas("evaluate", "--run-dir", str(run))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "checkpoint.pt is unreadable" in r.stderr
    r = run_hwnas("train", "--arch", "eem-ch50", "--preset", "tiny", "--steps", "9", "--run-dir", str(run))
    assert r.returncode == 2 and "other settings (steps)" in r.stderr
    r = run_hwnas("train", "--arch", "resnet", "--preset", "tiny", "--run-dir", str(tmp_path / "x"))
    assert r.returncode == 2 and "unknown encoder 'resnet'" in r.stderr
    assert not (tmp_path / "x").exists()


def test_a_run_is_its_seeds_whatever_the_process_drew_before(tmp_path):
    def trained(name, **kw):
        torch.rand(7)  # what a long benchmark process drew before this run
        run_dir, _ = train_run("eem-ch50", "tiny", 2, seed=1, run_dir=tmp_path / name, progress=False, **kw)
        return load_trained(run_dir)

    def same(x, y):
        return all(torch.equal(p, q) for p, q in zip(x.state_dict().values(), y.state_dict().values(), strict=True))

    a, b, other = trained("a"), trained("b"), trained("other", init_seed=5)
    assert same(a[2], b[2]) and not same(a[2], other[2])
    assert not same(a[2], build_model("eem-ch50", "tiny", 1, {}, "synthetic")[1])  # it trained
    assert a[0] == replace(other[0], init_seed=None)  # same data and settings, other weights and batches
    assert (a[0].seed, a[0].lr) == (1, TrainRun.lr)
    config = tmp_path / "a" / RUN_CONFIG  # a run written before init_seed existed resumes
    config.write_text(json.dumps({k: v for k, v in json.loads(config.read_text()).items() if k != "init_seed"}))
    assert train_run("eem-ch50", "tiny", 2, seed=1, run_dir=tmp_path / "a", progress=False)[1]["steps"] == 2
    paused = train_run("eem-ch50", "tiny", 2, seed=1, run_dir=tmp_path / "p", progress=False, init_seed=5,
                       stop_after=1)  # fmt: skip
    assert paused[1]["steps"] == 1 and load_trained(paused[0])[3] == 1  # where search_pareto --curve-at scores it
    assert same(trained("p", init_seed=5)[2], other[2])  # resumed to the end: the unbroken run's weights
