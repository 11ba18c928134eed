// 28×28 digits: drawing them, reading a user's drawing or photo the way MNIST was made
// (white strokes on black, fitted into a 20×20 box, centred by centre of mass; the
// preprocessing itself is Rust, called in the engine's worker).

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
 * Any image (canvas or ImageBitmap) -> a Promise of 784 values in [0, 1] (a Float32Array),
 * MNIST-style: dark-on-light pictures are inverted, the ink is fitted into a 20×20 box and
 * centred by its centre of mass; null for an empty picture. The maths runs in Rust
 * (ballast_data::digit_image::to_mnist, exported by every bundle as `to_mnist`), in `engine`
 * (js/engine.js).
 */
export async function toMnist(source, engine) {
  const w = source.width, h = source.height;
  if (!w || !h) return null;
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext('2d');
  ctx.drawImage(source, 0, 0);
  const { data } = ctx.getImageData(0, 0, w, h);
  return (await engine.call('to_mnist', new Uint8Array(data.buffer, data.byteOffset, data.byteLength), w, h)) ?? null;
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
