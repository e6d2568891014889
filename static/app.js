/* camserve demo page.
 *
 * One request per photo and model: POST v1/models/{model}/cam with
 * cam_top_k = top_k, heatmap=true and overlay=false returns the normalised
 * heatmap of each of the top five classes as a grayscale PNG.  Everything the
 * controls change is then computed here, at once and without uploading the
 * photo again: the overlay (the server's colormap tables, static/colormaps.js,
 * and its blend, round(alpha * colour + (1 - alpha) * photo)) and the boxes
 * (the server's rule: heat >= threshold x maximum, 8-connected regions, the
 * largest one or all of at least 0.5 % of the image, scaled to photo pixels).
 * The two downloads ask the server once more with the current settings
 * (class, threshold, alpha, colormap, boxes), so the PNG and the JSON are the
 * server's own answer for what is on screen.
 *
 * URLs are relative to the service root, found from this script's own URL
 * (<root>/static/app.js), so the page works behind a proxy under a prefix. */
(function () {
  'use strict';

  const script = document.currentScript;
  const ROOT = new URL('../', script && script.src ? script.src : location.href);
  const url = (path) => new URL(path, ROOT).href;

  const $ = (id) => document.getElementById(id);
  const el = {
    result: $('result'), error: $('error'), errorTitle: $('error-title'), errorText: $('error-text'),
    retry: $('retry'), errorClose: $('error-close'),
    model: $('model'), modelInfo: $('model-info'), image: $('image'), fileName: $('file-name'),
    shownTitle: $('shown-title'), shownSub: $('shown-sub'), dropzone: $('dropzone'), figure: $('figure'),
    overlay: $('overlay'), boxes: $('boxes'), boxLabels: $('box-labels'), busyText: $('busy-text'),
    colorbar: $('colorbar'), dlPng: $('download-png'), dlJson: $('download-json'),
    predictions: $('predictions'), predictionsHint: $('predictions-hint'),
    threshold: $('threshold'), thresholdOut: $('threshold-out'), alpha: $('alpha'), alphaOut: $('alpha-out'),
    colormap: $('colormap'), boxesMode: $('boxes-mode'),
    timingBar: $('timing-bar'), timings: $('timings'), timingsHint: $('timings-hint'), requestId: $('request-id'),
    dropOverlay: $('drop-overlay'), status: $('status'),
  };

  const metaMb = Number((document.querySelector('meta[name="camserve-max-body-mb"]') || {}).content);
  const MAX_MB = metaMb > 0 ? metaMb : 16;       /* the server's --max-body-mb, default 16 */
  const MAX_BYTES = MAX_MB * 1048576;
  const TOP_K = 5;
  const MIN_AREA = 0.005;                         /* the server's min_area default (boxes=all) */
  const MAX_BOXES = 16;                           /* CAM_EXPLAIN_MAX_BOXES */

  const LUTS = {};
  for (const [name, b64] of Object.entries(self.camserveColormaps || {})) LUTS[name] = base64Bytes(b64);

  const state = {
    models: [], model: null, modelsLoading: null,
    input: null,          /* {blob, type, name, size, id, note, photo: Promise<ImageBitmap|null>} */
    res: null,            /* the answer the view shows */
    shown: null,          /* class index whose map is shown */
    view: 'overlay', threshold: 0.2, alpha: 0.5, colormap: 'jet', boxes: 'largest',
    seq: 0, ctl: null, retry: null, dl: null, inputs: 0,
  };

  /* ---- small helpers ---------------------------------------------------------------- */

  function base64Bytes(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function fmtBytes(n) {
    if (n < 1024) return `${n} bytes`;
    if (n < 1048576) return `${(n / 1024).toFixed(0)} KB`;
    return `${(n / 1048576).toFixed(1)} MB`;
  }

  function fmtPct(p) {
    const v = p * 100;
    if (v > 0 && v < 0.1) return '<0.1 %';
    return `${v.toFixed(v >= 99.95 ? 0 : 1)} %`;
  }

  function fmtMs(v) { return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2); }

  const shortLabel = (label) => String(label).split(',')[0].trim();

  function slug(s) {
    return String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'x';
  }

  function node(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function announce(text) { el.status.textContent = text; }

  function setState(s) {
    el.result.dataset.state = s;
    el.result.setAttribute('aria-busy', s === 'busy' ? 'true' : 'false');
  }

  /* ---- errors --------------------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, statusText, body, requestId, retryAfter) {
      const e = body && body.error ? body.error : null;
      super(e ? e.message : `HTTP ${status} ${statusText}`.trim());
      this.status = status;
      this.statusText = statusText;
      this.code = e ? e.code : null;
      this.requestId = requestId;
      this.retryAfter = retryAfter;
    }
  }
  class NetworkError extends Error {}
  class UserError extends Error {
    constructor(title, text) { super(text); this.title = title; }
  }

  /* title, text and whether trying again can help */
  function describe(err) {
    if (err instanceof UserError) return { title: err.title, text: err.message, retry: false };
    if (err instanceof NetworkError)
      return {
        title: 'Could not reach the camserve server',
        text: 'The request did not get through (network failure). Check the connection and that the server is running, then try again.',
        retry: true,
      };
    if (!(err instanceof ApiError))
      return { title: 'Something went wrong in this page', text: String(err && err.message || err), retry: false };
    const id = err.requestId ? ` Request id ${err.requestId}.` : '';
    const wait = err.retryAfter ? ` It suggests waiting ${err.retryAfter} s.` : '';
    const s = err.status, m = err.message;
    if (s === 503 && err.code === 'DRAINING')
      return { title: 'The server is shutting down', text: `It finishes the requests it has and takes no new ones.${wait}${id}`, retry: true };
    if (s === 503 && err.code === 'NOT_READY')
      return { title: 'The server is still starting', text: `Its models are not loaded yet.${wait}${id}`, retry: true };
    if (s === 503)
      return {
        title: 'The server is overloaded',
        text: `All its workers are busy and its queue is full, so it turned this photo away (503).${wait} Try again in a moment.${id}`,
        retry: true,
      };
    if (s === 413)
      return { title: 'The photo is too large for the server', text: `${m}.${id}`, retry: false };
    if (s === 415 || err.code === 'BAD_IMAGE')
      return { title: 'camserve could not read this photo', text: `${m}. It reads JPEG and PNG files.${id}`, retry: false };
    if (s === 404 && err.code === 'MODEL_NOT_FOUND')
      return { title: 'That model is no longer loaded', text: `${m}. Reload the page to get the current list.${id}`, retry: false };
    if (s === 422)
      return { title: 'No activation map for this model', text: `${m}.${id}`, retry: false };
    if (s >= 500 && err.code)
      return { title: 'The server failed', text: `${m} (${s}).${id}`, retry: true };
    if (err.code) return { title: `The server refused the request (${s})`, text: `${m}.${id}`, retry: false };
    return {
      title: `Unexpected answer from the server`,
      text: `HTTP ${s}${err.statusText ? ' ' + err.statusText : ''}: not camserve's JSON (a proxy in between?).${id}`,
      retry: s >= 500,
    };
  }

  function showError(err, retry) {
    const d = describe(err);
    el.errorTitle.textContent = d.title;
    el.errorText.textContent = d.text;
    state.retry = d.retry ? retry : null;
    el.retry.hidden = !state.retry;
    el.error.hidden = false;
    setState('error');
  }

  function clearError() {
    el.error.hidden = true;
    state.retry = null;
  }

  /* ---- HTTP ------------------------------------------------------------------------------ */

  async function api(path, opts) {
    let res;
    try {
      res = await fetch(url(path), Object.assign({ cache: 'no-store' }, opts));
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new NetworkError(String(e && e.message || e));
    }
    const requestId = res.headers.get('X-Request-Id');
    let text, json = null;
    try {
      text = await res.text();
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new NetworkError(String(e && e.message || e));
    }
    try { json = JSON.parse(text); } catch (e) { json = null; }
    if (!res.ok || !json) {
      const ra = Number(res.headers.get('Retry-After'));
      throw new ApiError(res.status, res.statusText, json, requestId, ra > 0 ? ra : null);
    }
    return { json, requestId };
  }

  /* ---- models ---------------------------------------------------------------------------- */

  function ensureModels() {
    if (state.model) return Promise.resolve(true);
    if (!state.modelsLoading) state.modelsLoading = loadModels().finally(() => { state.modelsLoading = null; });
    return state.modelsLoading;
  }

  async function loadModels() {
    el.model.disabled = true;
    try {
      const { json } = await api('v1/models');
      const models = json.models || [];
      if (!models.length) {
        const why = (json.failed || []).map((f) => `${f.folder}: ${f.error}`).join('; ');
        throw new UserError('The server has no model loaded', why || 'Its model repository is empty.');
      }
      state.models = models;
      el.model.replaceChildren();
      for (const m of models) {
        const o = node('option', null, m.name + (m.default ? ' (default)' : '') + (m.cam && m.cam.applicable ? '' : ' — scores only'));
        o.value = m.name;
        el.model.append(o);
      }
      const def = models.find((m) => m.name === json.default) || models.find((m) => m.default) || models[0];
      el.model.value = def.name;
      state.model = def;
      el.model.disabled = false;
      updateModelInfo();
      if (!el.error.hidden && el.result.dataset.state === 'error' && !state.input) { clearError(); setState('idle'); }
      return true;
    } catch (e) {
      el.model.replaceChildren(node('option', null, 'No models'));
      showError(e, () => {
        setState(state.res ? 'done' : 'idle');
        if (state.input) analyze(); else ensureModels();
      });
      return false;
    }
  }

  function updateModelInfo() {
    const m = state.model;
    if (!m) { el.modelInfo.textContent = ''; return; }
    const parts = [];
    if (m.input) parts.push(`${m.input.width}×${m.input.height} input`);
    parts.push(`${m.classes} classes${m.labels && !m.labels.real ? ' (no names)' : ''}`);
    if (m.cam && m.cam.applicable) {
      const method = m.cam.method === 'gradcam' ? 'Grad-CAM' : 'CAM';
      const fs = m.cam.feature_shape;
      parts.push(fs ? `${method} on a ${fs[1]}×${fs[2]} map` : method);
    } else {
      parts.push('scores only' + (m.cam && m.cam.reason ? `: ${m.cam.reason}` : ''));
    }
    el.modelInfo.textContent = parts.join(' · ');
  }

  /* ---- taking a photo in ----------------------------------------------------------------- */

  async function sniff(blob) {
    const b = new Uint8Array(await blob.slice(0, 8).arrayBuffer());
    if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
    const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    if (b.length === 8 && png.every((v, i) => b[i] === v)) return 'image/png';
    return null;
  }

  async function decodeBitmap(blob) {
    try {
      return await createImageBitmap(blob, { imageOrientation: 'from-image', colorSpaceConversion: 'none' });
    } catch (e) {
      if (!(e instanceof TypeError)) return null;   /* does not decode */
      try { return await createImageBitmap(blob); } catch (e2) { return null; }   /* options unsupported */
    }
  }

  /* Another image format the browser reads (WebP, GIF, AVIF, BMP) goes to the server as PNG. */
  async function toPng(blob) {
    const bmp = await decodeBitmap(blob);
    if (!bmp) return null;
    const c = node('canvas');
    c.width = bmp.width;
    c.height = bmp.height;
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#fff';                        /* transparency over white, as the server does */
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.drawImage(bmp, 0, 0);
    bmp.close();
    return new Promise((resolve) => c.toBlob(resolve, 'image/png'));
  }

  function tooLarge(name, size) {
    return new UserError('The photo is too large',
      `${name} is ${fmtBytes(size)}; the server takes photos up to ${MAX_MB} MB. Use a smaller or more compressed copy.`);
  }

  async function takeFile(file, how) {
    if (!file) return;
    const name = file.name || (how === 'paste' ? 'pasted image' : 'photo');
    state.seq++;                                   /* a newer photo wins over a request in flight */
    if (state.ctl) state.ctl.abort();
    try {
      if (file.size === 0) throw new UserError('The file is empty', `${name} has no content.`);
      if (file.size > MAX_BYTES) throw tooLarge(name, file.size);
      let type = await sniff(file), blob = file, note = '';
      if (!type) {
        const claimed = file.type || 'an unknown type';
        const converted = /^image\//.test(file.type) || !file.type ? await toPng(file) : null;
        if (!converted) {
          throw new UserError('This file is not a photo camserve can read',
            /^image\//.test(file.type)
              ? `${name} is ${claimed}, which neither camserve nor this browser can decode. Save it as JPEG or PNG.`
              : `${name} is not an image (its type is ${claimed}). Choose a JPEG or PNG photo.`);
        }
        if (converted.size > MAX_BYTES) throw tooLarge(`${name} as PNG`, converted.size);
        blob = converted;
        type = 'image/png';
        note = `converted from ${file.type || 'its format'} to PNG in the browser`;
      }
      const input = { blob, type, name, size: blob.size, note, id: ++state.inputs };
      input.photo = decodeBitmap(blob);
      state.input = input;
      state.dl = null;
      showFileName();
      analyze();
    } catch (e) {
      state.input = null;
      resetResult();
      showFileName();
      showError(e, null);
    }
  }

  function showFileName() {
    const i = state.input;
    if (!i) { el.fileName.hidden = true; return; }
    el.fileName.replaceChildren(node('strong', null, i.name), ` · ${fmtBytes(i.size)}${i.note ? ' · ' + i.note : ''}`);
    el.fileName.title = i.name;
    el.fileName.hidden = false;
  }

  /* ---- the request ---------------------------------------------------------------------- */

  function camPath(model, kind, q) { return `v1/models/${encodeURIComponent(model.name)}/${kind}?${q}`; }

  async function analyze() {
    const input = state.input;
    if (!input) return;
    const seq = ++state.seq;
    if (state.ctl) state.ctl.abort();
    clearError();
    setState('busy');
    el.busyText.textContent = `Explaining ${input.name}…`;
    announce(`Explaining ${input.name}`);
    if (!(await ensureModels())) return;
    if (seq !== state.seq) return;
    const model = state.model;
    el.busyText.textContent = `Explaining ${input.name} with ${model.name}…`;
    const ctl = state.ctl = new AbortController();
    const scoresOnly = !(model.cam && model.cam.applicable);
    const q = new URLSearchParams({ top_k: TOP_K });
    if (!scoresOnly) {
      q.set('cam_top_k', TOP_K);
      q.set('heatmap', 'true');
      q.set('overlay', 'false');
      q.set('threshold', state.threshold);
      q.set('boxes', state.boxes === 'all' ? 'all' : 'largest');
    }
    try {
      const t0 = performance.now();
      const pending = api(camPath(model, scoresOnly ? 'classify' : 'cam', q), {
        method: 'POST', body: input.blob, headers: { 'Content-Type': input.type }, signal: ctl.signal,
      });
      if (!state.res || state.res.input !== input) showPreview(input, seq);
      const r = await pending;
      const rtt = performance.now() - t0;
      const j = r.json;
      const heat = await Promise.all((j.cams || []).map((c) => decodeGray(c.heatmap_png)));
      const bmp = await input.photo;
      if (seq !== state.seq) return;
      const cams = new Map();
      (j.cams || []).forEach((c, i) => cams.set(c.index, { cam: c, gray: heat[i] }));
      const iw = j.image.width, ih = j.image.height;
      const gw = heat.length ? heat[0].w : Math.min(iw, 1024), gh = heat.length ? heat[0].h : Math.round(ih * gw / iw);
      let note = '';
      let photo = null;
      if (!bmp) note = 'This browser cannot show the photo itself; the heatmap is exact.';
      else if (bmp.width === ih && bmp.height === iw && iw !== ih)
        note = 'This browser turned the photo differently from the server (EXIF orientation); only the heatmap is shown.';
      else photo = pixelsOf(bmp, gw, gh);
      state.res = { json: j, requestId: r.requestId, rtt, input, model, scoresOnly, cams, iw, ih, gw, gh, photo, note };
      state.shown = j.cams && j.cams.length ? j.cams[0].index : null;
      state.ctl = null;
      showResult();
      setState('done');
      revealStage();
      const top = j.predictions[0];
      announce(top ? `${model.name}: ${top.label}, ${fmtPct(top.score)}.` : 'No predictions.');
    } catch (e) {
      if (seq !== state.seq || (e && e.name === 'AbortError')) return;
      state.ctl = null;
      resetResult();
      showError(e, () => analyze());
      announce('');
    }
  }

  async function decodeGray(b64) {
    if (!b64) throw new Error('the answer has no heatmap_png');
    const bmp = await createImageBitmap(new Blob([base64Bytes(b64)], { type: 'image/png' }),
      { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const w = bmp.width, h = bmp.height;
    const c = node('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(bmp, 0, 0);
    bmp.close();
    const d = ctx.getImageData(0, 0, w, h).data;
    const g = new Uint8Array(w * h);
    for (let i = 0, j = 0; i < g.length; i++, j += 4) g[i] = d[j];
    return { g, w, h };
  }

  function pixelsOf(bmp, w, h) {
    const c = node('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bmp, 0, 0, w, h);
    return ctx.getImageData(0, 0, w, h).data;
  }

  /* ---- boxes: the server's rule (core/localize.c) on the 8-bit heatmap ---------------------- */

  let labelBuf = null, parentBuf = null;

  function findBoxes(g, w, h, W, H, threshold, mode) {
    const n = w * h;
    let mx = 0;
    for (let i = 0; i < n; i++) if (g[i] > mx) mx = g[i];
    const t = threshold * mx;
    if (!labelBuf || labelBuf.length < n) { labelBuf = new Int32Array(n); parentBuf = new Int32Array(n + 2); }
    const lab = labelBuf, parent = parentBuf;
    const find = (a) => { while (parent[a] !== a) { parent[a] = parent[parent[a]]; a = parent[a]; } return a; };
    const union = (a, b) => {
      a = find(a); b = find(b);
      if (a < b) { parent[b] = a; return a; }
      if (b < a) { parent[a] = b; return b; }
      return a;
    };
    /* labels in raster order: a component's smallest label is its first pixel */
    let next = 1;
    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        if (g[i] < t) { lab[i] = 0; continue; }
        let l = x > 0 ? lab[i - 1] : 0;
        if (y > 0) {
          const up = i - w;
          if (x > 0 && lab[up - 1]) l = l ? union(l, lab[up - 1]) : lab[up - 1];
          if (lab[up]) l = l ? union(l, lab[up]) : lab[up];
          if (x < w - 1 && lab[up + 1]) l = l ? union(l, lab[up + 1]) : lab[up + 1];
        }
        if (!l) { l = next++; parent[l] = l; }
        lab[i] = l;
      }
    }
    if (next === 1) return [];
    const area = new Float64Array(next), heat = new Float64Array(next);
    const x0 = new Int32Array(next).fill(w), y0 = new Int32Array(next).fill(h);
    const x1 = new Int32Array(next).fill(-1), y1 = new Int32Array(next).fill(-1);
    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        if (!lab[i]) continue;
        const r = find(lab[i]);
        area[r]++;
        heat[r] += g[i];
        if (x < x0[r]) x0[r] = x;
        if (x > x1[r]) x1[r] = x;
        if (y < y0[r]) y0[r] = y;
        if (y > y1[r]) y1[r] = y;
      }
    }
    let comps = [];
    for (let r = 1; r < next; r++) if (parent[r] === r) comps.push(r);
    /* larger area first, then more heat, then raster order */
    comps.sort((a, b) => area[b] - area[a] || heat[b] - heat[a] || a - b);
    if (mode === 'all') comps = comps.filter((r) => area[r] >= MIN_AREA * n).slice(0, MAX_BOXES);
    else comps = comps.slice(0, 1);
    const scale = (g0, g1, cells, px) => [
      Math.min(px - 1, Math.floor(g0 * px / cells)),
      Math.max(0, Math.min(px - 1, Math.floor(((g1 + 1) * px + cells - 1) / cells) - 1)),
    ];
    return comps.map((r) => {
      let s = 0;
      for (let y = y0[r]; y <= y1[r]; y++) for (let x = x0[r], i = y * w + x; x <= x1[r]; x++, i++) s += g[i];
      const [bx0, bx1] = scale(x0[r], x1[r], w, W);
      const [by0, by1] = scale(y0[r], y1[r], h, H);
      return { x0: bx0, y0: by0, x1: bx1, y1: by1, score: s / 255 / ((x1[r] - x0[r] + 1) * (y1[r] - y0[r] + 1)) };
    });
  }

  /* ---- drawing ----------------------------------------------------------------------------- */

  let drawPending = false;
  function scheduleDraw() {
    if (drawPending || !state.res) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; draw(); });
  }

  function draw() {
    const r = state.res;
    if (!r) return;
    const { gw, gh, photo } = r;
    const c = el.overlay;
    if (c.width !== gw || c.height !== gh) { c.width = gw; c.height = gh; }
    const ctx = c.getContext('2d');
    const img = ctx.createImageData(gw, gh);
    const o = img.data;
    const entry = r.cams.get(state.shown);
    const view = entry ? state.view : 'original';
    if (view === 'original' || !entry) {
      if (photo) o.set(photo);
      else for (let j = 0; j < o.length; j += 4) { o[j] = o[j + 1] = o[j + 2] = 128; o[j + 3] = 255; }
    } else {
      const g = entry.gray.g, lut = LUTS[state.colormap] || LUTS.jet;
      /* as core/render.c: out = (int)(a * colour + (1 - a) * photo + 0.5), in float */
      const a = view === 'heatmap' || !photo ? 1 : Math.fround(state.alpha), b = Math.fround(1 - a);
      for (let i = 0, j = 0; i < g.length; i++, j += 4) {
        const k = g[i] * 3;
        if (b === 0) { o[j] = lut[k]; o[j + 1] = lut[k + 1]; o[j + 2] = lut[k + 2]; }
        else {
          o[j] = (a * lut[k] + b * photo[j] + 0.5) | 0;
          o[j + 1] = (a * lut[k + 1] + b * photo[j + 1] + 0.5) | 0;
          o[j + 2] = (a * lut[k + 2] + b * photo[j + 2] + 0.5) | 0;
        }
        o[j + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    const what = entry ? `${view === 'original' ? 'Photo' : view === 'heatmap' ? 'Heatmap' : 'Heatmap overlay'} for ${entry.cam.label}` : 'Photo';
    c.setAttribute('aria-label', what);
    c.dataset.view = view;
    c.dataset.class = entry ? String(entry.cam.index) : '';
    drawBoxes(entry);
  }

  const SVG = 'http://www.w3.org/2000/svg';

  function drawBoxes(entry) {
    const r = state.res;
    el.boxes.setAttribute('viewBox', `0 0 ${r.iw} ${r.ih}`);
    const shades = [], rects = [], labels = [];
    let boxes = [];
    if (entry && state.boxes !== 'none')
      boxes = findBoxes(entry.gray.g, entry.gray.w, entry.gray.h, r.iw, r.ih, state.threshold, state.boxes);
    boxes.forEach((b, i) => {
      for (const cls of ['box-shade', 'box']) {
        const e = document.createElementNS(SVG, 'rect');
        e.setAttribute('class', cls);
        e.setAttribute('x', b.x0);
        e.setAttribute('y', b.y0);
        e.setAttribute('width', b.x1 - b.x0 + 1);
        e.setAttribute('height', b.y1 - b.y0 + 1);
        if (cls === 'box') {
          e.dataset.score = b.score.toFixed(3);
          rects.push(e);
        } else shades.push(e);
      }
      if (i === 0) {
        const l = node('div', 'box-label', shortLabel(entry.cam.label));
        l.style.left = `${(100 * b.x0) / r.iw}%`;
        l.style.top = `${(100 * b.y0) / r.ih}%`;
        labels.push(l);
      }
    });
    el.boxes.replaceChildren(...shades, ...rects);
    el.boxLabels.replaceChildren(...labels);
    el.boxes.dataset.count = String(boxes.length);
  }

  function drawColorbar() {
    const lut = LUTS[state.colormap] || LUTS.jet;
    if (!lut) return;
    const ctx = el.colorbar.getContext('2d');
    const img = ctx.createImageData(256, 1);
    for (let i = 0; i < 256; i++) {
      img.data[4 * i] = lut[3 * i];
      img.data[4 * i + 1] = lut[3 * i + 1];
      img.data[4 * i + 2] = lut[3 * i + 2];
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  /* ---- the result around the picture ---------------------------------------------------- */

  function resetResult() {
    state.res = null;
    state.shown = null;
    el.figure.hidden = true;
    el.dropzone.hidden = false;
    el.predictions.replaceChildren();
    el.predictionsHint.hidden = false;
    el.shownTitle.textContent = 'No photo yet';
    el.shownSub.textContent = 'The map shows where the model found evidence for a class.';
    el.dlPng.disabled = el.dlJson.disabled = true;
    el.timingBar.replaceChildren();
    el.timings.replaceChildren();
    el.timingsHint.hidden = false;
    el.requestId.textContent = '–';
  }

  function showResult() {
    const r = state.res;
    el.figure.style.setProperty('--w', r.iw);
    el.figure.style.setProperty('--h', r.ih);
    el.figure.hidden = false;
    el.dropzone.hidden = true;
    for (const v of document.querySelectorAll('input[name=view]')) v.disabled = r.scoresOnly && v.value !== 'original';
    el.dlPng.disabled = r.scoresOnly;
    el.dlJson.disabled = false;
    renderPredictions();
    renderHeading();
    renderTimings();
    draw();
  }

  /* A new photo: show it at once, dimmed under the busy label, until the answer arrives. */
  async function showPreview(input, seq) {
    state.res = null;
    el.predictions.replaceChildren();
    el.predictionsHint.hidden = false;
    el.boxes.replaceChildren();
    el.boxLabels.replaceChildren();
    el.dlPng.disabled = el.dlJson.disabled = true;
    el.shownTitle.textContent = input.name;
    el.shownSub.textContent = 'Waiting for the answer…';
    const bmp = await input.photo;
    if (!bmp || seq !== state.seq || state.res) return;
    const k = Math.min(1, 1024 / Math.max(bmp.width, bmp.height));
    const c = el.overlay;
    c.width = Math.max(1, Math.round(bmp.width * k));
    c.height = Math.max(1, Math.round(bmp.height * k));
    c.getContext('2d').drawImage(bmp, 0, 0, c.width, c.height);
    c.setAttribute('aria-label', `Photo ${input.name}`);
    c.dataset.view = 'preview';
    c.dataset.class = '';
    el.figure.style.setProperty('--w', bmp.width);
    el.figure.style.setProperty('--h', bmp.height);
    el.figure.hidden = false;
    el.dropzone.hidden = true;
  }

  /* One column (phones): the photo card is above the picture, so bring the answer into view. */
  function revealStage() {
    if (!matchMedia('(max-width: 899px)').matches) return;
    const stage = el.figure.closest('.stage');
    const top = stage.getBoundingClientRect().top;
    if (top >= 0 && el.figure.getBoundingClientRect().bottom <= innerHeight) return;
    const smooth = !matchMedia('(prefers-reduced-motion: reduce)').matches;
    stage.scrollIntoView({ block: 'start', behavior: smooth ? 'smooth' : 'auto' });
  }

  function renderPredictions() {
    const r = state.res;
    const preds = r.json.predictions || [];
    el.predictionsHint.hidden = preds.length > 0 && !r.scoresOnly;
    if (r.scoresOnly) el.predictionsHint.textContent = 'This model gives scores only: there is no map to show.';
    else el.predictionsHint.textContent = 'The top five classes appear here. Choose one to see its map.';
    const items = preds.map((p, i) => {
      const li = node('li');
      const clickable = r.cams.has(p.index);
      const b = node(clickable ? 'button' : 'div', 'pred');
      b.dataset.index = p.index;
      b.append(node('span', 'pred-rank', String(i + 1)), node('span', 'pred-label', p.label), node('span', 'pred-pct', fmtPct(p.score)));
      b.children[1].title = p.label;
      const bar = node('span', 'pred-bar');
      const fill = node('span');
      fill.style.width = `${Math.max(0, Math.min(100, p.score * 100))}%`;
      bar.append(fill);
      b.append(bar);
      if (clickable) {
        b.type = 'button';
        b.addEventListener('click', () => selectClass(p.index));
      }
      li.append(b);
      return li;
    });
    el.predictions.replaceChildren(...items);
    markShown();
  }

  function markShown() {
    for (const b of el.predictions.querySelectorAll('button.pred')) {
      const on = Number(b.dataset.index) === state.shown;
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
      b.closest('li').classList.toggle('shown', on);
    }
  }

  function renderHeading() {
    const r = state.res;
    const preds = r.json.predictions || [];
    const entry = r.cams.get(state.shown);
    const rank = preds.findIndex((p) => p.index === state.shown);
    const p = rank >= 0 ? preds[rank] : preds[0];
    el.shownTitle.replaceChildren();
    if (!p) { el.shownTitle.textContent = 'No prediction'; return; }
    el.shownTitle.append(node('span', null, (entry ? entry.cam.label : p.label) + ' '), node('span', 'pct', fmtPct(p.score)));
    if (entry) el.shownTitle.append(node('span', 'badge', entry.cam.method === 'gradcam' ? 'Grad-CAM' : 'CAM'));
    let sub;
    if (r.scoresOnly) sub = `${r.model.name} gives scores only${r.model.cam && r.model.cam.reason ? ': ' + r.model.cam.reason : ''}.`;
    else sub = `${rank === 0 ? 'Top prediction' : `Prediction ${rank + 1} of ${preds.length}`} of ${r.model.name}: where it found evidence for this class.`;
    el.shownSub.textContent = r.note ? `${sub} ${r.note}` : sub;
  }

  function row(label, value, color, cls) {
    const d = node('div', cls);
    const dt = node('dt');
    if (color) {
      const sw = node('span', 'swatch');
      sw.style.background = color;
      dt.append(sw);
    }
    dt.append(label);
    d.append(dt, node('dd', null, value));
    return d;
  }

  const STAGES = [
    ['decode', 'Decode', '--t1'], ['preprocess', 'Preprocess', '--t2'], ['queue', 'Queue', '--t3'],
    ['forward', 'Forward pass', '--t4'], ['cam', 'CAM and boxes', '--t5'], ['encode', 'Encode PNGs', '--t6'],
  ];

  function renderTimings() {
    const r = state.res;
    const t = r.json.timing_ms || {};
    const total = t.total || STAGES.reduce((s, [k]) => s + (t[k] || 0), 0);
    const rows = [], segs = [];
    for (const [k, label, color] of STAGES) {
      if (typeof t[k] !== 'number') continue;
      rows.push(row(label, `${fmtMs(t[k])} ms`, `var(${color})`));
      const s = node('span');
      s.style.width = `${total > 0 ? (100 * t[k]) / total : 0}%`;
      s.style.background = `var(${color})`;
      s.title = `${label}: ${fmtMs(t[k])} ms`;
      segs.push(s);
    }
    rows.push(row('Server total', `${fmtMs(total)} ms`, null, 'total'));
    rows.push(row('Round trip, upload included', `${fmtMs(r.rtt)} ms`));
    rows.push(row('Photo', `${r.iw}×${r.ih}, ${fmtBytes(r.input.size)}`));
    el.timings.replaceChildren(...rows);
    el.timingsHint.hidden = true;
    el.timingBar.replaceChildren(...segs);
    el.requestId.textContent = r.requestId || '(none)';
  }

  function selectClass(index) {
    if (!state.res || !state.res.cams.has(index)) return;
    state.shown = index;
    markShown();
    renderHeading();
    draw();
    const e = state.res.cams.get(index);
    announce(`Showing the map of ${e.cam.label}.`);
  }

  /* ---- downloads ---------------------------------------------------------------------------- */

  function save(blob, name) {
    const a = node('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 30000);
  }

  async function download(kind) {
    const r = state.res;
    if (!r) return;
    const btn = kind === 'png' ? el.dlPng : el.dlJson;
    const key = JSON.stringify([r.input.id, r.model.name, state.shown, state.threshold, state.alpha, state.colormap, state.boxes]);
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      let d = state.dl && state.dl.key === key ? state.dl : null;
      if (!d) {
        const q = new URLSearchParams({ top_k: TOP_K });
        if (!r.scoresOnly) {
          q.set('class', state.shown);
          q.set('threshold', state.threshold);
          q.set('boxes', state.boxes === 'all' ? 'all' : 'largest');
          q.set('alpha', state.alpha);
          q.set('colormap', state.colormap);
          q.set('overlay', 'true');
        }
        const resp = await api(camPath(r.model, r.scoresOnly ? 'classify' : 'cam', q), {
          method: 'POST', body: r.input.blob, headers: { 'Content-Type': r.input.type },
        });
        d = state.dl = { key, json: resp.json, requestId: resp.requestId };
      }
      if (state.res !== r) return;
      const stem = `${slug(r.input.name.replace(/\.[^.]*$/, ''))}-${slug(r.model.name)}`;
      const cam = d.json.cams && d.json.cams[0];
      let name;
      if (kind === 'png') {
        if (!cam || !cam.overlay_png) throw new UserError('No overlay to save', 'The server sent no overlay for this model.');
        name = `${stem}-${slug(shortLabel(cam.label))}-overlay.png`;
        save(new Blob([base64Bytes(cam.overlay_png)], { type: 'image/png' }), name);
      } else {
        name = `${stem}${cam ? '-' + slug(shortLabel(cam.label)) : ''}.json`;
        save(new Blob([JSON.stringify(d.json, null, 2) + '\n'], { type: 'application/json' }), name);
      }
      if (el.result.dataset.state === 'error') { clearError(); setState('done'); }
      announce(`Saved ${name} (request id ${d.requestId || 'none'}).`);
    } catch (e) {
      showError(e, () => { clearError(); setState('done'); download(kind); });
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  }

  /* ---- wiring ----------------------------------------------------------------------------- */

  function readControls() {
    state.threshold = Number(el.threshold.value);
    state.alpha = Number(el.alpha.value);
    state.colormap = el.colormap.value;
    state.boxes = el.boxesMode.value;
    const v = document.querySelector('input[name=view]:checked');
    state.view = v ? v.value : 'overlay';
    el.thresholdOut.textContent = state.threshold.toFixed(2);
    el.alphaOut.textContent = state.alpha.toFixed(2);
  }

  function onControl() {
    readControls();
    scheduleDraw();
  }

  el.threshold.addEventListener('input', onControl);
  el.alpha.addEventListener('input', onControl);
  el.boxesMode.addEventListener('change', onControl);
  el.colormap.addEventListener('change', () => { readControls(); drawColorbar(); scheduleDraw(); });
  for (const v of document.querySelectorAll('input[name=view]')) v.addEventListener('change', onControl);

  el.model.addEventListener('change', () => {
    const m = state.models.find((x) => x.name === el.model.value);
    if (!m) return;
    state.model = m;
    updateModelInfo();
    if (state.input) analyze();
  });

  el.image.addEventListener('change', () => {
    const f = el.image.files && el.image.files[0];
    el.image.value = '';                          /* choosing the same file again is a new choice */
    takeFile(f, 'picker');
  });

  el.retry.addEventListener('click', () => {
    const fn = state.retry;
    clearError();
    if (fn) fn();
  });
  el.errorClose.addEventListener('click', () => {
    clearError();
    if (el.result.dataset.state === 'error') setState(state.res ? 'done' : 'idle');
  });

  el.dlPng.addEventListener('click', () => download('png'));
  el.dlJson.addEventListener('click', () => download('json'));

  document.addEventListener('paste', (e) => {
    const items = e.clipboardData ? Array.from(e.clipboardData.items) : [];
    const item = items.find((i) => i.kind === 'file');
    if (!item) return;
    e.preventDefault();
    takeFile(item.getAsFile(), 'paste');
  });

  let dragDepth = 0;
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
  const dragging = (on) => { el.dropOverlay.hidden = !on; document.body.classList.toggle('dragging', on); };
  window.addEventListener('dragenter', (e) => { if (!hasFiles(e)) return; e.preventDefault(); dragDepth++; dragging(true); });
  window.addEventListener('dragover', (e) => { if (!hasFiles(e)) return; e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; });
  window.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    if (--dragDepth <= 0) { dragDepth = 0; dragging(false); }
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    dragging(false);
    takeFile(e.dataTransfer.files[0], 'drop');
  });

  for (const s of document.querySelectorAll('.max-mb')) s.textContent = String(MAX_MB);
  readControls();
  drawColorbar();
  setState('idle');
  ensureModels();

  /* for the end-to-end test (tests/browser): the tables and the box rule, to check against the server */
  self.camserveDemo = { luts: LUTS, findBoxes, state };
})();
