"""Where and how tensors run: device, bf16 autocast + channels_last on CPUs that support them, seeding."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch


def cpu_supports_bf16() -> bool:
    """AVX-512 BF16 / AMX make bf16 autocast several times faster than fp32 on CPU; elsewhere it is slower."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((probe and probe()) or (amx and amx()))


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None
    """bf16 on capable CPUs and on CUDA; None means plain fp32."""
    channels_last: bool

    @classmethod
    def detect(cls, device: str | None = None, amp: bool = True) -> Runtime:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dev.type == "cuda":
            return cls(dev, torch.bfloat16 if amp else None, channels_last=True)
        bf16 = amp and cpu_supports_bf16()
        return cls(dev, torch.bfloat16 if bf16 else None, channels_last=bf16)

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def describe(self) -> str:
        amp = "bf16 autocast" if self.amp_dtype is not None else "fp32"
        layout = " + channels_last" if self.channels_last else ""
        return f"{self.device.type} ({torch.get_num_threads()} threads), {amp}{layout}"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for DataLoader shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
