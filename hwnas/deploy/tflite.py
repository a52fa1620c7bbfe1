"""ONNX -> TFLite through onnx2tf (the `tflite` extra), with the converted model checked against onnxruntime.

onnx2tf turns NCHW inputs into NHWC and can mis-convert some patterns (e.g. channel slicing), so a converted
model is only kept when LiteRT reproduces onnxruntime's outputs on a random input.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hwnas.core.errors import HwnasError, one_line
from hwnas.core.files import atomic_path

TOLERANCE = 1e-3  # max abs difference relative to the output's scale


def onnx_to_tflite(onnx_path: Path, out_path: Path) -> Path:
    try:
        import onnx2tf
    except ImportError:
        raise HwnasError("TFLite export needs the tflite extra: pip install 'hwnas[tflite]'") from None
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="hwnas-tflite-") as tmp:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                onnx2tf.convert(
                    input_onnx_file_path=str(onnx_path),
                    output_folder_path=tmp,
                    non_verbose=True,
                    copy_onnx_input_output_names_to_tflite=True,
                )
        except Exception as exc:  # onnx2tf raises bare exceptions (and SystemExit) on unsupported graphs
            raise HwnasError(f"onnx2tf could not convert {onnx_path}: {one_line(exc)}") from None
        except SystemExit:
            raise HwnasError(f"onnx2tf could not convert {onnx_path} (it exited; run onnx2tf by hand)") from None
        converted = Path(tmp) / f"{Path(onnx_path).stem}_float32.tflite"
        if not converted.exists():
            raise HwnasError(f"onnx2tf wrote no float32 model for {onnx_path}")
        check_against_onnx(onnx_path, converted)
        with atomic_path(out_path) as staged:
            shutil.copyfile(converted, staged)
    return out_path


def check_against_onnx(onnx_path: Path, tflite_path: Path, seed: int = 0) -> float:
    """Run both models on the same random input; return the worst relative difference, or refuse."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in sess.get_inputs()}
    expected = sess.run(None, feeds)
    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        value = feeds.get(detail["name"])
        if value is None:
            raise HwnasError(f"converted {tflite_path.name} has an unexpected input {detail['name']!r}")
        interpreter.set_tensor(detail["index"], value.transpose(0, 2, 3, 1) if value.ndim == 4 else value)
    interpreter.invoke()
    outputs = interpreter.get_output_details()  # onnx2tf keeps the ONNX output order, renamed Identity[_k]
    if len(outputs) != len(expected):
        raise HwnasError(f"converted {tflite_path.name} has {len(outputs)} outputs, the ONNX model {len(expected)}")
    worst = 0.0
    for detail, ref in zip(outputs, expected, strict=True):
        got = interpreter.get_tensor(detail["index"])
        if got.size != ref.size:
            raise HwnasError(f"converted {tflite_path.name}: output shape {got.shape} where ONNX has {ref.shape}")
        worst = max(worst, float(np.abs(got.reshape(ref.shape) - ref).max() / (np.abs(ref).max() + 1e-6)))
    if worst > TOLERANCE:
        raise HwnasError(
            f"onnx2tf mis-converted {Path(onnx_path).name}: LiteRT differs from onnxruntime by {worst:.2%} "
            "of the output scale; export ONNX instead"
        )
    return worst
