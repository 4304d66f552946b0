// impasto browser UI: plain JavaScript, no framework, no network beyond this server.
"use strict";

const $ = (sel) => document.querySelector(sel);
const HISTORY_KEY = "impasto.jobs";
const KIND_KEY = "impasto.kind";

// The few controls shown up front for each kind (the rest are under "More settings"); every default
// comes from the server (GET /v1/kinds), which reads it from the pipeline's config.
const PRIMARY = {
  stylize: ["size", "iters", "style_weight", "preserve_color", "faces"],
  fast: ["size", "strength", "faces"],
  texture: ["width", "height", "iters", "tileable"],
  dream: ["size", "octaves", "steps", "preserve_color"],
};
const LABELS = {
  size: "Size (longest side, px)", iters: "Iterations", style_weight: "Style weight",
  preserve_color: "Preserve colour", strength: "Style strength", width: "Width (px)", height: "Height (px)",
  octaves: "Octaves", steps: "Steps per octave", tileable: "Tileable",
  faces: "Protect faces", face_style: "Style kept on faces (0–1)",
};
// Choices shown as a checkbox: checked sends the first value, unchecked the second.
const TOGGLES = { faces: ["auto", "off"] };
// Several paintings picked: one weight each (the kind's list parameter of that name), shown under the gallery.
const BLEND = "style_blend_weights";

const ui = {
  kinds: {}, kind: null, limits: {}, gallery: [], uploads: [], selected: new Set(), weights: {},
  content: null, job: null, source: null, refineFrom: {},
};

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) { location.href = "/"; throw new Error("API key required"); }
  let body = null;
  if ((response.headers.get("content-type") || "").includes("json")) body = await response.json();
  return { ok: response.ok, status: response.status, body };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60), s = seconds % 60;
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function ago(timestamp) {
  const s = Date.now() / 1000 - timestamp;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(timestamp * 1000).toLocaleDateString();
}

// -- the form ------------------------------------------------------------------------------------
function renderKinds() {
  const box = $("#kinds");
  const remembered = localStorage.getItem(KIND_KEY);
  for (const kind of Object.values(ui.kinds)) {
    const input = el("input", { type: "radio", name: "kind", value: kind.name });
    input.addEventListener("change", () => selectKind(kind.name));
    box.append(el("label", { title: kind.title }, input, document.createTextNode(kind.title)));
  }
  const first = ui.kinds[remembered] ? remembered : Object.keys(ui.kinds)[0];
  if (first) selectKind(first);
}

function selectKind(name) {
  ui.kind = ui.kinds[name];
  localStorage.setItem(KIND_KEY, name);
  for (const input of document.querySelectorAll("#kinds input")) input.checked = input.value === name;
  const files = Object.fromEntries(ui.kind.files.map((f) => [f.name, f]));
  $("#content-section").hidden = !files.content;
  $("#style-section").hidden = !files.style;
  $("#fast-section").hidden = name !== "fast";
  if (files.content) $("#content-label").textContent = files.content.what === "image" ? "Image" : "Photo";
  if (files.style) {
    $("#style-label").textContent = files.style.repeatable ? (files.style.required ? "Style" : "Painting (optional)") : "Texture";
    $("#style-hint").textContent = !files.style.required
      ? "Pick any painting (several are blended) or upload your own: painted in one pass. Pick none to use the network's styles below."
      : files.style.repeatable
      ? "Pick a painting (several are blended) or upload your own."
      : "Pick one image whose texture to synthesise, or upload your own.";
    if (!files.style.repeatable && ui.selected.size > 1) {
      const keep = [...ui.selected][0];
      ui.selected = new Set([keep]);
    }
    renderGallery();
  }
  renderControls();
  clearErrors();
}

