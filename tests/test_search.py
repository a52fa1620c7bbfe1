"""The searcher's core properties: gradient path of the latency, masking equivalence, REINFORCE sign."""

import dataclasses
import itertools
import json
import math
import random

import numpy as np
import pytest
import torch

from hwnas.core.errors import HwnasError
from hwnas.lut import LatencyTable
from hwnas.measure.devices import get_device
from hwnas.ops import OpTemplate
from hwnas.search.config import SearchConfig, temperature
from hwnas.search.latency import LatencyModel
from hwnas.search.optim import SharedScaleAdam
from hwnas.search.policy import ResolutionPolicy
from hwnas.search.supernet import MixedLayer, Sampling, Supernet
from hwnas.search.target import LatencyTarget, latency_loss
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.space.declared import LayerCandidates

TINY = get_preset("avatar", "tiny")


def test_latency_gradient_reaches_every_architecture_parameter(tiny_lut):
    table = LatencyTable.load(tiny_lut["table"])
    # distinct latencies: two candidates measured alike on a loaded machine (µs resolution) would give their
    # logits no gradient, which is right, but not what this test is about
    table.frame["median_ms"] = table.overhead_ms + 0.001 * (1 + np.arange(len(table.frame)))
    net = Supernet(TINY)
    model = LatencyModel(TINY, table)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_()
    loss = latency_loss(model(list(net.branches), net.resolutions()), target_ms=0.05, form="log")
    loss.backward()
    params = dict(net.named_parameters())
    arch = [n for n in params if n.endswith(("alpha_op", "alpha_width"))]
    assert len(arch) == 2 * len(TINY.branches) * len(TINY.layers)
    for name in arch:
        assert params[name].grad is not None and params[name].grad.abs().sum() > 0, name


def test_expected_latency_of_a_one_hot_distribution_is_the_table_prediction(tiny_lut):
    """With every choice made certain, the differentiable expectation equals LatencyTable.predict_ms."""
    table = LatencyTable.load(tiny_lut["table"])
    net = Supernet(TINY)
    arch = Architecture.sample(TINY, random.Random(3))
    with torch.no_grad():
        for branch, choice in zip(net.branches, arch.branches, strict=True):
            for layer, c in zip(branch.layers, choice.layers, strict=True):
                layer.alpha_op.fill_(-1e4)[layer.ops_names.index(c.op)] = 1e4
                layer.alpha_width.fill_(-1e4)[layer.widths.index(c.width)] = 1e4
    expected = LatencyModel(TINY, table)(list(net.branches), arch.resolutions)
    assert expected.item() == pytest.approx(table.predict_ms(arch.op_specs(TINY)), rel=1e-5)


@pytest.mark.parametrize(("template", "output_module"), [("conv-k3", ""), ("fmbconv-k3-e2", "block.1.")])
def test_a_width_mask_equals_a_narrower_op(template, output_module):
    """FBNetV2 masking: the max-width op with mask 'first 4 channels' is the 4-wide op (same weights)."""
    torch.manual_seed(0)
    layer = LayerCandidates(0, 2, (8,), (4, 8), (OpTemplate.parse(template),), 12)
    mixed = MixedLayer(layer).eval()
    mixed.alpha_width.data = torch.tensor([1e4, -1e4])  # width 4 for certain
    x = torch.randn(2, 8, 12, 12)
    y, _ = mixed(x, Sampling(tau=1.0))
    narrow = OpTemplate.parse(template).instantiate(8, 4, 2, 12).build_module()
    state = {
        k: v[:4] if k.startswith(output_module) and v.ndim else v for k, v in mixed.candidates[0].state_dict().items()
    }
    narrow.load_state_dict(state)
    assert torch.allclose(y[:, :4], narrow(x), atol=1e-5)
    assert torch.all(y[:, 4:] == 0)


