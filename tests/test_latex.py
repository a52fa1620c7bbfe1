"""LATEX: the extrapolation, the stream's decisions, the early head on real encoders, `hwnas latex` and the
export of encoder + head."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from hwnas.apps.avatar.data import _render, synthesize, task_preset
from hwnas.apps.avatar.encoders import build_baseline
from hwnas.apps.avatar.expressions import Identity
from hwnas.apps.avatar.latex.early_head import (
    EARLY_OUTPUT,
    EarlyHeadNetwork,
    KeyFrameNetwork,
    fit_early_head,
    frame_flops,
    tapped_maps,
)
from hwnas.apps.avatar.latex.extrapolation import (
    LatexPolicy,
    LatexStream,
    extrapolate,
    interpolate,
    run_stream,
    run_view_stream,
    threshold_for_skip_ratio,
)
from hwnas.apps.avatar.latex.view_heads import fit_view_heads, view_flops, view_pieces
from hwnas.apps.avatar.network import AvatarNetwork
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.workflows.runs import train_run
from tests.conftest import REPO, run_hwnas


def test_extrapolation_continues_a_straight_line_and_hold_repeats():
    line = [{"z": torch.tensor([1.0 + 2 * t, -t]), "g": torch.tensor([0.5 * t])} for t in range(5)]
    for window in (2, 3, 5):
        nxt = extrapolate(line[-window:])
        assert torch.allclose(nxt["z"], torch.tensor([11.0, -5.0])) and torch.allclose(nxt["g"], torch.tensor([2.5]))
    # the window's mean step, not the last step: z_t = z_{t-1} + (z_{t-1} - z_{t-T}) / (T - 1)
    bent = [{"z": torch.tensor([v])} for v in (0.0, 0.0, 0.0, 3.0)]
    assert torch.allclose(extrapolate(bent)["z"], torch.tensor([4.0]))
    # a stream that skips continues the line frame after frame, or holds
    frames = [{"z": torch.tensor([float(t)])} for t in range(12)]
    for mode, expected in (("linear", range(12)), ("hold", [0, 1, 2, 3] + [3] * 8)):
        stream = LatexStream(LatexPolicy(1e9, 4, extrapolation=mode))
        got = [float(stream.step(torch.zeros(2), lambda t=t: frames[t])[0]["z"]) for t in range(12)]
        assert got == [float(v) for v in expected], mode
    path = interpolate({"z": torch.tensor([0.0])}, {"z": torch.tensor([8.0])}, 8)
    assert [float(p["z"]) for p in path] == [float(t) for t in range(9)]


def test_the_first_window_is_encoded_and_the_decision_reference_differs():
    # head codes drift by 0.1 per frame: frame-to-frame steps stay below 0.25, the drift since a key frame does not
    early = torch.arange(20, dtype=torch.float32)[:, None] * 0.1
    encoded = {"z": torch.arange(20, dtype=torch.float32)[:, None]}
    calls = []

    def encode(t):
        calls.append(t)
        return {"z": encoded["z"][t]}

    _, previous = run_stream(early, encode, LatexPolicy(0.25, 3, "previous"))
    assert previous[:3].all() and not previous[3:].any()
    assert calls == [0, 1, 2]  # the encoder never ran on a skipped frame
    _, last_key = run_stream(early, lambda t: {"z": encoded["z"][t]}, LatexPolicy(0.25, 3, "last-key"))
    assert last_key[:3].all() and last_key[3:].sum() == 5  # a key frame every third frame: 0.3 >= 0.25


def test_threshold_zero_reproduces_always_encode_exactly():
    torch.manual_seed(0)
    early = torch.zeros(30, 4)  # identical head codes: any positive threshold would skip everything
    encoded = {"z": torch.randn(30, 8), "g": torch.randn(30, 4)}
    for decision in ("previous", "last-key"):
        for mode in ("hold", "linear"):
            out, keys = run_stream(
                early, lambda t: {k: v[t] for k, v in encoded.items()}, LatexPolicy(0.0, 4, decision, mode)
            )
            assert keys.all()
            assert all(torch.equal(out[k], encoded[k]) for k in encoded)


def test_threshold_calibration_hits_the_skip_ratio():
    torch.manual_seed(1)
    videos = [torch.randn(200, 6).cumsum(0) * 0.01 for _ in range(3)]
    policy = LatexPolicy(0.0, 8)
    for ratio in (0.1, 0.3, 0.5):
        threshold = threshold_for_skip_ratio(videos, ratio, policy)
        keys = np.concatenate(
            [run_stream(v, lambda t: {"z": torch.zeros(1)}, LatexPolicy(threshold, 8))[1] for v in videos]
        )
        assert abs((1 - keys.mean()) - ratio) < 0.02
    assert threshold_for_skip_ratio(videos, 0.0, policy) == 0.0


def _small_arch():
    space = get_preset("avatar", "small")
    path = REPO / "tests" / "fixtures" / "latex" / "ave-s-small.json"
    return Architecture.load(path), space


def test_head_costs_under_two_percent_of_the_encoder_flops():
    eem = build_baseline("eem", "small", 80, 64, 16)
    arch, space = _small_arch()
    for net in (eem, AvatarNetwork(arch, space, 80), build_baseline("eem-res50", "small", 80, 64, 16)):
        inputs = {k: torch.zeros(s) for k, s in net.deploy_inputs().items()}
        maps = tapped_maps(net.eval(), inputs)
        head = fit_early_head(net, [(torch.rand(40, 3, 80, 80), None)])
        flops = frame_flops(net, head)
        assert flops["head"] < 0.02 * flops["encoder"], flops
        assert flops["skipped_frame"] < 0.2 * flops["encoder"], flops
        assert flops["head"] == sum(m[:1].numel() for m in maps) + 2 * head.linear.in_features * 64


def test_view_parts_fuse_to_the_encoder_and_view_heads_cost_under_two_percent():
    arch, space = _small_arch()
    torch.manual_seed(0)
    for net in (build_baseline("eem", "small", 80, 64, 16).eval(), AvatarNetwork(arch, space, 80).eval()):
        inputs = net.inputs_of(torch.rand(2, 3, 80, 80))
        heads = fit_view_heads(net, [torch.rand(60, 3, 80, 80)])
        with torch.no_grad():
            parts = net.view_parts(net.view_stems(inputs))
            plain, fused = net.encode(inputs), net.fuse(parts)
            assert all(torch.equal(plain[k], fused[k]) for k in plain)
            # the deployable pieces compute the same: the heads (with the stems), each view's part from its
            # stems, the fusion of the parts (unmoved: shift 0)
            pieces = view_pieces(net, heads)
            first = pieces["heads"].encode(inputs)
            assert all(first[f"early_{v}"].std() > 0 for v in parts)
            for view in parts:
                piece = pieces[f"part-{view}"]
                own = {k: first[k] for k in piece.deploy_inputs()}
                assert torch.equal(piece.encode(own)[f"part_{view}"], parts[view])
            shifts = {f"shift_{v}": torch.zeros(2, heads.bases[v].in_features) for v in parts}
            again = pieces["fuse"].encode({**{f"part_{v}": t for v, t in parts.items()}, **shifts})
            assert all(torch.allclose(again[k], plain[k], atol=1e-6) for k in plain)
        flops = view_flops(net, pieces)
        assert 0 < flops["head"] < 0.02 * flops["encoder"], flops
        # the parts go on from the stems the decision computed: together no more than the encoder and the heads
        total = flops["decision"] + flops["fuse"] + sum(flops["parts"].values())
        assert flops["encoder"] <= total <= 1.03 * flops["encoder"], flops


def test_a_view_stream_encodes_only_the_view_that_moved():
    torch.manual_seed(0)
    n, window = 60, 4
    still = torch.zeros(n, 3)
    winking = still.clone()
    winking[30:40] = torch.linspace(0, 1, 10)[:, None]  # the left eye's code moves over frames 30-39
    early = {"left_eye": winking, "right_eye": still, "mouth": still}
    parts = {v: torch.randn(n, 5) for v in early}
    settled, keys = run_view_stream(early, parts, LatexPolicy(0.25, window))
    assert keys.shape == (n, 3) and keys[:window].all()
    assert keys[30:40, 0].any() and not keys[window:, 1:].any()  # the wink re-encodes the left eye only
    assert torch.equal(settled["mouth"][window:], parts["mouth"][window - 1].expand(n - window, 5))  # held
    every, all_keys = run_view_stream(early, parts, LatexPolicy(0.0, window))
    assert all_keys.all() and all(torch.equal(every[v], parts[v]) for v in parts)
    # with the head's estimates, a held part follows the estimate's change since its key frame by the gain
    estimates = {v: torch.randn(n, 5) for v in early}
    half, half_keys = run_view_stream(early, parts, LatexPolicy(0.25, window, gain=0.5), estimates)
    assert np.array_equal(half_keys, keys)
    held, moved = parts["mouth"][window - 1], estimates["mouth"][window:] - estimates["mouth"][window - 1]
    assert torch.allclose(half["mouth"][window:], held + 0.5 * moved)
    assert torch.equal(half["mouth"][:window], parts["mouth"][:window])  # key frames stay as encoded


def test_key_frame_network_is_the_encoder_plus_the_head_on_its_own_first_layer():
    arch, space = _small_arch()
    torch.manual_seed(0)
    for net in (build_baseline("eem", "small", 80, 64, 16).eval(), AvatarNetwork(arch, space, 80).eval()):
        head = fit_early_head(net, [(torch.rand(40, 3, 80, 80), None)])
        inputs = net.inputs_of(torch.rand(2, 3, 80, 80))
        with torch.no_grad():
            key = KeyFrameNetwork(net, head).encode(inputs)
            plain = net.encode(inputs)
            alone = EarlyHeadNetwork(net, head).encode(inputs)[EARLY_OUTPUT]
        assert all(torch.equal(key[k], plain[k]) for k in plain)
        assert torch.allclose(key[EARLY_OUTPUT], alone, atol=1e-6)
        # the fitted head follows the encoder's code (the ridge fit is not a constant)
        assert alone.std(0).mean() > 0


def test_a_wink_in_a_still_video_triggers_a_full_encode():
    """At the CPU preset's 80 px: one expression held (camera jitter, lighting and sensor noise only), then a
    wink. The head reads the first layer of an EEM (untrained: random first-layer features) and is fitted to the
    true codes of training frames; the stream must skip the still frames and encode inside the wink."""
    spec = task_preset("small")
    data = synthesize(spec)
    torch.manual_seed(0)
    net = build_baseline("eem", "small", spec.view_res, spec.latent_dim, spec.keypoints).eval()
    train = data.indices("train")[:1500]
    head = fit_early_head(net, [(data.batch(i)["views"], data.batch(i)["z"]) for i in train.split(500)])
    people = [Identity.sample(i, 0) for i in range(spec.identities)]
    still = np.repeat(data.params[:1].numpy(), 60, axis=0)
    still[30:40, 4] *= 1 - np.sin(np.linspace(0, np.pi, 10)) ** 0.5  # the left eye winks over frames 30-39
    clip = _render(spec, people, still, np.zeros(60, dtype=np.int64), np.ones(60, dtype=np.int64), seed=5)
    b = clip.batch(torch.arange(60))
    with torch.no_grad():
        inputs = net.inputs_of(b["views"])
        early = head(tapped_maps(net, inputs))
        encoded = net.encode(inputs)
    quiet = torch.cat([early[:30], early[40:]])
    threshold = float((quiet - quiet[0]).pow(2).mean(1).sqrt().max()) * 1.5  # above anything jitter produces
    _, keys = run_stream(early, lambda t: {k: v[t] for k, v in encoded.items()}, LatexPolicy(threshold, 4))
    assert keys[30:40].any(), "the wink got no key frame"
    assert not keys[4:30].any() and keys[40:].sum() <= 1  # the still frames are skipped (one key after the wink)


@pytest.fixture(scope="module")
def tiny_eem(tmp_path_factory):
    run = tmp_path_factory.mktemp("latex") / "eem-tiny"
    train_run("eem", "tiny", steps=60, run_dir=run, progress=False)
    return run


def test_hwnas_latex_writes_the_table_and_exports_encoder_with_head(tiny_eem, tmp_path):
    out = tmp_path / "latex"
    r = run_hwnas("latex", "--run-dir", str(tiny_eem), "--device", "cpu", "--frames", "40", "--out", str(out),
                  "--workdir", str(tmp_path / "work"), "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "latex.json").read_text())
    rows = report["runs"][0]["rows"]
    assert rows[0]["threshold"] == 0 and rows[0]["skip_ratio"] == 0 and rows[0]["vs_always_encode"] == 0
    skips = [row["skip_ratio"] for row in rows]
    assert skips == sorted(skips) and skips[-1] > 0.2
    latency = report["runs"][0]["latency"]
    assert 0 < latency["skipped_frame_ms"] < latency["encoder_ms"]
    assert all((out / f).stat().st_size > 10_000 for f in ("latex_mse.png", "linearity.png"))
    assert "| eem-tiny | off | 0.0% |" in (out / "latex.md").read_text()
    # the head is kept in the run and exported with the encoder
    r = run_hwnas("export", "--run-dir", str(tiny_eem), "--out", str(tmp_path / "enc.onnx"))
    assert r.returncode == 0, r.stderr
    key = ort.InferenceSession(str(tmp_path / "enc.onnx"))
    early = ort.InferenceSession(str(tmp_path / "enc.early.onnx"))
    assert [o.name for o in key.get_outputs()] == ["z", "g", "y", EARLY_OUTPUT]
    frame = synthesize(task_preset("tiny")).views[:1].float().numpy() / 255
    assert np.allclose(key.run([EARLY_OUTPUT], {"views": frame})[0], early.run(None, {"views": frame})[0], atol=1e-5)


def test_hwnas_latex_per_view_reports_each_views_key_rate(tiny_eem, tmp_path):
    out = tmp_path / "latex"
    r = run_hwnas("latex", "--run-dir", str(tiny_eem), "--device", "cpu", "--frames", "40", "--granularity", "view",
                  "--thresholds", "0,0.2,1", "--out", str(out), "--workdir", str(tmp_path / "work"),
                  "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    run = json.loads((out / "latex.json").read_text())["runs"][0]
    assert run["granularity"] == "view" and run["views"] == ["left_eye", "right_eye", "mouth"]
    rows = run["rows"]
    assert rows[0]["key_rates"] == [1.0, 1.0, 1.0] and rows[0]["frame_ms"] == run["latency"]["encoder_ms"]
    assert rows[-1]["skip_ratio"] > rows[1]["skip_ratio"] > 0
    assert rows[-1]["skip_ratio"] == pytest.approx(1 - np.mean(rows[-1]["key_rates"]))
    assert {"decision_ms", "fuse_ms", "part_ms.mouth"} <= set(run["latency"])
    assert run["head_share_of_encoder_flops"] > 0  # under 2 % at the small preset (test above); tiny is tinier
    assert (tiny_eem / "latex_view_heads.pt").is_file()
    # exported, the per-view pieces run in onnxruntime compute what the exported encoder does
    import onnxruntime as ort

    r = run_hwnas("export", "--run-dir", str(tiny_eem), "--out", str(tmp_path / "enc.onnx"))
    assert r.returncode == 0, r.stderr

    def run(name: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = ort.InferenceSession(str(tmp_path / f"enc{name}.onnx"))
        outputs = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})
        return dict(zip([o.name for o in session.get_outputs()], outputs, strict=True))

    shape = ort.InferenceSession(str(tmp_path / "enc.onnx")).get_inputs()[0].shape
    views = np.random.default_rng(0).random(shape, dtype=np.float32)
    whole = run("", {"views": views})
    first = run(".heads", {"views": views})
    parts: dict[str, np.ndarray] = {}
    for view in ("left_eye", "right_eye", "mouth"):
        parts.update(run(f".part-{view}", first))
        parts[f"shift_{view}"] = np.zeros_like(first[f"code_{view}"])
    fused = run(".fuse", parts)
    assert all(np.allclose(fused[k], whole[k], atol=1e-4) for k in ("z", "g"))


def test_latex_refuses_runs_it_cannot_stream(tmp_path):
    r = run_hwnas("latex", "--run-dir", str(tmp_path / "nothing"), "--device", "cpu")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a training run" in r.stderr
    r = run_hwnas("latex", "--run-dir", str(tmp_path), "--device", "cpu", "--thresholds", "0.1,nan")
    assert r.returncode == 2 and "finite" in r.stderr