function control(param) {
  const label = LABELS[param.name] || param.name.replace(/_/g, " ");
  const title = param.doc || "";
  let input;
  if (TOGGLES[param.name]) {
    const [on, off] = TOGGLES[param.name];
    input = el("input", { type: "checkbox", name: param.name, "data-on": on, "data-off": off });
    input.checked = param.default === on;
    input.dataset.default = String(param.default);
    return el("label", { class: "check", title }, input, document.createTextNode(label));
  }
  if (param.type === "boolean") {
    input = el("input", { type: "checkbox", name: param.name });
    input.checked = !!param.default;
    input.dataset.default = String(!!param.default);
    return el("label", { class: "check", title }, input, document.createTextNode(label));
  }
  if (param.enum) {
    input = el("select", { name: param.name });
    const options = param.nullable ? ["", ...param.enum] : param.enum;
    for (const option of options) input.append(el("option", { value: option, text: option || "default" }));
    input.value = param.default === null ? "" : String(param.default);
  } else {
    const numeric = param.type === "integer" || param.type === "number";
    input = el("input", {
      type: numeric ? "number" : "text", name: param.name,
      step: param.type === "integer" ? "1" : "any",
      placeholder: param.nullable ? "default" : "",
    });
    if (param.name === "size" || param.name === "width" || param.name === "height") input.max = ui.limits.max_size;
    if (param.name === "iters" || param.name === "steps") input.max = ui.limits.max_iters;
    const value = Array.isArray(param.default) ? param.default.join(",") : param.default;
    input.value = value === null || value === undefined ? "" : String(value);
  }
  input.dataset.default = input.value;
  return el("label", { title }, document.createTextNode(label), input);
}

function renderControls() {
  const primary = PRIMARY[ui.kind.name] || [];
  const main = $("#controls"), more = $("#advanced");
  main.replaceChildren();
  more.replaceChildren();
  const params = ui.kind.params.filter((p) => p.name !== BLEND
    && !(ui.kind.name === "fast" && (p.name === "model" || p.name === "style_index")));
  for (const name of primary) {
    const p = params.find((q) => q.name === name);
    if (p) main.append(control(p));
  }
  for (const p of params) if (!primary.includes(p.name)) more.append(control(p));
  $("#more").hidden = !more.children.length;
}

function renderGallery() {
  const box = $("#gallery");
  box.replaceChildren();
  const item = (key, src, title) => {
    const b = el("button", {
      type: "button", class: "gallery-item", role: "option", title, "data-name": key,
      "aria-selected": String(ui.selected.has(key)),
      onclick: () => toggleStyle(key),
    }, el("img", { src, alt: title, loading: "lazy" }), el("span", { text: title }));
    box.append(b);
  };
  ui.uploads.forEach((u, i) => item(`upload:${i}`, u.url, u.file.name));
  for (const g of ui.gallery) item(`gallery:${g.name}`, g.thumbnail, g.title);
  box.append(el("button", { type: "button", class: "gallery-item upload", onclick: () => $("#style-input").click() },
    document.createTextNode("+ upload")));
  renderBlend();
}

// The server takes uploaded paintings first, then gallery ones; weights go in that same order.
function orderedStyles(keys = ui.selected) {
  const all = [...keys];
  return [...all.filter((k) => k.startsWith("upload:")), ...all.filter((k) => !k.startsWith("upload:"))];
}

function styleTitle(key) {
  const [source, name] = key.split(/:(.*)/s);
  if (source === "upload") return ui.uploads[Number(name)].file.name;
  return (ui.gallery.find((g) => g.name === name) || { title: name }).title;
}

function renderBlend() {
  const box = $("#blend");
  box.replaceChildren();
  const blends = ui.kind && ui.kind.params.some((p) => p.name === BLEND);
  box.hidden = !blends || ui.selected.size < 2;
  if (box.hidden) return;
  box.append(el("span", { class: "hint", text: "Blend weights (normalised):" }));
  for (const key of orderedStyles()) {
    const input = el("input", { type: "number", min: "0", step: "any", value: String(ui.weights[key] ?? 1), "data-key": key });
    input.addEventListener("input", () => { ui.weights[key] = input.value; });
    box.append(el("label", { title: styleTitle(key) }, document.createTextNode(styleTitle(key)), input));
  }
}

function blendWeights(keys) {
  if (keys.length < 2 || !ui.kind.params.some((p) => p.name === BLEND)) return null;
  const weights = keys.map((k) => String(ui.weights[k] ?? 1).trim() || "1");
  return weights.every((w) => Number(w) === 1) ? null : weights.join(",");
}

function toggleStyle(key) {
  const repeatable = (ui.kind.files.find((f) => f.name === "style") || {}).repeatable;
  if (ui.selected.has(key)) ui.selected.delete(key);
  else {
    if (!repeatable) ui.selected.clear();
    ui.selected.add(key);
  }
  renderGallery();
}