@pytest.mark.parametrize(
    ("space", "preset"),
    [("avatar", "tiny"), ("avatar", "small"), ("digits", "tiny"), ("mobile", "tiny"), ("mobile", "small")],
)
def test_a_selected_sub_network_is_the_derived_child(space, preset):
    """The supernet with one architecture selected computes what that architecture's stand-alone network
    computes with the inherited (sliced) weights: Fused-MBConv's hidden width is cin·e of the chosen input
    width and its residual exists only where the chosen widths match, as in the child."""
    p = get_preset(space, preset)
    torch.manual_seed(0)
    net = Supernet(p)
    size = max(max(r) for r in p.resolutions.values())
    for seed in range(4):
        arch = Architecture.sample(p, random.Random(seed))
        net.select(arch)
        child = net.child(arch)
        x = torch.randn(3, len(p.views), size, size)
        for training in (True, False):
            net.train(training)
            child.train(training)
            got, want = net(x), child(x)
            assert set(got) == set(want)
            for key in want:
                assert torch.allclose(got[key], want[key], atol=1e-5), (seed, training, key)


def test_reinforce_moves_probability_towards_the_better_choice():
    torch.manual_seed(0)
    policy = ResolutionPolicy(3)
    opt = torch.optim.Adam(policy.parameters(), lr=0.1)
    reward = {0: -1.0, 1: 0.0, 2: -2.0}  # choice 1 is best
    for _ in range(400):
        policy.sample()
        surrogate = policy.surrogate(reward[policy.current] + 0.1 * torch.randn(()).item())
        opt.zero_grad()
        surrogate.backward()
        opt.step()
    probs = torch.softmax(policy.theta, 0)
    assert policy.best() == 1 and probs[1] > 0.8


def test_a_target_is_one_value_from_the_command_line_to_the_loss():
    for given in ({}, {"ms": 1.0, "speedup": 2.0}):
        with pytest.raises(HwnasError, match="exactly one of --target-ms"):
            LatencyTarget(**given)
    with pytest.raises(HwnasError, match="positive number"):
        LatencyTarget(speedup=float("nan"))
    given = LatencyTarget(speedup=2.0)
    assert not given.resolved and given.tag == "2x"
    with pytest.raises(HwnasError, match="not resolved yet"):
        SearchConfig(given)  # a search starts only once the device has turned the speed-up into milliseconds
    reference = {"name": "largest", "measured_ms": 3.0, "iqr_ms": 0.1}
    target = given.resolve(reference)
    assert target.milliseconds == 1.5 and target.tag == "2x" and target.reference == reference
    assert float(target.loss(torch.tensor(3.0), "log")) == pytest.approx(math.log(2))
    record = SearchConfig(target, steps=7).record()  # what folders bind and reports hold, flat as always
    assert record["target_ms"] == 1.5 and record["speedup"] == 2.0 and record["reference"] == reference
    assert record["steps"] == 7 and "target" not in record
    assert LatencyTarget(0.5).record() == {"target_ms": 0.5, "reference": None}


def test_latency_losses_and_temperature():
    lat = torch.tensor(2.0, requires_grad=True)
    assert latency_loss(lat, 1.0, "log").item() == pytest.approx(0.6931, rel=1e-3)
    assert float(latency_loss(torch.tensor(0.5), 1.0, "log")) == pytest.approx(0.6931, rel=1e-3)
    assert float(latency_loss(torch.tensor(0.5), 1.0, "hinge")) == 0.0
    assert latency_loss(lat, 1.0, "hinge").item() == pytest.approx(1.0)
    with pytest.raises(HwnasError):
        latency_loss(lat, 1.0, "square")
    config = SearchConfig(LatencyTarget(1.0), steps=11, tau_start=4.0, tau_end=0.25)
    taus = [temperature(s, config) for s in range(11)]
    assert taus[0] == pytest.approx(4.0) and taus[-1] == pytest.approx(0.25)
    assert all(a > b for a, b in itertools.pairwise(taus))


def test_derived_architecture_is_valid_and_round_trips():
    net = Supernet(TINY)
    arch = net.derive()
    arch.validate(TINY)
    assert Architecture.from_json(arch.to_json()) == arch
    keys = {s.key for s in TINY.enumerate_ops()}
    assert {s.key for s in arch.op_specs(TINY)} <= keys


@pytest.fixture
def tiny_search(tiny_lut, tiny_target, cli_args):
    """The argument list of an avatar/tiny search at a reachable target against the session's table."""

    def build(out, *extra: str, steps: int = 4, target: str = tiny_target) -> list[str]:
        where = {"workdir": tiny_lut["workdir"], "lut_dir": tiny_lut["lut_dir"]}
        return cli_args("search", "--target-ms", target, "--steps", str(steps), "--out", str(out), "--no-progress",
                        *extra, **where)  # fmt: skip

    return build


