// The page at `/`: pick, drop or paste a photo; show the top-k and the place on an offline world map.
// Plain ES module, no build step: the service serves this file as it is.

import { project } from "./geo.js";

const $ = (id) => document.getElementById(id);

const el = {
  dropzone: $("dropzone"),
  input: $("file-input"),
  preview: $("preview"),
  noPreview: $("no-preview"),
  fileName: $("file-name"),
  changePhoto: $("change-photo"),
  limits: $("limits"),
  status: $("status"),
  error: $("error"),
  empty: $("empty"),
  result: $("result"),
  resultPanel: document.querySelector(".result-panel"),
  unknownBanner: $("unknown-banner"),
  unknownText: $("unknown-text"),
  kicker: $("result-kicker"),
  name: $("landmark-name"),
  place: $("landmark-place"),
  coords: $("landmark-coords"),
  osm: $("osm-link"),
  topkPanel: $("topk-panel"),
  topk: $("topk"),
  kInput: $("k-input"),
  meta: $("meta"),
  neighboursPanel: $("neighbours-panel"),
  neighbours: $("neighbours"),
  map: $("map"),
  dots: $("catalog-dots"),
  marker: $("marker"),
  markerLabel: $("marker-label"),
  modelInfo: $("model-info"),
  galleryPanel: $("gallery-panel"),
  galleryList: $("gallery-list"),
  galleryCount: $("gallery-count"),
};

const state = {
  info: { default_k: 3, max_k: 10, max_upload_bytes: 20 * 1024 * 1024, classes: 0, threshold: 0 },
  file: null,
  previewUrl: null,
  prediction: null,
  selected: 0,
  controller: null,
  kTimer: null,
};


function formatSize(bytes) {
  const mb = bytes / (1024 * 1024);
  if (mb >= 1) return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
  return `${Math.ceil(bytes / 1024)} KB`;
}

function formatPercent(p) {
  const pct = p * 100;
  if (pct > 0 && pct < 0.1) return "<0.1%";
  return `${pct.toFixed(1)}%`;
}

function formatCoords(lat, lon) {
  const ns = lat >= 0 ? "N" : "S";
  const ew = lon >= 0 ? "E" : "W";
  return `${Math.abs(lat).toFixed(4)}° ${ns}, ${Math.abs(lon).toFixed(4)}° ${ew}`;
}

function hasLocation(g) {
  return g && g.latitude !== null && g.longitude !== null;
}

function placeOf(g) {
  return [g.city, g.country].filter(Boolean).join(", ");
}

function osmUrl(lat, lon) {
  const a = lat.toFixed(5);
  const o = lon.toFixed(5);
  return `https://www.openstreetmap.org/?mlat=${a}&mlon=${o}#map=16/${a}/${o}`;
}

// ---- status, errors ------------------------------------------------------------------------------

function setStatus(text, busy = false) {
  el.status.textContent = text;
  el.status.classList.toggle("busy", busy);
}

function showError(message) {
  el.error.textContent = message;
  el.error.hidden = false;
}

function clearError() {
  el.error.hidden = true;
  el.error.textContent = "";
}

// ---- photo -----------------------------------------------------------------------------------------

function showPhoto(file) {
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  el.noPreview.hidden = true;
  el.preview.hidden = false;
  el.preview.src = state.previewUrl;
  el.dropzone.classList.add("has-photo");
  el.fileName.textContent = `${file.name || "pasted image"} · ${formatSize(file.size)}`;
  el.changePhoto.hidden = false;
}

function resetPhoto() {
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = null;
  state.file = null;
  el.preview.hidden = true;
  el.preview.removeAttribute("src");
  el.noPreview.hidden = true;
  el.dropzone.classList.remove("has-photo");
  el.fileName.textContent = "";
  el.changePhoto.hidden = true;
}

el.preview.addEventListener("error", () => {
  if (!state.previewUrl) return; // the src was just cleared
  // e.g. HEIC: the browser cannot draw it, the server can still read it.
  el.preview.hidden = true;
  el.noPreview.hidden = false;
});

function choose(file) {
  if (!file) return;
  clearError();
  if (file.size === 0) {
    showError(`"${file.name}" is empty.`);
    return;
  }
  if (file.size > state.info.max_upload_bytes) {
    showError(
      `"${file.name}" is ${formatSize(file.size)}; photos up to ${formatSize(state.info.max_upload_bytes)} are accepted.`,
    );
    return;
  }
  state.file = file;
  showPhoto(file);
  predict();
}

// ---- prediction ------------------------------------------------------------------------------------

function currentK() {
  const k = Number.parseInt(el.kInput.value, 10);
  if (!Number.isFinite(k)) return state.info.default_k;
  return Math.min(Math.max(k, 1), state.info.max_k);
}