function setContent(file) {
  if (!file) return;
  if (!file.type.startsWith("image/") && file.type !== "") {
    showFieldError("content", `${file.name} is not an image`);
    return;
  }
  ui.content = file;
  const img = $("#content-preview");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  $("#drop-hint").textContent = `${file.name} — drop another or click to change`;
  showFieldError("content", "");
}

function wireInputs() {
  const zone = $("#dropzone");
  $("#content-input").addEventListener("change", (e) => setContent(e.target.files[0]));
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#content-input").click(); } });
  for (const type of ["dragenter", "dragover"]) zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); setContent(e.dataTransfer.files[0]); });
  $("#style-input").addEventListener("change", (e) => {
    for (const file of e.target.files) {
      ui.uploads.push({ file, url: URL.createObjectURL(file) });
      const key = `upload:${ui.uploads.length - 1}`;
      const repeatable = (ui.kind.files.find((f) => f.name === "style") || {}).repeatable;
      if (!repeatable) ui.selected.clear();
      ui.selected.add(key);
    }
    e.target.value = "";
    renderGallery();
  });
  $("#fast-model").addEventListener("change", renderFastStyles);
  $("#job-form").addEventListener("submit", submit);
  $("#cancel").addEventListener("click", cancel);
  $("#refine").addEventListener("click", refine);
  $("#clear-history").addEventListener("click", () => { localStorage.removeItem(HISTORY_KEY); renderHistory(); });
}

function renderFast(models) {
  ui.fastModels = models;
  const select = $("#fast-model");
  select.replaceChildren(...models.map((m) => el("option", { value: m.name, text: m.name })));
  renderFastStyles();
}

function renderFastStyles() {
  const model = (ui.fastModels || []).find((m) => m.name === $("#fast-model").value);
  const select = $("#fast-style");
  select.replaceChildren(...(model ? model.styles : []).map((s) => el("option", { value: String(s.index), text: s.name })));
}

function clearErrors() {
  for (const p of document.querySelectorAll(".field-error")) p.textContent = "";
  for (const i of document.querySelectorAll(".invalid")) i.classList.remove("invalid");
  $("#form-error").textContent = "";
}

function showFieldError(field, message) {
  const slot = document.querySelector(`.field-error[data-for="${field}"]`);
  if (slot) { slot.textContent = message; return true; }
  const input = document.querySelector(`#job-form [name="${field}"]`);
  if (input) {
    input.classList.add("invalid");
    if (input.closest("#advanced")) $("#more").open = true;
    input.focus();
  }
  return false;
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const kind = ui.kind;
  const data = new FormData();
  data.append("kind", kind.name);
  const needs = Object.fromEntries(kind.files.map((f) => [f.name, f]));
  if (needs.content) {
    if (!ui.content) { showFieldError("content", "Choose a photo first."); return; }
    data.append("content", ui.content, ui.content.name);
  }
  if (needs.style) {
    if (!ui.selected.size && needs.style.required) { showFieldError("style", "Pick a style (or upload one)."); return; }
    appendStyles(data);
  }
  // A fast job with a painting can be refined by Gatys from its result ("Refine" in the job panel).
  const refinable = kind.name === "fast" && ui.selected.size
    ? { content: ui.content, styles: orderedStyles(), weights: blendWeights(orderedStyles()) } : null;
  if (kind.name === "fast" && !ui.selected.size) {
    data.append("model", $("#fast-model").value);
    data.append("style_index", $("#fast-style").value);
  }
  // Only what the user changed: the server's config holds the defaults.
  for (const input of document.querySelectorAll("#controls [name], #advanced [name]")) {
    const value = input.type !== "checkbox" ? input.value.trim()
      : input.dataset.on ? (input.checked ? input.dataset.on : input.dataset.off) : String(input.checked);
    if (value !== input.dataset.default) data.append(input.name, value);
  }
  await send(data, refinable);
}

function appendStyles(data, keys = ui.selected, weights = undefined) {
  const ordered = orderedStyles(keys);
  for (const key of ordered) {
    const [source, name] = key.split(/:(.*)/s);
    if (source === "upload") { const u = ui.uploads[Number(name)]; data.append("style", u.file, u.file.name); }
    else data.append("style_gallery", name);
  }
  const blend = weights === undefined ? blendWeights(ordered) : weights;
  if (blend) data.append(BLEND, blend);
}

