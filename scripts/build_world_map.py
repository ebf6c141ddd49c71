"""Build the offline world map the web page draws markers on (`serve/static/world.svg`).

The page must work without internet (no tile server), so it ships one small SVG of the country
outlines in the equirectangular projection the marker uses: x = lon + 180, y = 90 - lat, scaled by
10 so that every point is an integer in a 3600 x 1800 viewBox (0.1 degree, about 11 km, is finer
than a pixel of the map on screen). The source is Natural Earth 1:110m (public domain) as packaged
by the npm package `world-atlas` (ISC licence):

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz package/countries-110m.json
    python scripts/build_world_map.py package/countries-110m.json src/landmarks/serve/static/world.svg

Only the standard library is used; TopoJSON is decoded here (delta-encoded, quantized arcs shared
between neighbouring countries; a negative arc index ~i means arc i reversed).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

SCALE = 10  # viewBox units per degree
WIDTH, HEIGHT = 360 * SCALE, 180 * SCALE
GRATICULE_STEP = 30  # degrees between the faint meridians/parallels


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """Absolute (lon, lat) points of every arc, undoing quantization and delta encoding."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring_points(ring: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Join a ring's arcs; consecutive arcs share their end point, which is kept once."""
    points: list[tuple[float, float]] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def project(lon: float, lat: float) -> tuple[int, int]:
    """Equirectangular projection into the viewBox, the same formula the page uses for markers."""
    return round((lon + 180) * SCALE), round((90 - lat) * SCALE)


def unwrap(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Copies of a ring that are right on a flat map, however it crosses the antimeridian.

    A ring that steps over +-180 (eastern Russia, Fiji) would draw a band across the whole map;
    its longitudes are made continuous instead and the ring is drawn again shifted by 360 degrees,
    the viewBox clipping what falls outside. A ring around a pole (Antarctica) unwraps to a net
    360 degrees, so it is closed along the pole's edge of the map.
    """
    if not points:
        return []
    out = [points[0]]
    for lon, lat in points[1:]:
        prev = out[-1][0]
        while lon - prev > 180:
            lon -= 360
        while lon - prev < -180:
            lon += 360
        out.append((lon, lat))
    if abs(out[-1][0] - out[0][0]) > 180:
        pole = -90.0 if sum(lat for _, lat in out) < 0 else 90.0
        out += [(out[-1][0], pole), (out[0][0], pole)]
    lons = [lon for lon, _ in out]
    shifts = [0.0]
    if min(lons) < -180:
        shifts.append(360.0)
    if max(lons) > 180:
        shifts.append(-360.0)
    return [[(lon + shift, lat) for lon, lat in out] for shift in shifts]


def ring_path(points: list[tuple[float, float]]) -> str:
    """One closed sub-path with relative moves (short: most steps are a few units)."""
    projected: list[tuple[int, int]] = []
    for lon, lat in points:
        p = project(lon, lat)
        if not projected or p != projected[-1]:
            projected.append(p)
    if len(projected) > 1 and projected[0] == projected[-1]:
        projected.pop()
    if len(projected) < 3:  # collapsed to a dot or a line at this resolution
        return ""
    (x0, y0), parts = projected[0], []
    for (xa, ya), (xb, yb) in itertools.pairwise(projected):
        parts.append(f"{xb - xa} {yb - ya}")
    deltas = " ".join(parts).replace(" -", "-")
    return f"M{x0} {y0}l{deltas}z"


def country_paths(topology: dict) -> list[tuple[str, str]]:
    """(name, path data) for every country of the `countries` object."""
    arcs = decode_arcs(topology)
    out = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        kind = geometry.get("type")
        if kind == "Polygon":
            polygons = [geometry["arcs"]]
        elif kind == "MultiPolygon":
            polygons = geometry["arcs"]
        else:  # null geometries carry no outline
            continue
        data = "".join(
            ring_path(copy) for polygon in polygons for ring in polygon for copy in unwrap(ring_points(ring, arcs))
        )
        if data:
            out.append((geometry.get("properties", {}).get("name", ""), data))
    return out


def graticule() -> str:
    """Meridians and parallels every GRATICULE_STEP degrees, so positions read at a glance."""
    step = GRATICULE_STEP
    lines = [f"M{(lon + 180) * SCALE} 0V{HEIGHT}" for lon in range(-180 + step, 180, step)]
    lines += [f"M0 {(90 - lat) * SCALE}H{WIDTH}" for lat in range(-90 + step, 90, step)]
    return "".join(lines)


def build_svg(topology: dict) -> str:
    """The whole SVG document: ocean, graticule, one path per country (named for tooltips)."""
    countries = "\n".join(
        f'<path d="{data}"><title>{name.replace("&", "&amp;").replace("<", "&lt;")}</title></path>'
        for name, data in country_paths(topology)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'preserveAspectRatio="none">\n'
        "<!-- Natural Earth 1:110m countries (public domain), via the npm package world-atlas (ISC); "
        "equirectangular, x=(lon+180)*10, y=(90-lat)*10; built by scripts/build_world_map.py -->\n"
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#dbe9f4"/>\n'
        f'<path d="{graticule()}" fill="none" stroke="#c3d6e6" stroke-width="2"/>\n'
        '<g fill="#f3efe4" stroke="#b9b1a0" stroke-width="2" stroke-linejoin="round">\n'
        f"{countries}\n</g>\n</svg>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path, help="world-atlas countries-110m.json")
    parser.add_argument("output", type=Path, help="where to write the SVG")
    args = parser.parse_args()
    svg = build_svg(json.loads(args.topojson.read_text(encoding="utf-8")))
    args.output.write_text(svg, encoding="utf-8")
    print(f"wrote {args.output} ({len(svg.encode()) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