def test_search_command_writes_an_architecture_that_trains(tiny_lut, tiny_search, tiny_target, tmp_path):
    from hwnas.apps.avatar.network import AvatarNetwork

    from .conftest import run_hwnas

    out = tmp_path / "search"
    r = run_hwnas(*tiny_search(out))
    assert r.returncode == 0, r.stderr
    arch = Architecture.load(out / "arch.json")
    report = json.loads((out / "report.json").read_text())
    table = LatencyTable.load(tiny_lut["table"])
    assert report["predicted_ms"] == pytest.approx(table.predict_ms(arch.op_specs(TINY)))
    assert len(report["history"]) == 4 and report["target_ms"] == float(tiny_target)
    assert (report["device"], report["backend"]) == ("cpu", "onnxruntime")
    measured = report["measured"]
    s = get_device("cpu").profile  # each of the preset's rounds a fresh process, the model in its network loads
    assert measured["measured_ms"] > 0 and measured["measured_runs"] == s.rounds * s.network_loads * s.runs
    assert measured["predicted_ms"] == pytest.approx(report["predicted_ms"])
    assert measured["predicted_uncalibrated_ms"] == pytest.approx(table.latency_ms(arch.op_specs(TINY)).sum())
    assert "measured end to end" in r.stdout
    assert (out / "search_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    AvatarNetwork(arch, TINY, 24)  # builds
    r = run_hwnas(
        "train",
        "--arch",
        str(out / "arch.json"),
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--run-dir",
        str(tmp_path / "run"),
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    r = run_hwnas("search", "--space", "avatar", "--device", "cpu", "--preset", "tiny", "--target-ms", "-1")
    assert r.returncode == 2 and "target-ms" in r.stderr


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--torch-device", "tpu-of-dreams"], "is not a torch device"),
        *([(["--torch-device", "cuda:0"], "CUDA is not available")] if not torch.cuda.is_available() else []),
        (["--op-sampling", "medium"], "op-sampling"),
        (["--space", "nope"], "unknown search space 'nope'"),
    ],
)
def test_bad_search_arguments_get_one_line(tmp_path, extra, needle):
    from .conftest import run_hwnas

    args = ["search", "--space", "digits", "--device", "cpu", "--preset", "tiny", "--target-ms", "1", *extra]
    r = run_hwnas(*args, "--out", str(tmp_path / "out"), "--lut-dir", str(tmp_path / "lut"), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert needle in r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "lut").exists()


def test_random_search_keeps_to_the_target_and_spends_the_budget(tiny_lut):

    from hwnas.apps.avatar.task import AvatarTask
    from hwnas.search.random_search import feasible_architectures, random_search
    from hwnas.train.objective import TaskRequest

    table = LatencyTable.load(tiny_lut["table"])
    predictions = sorted(
        table.predict_ms(Architecture.sample(TINY, random.Random(i)).op_specs(TINY)) for i in range(50)
    )
    target = predictions[25]  # the median random architecture: many fall within 10% of it
    archs = feasible_architectures(TINY, table, target, count=3)
    assert all(abs(table.predict_ms(a.op_specs(TINY)) / target - 1) <= 0.03 for a in archs)
    assert len({a.to_json() for a in archs}) == len(archs)
    config = SearchConfig(LatencyTarget(target), steps=6, batch=8)
    task = AvatarTask.create(TaskRequest("tiny"))
    result = random_search(TINY, table, task, config, candidates=3)
    assert sum(h["steps"] for h in result.history) == 6
    assert result.architecture in archs
    with pytest.raises(HwnasError, match="no random architecture"):
        feasible_architectures(TINY, table, target_ms=1e-6, count=1, max_draws=50)