async function predict() {
  if (!state.file) return;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const k = currentK();
  el.kInput.value = String(k);
  const body = new FormData();
  body.append("file", state.file, state.file.name || "pasted-image");
  body.append("k", String(k));
  setStatus("Looking at the photo…", true);
  clearError();
  try {
    const response = await fetch("/api/v1/predict", { method: "POST", body, signal: controller.signal });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = (data && data.detail ? data.detail : response.statusText).replace(/[.\s]+$/, "");
      const retry = response.headers.get("Retry-After");
      const hint = response.status === 503 && retry ? ` Retrying is fine in ${retry} s.` : "";
      throw new RequestError(response.status, `${messageFor(response.status)}: ${detail}.${hint}`);
    }
    state.prediction = data;
    state.selected = data.unknown ? -1 : 0;
    render();
    setStatus("");
  } catch (err) {
    if (err.name === "AbortError") return;
    setStatus("");
    state.prediction = null;
    renderEmpty();
    // A file the server refused cannot succeed on a retry: go back to asking for one.
    if (err instanceof RequestError && [413, 415, 422].includes(err.status)) resetPhoto();
    showError(err instanceof TypeError ? "The server could not be reached." : err.message);
  } finally {
    if (state.controller === controller) state.controller = null;
  }
}

class RequestError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function messageFor(status) {
  switch (status) {
    case 413: return "This photo is too large";
    case 415: return "This file is not an image we can read";
    case 422: return "This photo cannot be used";
    case 503: return "The server is busy";
    default: return `The server answered ${status}`;
  }
}

// ---- rendering -------------------------------------------------------------------------------------

function renderEmpty() {
  el.result.hidden = true;
  el.topkPanel.hidden = true;
  el.empty.hidden = false;
  el.resultPanel.classList.remove("is-unknown");
  hideMarker();
}

function render() {
  const p = state.prediction;
  el.empty.hidden = true;
  el.result.hidden = false;
  el.topkPanel.hidden = false;
  el.resultPanel.classList.toggle("is-unknown", p.unknown);
  el.result.dataset.unknown = String(p.unknown);

  el.unknownBanner.hidden = !p.unknown;
  if (p.unknown) {
    el.unknownText.textContent =
      `Confidence ${formatPercent(p.score)} is below the ${formatPercent(p.threshold)} needed to name it. ` +
      "The closest guesses are listed; pick one to see where it is.";
  }

  renderTopk();
  renderNeighbours();
  renderSelection();
  el.meta.textContent = `${p.top.length} of ${state.info.classes || p.top.length} landmarks · ${Math.round(p.elapsed_ms)} ms`;
}

function renderTopk() {
  const p = state.prediction;
  el.topk.replaceChildren(
    ...p.top.map((g, i) => {
      const li = document.createElement("li");
      li.dataset.classIndex = String(g.class_index);
      li.dataset.probability = String(g.probability);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "guess";
      button.setAttribute("aria-pressed", String(i === state.selected));
      button.title = hasLocation(g) ? "Show on the map" : "No coordinates known";

      const name = document.createElement("span");
      name.className = "guess-name";
      name.textContent = g.name;
      const place = placeOf(g);
      if (place) {
        const small = document.createElement("span");
        small.className = "guess-place";
        small.textContent = ` · ${place}`;
        name.append(small);
      }
      const pct = document.createElement("span");
      pct.className = "guess-pct";
      pct.textContent = formatPercent(g.probability);
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.className = "bar-fill";
      fill.style.width = `${(g.probability * 100).toFixed(2)}%`;
      bar.append(fill);
      button.append(name, pct, bar);
      button.addEventListener("click", () => {
        state.selected = i;
        renderSelection();
      });
      li.append(button);
      return li;
    }),
  );
}

function renderNeighbours() {
  // The training photos the answer rests on: thumbnails made by the server from decoded pixels.
  const shown = (state.prediction.neighbours || []).slice(0, 3);
  el.neighboursPanel.hidden = shown.length === 0;
  el.neighbours.replaceChildren(
    ...shown.map((n) => {
      const li = document.createElement("li");
      li.className = "neighbour";
      li.dataset.index = String(n.index);
      const img = document.createElement("img");
      img.src = `/api/v1/neighbours/${encodeURIComponent(n.index)}.jpg`;
      img.alt = `${n.name} (training photo)`;
      img.loading = "lazy";
      img.addEventListener("error", () => img.remove()); // training photos not at hand on this server
      const caption = document.createElement("span");
      caption.className = "small";
      caption.textContent = `${n.name} · ${n.similarity.toFixed(2)}`;
      li.append(img, caption);
      return li;
    }),
  );
}

