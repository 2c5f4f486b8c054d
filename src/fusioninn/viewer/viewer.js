// fusioninn case viewer: every panel drawn from its embedded values (16-bit codes per slice, zlib, in one
// binary block), decoded on demand, slice by slice, with the browser's own DecompressionStream. No network,
// no libraries.
"use strict";
(function () {
  const CASE = JSON.parse(document.getElementById("case-data").textContent);
  const H = CASE.height, W = CASE.width;
  const PANELS = CASE.panel_order;             // the data-panel names, in page order
  const READOUT = CASE.readout_order;          // the readout names, in order
  const cache = new Map();                     // "name/z" -> Float32Array
  const state = {
    z: CASE.initial_slice, r: Math.floor(H / 2), c: Math.floor(W / 2), locked: false,
    crosshair: true, outline: CASE.has_seg, windows: {}, drawToken: 0,
  };

  function b64bytes(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // The binary block: the page is windows-1252, so each character of the block is one byte; the bytes
  // the HTML parser would change were escaped (0x1B, then the byte XOR 0x40).
  const BLOB = document.getElementById("case-blob").textContent;
  const BYTE_OF = new Uint8Array(65536);
  {
    const chars = new TextDecoder("windows-1252").decode(Uint8Array.from({ length: 256 }, (_, i) => i));
    for (let b = 0; b < 256; b++) BYTE_OF[chars.charCodeAt(b)] = b;
  }
  function blobBytes(offset, length) {
    const out = new Uint8Array(length);
    let n = 0;
    for (let i = offset, end = offset + length; i < end; i++) {
      const b = BYTE_OF[BLOB.charCodeAt(i)];
      out[n++] = b === 0x1B ? BYTE_OF[BLOB.charCodeAt(++i)] ^ 0x40 : b;
    }
    return out.subarray(0, n);
  }

  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // undo the MED (LOCO-I) prediction: residuals are zigzag-coded, the prediction uses decoded neighbours
  function unpredict(codes) {
    for (let r = 0, p = 0; r < H; r++) {
      for (let c = 0; c < W; c++, p++) {
        const z = codes[p], res = z & 1 ? -((z + 1) >> 1) : z >> 1;
        const left = c ? codes[p - 1] : 0, up = r ? codes[p - W] : 0, diag = r && c ? codes[p - W - 1] : 0;
        const hi = left > up ? left : up, lo = left > up ? up : left;
        const pred = diag >= hi ? lo : diag <= lo ? hi : left + up - diag;
        codes[p] = (res + pred) & 0xFFFF;
      }
    }
    return codes;
  }

  // values of one panel at one slice: lo + q * step, q the stored little-endian uint16
  async function values(name, z) {
    const key = name + "/" + z;
    if (cache.has(key)) return cache.get(key);
    const entry = CASE.arrays[name];
    if (!entry) return null;
    const s = entry.slices[z - CASE.first_slice];
    const out = new Float32Array(H * W);
    const n = H * W;
    if (s.n !== undefined) {
      const raw = await inflate(blobBytes(s.o, s.n));  // low bytes of all codes, then the high bytes
      const codes = new Uint32Array(n);
      for (let p = 0; p < n; p++) codes[p] = raw[p] | (raw[n + p] << 8);
      if (s.filter === 1) unpredict(codes);
      for (let p = 0; p < n; p++) out[p] = s.lo + codes[p] * s.step;
    } else {
      out.fill(s.lo);
    }
    if (cache.size > 24 * READOUT.length) cache.delete(cache.keys().next().value);
    cache.set(key, out);
    return out;
  }

  async function segSlice(z) {
    if (!CASE.has_seg) return null;
    const key = "seg/" + z;
    if (cache.has(key)) return cache.get(key);
    const s = CASE.seg[z - CASE.first_slice];
    const out = s ? await inflate(blobBytes(s.o, s.n)) : new Uint8Array(H * W);
    cache.set(key, out);
    return out;
  }

  const LUTS = {};
  for (const [name, table] of Object.entries(CASE.colormaps)) LUTS[name] = b64bytes(table);
  const SEG_COLOURS = { 1: [255, 60, 60], 2: [60, 220, 90], 4: [255, 230, 40] };

  function windowOf(panel) { return state.windows[CASE.panels[panel].window]; }

  function draw(panel, vals, seg) {
    const info = CASE.panels[panel];
    const canvas = document.querySelector(`[data-panel="${panel}"] canvas.image`);
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(W, H);
    const px = img.data;
    if (!vals) {
      ctx.fillStyle = "#222"; ctx.fillRect(0, 0, W, H);
      return;
    }
    const win = windowOf(panel);
    const lut = LUTS[info.colormap];
    const lo = win.level - win.width / 2, scale = 255 / Math.max(win.width, 1e-12);
    for (let p = 0; p < H * W; p++) {
      let g = Math.round((vals[p] - lo) * scale);
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      px[4 * p] = lut[3 * g]; px[4 * p + 1] = lut[3 * g + 1]; px[4 * p + 2] = lut[3 * g + 2]; px[4 * p + 3] = 255;
    }
    if (seg && state.outline) {
      for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) {
        const p = r * W + c, v = seg[p];
        if (!v) continue;
        const edge = (c === 0 || seg[p - 1] !== v) || (c === W - 1 || seg[p + 1] !== v) ||
          (r === 0 || seg[p - W] !== v) || (r === H - 1 || seg[p + W] !== v);
        if (!edge) continue;
        const col = SEG_COLOURS[v] || [255, 255, 255];
        px[4 * p] = col[0]; px[4 * p + 1] = col[1]; px[4 * p + 2] = col[2];
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function drawCrosshairs() {
    for (const panel of PANELS) {
      const overlay = document.querySelector(`[data-panel="${panel}"] canvas.overlay`);
      const rect = overlay.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      overlay.width = Math.round(rect.width * dpr); overlay.height = Math.round(rect.height * dpr);
      const ctx = overlay.getContext("2d");
      ctx.clearRect(0, 0, overlay.width, overlay.height);
      if (!state.crosshair) continue;
      const sx = overlay.width / W, sy = overlay.height / H;
      const x = (state.c + 0.5) * sx, y = (state.r + 0.5) * sy;
      ctx.strokeStyle = state.locked ? "rgba(255,120,0,0.9)" : "rgba(0,200,255,0.75)";
      ctx.lineWidth = Math.max(1, dpr);
      ctx.beginPath();
      const gap = Math.max(6 * dpr, 1.5 * Math.max(sx, sy));  // leave the voxel under the cursor visible
      ctx.moveTo(x, 0); ctx.lineTo(x, y - gap); ctx.moveTo(x, y + gap); ctx.lineTo(x, overlay.height);
      ctx.moveTo(0, y); ctx.lineTo(x - gap, y); ctx.moveTo(x + gap, y); ctx.lineTo(overlay.width, y);
      ctx.stroke();
    }
  }

  function fmt(v) {
    if (v === null || v === undefined) return "n/a";
    return Number(v).toPrecision(4);
  }

  async function updateReadout() {
    const z = state.z, p = state.r * W + state.c;
    const parts = [];
    for (const name of READOUT) {
      const vals = await values(name, z);
      parts.push(`${name}=${vals ? fmt(vals[p]) : "n/a"}`);
    }
    if (CASE.has_seg) {
      const seg = await segSlice(z);
      parts.push(`label=${seg[p]}`);
    }
    if (z !== state.z || p !== state.r * W + state.c) return;  // the cursor moved on meanwhile
    const el = document.querySelector('[data-role="readout"]');
    const idx = CASE.index_map;
    const fileIndex = [0, 1, 2].map(a => idx.offset[a] + idx.row[a] * state.r + idx.col[a] * state.c + idx.slice[a] * z);
    el.dataset.i = fileIndex[0]; el.dataset.j = fileIndex[1]; el.dataset.k = fileIndex[2];
    el.replaceChildren(...parts.map(t => { const s = document.createElement("span"); s.className = "pair"; s.textContent = t; return s; }));
    document.getElementById("voxel").textContent =
      `voxel (i, j, k) = (${fileIndex.join(", ")}) in ${CASE.source_names[0]}'s array order` +
      (state.locked ? " — locked (click to release)" : "");
  }

  async function render() {
    const token = ++state.drawToken;
    const z = state.z;
    const seg = await segSlice(z);
    const all = await Promise.all(PANELS.map(name => values(name, z)));
    if (token !== state.drawToken) return;
    PANELS.forEach((name, n) => draw(name, all[n], seg));
    drawCrosshairs();
    document.getElementById("slice-label").textContent = CASE.is_volume ?
      `slice ${z} (${z - CASE.first_slice + 1} of ${CASE.last_slice - CASE.first_slice + 1})` : "2-D image";
    await updateReadout();
  }

  function setSlice(z) {
    z = Math.max(CASE.first_slice, Math.min(CASE.last_slice, z));
    if (z === state.z) return;
    state.z = z;
    slider.value = z;
    render();
  }

  function resetWindows() {
    for (const [key, w] of Object.entries(CASE.windows)) state.windows[key] = { width: w[1] - w[0], level: (w[0] + w[1]) / 2 };
    render();
  }

  function cursorFrom(event, canvas) {
    const rect = canvas.getBoundingClientRect();
    const c = Math.floor((event.clientX - rect.left) / rect.width * W);
    const r = Math.floor((event.clientY - rect.top) / rect.height * H);
    return [Math.max(0, Math.min(H - 1, r)), Math.max(0, Math.min(W - 1, c))];
  }

  const slider = document.querySelector('[data-role="slice"]');
  slider.addEventListener("input", () => setSlice(parseInt(slider.value, 10)));

  for (const panel of PANELS) {
    const host = document.querySelector(`[data-panel="${panel}"] .stack`);
    const overlay = host.querySelector("canvas.overlay");
    let drag = null;
    host.addEventListener("mousemove", ev => {
      if (drag) {
        const win = state.windows[CASE.panels[panel].window];
        const span = CASE.windows[CASE.panels[panel].window];
        const unit = (span[1] - span[0]) / 300;
        win.width = Math.max(unit / 10, drag.width + (ev.clientX - drag.x) * unit);
        win.level = drag.level - (ev.clientY - drag.y) * unit;
        drag.moved = true;
        render();
        return;
      }
      if (state.locked) return;
      [state.r, state.c] = cursorFrom(ev, overlay);
      drawCrosshairs();
      updateReadout();
    });
    host.addEventListener("mousedown", ev => {
      const win = state.windows[CASE.panels[panel].window];
      drag = { x: ev.clientX, y: ev.clientY, width: win.width, level: win.level, moved: false };
      ev.preventDefault();
    });
    host.addEventListener("mouseup", ev => {
      const moved = drag && drag.moved;
      drag = null;
      if (!moved) {
        state.locked = !state.locked;
        [state.r, state.c] = cursorFrom(ev, overlay);
        drawCrosshairs();
        updateReadout();
      }
    });
    host.addEventListener("mouseleave", () => { drag = null; });
    host.addEventListener("wheel", ev => {
      ev.preventDefault();
      setSlice(state.z + (ev.deltaY > 0 ? -1 : 1));
    }, { passive: false });
  }

  document.addEventListener("keydown", ev => {
    if (ev.target instanceof HTMLInputElement && ev.target !== slider) return;
    const k = ev.key;
    if (k === "ArrowUp" || k === "ArrowRight") setSlice(state.z + 1);
    else if (k === "ArrowDown" || k === "ArrowLeft") setSlice(state.z - 1);
    else if (k === "PageUp") setSlice(state.z + 10);
    else if (k === "PageDown") setSlice(state.z - 10);
    else if (k === "Home") setSlice(CASE.first_slice);
    else if (k === "End") setSlice(CASE.last_slice);
    else if (k === "o" && CASE.has_seg) { state.outline = !state.outline; render(); }
    else if (k === "c") { state.crosshair = !state.crosshair; drawCrosshairs(); }
    else if (k === "l") { state.locked = !state.locked; updateReadout(); drawCrosshairs(); }
    else if (k === "r") resetWindows();
    else return;
    ev.preventDefault();
  });
  window.addEventListener("resize", drawCrosshairs);

  for (const [key, w] of Object.entries(CASE.windows)) state.windows[key] = { width: w[1] - w[0], level: (w[0] + w[1]) / 2 };
  slider.value = state.z;
  render().then(() => {
    performance.mark("first-slice-painted");  // what benchmarks/viewer_budget.py times the opening by
    document.body.dataset.ready = "1";
  });
})();