def test_search_killed_mid_run_resumes_to_the_unbroken_result(tiny_search, tiny_target, tmp_path):
    """SIGKILL a real `hwnas search` after its first checkpoint; the re-run must end exactly where an
    unbroken search ends (same history, same architecture)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from .conftest import REPO, run_hwnas

    steps = 30  # one checkpoint (every 25 steps), architecture steps on both sides of it

    def args(out):
        return tiny_search(out, steps=steps)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hwnas", *args(killed)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (killed / "search.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "search finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "report.json").exists()
    r = run_hwnas(*args(killed))
    assert r.returncode == 0, r.stderr
    unbroken = tmp_path / "unbroken"
    r = run_hwnas(*args(unbroken))
    assert r.returncode == 0, r.stderr
    a, b = (json.loads((d / "report.json").read_text()) for d in (killed, unbroken))
    assert [h["step"] for h in a["history"]] == list(range(steps))
    assert a["history"] == b["history"]
    assert (killed / "arch.json").read_text() == (unbroken / "arch.json").read_text()
    r = run_hwnas(*tiny_search(killed, steps=steps, target=f"{1.1 * float(tiny_target):.5f}"))
    assert r.returncode == 2 and "other settings (target_ms)" in r.stderr


def test_hard_op_sampling_runs_one_op_and_still_trains_every_op_logit():
    torch.manual_seed(0)
    layer = LayerCandidates(0, 1, (8,), (8,), tuple(OpTemplate.parse(t) for t in ("conv-k3", "fmbconv-k3-e2")), 6)
    mixed = MixedLayer(layer)
    x = torch.randn(2, 8, 6, 6)
    calls = []
    for i, op in enumerate(mixed.candidates):
        op.register_forward_hook(lambda *_, i=i: calls.append(i))
    y, _ = mixed(x, Sampling(tau=1.0, ops="hard"))
    assert len(calls) == 1
    alone = layer.ops[calls[0]].instantiate(8, 8, 1, 6).build_module().train()  # with its residual, if any
    alone.load_state_dict(mixed.candidates[calls[0]].state_dict())
    assert torch.allclose(y, alone(x), atol=1e-6)  # one-hot weight 1, full-width mask
    y.pow(2).mean().backward()
    assert (mixed.alpha_op.grad != 0).all()


@pytest.mark.parametrize("hard_width", [True, False])
def test_a_weight_step_with_hard_widths_trains_an_exact_child(hard_width):
    """With one sampled width per layer the layer computes a child's layer exactly (first channels of the
    inherited weights, the residual where the widths match); FBNetV2's mixture of masks computes no child."""
    layer = LayerCandidates(0, 1, (4, 8), (4, 8), (OpTemplate.parse("fmbconv-k3-e2"),), 6)
    torch.manual_seed(0)
    mixed = MixedLayer(layer).train()
    x = torch.randn(4, 8, 6, 6)
    x[:, 4:] = 0  # the previous layer chose width 4
    w_in = torch.tensor([1.0, 0.0])
    matched = set()
    for seed in range(8):
        torch.manual_seed(seed)
        y, w = mixed(x, Sampling(tau=1.0, ops="hard", hard_width=hard_width), w_in)
        width = layer.out_widths[int(w.argmax())]
        child = layer.ops[0].instantiate(4, width, 1, 6).build_module().train()  # residual iff width == 4
        wide = mixed.candidates[0].state_dict()
        child.load_state_dict({k: wide[k][tuple(slice(0, n) for n in v.shape)] for k, v in child.state_dict().items()})
        matched.add(torch.allclose(y[:, :width], child(x[:, :4]), atol=1e-5) and bool((y[:, width:] == 0).all()))
    assert matched == {hard_width}


def test_fit_to_target_moves_the_argmax_architecture_onto_the_target(tiny_lut):
    from hwnas.search.derive import fit_to_target

    table = LatencyTable.load(tiny_lut["table"])
    torch.manual_seed(0)
    net = Supernet(TINY)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_()
    argmax = net.derive()
    argmax_ms = table.predict_ms(argmax.op_specs(TINY))
    assert fit_to_target(net, table, argmax_ms) == argmax  # already on target: nothing changes
    latencies = sorted(table.predict_ms(Architecture.sample(TINY, random.Random(i)).op_specs(TINY)) for i in range(40))
    for target in (latencies[5], latencies[20], latencies[35]):
        fitted = fit_to_target(net, table, target)
        fitted.validate(TINY)
        assert abs(table.predict_ms(fitted.op_specs(TINY)) / target - 1) <= 0.03


