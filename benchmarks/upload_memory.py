"""Peak memory of decoding one worst-case photo, as the service (and the CLI) decode it.

Each photo is decoded in a fresh Python process (`load_rgb` with the predictor's JPEG draft size,
then the resize the eval transform starts with), which reports how far decoding raised its peak
resident memory (VmHWM) above what it had with the photo's bytes already read. The photos are
synthetic, at the upload pixel cap (`ServeSettings.max_upload_pixels`) and at the loader's
`MAX_PIXELS`, in the formats that cost the most: 8-bit RGBA PNG (alpha composited over white),
16-bit grey PNG, 8-bit RGB PNG, and a JPEG (which draft decoding reduces).

    python benchmarks/upload_memory.py
"""

from __future__ import annotations

import argparse
import io
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

# VmHWM (this process's peak RSS, reset by exec), not ru_maxrss, which a child inherits from its parent.
CHILD = r"""
import sys
from pathlib import Path
from landmarks.data.images import load_rgb, resize_shorter_side
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
data = Path(sys.argv[1]).read_bytes()
before = peak_kb()
image = resize_shorter_side(load_rgb(data, min_side=int(sys.argv[2])), int(sys.argv[2]))
print((peak_kb() - before) / 1024)
"""


def make(kind: str, pixels: int) -> bytes:
    width = int(math.sqrt(pixels * 4 / 3))
    height = pixels // width
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    if kind == "16-bit grey PNG":
        image = Image.fromarray((ramp * 65535).astype(np.uint16))
    else:
        rgb = np.stack([ramp * 255, ramp[::-1] * 255, np.full_like(ramp, 128)], axis=2).astype(np.uint8)
        image = Image.fromarray(rgb, "RGB")
        if kind == "RGBA PNG":
            image.putalpha(200)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG" if kind == "JPEG" else "PNG", **({"quality": 90} if kind == "JPEG" else {}))
    return buffer.getvalue()


def main() -> None:
    from landmarks.data.images import MAX_PIXELS
    from landmarks.serve.settings import ServeSettings

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--min-side", type=int, default=297, help="decode size (default: the Lite0+Lite2 model's 260/0.875)")
    args = p.parse_args()
    caps = {"upload cap": ServeSettings().max_upload_pixels, "local cap": MAX_PIXELS}
    print(f"{'photo':<18} {'cap':<11} {'Mpx':>5} {'file MB':>8} {'peak rise MB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for cap_name, pixels in caps.items():
            for kind in ("RGBA PNG", "16-bit grey PNG", "RGB PNG", "JPEG"):
                path = Path(tmp) / "photo"
                path.write_bytes(make(kind, pixels))
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(path), str(args.min_side)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={"PYTHONPATH": str(REPO / "src")},
                )
                size_mb = path.stat().st_size / 2**20
                print(f"{kind:<18} {cap_name:<11} {pixels / 1e6:5.0f} {size_mb:8.1f} {float(out.stdout):13.0f}")


if __name__ == "__main__":
    main()
