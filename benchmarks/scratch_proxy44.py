"""A CNN from scratch on proxy44 from nothing (fresh cache), 128 px: test top-1/top-3, wall time, images/s.

.venv/bin/python benchmarks/scratch_proxy44.py                   # the default recipe, 3 seeds, 60 min each
"""

from __future__ import annotations

from _common import parser, run

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0], budget_min=60)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--mixup", type=float, default=None)
    args = p.parse_args()
    extra = {k: v for k, v in {"epochs": args.epochs, "mixup": args.mixup}.items() if v is not None}
    run({"model": "scratch", "image_size": args.image_size, **extra}, args, "scratch_proxy44")