def test_fit_to_target_changes_resolution_when_layers_cannot_reach(tiny_lut):
    """The resolution is the largest latency lever: a target below everything the argmax's resolutions allow is
    reached by lowering them (it used to keep them and stop short). The table here costs each op by its FLOPs,
    so that the answer does not hang on the timing noise of ops that take microseconds."""
    from hwnas.search.derive import fit_to_target
    from hwnas.search.extremes import extreme_architecture

    measured = LatencyTable.load(tiny_lut["table"])
    frame = measured.frame.copy()
    frame["median_ms"] = 0.001 + frame["flops"] * 1e-7
    table = LatencyTable(frame, {**measured.metadata, "per_inference_overhead_ms": 0.001})
    net = Supernet(TINY)
    with torch.no_grad():
        for view, policy in net.policies.items():
            policy.theta[TINY.resolutions[view].index(max(TINY.resolutions[view]))] = 5.0  # all at the largest
    fastest = extreme_architecture(TINY, table)
    at_largest = dataclasses.replace(fastest, resolutions={v: max(r) for v, r in TINY.resolutions.items()})
    target = table.predict_ms(fastest.op_specs(TINY)) * 1.02
    assert table.predict_ms(at_largest.op_specs(TINY)) > target * 1.03  # the layers alone cannot get there
    fitted = fit_to_target(net, table, target)
    assert abs(table.predict_ms(fitted.op_specs(TINY)) / target - 1) <= 0.03
    assert any(fitted.resolutions[v] < max(TINY.resolutions[v]) for v in TINY.resolutions)


