"""ONNX -> TFLite through onnx2tf (the `tflite` extra), with the converted model checked against onnxruntime.

Layout: our ONNX graphs are NCHW (PyTorch's); onnx2tf rewrites the whole graph to TFLite's NHWC, so a 4-D input
(1, C, H, W) becomes (1, H, W, C) and the transposes disappear rather than being added around every op — what
a device runs is the NHWC model. Outputs of our ops and encoders are 2-D or NHWC feature maps. onnx2tf can
mis-convert some patterns (e.g. a channel Slice after its transposition), so a converted model is only kept
when LiteRT reproduces onnxruntime's outputs on a random input (fed NHWC, or NCHW where onnx2tf kept it).

Precision: ``float32``, or ``float16`` — weights stored as float16 (half the file), inputs and outputs float32.
TFLite's CPU kernels dequantise such weights to float32 once when the model loads; the GPU delegate computes in
float16 either way. A float16 model is checked against onnxruntime with a looser tolerance (rounding of every
weight to 11 significant bits).
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib import metadata
from pathlib import Path

import numpy as np

from hwnas.core.errors import HwnasError, one_line
from hwnas.core.files import atomic_path

PRECISIONS = ("float32", "float16")
# max abs difference relative to the output's scale, per precision
TOLERANCE = {"float32": 1e-3, "float16": 1e-2}


def converter_version() -> str:
    """onnx2tf's version (part of an artifact's fingerprint), without importing it."""
    try:
        return metadata.version("onnx2tf")
    except metadata.PackageNotFoundError:
        return "none"


def convert_many(
    jobs: Sequence[tuple[Path, Path]], workers: int, on_done=None, precision: str = "float32"
) -> dict[Path, str]:
    """Convert (onnx, tflite) pairs in ``workers`` processes that stay alive for the whole batch (onnx2tf's
    import alone takes seconds). Returns tflite path -> reason for each conversion that failed."""
    check_precision(precision)
    failures: dict[Path, str] = {}
    if not jobs:
        return failures
    context = multiprocessing.get_context("spawn")  # TensorFlow and a forked torch do not mix
    with ProcessPoolExecutor(max(1, workers), mp_context=context, initializer=_import_converter) as pool:
        futures = {pool.submit(_convert, onnx, out, precision): out for onnx, out in jobs}
        for future in as_completed(futures):
            try:
                future.result()
            except HwnasError as exc:
                failures[futures[future]] = str(exc)
            except Exception as exc:  # a crashed worker: every job it held fails with the reason
                failures[futures[future]] = f"conversion worker failed: {one_line(exc)}"
            if on_done is not None:
                on_done()
    return failures


def _import_converter() -> None:
    """A conversion worker: TensorFlow's and LiteRT's C++ logging silenced, onnx2tf imported once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # failures travel back as exceptions, not on stderr
    with contextlib.suppress(ImportError):
        import onnx2tf  # noqa: F401


