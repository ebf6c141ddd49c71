"""Two pieces of sphere geometry the estimates need: walking along a great circle, and the smallest
circle that holds the places reachable from two anchors (the intersection of two discs)."""

from __future__ import annotations

import math

from landmarks.catalog import EARTH_RADIUS_KM, great_circle_km


def toward(lat: float, lon: float, lat2: float, lon2: float, km: float) -> tuple[float, float]:
    """The point `km` along the great circle from (lat, lon) toward (lat2, lon2)."""
    total = great_circle_km(lat, lon, lat2, lon2)
    if total <= 0 or km <= 0:
        return lat, lon
    f = min(km / total, 1.0)
    delta = total / EARTH_RADIUS_KM
    p1, l1, p2, l2 = map(math.radians, (lat, lon, lat2, lon2))
    a, b = math.sin((1 - f) * delta) / math.sin(delta), math.sin(f * delta) / math.sin(delta)
    x = a * math.cos(p1) * math.cos(l1) + b * math.cos(p2) * math.cos(l2)
    y = a * math.cos(p1) * math.sin(l1) + b * math.cos(p2) * math.sin(l2)
    z = a * math.sin(p1) + b * math.sin(p2)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def lens_circle(d: float, ra: float, rb: float) -> tuple[float, float]:
    """Smallest circle holding the intersection of disc(A, ra) and disc(B, rb), |AB| = d (which must
    meet: d <= ra + rb). Returns (its centre's distance from A along AB, its radius)."""
    if d <= abs(ra - rb) or d == 0:  # one disc inside the other: the lens is the smaller disc
        return (0.0, ra) if ra <= rb else (d, rb)
    a = (d * d + ra * ra - rb * rb) / (2 * d)  # where the common chord crosses AB
    h = math.sqrt(max(ra * ra - a * a, 0.0))
    near, far = max(-ra, d - rb), min(ra, d + rb)  # the lens's extent along AB
    if a - near <= h + 1e-9 and far - a <= h + 1e-9:
        return a, h
    return (0.0, ra) if ra <= rb else (d, rb)
