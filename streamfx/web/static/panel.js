"use strict";
// Control panel: every control applies live through the JSON API; nothing restarts.

const SLIDERS = [
  ["smoothing", "Smoothing", 0, 1, 0.05],
  ["head_gain", "Head gain", 0, 3, 0.05],
  ["eye_gain", "Eye gain", 0, 3, 0.05],
  ["brow_gain", "Brow gain", 0, 3, 0.05],
  ["mouth_gain", "Mouth gain", 0, 3, 0.05],
];

const q = token ? "?token=" + encodeURIComponent(token) : "";
document.getElementById("viewer-link").href = "/" + q;
document.getElementById("metrics-link").href = "/metrics" + q;

async function postSettings(changes) {
  try {
    const s = await api("/api/settings", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(changes),
    });
    showStatus("applied " + Object.keys(changes).join(", "));
    window.streamfx.settings = s;
    return s;
  } catch (e) { showStatus(e.message, true); throw e; }
}

// Shown only with a voice driver (voice file, mic, webcam+mic): the server says so.
const VOICE_SLIDERS = [
  ["voice_gain", "Voice gain", 0, 3, 0.05],
  ["voice_gate", "Noise gate (dBFS)", -90, -10, 1],
];

function buildSliders(values, sliders = SLIDERS, boxId = "sliders") {
  const box = document.getElementById(boxId);
  box.innerHTML = "";
  for (const [key, label, min, max, step] of sliders) {
    const row = document.createElement("label");
    row.className = "slider";
    const v = values[key] ?? 1;
    row.innerHTML = `<span>${label}</span><input type="range" id="${key}" data-setting="${key}" min="${min}" max="${max}" step="${step}" value="${v}"><output>${Number(v).toFixed(2)}</output>`;
    const input = row.querySelector("input"), out = row.querySelector("output");
    input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(2); });
    input.addEventListener("change", () => postSettings({ [key]: Number(input.value) }));
    box.appendChild(row);
  }
}

async function loadSettings() {
  const s = await api("/api/settings");
  window.streamfx.settings = s;
  buildSliders(s.animator || {});
  document.getElementById("voice").hidden = !s.voice;
  if (s.voice) buildSliders(s.voice, VOICE_SLIDERS, "voice-sliders");
  for (const id of ["mirror", "idle"]) document.getElementById(id).checked = !!(s.animator || {})[id];
  document.getElementById("pause").textContent = s.paused ? "Resume" : "Pause";
  document.getElementById("frame").value = (s.output || {}).frame || "full";
}

document.getElementById("frame").addEventListener("change", async (ev) => {
  try {
    const r = await api("/api/frame", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ frame: ev.target.value }),
    });
    showStatus("framing: " + r.frame);
  } catch (e) { showStatus(e.message, true); }
});

for (const id of ["mirror", "idle"]) {
  const el = document.getElementById(id);
  el.addEventListener("change", () => postSettings({ [id]: el.checked }));
}

document.getElementById("calibrate").addEventListener("click", async () => {
  try { await api("/api/calibrate", { method: "POST" }); showStatus("calibrated"); }
  catch (e) { showStatus(e.message, true); }
});

document.getElementById("pause").addEventListener("click", async (ev) => {
  try {
    const r = await api("/api/pause", { method: "POST" });
    ev.target.textContent = r.paused ? "Resume" : "Pause";
    showStatus(r.paused ? "paused" : "live");
  } catch (e) { showStatus(e.message, true); }
});

document.getElementById("source-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = document.getElementById("source-file").files[0];
  if (!file) { showStatus("choose an image first", true); return; }
  if (file.size > 15e6) { showStatus("image is over 15 MB", true); return; }
  const form = new FormData();
  form.append("image", file, file.name);
  showStatus("uploading…");
  try {
    const r = await api("/api/source", { method: "POST", body: form });
    showStatus(`portrait switched to ${r.name} (${r.size[0]}×${r.size[1]})`);
    window.streamfx.sourceVersion = r.source_version;
  } catch (e) { showStatus(e.message, true); }
});

window.streamfx = window.streamfx || {};
const preview = document.getElementById("preview");
loadSettings().catch((e) => showStatus("cannot load settings: " + e.message, true));
connectStream(preview).catch((e) => (window.streamfx.errors ||= []).push(String(e)));
startStatsLoop(preview, document.getElementById("client-stats"), document.getElementById("server-stats"));