// "Refine": a Gatys stylize job on the same photo and paintings, starting from the fast result.
async function refine() {
  const job = ui.job, from = ui.refineFrom[job.id];
  if (!job || !from) return;
  const data = new FormData();
  data.append("kind", "stylize");
  data.append("content", from.content, from.content.name);
  appendStyles(data, from.styles, from.weights);
  if (job.params.size) data.append("size", String(job.params.size));
  const blob = await (await fetch(job.urls.result, { credentials: "same-origin" })).blob();
  data.append("init", blob, "fast.png");
  await send(data, null);
}

async function send(data, refinable) {
  const button = $("#submit");
  button.disabled = true;
  button.textContent = "Uploading…";
  try {
    const r = await api("/v1/jobs", { method: "POST", body: data });
    if (!r.ok) {
      const body = r.body || {};
      const message = body.detail || `the server answered ${r.status}`;
      const placed = body.field && showFieldError(body.field, message);
      if (!placed) $("#form-error").textContent = message;
      return;
    }
    remember(r.body.id);
    if (refinable) ui.refineFrom[r.body.id] = refinable;
    showJob(r.body);
    renderHistory();
    pollHealth();
  } catch (err) {
    $("#form-error").textContent = `Could not reach the server: ${err.message}`;
  } finally {
    button.disabled = false;
    button.textContent = "Paint";
  }
}

// -- the job panel ----------------------------------------------------------------------------------
function showJob(job) {
  if (ui.source) { ui.source.close(); ui.source = null; }
  ui.job = job;
  $("#job-panel").hidden = false;
  $("#preview-img").hidden = true;
  $("#preview-img").removeAttribute("src");
  $("#canvas-caption").textContent = "waiting for the first preview…";
  renderJob(job);
  if (job.has_preview && !job.has_result) setPreview(`${job.urls.preview}?v=${Date.now()}`);
  if (!["succeeded", "failed", "cancelled"].includes(job.state)) follow(job);
  for (const li of document.querySelectorAll("#history li")) li.classList.toggle("current", li.dataset.id === job.id);
}

function follow(job) {
  const source = new EventSource(job.urls.events);
  ui.source = source;
  source.addEventListener("state", (e) => { renderJob(JSON.parse(e.data)); renderHistory(); });
  source.addEventListener("progress", (e) => renderProgress(JSON.parse(e.data)));
  source.addEventListener("preview", (e) => setPreview(JSON.parse(e.data).url));
  source.addEventListener("end", (e) => {
    source.close();
    if (ui.source === source) ui.source = null;
    renderJob(JSON.parse(e.data));
    renderHistory();
    pollHealth();
  });
}

function setPreview(url) {
  const img = $("#preview-img");
  const next = new Image();
  next.onload = () => { img.src = url; img.hidden = false; };
  next.src = url;
}

function renderJob(job) {
  if (!ui.job || job.id !== ui.job.id) return;
  ui.job = job;
  const kind = ui.kinds[job.kind];
  $("#job-title").textContent = `${kind ? kind.title : job.kind} · ${job.id.slice(0, 8)}`;
  const badge = $("#job-state");
  badge.textContent = job.state;
  badge.className = `badge ${job.state}`;
  const done = ["succeeded", "failed", "cancelled"].includes(job.state);
  $("#cancel").hidden = done;
  $("#cancel").disabled = job.cancel_requested;
  if (job.progress) renderProgress(job.progress);
  else if (job.state === "running") {
    $("#progress-text").textContent = "starting — loading the network…";
    $("#losses").textContent = "";
  } else if (job.state === "queued") {
    $("#progress-text").textContent = job.queue_position ? `queued — ${job.queue_position} job(s) ahead` : "queued — starting soon";
    $("#progress-bar").style.width = "0";
  }
  $("#job-error").textContent = job.error || "";
  const link = $("#download");
  if (job.has_result) {
    const url = `${job.urls.result}?download=1`;
    link.href = url;
    link.setAttribute("download", `impasto-${job.kind}-${job.id.slice(0, 8)}.png`);
    link.hidden = false;
    link.textContent = job.state === "cancelled" ? "Download (unfinished)" : "Download";
    $("#refine").hidden = !(job.state === "succeeded" && ui.refineFrom[job.id] && ui.kinds.stylize);
    setPreview(`${job.urls.result}?v=${job.finished_at}`);
    if (job.state === "succeeded") {
      $("#progress-bar").style.width = "100%";
      $("#progress-text").textContent = `done in ${duration(job.finished_at - job.started_at)}`;
    }
  } else {
    link.hidden = true;
    $("#refine").hidden = true;
    if (done && !job.has_preview) $("#canvas-caption").textContent = `no image (${job.state})`;
  }
}