def test_proposals_hold_each_resolution_and_are_scored_as_the_supernets_sub_networks(tiny_lut):
    """resolution_choice "held-out": one architecture per view resolution, each on the target, scored as the
    sub-network it is (the same score the supernet ranking takes), the supernet's choices left as they were."""
    from hwnas.search.derive import fit_to_target, proposals_per_resolution
    from hwnas.search.loop import sub_network_scores
    from hwnas.workflows.searches import held_out_score, search_task

    measured = LatencyTable.load(tiny_lut["table"])
    frame = measured.frame.copy()
    frame["median_ms"] = 0.001 + frame["flops"] * 1e-7  # costs by FLOPs: no timing noise in what is reachable
    table = LatencyTable(frame, {**measured.metadata, "per_inference_overhead_ms": 0.001})
    torch.manual_seed(0)
    net = Supernet(TINY)
    with torch.no_grad():
        for p in [*net.arch_parameters(), *(policy.theta for policy in net.policies.values())]:
            p.normal_()
    latencies = sorted(table.predict_ms(Architecture.sample(TINY, random.Random(i)).op_specs(TINY)) for i in range(40))
    target = latencies[20]
    proposals = proposals_per_resolution(net, table, target)
    assert proposals[0] == fit_to_target(net, table, target)
    assert len({a.to_json() for a in proposals}) == len(proposals)
    for a in proposals:
        assert abs(table.predict_ms(a.op_specs(TINY)) / target - 1) <= 0.03
    for view, sizes in TINY.resolutions.items():
        assert {a.resolutions[view] for a in proposals} == set(sizes)

    task = search_task(TINY, 0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    scores = sub_network_scores(net, task, proposals[:2], task.test_pool(), "selection")
    torch.testing.assert_close(net.state_dict(), before, rtol=0, atol=0, equal_nan=True)  # a NaN: no baseline yet
    assert scores == pytest.approx([held_out_score(net, task, a) for a in proposals[:2]], rel=1e-4)


def test_trained_proposals_split_the_budget_and_resume(tiny_lut, tmp_path):
    """resolution_choice "trained": the supernet takes half the steps, the proposals share the other half (the
    budget random search gets is the same), the lowest held-out score wins, and a re-run trains nothing again."""
    from hwnas.search.loop import search
    from hwnas.workflows.searches import search_task

    table = LatencyTable.load(tiny_lut["table"])
    target = table.predict_ms(Architecture.sample(TINY, random.Random(0)).op_specs(TINY))
    config = SearchConfig(LatencyTarget(target), steps=12, warmup=2, batch=4, resolution_choice="trained",
                          checkpoint_every=2)  # fmt: skip
    assert config.supernet_steps == 6 and config.weight_passes == 12
    result = search(TINY, table, search_task(TINY, 0), config, progress=False, run_dir=tmp_path)
    assert len(result.history) == 6
    scores = [p["trained"] for p in result.proposals]
    assert (
        len(scores) >= 2
        and result.architecture.resolutions == result.proposals[scores.index(min(scores))]["resolutions"]
    )
    folders = sorted((tmp_path / "proposals").iterdir())
    assert len(folders) == len(scores)
    written = {f: f.stat().st_mtime_ns for folder in folders for f in folder.rglob("*") if f.is_file()}
    again = search(TINY, table, search_task(TINY, 0), config, progress=False, run_dir=tmp_path)
    assert again.architecture == result.architecture and [p["trained"] for p in again.proposals] == scores
    assert {f: f.stat().st_mtime_ns for f in written} == written  # read back, not trained again


def test_gates_compare_the_two_ops_where_hard_sampling_cannot():
    """Op 0 reproduces the target exactly; op 1 outputs half of it. When op 1 runs, hard (GDAS) sampling's op
    gradient only says whether scaling op 1's output up helps — here it does, so it wrongly raises op 1's logit.
    The binary gates compare <o_j, dL/dy> for both ops and raise op 0's logit."""
    from torch import nn

    class Constant(nn.Module):
        def __init__(self, value):
            super().__init__()
            self.value = value

        def forward(self, x):
            return self.value.expand(len(x), -1, -1, -1)

    torch.manual_seed(0)
    target = torch.randn(1, 4, 3, 3)
    layer = LayerCandidates(0, 1, (4,), (4,), tuple(OpTemplate.parse(t) for t in ("conv-k3", "fmbconv-k3-e2")), 3)
    mixed = MixedLayer(layer)
    mixed.candidates = nn.ModuleList([Constant(target), Constant(0.5 * target)])
    with torch.no_grad():
        mixed.alpha_op.copy_(torch.tensor([-3.0, 3.0]))  # op 1 almost always the one that runs
    x = torch.zeros(2, 4, 3, 3)
    verdicts = {}
    for mode in ("hard", "gates"):
        says_op0 = []
        for _ in range(20):
            mixed.alpha_op.grad = None
            y, _ = mixed(x, Sampling(tau=1.0, ops=mode))
            (y - target).pow(2).sum().backward()
            says_op0.append(bool(mixed.alpha_op.grad[0] < mixed.alpha_op.grad[1]))  # descent raises op 0
        verdicts[mode] = sum(says_op0) / len(says_op0)
    assert verdicts["gates"] == 1.0
    assert verdicts["hard"] < 0.5


@pytest.mark.parametrize("end", ["largest", "smallest"])
def test_the_sandwich_ends_are_exact_children_at_the_ends_of_the_latency_range(end, tiny_lut):
    """A pass with ``Sampling(end=...)`` computes the largest (smallest) child — no random architecture is
    predicted slower (faster) — as its stand-alone network with the inherited weights would, whatever the
    architecture parameters favour."""
    torch.manual_seed(0)
    net = Supernet(TINY).train()
    for layer in (layer for b in net.branches for layer in b.layers):
        layer.alpha_op.data.normal_(0, 3)  # the search's favourites must not matter
    arch = net.end_architecture(end)
    # by FLOPs, not by a tiny table's medians: at ~5 us per op a measured skip can come out above a measured conv
    mflops = arch.flops(TINY)
    others = [Architecture.sample(TINY, random.Random(i)).flops(TINY) for i in range(30)]
    assert mflops >= max(others) if end == "largest" else mflops <= min(others)
    size = max(max(r) for r in TINY.resolutions.values())
    x = torch.randn(2, len(TINY.views), size, size)
    net.sampling = Sampling(1.0, "hard", hard_width=True, end=end)
    net.set_end(end)
    got, want = net(x), net.child(arch).train()(x)
    for key in want:
        assert torch.allclose(got[key], want[key], atol=1e-5), key


def test_a_sandwich_weight_step_trains_both_ends_and_random_search_gets_its_passes(tiny_lut):
    from hwnas.apps.avatar.task import AvatarTask
    from hwnas.search.loop import weight_paths
    from hwnas.search.random_search import random_search
    from hwnas.train.objective import TaskRequest
    from hwnas.train.trainer import TrainConfig, Trainer

    task = AvatarTask.create(TaskRequest("tiny"))
    config = SearchConfig(LatencyTarget(1.0), steps=8, batch=4, weight_sampling="sandwich")
    torch.manual_seed(0)
    net = Supernet(TINY)
    trainer = Trainer(net, task, TrainConfig(1, 4), params=net.weight_parameters())
    paths = weight_paths(net, config, step=0, tau=1.0)
    assert len(paths) == 4 and config.weight_passes == 32
    trainer.step(task.batch(torch.arange(4)), 0, paths)
    for layer in (layer for b in net.branches for layer in b.layers):
        for end in ("largest", "smallest"):
            op = layer.candidates[layer.ends[end][0]]
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in op.parameters()), (end, op)
    table = LatencyTable.load(tiny_lut["table"])
    target = table.predict_ms(Architecture.sample(TINY, random.Random(0)).op_specs(TINY))
    result = random_search(TINY, table, task, dataclasses.replace(config, target=LatencyTarget(target)), candidates=2)
    assert sum(h["steps"] for h in result.history) == config.weight_passes


