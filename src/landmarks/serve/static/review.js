// The review view at /review: planned locations as a grid and on a map; accept, reject, then write.
// Plain ES module, no build step. Every library request carries the token (when the server has one) as
// an Authorization header, never a cookie; photos are fetched that way too and shown as blob: URLs.

import { project } from "./geo.js";

const $ = (id) => document.getElementById(id);
const PAGE = 200;

const el = {
  root: $("library-root"),
  tokenForm: $("token-form"),
  tokenInput: $("token-input"),
  statusFilter: $("status-filter"),
  kindFilter: $("kind-filter"),
  order: $("order"),
  minConfidence: $("min-confidence"),
  acceptAbove: $("accept-above"),
  apply: $("apply"),
  undoLast: $("undo-last"),
  counts: $("counts"),
  status: $("status"),
  error: $("error"),
  applyResult: $("apply-result"),
  proposalDots: $("proposal-dots"),
  locatedDots: $("located-dots"),
  locatedCount: $("located-count"),
  grid: $("proposals"),
  empty: $("empty"),
  more: $("more"),
  viewer: $("viewer"),
  viewerImage: $("viewer-image"),
  viewerCaption: $("viewer-caption"),
};

const state = {
  token: null,
  proposals: [],
  total: 0,
  counts: {},
  canApply: false,
  canUndo: false,
  lastWritten: [],
  thumbs: new Map(),
};

// ---- token and requests -----------------------------------------------------------------------------

function takeToken() {
  // `landmarks serve` prints /review#token=...: the fragment never reaches the server or its logs.
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem("landmarks-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("landmarks-token");
}

class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, body, cache = "no-store") {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const init = { headers, cache };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    el.tokenForm.hidden = false;
    throw new ApiFailure(401, "This view needs its token.");
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiFailure(response.status, (data && data.detail) || `The server answered ${response.status}`);
  }
  return response;
}

const MAX_THUMBS = 2000; // blob: URLs kept for re-rendering (about 15 KB each)

function photoUrl(photoId, side = 240) {
  const key = `${photoId}/${side}`;
  let pending = state.thumbs.get(key);
  if (pending) {
    state.thumbs.delete(key); // most recently used last
  } else {
    pending = api(`/api/v1/library/photos/${photoId}.jpg?side=${side}`, undefined, "default")
      .then((r) => r.blob())
      .then((b) => URL.createObjectURL(b));
    pending.catch(() => state.thumbs.delete(key));
  }
  state.thumbs.set(key, pending);
  if (state.thumbs.size > MAX_THUMBS) {
    const [oldest, url] = state.thumbs.entries().next().value;
    state.thumbs.delete(oldest);
    url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  }
  return pending;
}

function loadPhoto(img) {
  photoUrl(Number(img.dataset.photo), Number(img.dataset.side))
    .then((url) => { img.src = url; })
    .catch((err) => { img.alt = `no picture: ${err.message}`; img.classList.add("broken"); });
}

// Thumbnails are fetched when they come near the screen: a grid of hundreds asks for what is seen.
const nearScreen = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      nearScreen.unobserve(entry.target);
      loadPhoto(entry.target);
    }
  },
  { rootMargin: "600px" },
);

function showPhoto(img, photoId, side, eager = false) {
  img.dataset.photo = String(photoId);
  img.dataset.side = String(side);
  if (eager) loadPhoto(img);
  else nearScreen.observe(img);
}

// ---- formatting ----------------------------------------------------------------------------------------

const pct = (p) => (p === null || p === undefined ? "no confidence" : `${(p * 100).toFixed(1)}%`);

function coords(lat, lon) {
  return `${Math.abs(lat).toFixed(4)}° ${lat >= 0 ? "N" : "S"}, ${Math.abs(lon).toFixed(4)}° ${lon >= 0 ? "E" : "W"}`;
}

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

function place(n, lat, lon) {
  const { x, y } = project(lat, lon);
  n.dataset.lat = String(lat);
  n.dataset.lon = String(lon);
  n.style.left = `${(x * 100).toFixed(4)}%`;
  n.style.top = `${(y * 100).toFixed(4)}%`;
}

function setStatus(text, busy = false) {
  el.status.textContent = text;
  el.status.classList.toggle("busy", busy);
}

function showError(err) {
  el.error.textContent = err instanceof TypeError ? "The server could not be reached." : err.message;
  el.error.hidden = false;
}

// ---- the grid ----------------------------------------------------------------------------------------