@contextlib.contextmanager
def quiet_native_stderr():
    """Hide what native code writes to file descriptor 2 (LiteRT's "Created TensorFlow Lite XNNPACK
    delegate" line per interpreter) while keeping Python's own stderr."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise HwnasError(f"TFLite precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return precision


def onnx_to_tflite(onnx_path: Path, out_path: Path, precision: str = "float32") -> Path:
    """Convert one model in a worker process (TensorFlow stays out of this one); refuse with the reason."""
    failures = convert_many([(Path(onnx_path), Path(out_path))], workers=1, precision=precision)
    if failures:
        raise HwnasError(next(iter(failures.values())))
    return Path(out_path)


# onnx2tf fetches a sample-image file from the internet for a model whose inputs all look like 3-channel
# images (stacked grey views, say); the same file in the working directory stops it. Its content only feeds
# onnx2tf's own dummy inference, so seeded noise of that shape serves.
_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def _convert(onnx_path: Path, out_path: Path, precision: str) -> Path:
    """In a worker: onnx2tf into a temporary folder (also its working directory), check, then publish."""
    try:
        import onnx2tf
    except ImportError:
        raise HwnasError("TFLite conversion needs the tflite extra: pip install 'hwnas[tflite]'") from None
    onnx_path, out_path = Path(onnx_path).resolve(), Path(out_path).resolve()
    with tempfile.TemporaryDirectory(prefix="hwnas-tflite-") as tmp:
        np.save(Path(tmp) / _SAMPLE_FILE, np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                onnx2tf.convert(
                    input_onnx_file_path=str(onnx_path),
                    output_folder_path=tmp,
                    non_verbose=True,
                    copy_onnx_input_output_names_to_tflite=True,
                )
        except Exception as exc:  # onnx2tf raises bare exceptions (and SystemExit) on unsupported graphs
            raise HwnasError(f"onnx2tf could not convert {onnx_path.name}: {one_line(exc)}") from None
        except SystemExit:
            raise HwnasError(f"onnx2tf could not convert {onnx_path.name} (it exited; run onnx2tf by hand)") from None
        finally:
            os.chdir(cwd)
        converted = Path(tmp) / f"{onnx_path.stem}_{precision}.tflite"  # onnx2tf writes both precisions
        if not converted.exists():
            raise HwnasError(f"onnx2tf wrote no {precision} model for {onnx_path.name}")
        check_against_onnx(onnx_path, converted, tolerance=TOLERANCE[precision])
        with atomic_path(out_path) as staged:
            shutil.copyfile(converted, staged)
    return out_path


def check_against_onnx(
    onnx_path: Path, tflite_path: Path, seed: int = 0, tolerance: float = TOLERANCE["float32"]
) -> float:
    """Run both models on the same random input; return the worst relative difference, or refuse."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in sess.get_inputs()}
    expected = sess.run(None, feeds)
    with quiet_native_stderr():
        interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if {d["name"] for d in inputs} != set(feeds):
        raise HwnasError(f"converted {tflite_path.name} has inputs {[d['name'] for d in inputs]}, not {list(feeds)}")
    if len(outputs) != len(expected):  # onnx2tf keeps the ONNX output order, renamed Identity[_k]
        raise HwnasError(f"converted {tflite_path.name} has {len(outputs)} outputs, the ONNX model {len(expected)}")
    # onnx2tf makes a 4-D input NHWC, except where C = H = W leaves it nothing to tell: then it keeps NCHW.
    # Both layouts are tried where the shape allows either; the converted model must match in one of them.
    worst = min(_difference(interpreter, inputs, outputs, feeds, expected, nhwc, tflite_path) for nhwc in (True, False))
    if worst > tolerance:
        raise HwnasError(
            f"onnx2tf mis-converted {Path(onnx_path).name}: LiteRT differs from onnxruntime by {worst:.2%} "
            "of the output scale; export ONNX instead"
        )
    return worst


def _difference(interpreter, inputs, outputs, feeds, expected, nhwc: bool, tflite_path: Path) -> float:
    """The worst output difference relative to the output's scale, inputs fed in one layout (inf: wrong shape)."""
    for detail in inputs:
        value = feeds[detail["name"]]
        if nhwc and value.ndim == 4:
            value = value.transpose(0, 2, 3, 1)
        if tuple(detail["shape"]) != value.shape:
            return float("inf")
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    worst = 0.0
    for detail, ref in zip(outputs, expected, strict=True):
        got = interpreter.get_tensor(detail["index"])
        if got.size != ref.size:
            raise HwnasError(f"converted {tflite_path.name}: output shape {got.shape} where ONNX has {ref.shape}")
        layouts = [got.reshape(ref.shape)]
        if got.ndim == 4:  # a feature map stays NHWC in the converted model
            layouts.append(got.transpose(0, 3, 1, 2).reshape(ref.shape))
        scale = np.abs(ref).max() + 1e-6
        worst = max(worst, min(float(np.abs(g - ref).max() / scale) for g in layouts))
    return worst


def operator_counts(tflite_path: Path) -> Counter[str]:
    """The operators of a .tflite file by type, as LiteRT reads them (what onnx2tf put into it)."""
    from ai_edge_litert.interpreter import Interpreter

    return Counter(op["op_name"] for op in Interpreter(model_path=str(tflite_path))._get_ops_details())
