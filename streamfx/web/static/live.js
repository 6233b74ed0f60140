// Shared by viewer.html and panel.html: connect a <video> to the live WebRTC stream and
// report stats. Everything lands on window.streamfx so tests (and curious users) can look.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("streamfx-token") || "";
if (token) sessionStorage.setItem("streamfx-token", token);

function authHeaders(extra = {}) {
  return token ? { ...extra, Authorization: "Bearer " + token } : extra;
}

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: authHeaders(opts.headers || {}) });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = { text }; }
  if (!r.ok) throw new Error(body.error || body.text || r.statusText);
  return body;
}

function waitIceGathering(pc, ms = 2000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(done, ms); // host candidates are enough on a LAN; don't wait for STUN
  });
}

async function connectStream(video, offerPath = "/offer") {
  const state = (window.streamfx = window.streamfx || {});
  state.frames = 0;
  state.errors = [];
  const pc = new RTCPeerConnection();
  state.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  // Sound too: a server without live sound answers this section "inactive" and nothing
  // arrives on it. Browsers only play sound without a click when muted, so the element
  // starts muted (autoplay) and a "sound on" button (#unmute) unmutes it on the user's click.
  pc.addTransceiver("audio", { direction: "recvonly" });
  const tracks = [];
  pc.ontrack = (e) => {
    // one MediaStream with both tracks on the one element (the server sends them under one
    // stream id, so the browser lip-syncs them); rebuilt per track so neither replaces the other
    tracks.push(e.track);
    video.srcObject = new MediaStream(tracks);
    video.play().catch((err) => state.errors.push(String(err)));
  };
  pc.onconnectionstatechange = () => {
    state.connectionState = pc.connectionState;
    if (pc.connectionState === "failed") showStatus("connection failed: reload to retry", true);
  };
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const onFrame = (now, meta) => {
      state.frames += 1;
      state.lastFrame = { width: meta.width, height: meta.height, presented: meta.presentedFrames };
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  await pc.setLocalDescription(await pc.createOffer());
  await waitIceGathering(pc);
  const answer = await api(offerPath, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  state.viewerId = answer.id;
  state.audio = !!answer.audio;
  await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
  if (state.audio) showUnmute(video);
  return pc;
}

function showUnmute(video) {
  const button = document.getElementById("unmute");
  if (!button) return;
  const label = () => { button.textContent = video.muted ? "🔇 sound off — click for sound" : "🔊 sound on"; };
  button.hidden = false;
  label();
  button.addEventListener("click", () => {
    video.muted = !video.muted;
    video.play().catch((err) => window.streamfx.errors.push(String(err)));
    label();
  });
}

async function inboundAudioStats(pc) {
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type === "inbound-rtp" && s.kind === "audio") return s;
  }
  return null;
}

async function inboundVideoStats(pc) {
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type === "inbound-rtp" && s.kind === "video") return s;
  }
  return null;
}

function showStatus(text, bad = false) {
  const el = document.getElementById("status");
  if (el) { el.textContent = text; el.classList.toggle("bad", bad); }
}

function fmt(v, digits = 1) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
}

function renderServerStats(el, s) {
  const sinks = Object.entries(s.sinks || {}).map(([name, v]) =>
    `<tr><td>${name}</td><td>${fmt(v.fps)}</td><td>${fmt(v.latency_p50_ms)}</td><td>${fmt(v.latency_p95_ms)}</td></tr>`).join("");
  const stages = Object.entries(s.stage_ms || {}).map(([k, v]) => `${k} ${fmt(v)} ms`).join(" · ");
  const st = s.status || {};
  el.innerHTML = `
    <div>capture <b>${fmt(s.capture_fps)}</b> fps · output <b>${fmt(s.output_fps)}</b> fps ·
      dropped ${Object.entries(s.dropped || {}).map(([k, v]) => `${k} ${v}`).join(", ")} ·
      face ${st.face_found ? "found" : "<span class=bad>lost</span>"}${st.paused ? " · <b>paused</b>" : ""}</div>
    <div class="muted">${stages}</div>
    <table><tr><th>sink</th><th>fps</th><th>p50 ms</th><th>p95 ms</th></tr>${sinks}</table>
    <div class="muted">${(s.viewers || []).length} viewer(s)</div>`;
}

function startStatsLoop(video, clientEl, serverEl) {
  let lastDecoded = null, lastT = null;
  setInterval(async () => {
    const state = window.streamfx || {};
    if (state.pc && clientEl) {
      const s = await inboundVideoStats(state.pc);
      if (s) {
        const t = performance.now();
        const fps = lastDecoded !== null ? (s.framesDecoded - lastDecoded) * 1000 / (t - lastT) : null;
        lastDecoded = s.framesDecoded; lastT = t;
        state.framesDecoded = s.framesDecoded;
        clientEl.textContent = `${s.frameWidth || video.videoWidth}×${s.frameHeight || video.videoHeight} · ` +
          `${fmt(fps)} fps decoded · ${s.framesDecoded} frames · ${fmt((s.jitterBufferDelay / Math.max(1, s.jitterBufferEmittedCount)) * 1000)} ms jitter buffer · ` +
          `${s.codecId ? "" : ""}${state.connectionState || ""}`;
      }
    }
    if (serverEl) {
      try { renderServerStats(serverEl, await api("/api/stats")); }
      catch (e) { serverEl.textContent = "stats unavailable: " + e.message; }
    }
  }, 1000);
}
