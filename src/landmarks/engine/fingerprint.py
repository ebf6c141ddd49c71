"""The identity of a model's embeddings: what a gallery of user-added landmarks must have been made with.

A checkpoint computes it from its backbone's weights; an export records the one of the checkpoint it was
made from (runtime_onnx/metadata.py), so a gallery made on torch is accepted on ONNX Runtime and back.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from landmarks.engine.checkpoint import Checkpoint


def model_fingerprint(ckpt: Checkpoint) -> dict[str, Any]:
    """What the embeddings depend on: the backbone, its preprocessing and a SHA-256 of its weights.

    The head is left out on purpose: a model retrained on other classes over the same frozen backbone
    embeds photos the same way, so its gallery still fits."""
    cfg = ckpt.model
    h = hashlib.sha256()
    for name, tensor in sorted(ckpt.state_dict.items()):
        if name.startswith("backbone."):
            h.update(name.encode())
            h.update(str(tuple(tensor.shape)).encode())
            h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return {
        "arch": cfg.arch,
        "backbone": cfg.backbone,
        "image_size": cfg.image_size,
        "crop_pct": cfg.crop_pct,
        "mean": [float(m) for m in cfg.mean],
        "std": [float(s) for s in cfg.std],
        "backbone_sha256": h.hexdigest(),
    }