function card(p) {
  const li = node("li", `proposal kind-${p.kind} status-${p.status}`);
  li.id = `proposal-${p.id}`;
  li.dataset.id = String(p.id);
  li.dataset.kind = p.kind;
  li.dataset.status = p.status;

  const box = node("div", "thumb-box");
  const img = node("img", "thumb");
  img.alt = p.photo.path;
  showPhoto(img, p.photo.photo_id, 240);
  box.append(img);
  box.addEventListener("click", () => openViewer(p.photo));

  const badges = node("div", "badges");
  badges.append(node("span", `badge kind-${p.kind}`, p.kind), node("span", `badge status-${p.status}`, p.status));
  if (p.changed) badges.append(node("span", "badge warn", "photo changed since planned"));

  const title = node("p", "title");
  const name = p.landmark || (p.anchor_landmark ? `Near ${p.anchor_landmark}` : "Estimated place");
  const sure = p.confidence === null && p.kind === "estimate" ? "estimate" : pct(p.confidence);
  title.append(node("span", "landmark", name), node("span", "confidence", sure));
  const where = node("p", "where", [p.city, p.country].filter(Boolean).join(", "));
  const at = node("span", "small", ` · ${coords(p.latitude, p.longitude)}`);
  if (p.radius_km !== null) at.textContent += ` ± ${p.radius_km < 1 ? p.radius_km.toFixed(2) : p.radius_km.toFixed(1)} km`;
  where.append(at);

  li.append(box, node("p", "path", p.photo.path), badges, title, where);
  if (p.kind === "estimate" && p.anchor) li.append(anchor(p));
  if (p.top.length > 1) {
    const guesses = node("ol", "guesses");
    guesses.append(...p.top.slice(0, 3).map((g) => node("li", "", `${g.name} ${pct(g.probability)}`)));
    li.append(guesses);
  }
  if (p.neighbours.length) li.append(neighbours(p));
  li.append(decideButtons(p));
  return li;
}

function anchorLink(photo) {
  const link = node("button", "anchor-link", photo.path);
  link.type = "button";
  link.dataset.photo = String(photo.photo_id);
  link.title = "Show the photo this estimate comes from";
  link.addEventListener("click", () => openViewer(photo));
  return link;
}

function anchor(p) {
  // An estimate rests on the photo(s) of a recognised landmark taken just before or after: show them.
  const box = node("div", "anchor");
  const anchors = [p.anchor, p.anchor2].filter(Boolean);
  for (const photo of anchors) {
    const img = node("img", "anchor-thumb");
    img.alt = `anchor photo ${photo.path}`;
    showPhoto(img, photo.photo_id, 240);
    box.append(img);
  }
  const text = node("div", "");
  text.append(node("span", "small", "from the photo of a recognised landmark "));
  anchors.forEach((photo, i) => text.append(...(i ? [node("span", "small", " and "), anchorLink(photo)] : [anchorLink(photo)])));
  if (p.reason) text.append(node("div", "small", p.reason));
  if (p.caution) text.append(node("div", "small caution", `Check: ${p.caution}.`));
  box.append(text);
  return box;
}

function neighbours(p) {
  // The training photos the answer rests on, drawn by the predictor from decoded pixels.
  const list = node("ul", "neighbours");
  list.append(
    ...p.neighbours.slice(0, 3).map((n) => {
      const li = node("li", "neighbour");
      li.dataset.index = String(n.index);
      const img = node("img");
      img.src = `/api/v1/neighbours/${encodeURIComponent(n.index)}.jpg`;
      img.alt = `${n.name} (training photo)`;
      img.loading = "lazy";
      img.addEventListener("error", () => img.remove());
      const sim = n.similarity === null ? "" : ` · ${n.similarity.toFixed(2)}`;
      li.append(img, node("span", "small", `${n.name}${sim}`));
      return li;
    }),
  );
  const box = node("div", "neighbours-panel");
  box.append(node("h3", "small", "Closest training photos"), list);
  return box;
}

function decideButtons(p) {
  const box = node("div", "decide");
  if (p.status === "applied" && state.canUndo) {
    const b = node("button", "undo", "Undo the write");
    b.type = "button";
    b.title = "Put this photo's location tags back as they were";
    b.addEventListener("click", () => startJob("undo", [p.id]));
    box.append(b);
    return box;
  }
  const open = ["proposed", "accepted", "rejected"].includes(p.status);
  for (const [cls, label, status] of [["accept", "Accept", "accepted"], ["reject", "Reject", "rejected"]]) {
    const b = node("button", cls, label);
    b.type = "button";
    b.disabled = !open;
    b.setAttribute("aria-pressed", String(p.status === status));
    // Pressing the chosen decision again takes it back.
    b.addEventListener("click", () => decide([p.id], p.status === status ? "proposed" : status));
    box.append(b);
  }
  return box;
}

