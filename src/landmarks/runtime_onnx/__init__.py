"""Run an exported model with ONNX Runtime: numpy, Pillow and onnxruntime only, never torch.

- `metadata`: what an export records (classes, preprocessing, calibration, the checkpoint's digest).
- `preprocess`: the eval preprocessing of `data.transforms.EvalPreset`, in numpy/Pillow.
- `model`: `OnnxModel`, a lazily loaded, thread-safe ONNX Runtime session with its metadata.

It sits beside `data` and `models` at the bottom of the layers: the exporter (`landmarks.export`) writes
the metadata defined here, and inference reads it, without either importing the other. Nothing is
imported here, so importing a submodule pulls in nothing else.
"""
