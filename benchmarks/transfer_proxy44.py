"""Transfer learning on proxy44 from nothing (fresh cache): test top-1/top-3, wall time, images/s.

.venv/bin/python benchmarks/transfer_proxy44.py                  # the default recipe, 3 seeds, 30 min each
.venv/bin/python benchmarks/transfer_proxy44.py --backbone efficientnet_lite0 --head-hidden 0
"""

from __future__ import annotations

from _common import parser, run

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0], budget_min=30)
    p.add_argument("--backbone", default=None, help="override the default backbone")
    p.add_argument("--head-hidden", type=int, default=None, help="override the default head")
    p.add_argument("--feature-views", type=int, default=None)
    args = p.parse_args()
    overrides = {
        k: v
        for k, v in {
            "backbone": args.backbone,
            "head_hidden": args.head_hidden,
            "feature_views": args.feature_views,
        }.items()
        if v is not None
    }
    run({"model": "transfer", **overrides}, args, "transfer_proxy44")