function render() {
  el.grid.replaceChildren(...state.proposals.map(card));
  el.empty.hidden = state.proposals.length > 0;
  el.more.hidden = state.proposals.length >= state.total;
  renderCounts();
  renderProposalMap();
}

function renderCounts() {
  const c = state.counts;
  el.counts.textContent =
    `${c.proposed || 0} undecided · ${c.accepted || 0} accepted · ${c.rejected || 0} rejected · ` +
    `${c.applied || 0} written · showing ${state.proposals.length} of ${state.total}`;
  el.apply.disabled = !state.canApply || !c.accepted;
  el.apply.textContent = c.accepted ? `Write ${c.accepted} accepted` : "Write accepted";
}

function renderProposalMap() {
  el.proposalDots.replaceChildren(
    ...state.proposals.map((p) => {
      const dot = node("button", `dot kind-${p.kind} status-${p.status}`);
      dot.type = "button";
      dot.dataset.id = String(p.id);
      dot.title = `${p.landmark || "estimate"} · ${p.photo.path}`;
      place(dot, p.latitude, p.longitude);
      dot.addEventListener("click", () => {
        const target = $(`proposal-${p.id}`);
        target.scrollIntoView({ block: "center" });
        target.classList.add("highlight");
        setTimeout(() => target.classList.remove("highlight"), 1500);
      });
      return dot;
    }),
  );
  applyZoom($("proposal-map"));
}

// ---- zoom: fit a map to its dots (the projection is linear, so one scale and shift fit any box) -------

const MAX_ZOOM = 60;

export function fitView(points) {
  // points: [{x, y}] as fractions of the map; the scale and shift that put their box in the middle.
  if (!points.length) return { zoom: 1, tx: 0, ty: 0 };
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const zoom = Math.max(1, Math.min(MAX_ZOOM, 0.8 / Math.max(x1 - x0, 1e-9), 0.8 / Math.max(y1 - y0, 1e-9)));
  return { zoom, tx: 0.5 - ((x0 + x1) / 2) * zoom, ty: 0.5 - ((y0 + y1) / 2) * zoom };
}

function applyZoom(map) {
  const layer = map.querySelector(".map-layer");
  const button = map.querySelector(".zoom");
  const on = button.getAttribute("aria-pressed") === "true";
  const points = [...map.querySelectorAll(".dot")].map((d) => project(Number(d.dataset.lat), Number(d.dataset.lon)));
  const { zoom, tx, ty } = on ? fitView(points) : { zoom: 1, tx: 0, ty: 0 };
  layer.style.transform = `translate(${(tx * 100).toFixed(4)}%, ${(ty * 100).toFixed(4)}%) scale(${zoom})`;
  layer.style.setProperty("--zoom", String(zoom));
  button.textContent = on ? "Whole world" : "Zoom to these";
}

for (const button of document.querySelectorAll(".zoom")) {
  button.addEventListener("click", () => {
    button.setAttribute("aria-pressed", String(button.getAttribute("aria-pressed") !== "true"));
    applyZoom($(button.dataset.map));
  });
}

function renderLocated(data) {
  el.locatedCount.textContent = `${data.total} located, ${data.unlocated} not yet`;
  el.locatedDots.replaceChildren(
    ...data.photos.map((p) => {
      const dot = node("span", `dot by-${p.located_by}`);
      dot.dataset.photo = String(p.photo_id);
      dot.title = `${p.path} (${p.located_by === "gps" ? "own GPS" : `written: ${p.landmark || p.located_by}`})`;
      place(dot, p.latitude, p.longitude);
      return dot;
    }),
  );
  applyZoom($("located-map"));
}

function openViewer(photo) {
  el.viewerCaption.textContent = photo.path;
  el.viewerImage.removeAttribute("src");
  el.viewerImage.alt = photo.path;
  showPhoto(el.viewerImage, photo.photo_id, 1024, true);
  el.viewer.showModal();
}

// ---- loading and deciding ---------------------------------------------------------------------------

function query(offset, limit = PAGE) {
  const params = new URLSearchParams({
    status: el.statusFilter.value,
    order: el.order.value,
    offset: String(offset),
    limit: String(limit),
  });
  if (el.kindFilter.value) params.set("kind", el.kindFilter.value);
  return `/api/v1/library/proposals?${params}`;
}

