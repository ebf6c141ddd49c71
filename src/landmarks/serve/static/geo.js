// The world map's projection, shared by the pages: equirectangular, as fractions of the map's width and
// height (the layout of world.svg, which scripts/build_world_map.py draws with the same formula).
export function project(lat, lon) {
  return { x: (lon + 180) / 360, y: (90 - lat) / 180 };
}