def test_the_shared_scale_latency_step_keeps_the_gradients_proportions():
    """Adam moves a logit that costs 1/100 of another as far; the shared scale moves it 1/100 as far."""
    moved = {}
    for name, make in (("adam", torch.optim.Adam), ("shared", SharedScaleAdam)):
        p = torch.zeros(2, requires_grad=True)
        opt = make([p], lr=0.1, betas=(0.5, 0.999))
        p.grad = torch.tensor([1.0, 0.01])
        opt.step()
        moved[name] = p.detach().abs()
    assert moved["adam"][1] / moved["adam"][0] > 0.9
    assert moved["shared"][1] / moved["shared"][0] == pytest.approx(0.01, rel=1e-4)


def test_the_shared_scale_latency_step_resumes_from_its_state_dict():
    grads = [torch.randn(5, generator=torch.Generator().manual_seed(k)) for k in range(4)]

    def run(stop_after: int | None) -> torch.Tensor:
        p = torch.zeros(5, requires_grad=True)
        opt = SharedScaleAdam([p], lr=0.05)
        for k, g in enumerate(grads):
            if k == stop_after:  # a fresh optimiser from the saved state, as a resumed search makes it
                state = opt.state_dict()
                opt = SharedScaleAdam([p], lr=0.05)
                opt.load_state_dict(state)
            p.grad = g.clone()
            opt.step()
        return p.detach()

    assert torch.equal(run(None), run(2))


def test_a_search_folder_from_before_a_setting_existed_resumes_at_its_default(tmp_path):
    """A folder written before ``latency_step`` existed ran with Adam: it resumes with the default, and a
    changed value is still refused."""
    from hwnas.train.rundir import bind_config, defaults_of

    old = SearchConfig(LatencyTarget(1.0)).record()
    del old["latency_step"]
    (tmp_path / "search-config.json").write_text(json.dumps(old))
    now = SearchConfig(LatencyTarget(1.0)).record()
    bind_config(tmp_path, now, "search-config.json", defaults_of(SearchConfig))
    with pytest.raises(HwnasError, match=r"other settings \(latency_step\)"):
        bind_config(tmp_path, {**now, "latency_step": "shared"}, "search-config.json", defaults_of(SearchConfig))
    with pytest.raises(HwnasError, match=r"other settings \(latency_step\)"):
        bind_config(tmp_path, now, "search-config.json")  # without the defaults the missing setting differs


def test_a_search_folder_from_before_arch_loss_existed_chose_by_the_training_loss(tmp_path):
    """Such a folder resumes only as what it ran: ``arch_loss = "training"``, not the new default."""
    from hwnas.search.loop import bind_search_config

    old = SearchConfig(LatencyTarget(1.0)).record()
    del old["arch_loss"]
    (tmp_path / "search-config.json").write_text(json.dumps(old))
    with pytest.raises(HwnasError, match=r"other settings \(arch_loss\)"):
        bind_search_config(tmp_path, SearchConfig(LatencyTarget(1.0)))
    bind_search_config(tmp_path, SearchConfig(LatencyTarget(1.0), arch_loss="training"))


def test_a_seed_setting_draws_another_search_of_the_same_data():
    """The request's seed draws data and search alike; a ``seed`` setting redraws only the search (the
    benchmarks' search draws), where it used to collide with the request's seed."""
    from hwnas.workflows.searches import SearchRequest, parse_setting, request_config, search_task

    request = SearchRequest("avatar", "cpu", LatencyTarget(1.0), preset="tiny", seed=3)
    task = search_task(TINY, request.seed)
    assert request_config(request, task, LatencyTarget(1.0)).seed == 3
    redrawn = dataclasses.replace(request, settings=dict([parse_setting("seed=1003")]))
    assert request_config(redrawn, task, LatencyTarget(1.0)).seed == 1003
