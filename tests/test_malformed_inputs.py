"""The door: every kind of file and number a user hands hwnas, malformed in the ways users manage. Each case must
end in one line on stderr that names the problem (exit code 2, no traceback), and leave the working folder
exactly as it was: nothing created, nothing damaged (checked by hashing every file and folder in it).

Cases run the real CLI in this process (``hwnas.cli.main``), so an uncaught exception fails the test with its
traceback; the fixtures they corrupt copies of (a table, a trained run, a search folder) are real ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hwnas.cli import main

from .conftest import run_hwnas, space_command

TINY = ["--space", "avatar", "--preset", "tiny"]


@pytest.fixture(scope="module")
def made(tmp_path_factory, tiny_lut, tiny_target):
    """A trained tiny run, an unfinished search folder and an architecture, made by the real CLI."""
    root = tmp_path_factory.mktemp("malformed")
    r = run_hwnas("train", "--arch", "eem", "--preset", "tiny", "--steps", "2", "--run-dir", str(root / "run"),
                  "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    search = root / "search"
    args = space_command("search", "--target-ms", tiny_target, "--steps", "4", "--out", str(search),
                         "--no-progress", lut_dir=tiny_lut["lut_dir"], workdir=root / "w")  # fmt: skip
    r = run_hwnas(*args)
    assert r.returncode == 0, r.stderr
    assert (search / "search.pt").is_file()
    shutil.copy(search / "arch.json", root / "arch.json")
    for finished in ("report.json", "arch.json", "search_curves.png"):  # as if killed before the end
        (search / finished).unlink()
    return {"root": root, "lut": tiny_lut["lut_dir"], "work": tiny_lut["workdir"], "target": tiny_target}


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    """Folders no one can write where this machine can make them: an immutable one (``chattr +i``) and a
    read-only bind mount; None where the tool or the privilege is missing."""
    root = tmp_path_factory.mktemp("locked")
    places: dict[str, Path | None] = {"immutable": root / "immutable", "readonly": root / "readonly"}
    source = root / "source"
    for folder in (*places.values(), source):
        folder.mkdir()
    commands = {
        "immutable": ["chattr", "+i", str(places["immutable"])],
        "readonly": ["mount", "--bind", "-o", "ro", str(source), str(places["readonly"])],
    }
    for name, command in commands.items():
        done = shutil.which(command[0]) and subprocess.run(command, capture_output=True).returncode == 0
        if not done or _can_write(places[name]):  # e.g. a container that ignores the flag
            places[name] = None
    yield places
    if places["immutable"]:
        subprocess.run(["chattr", "-i", str(places["immutable"])], check=True)
    if places["readonly"]:
        subprocess.run(["umount", str(places["readonly"])], check=True)


def _can_write(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("x")
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    setup: Callable[[Path, dict], list[str]]  # writes the bad input into the folder; returns the argv
    needle: str  # what the one line must say


def tree_hash(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
    }


def run_in_process(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


# ---- helpers that write one bad input --------------------------------------------------------------------------
def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def arch_case(name: str, mutate: Callable[[dict], object], needle: str) -> Case:
    def setup(w: Path, made: dict) -> list[str]:
        raw = json.loads((made["root"] / "arch.json").read_text())
        replaced = mutate(raw)
        content = replaced if isinstance(replaced, str | bytes) else json.dumps(raw if replaced is None else replaced)
        return ["export", "--arch", str(write(w / "arch.json", content)), "--out", str(w / "out.onnx")]

    return Case("architecture JSON", name, setup, needle)


def set_in(path: list, value):
    def mutate(raw):
        target = raw
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def device_case(name: str, toml: str | bytes, needle: str) -> Case:
    def setup(w: Path, made: dict) -> list[str]:
        devices = write(w / "devices.toml", toml)
        return ["profile", "--device", "x", "--devices-file", str(devices), *TINY, "--workdir", str(w / "work")]

    return Case("device TOML", name, setup, needle)


SPACE_OK = """
name = "mine"
task = "digits"
input_channels = 1
[views]
image = ["class"]
[presets.tiny]
outputs = {class = 10}
resolutions = {image = [8]}
stem = {width = 4}
ops = ["conv-k3", "skip"]
layers = [{stride = 1, widths = [4, 8]}]
"""


def space_case(name: str, text: str | bytes, needle: str) -> Case:
    def setup(w: Path, made: dict) -> list[str]:
        space = write(w / "mine.toml", text)
        return ["profile", "--device", "cpu", "--space", str(space), "--preset", "tiny", "--workdir", str(w / "work")]

    return Case("space TOML", name, setup, needle)


def table_case(name: str, mutate_frame=None, metadata=None, raw_csv: bytes | None = None, needle: str = "") -> Case:
    def setup(w: Path, made: dict) -> list[str]:
        source = made["lut"] / "cpu" / "avatar-tiny.csv"
        frame = pd.read_csv(source)
        path = w / "t.csv"
        if raw_csv is not None:
            write(path, raw_csv)
        else:
            write(path, (mutate_frame(frame) if mutate_frame else frame).to_csv(index=False))
        meta = json.loads(source.with_suffix(".json").read_text())
        write(path.with_suffix(".json"), metadata(meta) if metadata else json.dumps(meta))
        return ["lut", "show", str(path)]

    return Case("table", name, setup, needle)


def set_row(column, value):
    def mutate(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[3, column] = value
        return frame

    return mutate


def npz_case(name: str, change: Callable[[dict], None] | bytes, needle: str) -> Case:
    def setup(w: Path, made: dict) -> list[str]:
        path = w / "data.npz"
        if isinstance(change, bytes):
            write(path, change)
        else:
            n, r = 8, 16
            rng = np.random.default_rng(0)
            arrays = {v: rng.integers(0, 255, (n, r, r), dtype=np.uint8) for v in ("left_eye", "right_eye", "mouth")}
            arrays.update(z=rng.standard_normal((n, 64)), g=rng.standard_normal((n, 4)), y=rng.standard_normal((n, 8)))
            change(arrays)
            with open(path, "wb") as f:
                np.savez(f, **arrays)
        return ["train", "--arch", "eem", "--preset", "tiny", "--data", str(path), "--run-dir", str(w / "run")]

    return Case("npz data", name, setup, needle)


def put(key, value):
    def change(arrays):
        arrays[key] = value

    return change


def run_case(name: str, file: str, content: Callable[[Path], None] | str | bytes, needle: str) -> Case:
    """A copy of the trained run with one file corrupted, then ``hwnas evaluate``."""

    def setup(w: Path, made: dict) -> list[str]:
        run = w / "run"
        shutil.copytree(made["root"] / "run", run)
        if callable(content):
            content(run / file)
        else:
            write(run / file, content)
        return ["evaluate", "--run-dir", str(run)]

    return Case("run config / checkpoint", name, setup, needle)


def search_case(name: str, file: str, content: str | bytes, needle: str) -> Case:
    """A copy of the unfinished search with one file corrupted, then the same `hwnas search` (a resume)."""

    def setup(w: Path, made: dict) -> list[str]:
        out = w / "search"
        shutil.copytree(made["root"] / "search", out)
        write(out / file, content)
        return search_args(made, out)

    return Case("search state", name, setup, needle)


def search_args(made: dict, out: Path, *extra: str, target: str | None = None) -> list[str]:
    return [
        "search", "--device", "cpu", *TINY, "--target-ms", target or made["target"], "--steps", "4",
        "--out", str(out), "--lut-dir", str(made["lut"]), "--no-progress", *extra,
    ]  # fmt: skip


def cli_case(name: str, argv: Callable[[Path, dict], list[str]], needle: str) -> Case:
    return Case("command line", name, argv, needle)


def unwritable_case(name: str, argv: Callable[[Path, dict], list[str]], place: str = "sys") -> Case:
    """A path no one can write: under /sys (a pseudo-filesystem even root cannot write), in an immutable
    folder, or on a read-only mount."""

    def setup(w: Path, made: dict) -> list[str]:
        folder = Path("/sys/hwnas-test") if place == "sys" else made["locked"][place]
        if folder is None:
            pytest.skip(f"this machine cannot make a {place} folder (needs root, chattr and mount)")
        return argv(folder, made)

    return Case("command line", f"{name} ({place})", setup, "cannot be written")


def build_lut_args(made: dict, *extra: str) -> list[str]:
    return ["build-lut", "--device", "cpu", *TINY, "--workdir", str(made["work"]), *extra]


UNWRITABLE = [
    *(
        unwritable_case(f"build-lut {option}", lambda u, m, o=option, f=file: build_lut_args(m, o, str(u / f)), place)
        for option, file in (("--lut-dir", "lut"), ("--out", "t.csv"))
        for place in ("sys", "immutable", "readonly")
    ),
    *(
        unwritable_case(
            "export --out",
            lambda u, m: ["export", "--arch", str(m["root"] / "arch.json"), "--out", str(u / "net.onnx")],
            place,
        )
        for place in ("sys", "immutable", "readonly")
    ),
    unwritable_case("profile --workdir", lambda u, m: ["profile", "--device", "cpu", *TINY, "--workdir", str(u / "w")]),
    unwritable_case("search --out", lambda u, m: search_args(m, u / "s")),
    unwritable_case(
        "train --run-dir", lambda u, m: ["train", "--arch", "eem", "--preset", "tiny", "--run-dir", str(u / "run")]
    ),
]


def torch_save(value) -> Callable[[Path], None]:
    return lambda path: torch.save(value, path)


class NotAState:
    pass


CASES = [
    # architecture JSON (hwnas export --arch)
    arch_case("truncated", lambda raw: json.dumps(raw)[:40], "is not valid JSON"),
    arch_case(
        "NaN resolution",
        lambda raw: json.dumps(raw).replace('"resolutions": {', '"resolutions": {"left_eye": NaN, ', 1),
        "NaN is not a JSON number",
    ),
    arch_case("binary", lambda raw: b"\x89PNG\r\n\x1a\n\xff\xfe", "is not UTF-8 text"),
    arch_case("a list", lambda raw: [raw], "top level: must be a table of keys"),
    arch_case("no branches", lambda raw: raw.pop("branches") and None, "branches: Field required"),
    arch_case("branch is a list", set_in(["branches", 0], [1, 2]), "branches[0]: must be a table of keys"),
    arch_case(
        "width as text",
        set_in(["branches", 0, "layers", 0, "width"], "4"),
        "branches[0].layers[0].width: Input should be a valid integer, not '4'",
    ),
    arch_case("width zero", set_in(["branches", 0, "layers", 0, "width"], 0), "width: Input should be greater than 0"),
    arch_case("width fractional", set_in(["branches", 0, "layers", 0, "width"], 4.5), "width: Input should be a valid"),
    arch_case("unknown key", set_in(["colour"], "red"), "colour: unknown key"),
    arch_case(
        "op not a candidate", set_in(["branches", 0, "layers", 0, "op"], "warp-k3"), "'warp-k3' is not a candidate"
    ),
    arch_case("width not offered", set_in(["branches", 0, "layers", 0, "width"], 5), "width must be one of"),
    arch_case("resolution not offered", set_in(["resolutions", "left_eye"], 7), "resolution must be one of"),
    arch_case("unknown space", set_in(["space"], "resnet"), "unknown search space 'resnet'"),
    arch_case("unknown preset", set_in(["preset"], "huge"), "unknown preset 'huge'"),
    arch_case("layers missing", set_in(["branches", 0, "layers"], []), "needs 2 layers"),
    # device TOML (hwnas profile --devices-file)
    device_case("not TOML", "[x\nbackend = 'onnxruntime'", "not valid TOML"),
    device_case("binary", b"\x7fELF\x02\x01\x01\x00\xff\xfe\xfd", "is not UTF-8 text"),
    device_case("no backend", "[x]\ndescription = 'no backend'", "has no backend"),
    device_case("unknown backend", "[x]\nbackend = 'tensorrt'", "unknown backend 'tensorrt'"),
    device_case("backend a number", "[x]\nbackend = 3", "backend: Input should be a valid string, not 3"),
    device_case(
        "runs zero",
        "[x]\nbackend = 'onnxruntime'\n[x.profile]\nruns = 0",
        "profile.runs: Input should be greater than 0",
    ),
    device_case(
        "warmup negative",
        "[x]\nbackend = 'onnxruntime'\n[x.profile]\nwarmup = -1",
        "profile.warmup: Input should be greater than or equal to 0",
    ),
    device_case(
        "runs fractional",
        "[x]\nbackend = 'onnxruntime'\n[x.profile]\nruns = 2.5",
        "profile.runs: Input should be a valid integer",
    ),
    device_case(
        "threshold nan", "[x]\nbackend = 'onnxruntime'\n[x.profile]\nnoise_threshold = nan", "profile.noise_threshold"
    ),
    device_case(
        "unknown profile key", "[x]\nbackend = 'onnxruntime'\n[x.profile]\nrepeats = 3", "profile.repeats: unknown key"
    ),
    device_case("unknown option", "[x]\nbackend = 'onnxruntime'\n[x.options]\nthreads = 4", "has no option(s) threads"),
    device_case(
        "bad option value",
        "[x]\nbackend = 'onnxruntime'\n[x.options]\nintra_op_threads = 0",
        "intra_op_threads must be",
    ),
    device_case(
        "options not a table",
        "[x]\nbackend = 'onnxruntime'\noptions = 3",
        "options: Input should be a valid dictionary",
    ),
    device_case("unknown key", "[x]\nbackend = 'onnxruntime'\ncolour = 'red'", "colour: unknown key"),
    device_case("preset not a table", "x = 5", "must be a table ([x])"),
    # space TOML (--space mine.toml)
    space_case("not TOML", "name = 'mine'\n[views", "is not valid TOML"),
    space_case("binary", b"\x00\xff\xfe\xfd", "is not UTF-8 text"),
    space_case("no name", SPACE_OK.replace('name = "mine"', ""), "has no name"),
    space_case("no presets", SPACE_OK.split("[presets.tiny]")[0], "declares no presets"),
    space_case("unknown op", SPACE_OK.replace('"skip"', '"warp-k3"'), "bad candidate op 'warp-k3'"),
    space_case("negative width", SPACE_OK.replace("[4, 8]", "[4, -8]"), "positive widths"),
    space_case("zero resolution", SPACE_OK.replace("image = [8]", "image = [0]"), "positive resolution"),
    space_case(
        "no layers", SPACE_OK.replace("layers = [{stride = 1, widths = [4, 8]}]", "layers = []"), "at least one layer"
    ),
    space_case(
        "output missing", SPACE_OK.replace("outputs = {class = 10}", "outputs = {other = 10}"), "has no output size"
    ),
    # tables (hwnas lut show)
    table_case(
        "columns missing", lambda f: f.drop(columns=["median_ms", "iqr_ms"]), needle="lacks column(s) median_ms, iqr_ms"
    ),
    table_case("time NaN", set_row("median_ms", float("nan")), needle="missing or non-numeric times"),
    table_case("time as text", set_row("median_ms", "fast"), needle="missing or non-numeric times"),
    table_case("negative time", set_row("mean_ms", -0.5), needle="negative times"),
    table_case("key not canonical", set_row("key", "conv-k3-s1-cin4-cout4-h4w4-b1"), needle="not canonical"),
    table_case("unknown op", set_row("key", "warp-k3"), needle="unknown op type 'warp'"),
    table_case("duplicate key", lambda f: pd.concat([f, f.iloc[[0]]]), needle="twice"),
    table_case("no rows", lambda f: f.iloc[0:0], needle="has no rows"),
    table_case("binary CSV", raw_csv=b"\xff\xfe\x00\x01garbage", needle="is not a readable CSV"),
    table_case("metadata not JSON", metadata=lambda m: "{", needle="is not valid JSON"),
    table_case("metadata a list", metadata=lambda m: "[]", needle="top level: must be a table of keys"),
    table_case(
        "metadata without space",
        metadata=lambda m: json.dumps({k: v for k, v in m.items() if k != "space"}),
        needle="space: Field required",
    ),
    table_case(
        "metadata NaN overhead",
        metadata=lambda m: json.dumps(m).replace(
            f'"per_inference_overhead_ms": {m["per_inference_overhead_ms"]}', '"per_inference_overhead_ms": NaN'
        ),
        needle="NaN is not a JSON number",
    ),
    table_case(
        "metadata negative overhead",
        metadata=lambda m: json.dumps({**m, "per_inference_overhead_ms": -1.0}),
        needle="per_inference_overhead_ms: Input should be greater than or equal to 0",
    ),
    # npz data (hwnas train --data)
    npz_case("not a zip", b"PK\x03\x04 this is not a zip archive", "is not a readable npz archive"),
    npz_case("object array", put("z", np.array([{"a": 1}] * 8, dtype=object)), "object arrays are not accepted"),
    npz_case("no z", lambda a: a.pop("z"), "lacks array(s) z"),
    npz_case("z with NaN", lambda a: a["z"].__setitem__((0, 0), np.nan), "z holds NaN or infinite values"),
    npz_case("z too small for the decoder", put("z", np.zeros((8, 3))), "the avatar decoder needs at least"),
    npz_case("2-D view", put("mouth", np.zeros((8, 16), dtype=np.uint8)), "mouth must be (N, R, R) square frames"),
    npz_case("views differ", put("mouth", np.zeros((8, 12, 12), dtype=np.uint8)), "mouth is (8, 12, 12), left_eye"),
    npz_case("gaze width", put("g", np.zeros((8, 3))), "g must be a numeric (N=8, 4) array"),
    npz_case("identity floats", put("identity", np.zeros(8) + 0.5), "identity must be N=8 integers"),
    npz_case("unknown split", put("split", np.array(["train"] * 7 + ["later"])), "split must be N=8 strings"),
    npz_case(
        "views out of range",
        lambda a: [a.__setitem__(v, np.full((8, 16, 16), 2.0)) for v in ("left_eye", "right_eye", "mouth")],
        "views must be uint8 or floats in [0, 1]",
    ),
    # run configs and checkpoints (hwnas evaluate)
    run_case("truncated checkpoint", "checkpoint.pt", b"PK\x03\x04trunc", "is unreadable"),
    run_case("garbage checkpoint", "checkpoint.pt", b"garbage", "is unreadable"),
    run_case("checkpoint of a list", "checkpoint.pt", torch_save([1, 2, 3]), "lacks model, step"),
    run_case("checkpoint of an object", "checkpoint.pt", torch_save(NotAState()), "is unreadable"),
    run_case("config truncated", "config.json", '{"encoder": "ee', "is not valid JSON"),
    run_case(
        "config NaN",
        "config.json",
        '{"encoder": "eem", "preset": "tiny", "steps": NaN, "batch": 8}',
        "NaN is not a JSON number",
    ),
    run_case("config a list", "config.json", "[1, 2]", "is not a JSON object"),
    run_case(
        "config steps as text",
        "config.json",
        '{"encoder": "eem", "preset": "tiny", "steps": "ten", "batch": 8}',
        "steps: Input should be a valid integer, not 'ten'",
    ),
    run_case("config binary", "config.json", b"\xff\xfe\xfd", "is not UTF-8 text"),
    # search state (a resumed hwnas search)
    search_case("truncated search.pt", "search.pt", b"PK\x03\x04", "search.pt is unreadable"),
    search_case("truncated search-config.json", "search-config.json", '{"space": "av', "is not valid JSON"),
    # numbers and paths on the command line
    cli_case("target nan", lambda w, m: search_args(m, w / "s", target="nan"), "'nan' must be a finite number > 0"),
    cli_case("target inf", lambda w, m: search_args(m, w / "s", target="inf"), "'inf' must be a finite number > 0"),
    cli_case("target negative", lambda w, m: search_args(m, w / "s", target="-1"), "must be a finite number > 0"),
    cli_case(
        "speedup nan", lambda w, m: ["search", "--device", "cpu", *TINY, "--speedup", "nan"], "'nan' must be a finite"
    ),
    cli_case(
        "latency weight inf",
        lambda w, m: search_args(m, w / "s", "--latency-weight", "inf"),
        "'inf' must be a finite number >= 0",
    ),
    cli_case("steps zero", lambda w, m: search_args(m, w / "s", "--steps", "0"), "--steps"),
    cli_case("--out under a file", lambda w, m: search_args(m, write(w / "f", "x") / "s"), "is a file, not a folder"),
    cli_case(
        "--lut-dir under a file",
        lambda w, m: [
            "search",
            "--device",
            "cpu",
            *TINY,
            "--target-ms",
            "1",
            "--out",
            str(w / "s"),
            "--lut-dir",
            str(write(w / "f", "x") / "lut"),
        ],
        "is a file, not a folder",
    ),
    cli_case(
        "--run-dir under a file",
        lambda w, m: ["train", "--arch", "eem", "--preset", "tiny", "--run-dir", str(write(w / "f", "x") / "run")],
        "is a file, not a folder",
    ),
    cli_case(
        "--option not KEY=VALUE",
        lambda w, m: ["profile", "--device", "cpu", *TINY, "--option", "threads"],
        "--option takes KEY=VALUE",
    ),
    cli_case(
        "--option precision",
        lambda w, m: [
            "profile",
            "--device",
            "cpu-tflite",
            *TINY,
            "--option",
            "precision=int8",
            "--workdir",
            str(w / "work"),
        ],
        "precision must be float32 or float16",
    ),
    cli_case(
        "table of another preset",
        lambda w, m: [
            *search_args(m, w / "s")[:3],
            "--space",
            "avatar",
            "--preset",
            "small",
            "--target-ms",
            "1",
            "--out",
            str(w / "s"),
            "--lut-dir",
            str(lut_renamed(w, m)),
        ],
        "was built for preset 'tiny', not 'small'",
    ),
    cli_case(
        "key outside the space",
        lambda w, m: ["lut", "lookup", str(m["lut"] / "cpu" / "avatar-tiny.csv"), "conv-k3-s1-cin64-cout64-h8w8"],
        "is not an op of avatar/tiny",
    ),
    *UNWRITABLE,
]


def lut_renamed(w: Path, made: dict) -> Path:
    """The tiny table filed where the small preset's table belongs."""
    lut = w / "lut"
    for suffix in (".csv", ".json"):
        write(lut / "cpu" / f"avatar-small{suffix}", (made["lut"] / "cpu" / f"avatar-tiny{suffix}").read_bytes())
    return lut


def test_the_corpus_covers_every_kind_of_input():
    kinds = {case.kind for case in CASES}
    assert len(CASES) >= 60 and len(kinds) == 8, (len(CASES), kinds)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.name}" for c in CASES])
def test_malformed_input_is_refused_at_the_door(case, made, locked, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default folders (runs/, lut/, .hwnas/) would appear here
    monkeypatch.delenv("HWNAS_DEVICES", raising=False)
    argv = case.setup(tmp_path, {**made, "locked": locked})
    before = tree_hash(tmp_path)
    code, err = run_in_process(argv)
    assert code == 2, (code, err)
    line = err.strip()
    assert len(line.splitlines()) == 1 and line.startswith("hwnas: error: "), err
    assert case.needle in line, line
    assert tree_hash(tmp_path) == before, "the working folder changed"