function renderSelection() {
  const p = state.prediction;
  const g = state.selected >= 0 ? p.top[state.selected] : null;
  el.topk.querySelectorAll(".guess").forEach((b, i) => b.setAttribute("aria-pressed", String(i === state.selected)));

  if (!g) {
    el.kicker.textContent = "Unknown";
    el.name.textContent = "Not recognised";
    el.place.textContent = "";
    el.coords.textContent = "";
    el.osm.hidden = true;
    hideMarker();
    return;
  }
  if (p.unknown) el.kicker.textContent = `Closest guess #${g.rank} · ${formatPercent(g.probability)}`;
  else if (state.selected === 0) el.kicker.textContent = `Most likely · ${formatPercent(g.probability)}`;
  else el.kicker.textContent = `Guess #${g.rank} · ${formatPercent(g.probability)}`;
  el.name.textContent = g.name;
  el.place.textContent = placeOf(g);
  if (hasLocation(g)) {
    el.coords.textContent = formatCoords(g.latitude, g.longitude);
    el.osm.href = osmUrl(g.latitude, g.longitude);
    el.osm.hidden = false;
    showMarker(g);
  } else {
    el.coords.textContent = "No coordinates known for this landmark.";
    el.osm.hidden = true;
    hideMarker();
  }
}

// ---- map -------------------------------------------------------------------------------------------

function place(node, lat, lon) {
  const { x, y } = project(lat, lon);
  node.style.left = `${(x * 100).toFixed(4)}%`;
  node.style.top = `${(y * 100).toFixed(4)}%`;
  return { x, y };
}

function showMarker(g) {
  const { x, y } = place(el.marker, g.latitude, g.longitude);
  el.marker.dataset.lat = String(g.latitude);
  el.marker.dataset.lon = String(g.longitude);
  el.marker.title = `${g.name} (${formatCoords(g.latitude, g.longitude)})`;
  el.marker.hidden = false;
  place(el.markerLabel, g.latitude, g.longitude);
  el.markerLabel.textContent = g.name;
  // Keep the label inside the map near its edges.
  const dx = x < 0.12 ? "0%" : x > 0.88 ? "-100%" : "-50%";
  const dy = y < 0.15 ? "14px" : "calc(-100% - 14px)";
  el.markerLabel.style.transform = `translate(${dx}, ${dy})`;
  el.markerLabel.hidden = false;
}

function hideMarker() {
  el.marker.hidden = true;
  el.markerLabel.hidden = true;
}

async function loadCatalog() {
  const response = await fetch("/api/v1/landmarks");
  if (!response.ok) return;
  const data = await response.json();
  el.dots.replaceChildren(
    ...data.landmarks.filter(hasLocation).map((lm) => {
      const dot = document.createElement("span");
      dot.className = lm.source === "gallery" ? "catalog-dot gallery-dot" : "catalog-dot";
      dot.title = lm.source === "gallery" ? `${lm.name} (added)` : lm.name;
      place(dot, lm.latitude, lm.longitude);
      return dot;
    }),
  );
  // Landmarks added to the gallery (landmarks gallery add), listed beside the built-in ones.
  const added = data.landmarks.filter((lm) => lm.source === "gallery");
  el.galleryPanel.hidden = added.length === 0;
  el.galleryList.replaceChildren(
    ...added.map((lm) => {
      const li = document.createElement("li");
      li.textContent = [lm.name, placeOf(lm)].filter(Boolean).join(" · ");
      return li;
    }),
  );
  el.galleryCount.textContent = `${data.count - added.length} built in, ${added.length} added`;
}

async function loadInfo() {
  try {
    const response = await fetch("/api/v1/info");
    if (!response.ok) throw new Error(String(response.status));
    state.info = await response.json();
    el.kInput.max = String(state.info.max_k);
    el.kInput.value = String(state.info.default_k);
    el.limits.textContent = `JPEG, PNG, WebP, HEIC and more, up to ${formatSize(state.info.max_upload_bytes)}`;
    el.modelInfo.textContent = `landmarks ${state.info.version} · ${state.info.classes} landmarks known`;
  } catch {
    el.modelInfo.textContent = "The server is not answering.";
  }
}

// ---- input: pick, drag and drop, paste -------------------------------------------------------------

el.input.addEventListener("change", () => {
  choose(el.input.files[0]);
  el.input.value = ""; // choosing the same file again still fires `change`
});

el.dropzone.addEventListener("click", (event) => {
  if (event.target.closest("label")) return; // the label opens the picker itself
  el.input.click();
});
el.dropzone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    el.input.click();
  }
});

// Anywhere on the page: a photo dropped outside the zone must not make the browser navigate away.
for (const type of ["dragenter", "dragover"]) {
  document.addEventListener(type, (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    el.dropzone.classList.add("dragging");
  });
}
document.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) el.dropzone.classList.remove("dragging");
});
document.addEventListener("drop", (event) => {
  event.preventDefault();
  el.dropzone.classList.remove("dragging");
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) choose(file);
});

document.addEventListener("paste", (event) => {
  const items = event.clipboardData ? Array.from(event.clipboardData.items) : [];
  const item = items.find((it) => it.kind === "file");
  if (!item) return;
  event.preventDefault();
  choose(item.getAsFile());
});

el.kInput.addEventListener("input", () => {
  clearTimeout(state.kTimer);
  state.kTimer = setTimeout(predict, 250);
});

await Promise.all([loadInfo(), loadCatalog()]);
document.body.dataset.ready = "true";