function renderProgress(p) {
  const pct = Math.round(100 * (p.fraction ?? (p.total ? p.step / p.total : 0)));
  $("#progress-bar").style.width = `${pct}%`;
  const stage = p.stage ? `${p.stage} · ` : "";
  $("#progress-text").textContent = `${stage}step ${p.step} / ${p.total} · ${pct}% · ETA ${duration(p.eta)}`;
  const losses = Object.entries(p.losses || {}).filter(([k]) => !k.includes("."));
  $("#losses").textContent = losses.map(([k, v]) => `${k} ${Number(v).toPrecision(3)}`).join(" · ");
}

async function cancel() {
  if (!ui.job) return;
  $("#cancel").disabled = true;
  const r = await api(ui.job.urls.self, { method: "DELETE" });
  if (r.ok) renderJob(r.body);
}

// -- history ----------------------------------------------------------------------------------------
function history() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]"); } catch { return []; }
}

function remember(id) {
  const ids = [id, ...history().filter((x) => x !== id)].slice(0, 50);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(ids));
}

async function renderHistory() {
  const list = $("#history");
  const ids = history();
  const jobs = await Promise.all(ids.map((id) => api(`/v1/jobs/${id}`).catch(() => null)));
  const kept = [];
  list.replaceChildren();
  jobs.forEach((r, i) => {
    if (!r || r.status === 404) return; // expired on the server
    kept.push(ids[i]);
    if (!r.ok) return;
    const job = r.body;
    const thumb = job.has_result ? `${job.urls.result}?v=${job.finished_at}` : job.has_preview ? `${job.urls.preview}?v=${Date.now()}` : null;
    const kind = ui.kinds[job.kind];
    const li = el("li", { "data-id": job.id, onclick: () => showJob(job), class: ui.job && ui.job.id === job.id ? "current" : "" },
      thumb ? el("img", { src: thumb, alt: "" }) : el("span", { class: "blank" }),
      el("span", { class: "meta" }, el("strong", { text: kind ? kind.title : job.kind }),
        el("small", { text: `${job.state} · ${ago(job.created_at)}` })));
    list.append(li);
  });
  if (kept.length !== ids.length) localStorage.setItem(HISTORY_KEY, JSON.stringify(kept));
  if (!list.children.length) list.append(el("li", { class: "hint", text: "Nothing yet." }));
}

async function pollHealth() {
  const status = $("#server-status");
  try {
    const r = await fetch("/healthz");
    const h = await r.json();
    status.textContent = `${h.workers} worker${h.workers === 1 ? "" : "s"} · ${h.pending} job${h.pending === 1 ? "" : "s"} pending`;
    status.classList.toggle("bad", !h.workers);
  } catch {
    status.textContent = "server unreachable";
    status.classList.add("bad");
  }
}

async function init() {
  wireInputs();
  const [kinds, gallery, styles, session] = await Promise.all(
    [api("/v1/kinds"), api("/v1/gallery"), api("/v1/styles"), api("/v1/session")]);
  $("#logout").hidden = !(session.body.login_required && session.body.session);
  ui.limits = kinds.body.limits;
  for (const k of kinds.body.kinds) ui.kinds[k.name] = k;
  ui.gallery = gallery.body.images;
  renderFast(styles.body.models || []);
  renderKinds();
  renderHistory();
  const last = history()[0];
  if (last) {
    const r = await api(`/v1/jobs/${last}`);
    if (r.ok) showJob(r.body);
  }
  pollHealth();
  setInterval(pollHealth, 10000);
}

init().catch((err) => { $("#form-error").textContent = `Could not load: ${err.message}`; });
