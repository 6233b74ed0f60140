// The transparent overlay: the stream carries colour (premultiplied) on its left half and
// alpha as grey on its right half (streamfx/web/webrtc.py pack_alpha); WebGL samples both
// for each pixel and draws RGBA onto a canvas whose page is transparent.
"use strict";

const VERTEX = `
attribute vec2 pos;
varying vec2 uv;
void main() {
  uv = vec2((pos.x + 1.0) * 0.5, (1.0 - pos.y) * 0.5);
  gl_Position = vec4(pos, 0.0, 1.0);
}`;

// Codec noise (ringing next to a strong edge) leaves a few grey levels where alpha is 0: a
// small dead band makes "around the subject" exactly transparent, and "on it" exactly opaque.
// Each half is sampled no closer than half a texel to the seam, so the linear filter never
// mixes colour into alpha or alpha into colour.
const FRAGMENT = `
precision mediump float;
varying vec2 uv;
uniform sampler2D frame;
uniform float halfTexel;
void main() {
  float u = uv.x * 0.5;
  vec3 colour = texture2D(frame, vec2(clamp(u, halfTexel, 0.5 - halfTexel), uv.y)).rgb;
  float a = texture2D(frame, vec2(clamp(0.5 + u, 0.5 + halfTexel, 1.0 - halfTexel), uv.y)).g;
  a = clamp((a - 0.05) / 0.9, 0.0, 1.0);
  gl_FragColor = vec4(min(colour, vec3(a)), a);  // premultiplied: colour never exceeds alpha
}`;

function compile(gl, type, source) {
  const s = gl.createShader(type);
  gl.shaderSource(s, source);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}

function startOverlay(video, canvas) {
  const state = (window.streamfx = window.streamfx || {});
  state.drawn = 0;
  state.fps = 0;
  const gl = canvas.getContext("webgl", { premultipliedAlpha: true, alpha: true, preserveDrawingBuffer: true });
  if (!gl) throw new Error("this browser has no WebGL: the overlay needs it to unpack the alpha");
  const prog = gl.createProgram();
  gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VERTEX));
  gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
  gl.linkProgram(prog);
  gl.useProgram(prog);
  const buf = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buf);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const loc = gl.getAttribLocation(prog, "pos");
  gl.enableVertexAttribArray(loc);
  gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
  const halfTexel = gl.getUniformLocation(prog, "halfTexel");
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  for (const [k, v] of [[gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_MAG_FILTER, gl.LINEAR],
                        [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) {
    gl.texParameteri(gl.TEXTURE_2D, k, v);
  }
  const times = [];
  const draw = () => {
    if (video.videoWidth) {
      const w = video.videoWidth / 2, h = video.videoHeight;
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      gl.viewport(0, 0, w, h);
      gl.uniform1f(halfTexel, 0.5 / video.videoWidth);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, video);
      gl.clearColor(0, 0, 0, 0);
      gl.clear(gl.COLOR_BUFFER_BIT);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      state.drawn += 1;
      const now = performance.now();
      times.push(now);
      while (times.length && times[0] < now - 2000) times.shift();
      // frames drawn over the last two seconds: the rate a viewer of the overlay sees
      state.fps = times.length > 1 ? (times.length - 1) * 1000 / (now - times[0]) : 0;
    }
  };
  // one draw per decoded video frame where the browser says when that is
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const onFrame = () => { draw(); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
  } else {
    const loop = () => { draw(); requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  }
}

(() => {
  const video = document.getElementById("video");
  const canvas = document.getElementById("overlay");
  try {
    startOverlay(video, canvas);
  } catch (e) {
    (window.streamfx.errors ||= []).push(String(e));
    return;
  }
  connectStream(video, "/overlay/offer").catch((e) => (window.streamfx.errors ||= []).push(String(e)));
})();