async function loadProposals(keep = 0) {
  // After a change, the cards already shown stay shown (the list may have grown by "Show more").
  const data = await (await api(query(0, Math.max(PAGE, keep)))).json();
  state.proposals = data.proposals;
  state.total = data.total;
  state.counts = data.counts;
  render();
}

async function loadMore() {
  const data = await (await api(query(state.proposals.length))).json();
  state.proposals = state.proposals.concat(data.proposals);
  state.total = data.total;
  state.counts = data.counts;
  render();
}

async function loadLocated() {
  renderLocated(await (await api("/api/v1/library/located")).json());
}

async function run(label, work) {
  // `work` may answer a line to leave in the status bar.
  el.error.hidden = true;
  setStatus(label, true);
  try {
    setStatus((await work()) || "");
  } catch (err) {
    setStatus("");
    showError(err);
  }
}

function decide(ids, status) {
  return run("Saving…", async () => {
    await api("/api/v1/library/proposals/decide", { ids, status });
    await loadProposals(state.proposals.length);
  });
}

el.acceptAbove.addEventListener("click", () => {
  const min = Number.parseFloat(el.minConfidence.value);
  if (!Number.isFinite(min) || min < 0 || min > 100) {
    showError(new Error("The confidence is a percentage from 0 to 100."));
    return;
  }
  const kind = el.kindFilter.value || null;
  run("Accepting…", async () => {
    const data = await (await api("/api/v1/library/proposals/accept-above", { min_confidence: min / 100, kind })).json();
    await loadProposals(state.proposals.length);
    return `Accepted ${data.changed.length} at or above ${min}%.`;
  });
});

const VERB = { apply: ["Writing the accepted locations into the photos", "Wrote"], undo: ["Taking the writes back", "Took back"] };

async function waitForJob(job) {
  // The job runs on the server; its progress is polled, so a long write keeps the page informed.
  while (job.running) {
    setStatus(`${VERB[job.action][0]}… ${job.done} of ${job.total}`, true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    job = await (await api("/api/v1/library/job")).json();
  }
  return job;
}

function showJob(job) {
  const refused = Object.entries(job.refused);
  const n = job.succeeded.length;
  el.applyResult.replaceChildren(node("strong", "", `${VERB[job.action][1]} ${n} photo${n === 1 ? "" : "s"}.`));
  if (job.error) el.applyResult.append(node("span", "", ` Stopped early: ${job.error}.`));
  if (refused.length) {
    const list = node("ul", "");
    list.append(...refused.map(([id, why]) => node("li", "", `proposal ${id}: ${why}`)));
    el.applyResult.append(node("span", "", ` ${refused.length} not done:`), list);
  }
  el.applyResult.dataset.action = job.action;
  el.applyResult.hidden = false;
  // The last write can be taken back from here (each written card has its own undo too).
  state.lastWritten = job.action === "apply" ? job.succeeded : [];
  el.undoLast.hidden = !(state.canUndo && state.lastWritten.length);
}

async function followJob(job) {
  el.apply.disabled = true;
  showJob(await waitForJob(job));
  await Promise.all([loadProposals(state.proposals.length), loadLocated()]);
}

function startJob(action, ids) {
  return run(`${VERB[action][0]}…`, async () => {
    el.apply.disabled = true;
    el.applyResult.hidden = true;
    await followJob(await (await api(`/api/v1/library/${action}`, ids ? { ids } : {})).json());
  });
}

el.apply.addEventListener("click", () => startJob("apply", null));
el.undoLast.addEventListener("click", () => startJob("undo", state.lastWritten));

el.more.addEventListener("click", () => run("Loading…", loadMore));
for (const select of [el.statusFilter, el.kindFilter, el.order]) {
  select.addEventListener("change", () => run("Loading…", () => loadProposals()));
}

el.tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = el.tokenInput.value.trim();
  sessionStorage.setItem("landmarks-token", state.token);
  el.tokenForm.hidden = true;
  start();
});

async function start() {
  let job = null;
  await run("Loading…", async () => {
    const info = await (await api("/api/v1/library")).json();
    state.canApply = info.can_apply;
    state.canUndo = info.can_undo;
    el.root.textContent = `Library: ${info.root}`;
    await Promise.all([loadProposals(), loadLocated()]);
    job = await (await api("/api/v1/library/job")).json();
  });
  document.body.dataset.ready = "true";
  // A write still running (the page was reloaded, or it was started in another tab): follow it.
  if (job && job.running) run("…", () => followJob(job));
}

state.token = takeToken();
start();
