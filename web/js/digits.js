// 28×28 digits: drawing them, reading a user's drawing or photo the way MNIST was made
// (white strokes on black, fitted into a 20×20 box, centred by centre of mass).

/** Draws 784 values in [0, 1] as white-on-black pixels into `canvas`. */
export function drawDigit(canvas, pixels) {
  const img = new ImageData(28, 28);
  for (let p = 0; p < 784; p++) {
    const v = Math.round(255 * pixels[p]);
    img.data.set([v, v, v, 255], 4 * p);
  }
  blit(canvas, img);
}

/** Draws a perturbation δ (784 values) scaled by ε: red = brighter, blue = darker. */
export function drawPerturbation(canvas, delta, eps) {
  const img = new ImageData(28, 28);
  const scale = Math.max(eps, 1e-6);
  for (let p = 0; p < 784; p++) {
    const t = Math.max(-1, Math.min(1, delta[p] / scale));
    const r = t > 0 ? 255 : Math.round(255 * (1 + t));
    const b = t < 0 ? 255 : Math.round(255 * (1 - t));
    const g = Math.round(255 * (1 - Math.abs(t)));
    img.data.set([r, g, b, 255], 4 * p);
  }
  blit(canvas, img);
}

function blit(canvas, img) {
  const off = new OffscreenCanvas(28, 28);
  off.getContext('2d').putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
}

/**
 * Any image (canvas or ImageBitmap) -> 784 values in [0, 1], MNIST-style. Dark-on-light
 * pictures are inverted. Returns null for an empty picture.
 */
export function toMnist(source) {
  const w = source.width, h = source.height;
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext('2d');
  ctx.drawImage(source, 0, 0);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const grey = new Float32Array(w * h);
  let mean = 0;
  for (let i = 0; i < w * h; i++) {
    const a = rgba[4 * i + 3] / 255;
    // Transparent pixels count as background (black).
    grey[i] = ((0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255) * a;
    mean += grey[i];
  }
  mean /= w * h;
  if (mean > 0.5) for (let i = 0; i < grey.length; i++) grey[i] = 1 - grey[i];
  // Bounding box of the ink.
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (grey[y * w + x] > 0.2) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const s = 20 / Math.max(bw, bh);
  const box = new OffscreenCanvas(28, 28);
  const bctx = box.getContext('2d');
  const ink = new ImageData(bw, bh);
  for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) {
    const v = Math.round(255 * grey[(y0 + y) * w + x0 + x]);
    ink.data.set([v, v, v, 255], 4 * (y * bw + x));
  }
  const inkCanvas = new OffscreenCanvas(bw, bh);
  inkCanvas.getContext('2d').putImageData(ink, 0, 0);
  bctx.fillStyle = '#000';
  bctx.fillRect(0, 0, 28, 28);
  bctx.imageSmoothingEnabled = true;
  const dw = bw * s, dh = bh * s;
  bctx.drawImage(inkCanvas, (28 - dw) / 2, (28 - dh) / 2, dw, dh);
  const px = bctx.getImageData(0, 0, 28, 28).data;
  const out = new Float32Array(784);
  let mx = 0, my = 0, m = 0;
  for (let p = 0; p < 784; p++) {
    out[p] = px[4 * p] / 255;
    mx += out[p] * (p % 28); my += out[p] * Math.floor(p / 28); m += out[p];
  }
  // Shift so the centre of mass sits at the centre (MNIST's preprocessing).
  const dx = Math.round(13.5 - mx / m), dy = Math.round(13.5 - my / m);
  const shifted = new Float32Array(784);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const sx = x - dx, sy = y - dy;
    if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) shifted[y * 28 + x] = out[sy * 28 + sx];
  }
  return shifted;
}

/** Freehand drawing on a canvas (mouse, pen, touch), white on black. */
export function drawingPad(canvas) {
  const ctx = canvas.getContext('2d');
  const clear = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let last = null;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => { last = at(e); canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = canvas.width / 11;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  });
  const end = () => { last = null; };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  return { clear };
}
