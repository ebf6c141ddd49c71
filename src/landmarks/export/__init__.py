"""Export a checkpoint's whole inference graph to ONNX (torch side; engine layer).

- `onnx_export`: `export_onnx(checkpoint, out, int8=..., calibration_photos=...)`, the one entry point.
- `quantize`: static int8 quantization (QDQ) calibrated on photos preprocessed as at inference.

The runtime that reads these files is `landmarks.runtime_onnx`, which never imports this package.
Nothing is imported here.
"""
