// Panel 1: ERM vs a reweighting method, trained live side by side. The training runs in the
// engine's worker (js/engine.js); this thread asks for steps in chunks and draws each view.

import { lineChart, histogram, COLORS } from './plot.js';
import { writeHash } from './state.js';

const el = (id) => document.getElementById(id);
const nextTask = () => new Promise((r) => setTimeout(r, 0));

/** Methods whose step reads values back to the host (MW-Net's and the teacher's hypergradient
 * step sizes, GLC's corruption estimate). WebGPU in a browser reads only asynchronously, and the
 * core's synchronous reads panic there, so on WebGPU these train on the CPU worker (checked by
 * the browser suite, which steps every method on WebGPU). */
const HOST_READ_METHODS = new Set(['mwn', 'teacher', 'glc']);

export class PlaygroundPanel {
  constructor(engine, report, teaching = new Map(), palette = []) {
    this.engine = engine;
    this.report = report; // (message | null) -> shows or clears the panel's error
    this.teaching = teaching; // method -> the state in which its lesson shows
    this.cursor = [0.5, 0.5]; // keyboard cross-hair on the pictures, as fractions of their size
    this.palette = Array.from(palette); // class colours, RGB triples one after the other
    this.handle = null;
    this.running = false;
    this.history = []; // [step, acc left, acc right]
    this.rate = null; // measured steps per second while running
    this.busy = false;
    el('pg-step').onclick = () => this.stepOnce();
    el('pg-run').onclick = () => (this.running ? this.pause() : this.run());
    el('pg-reset').onclick = () => this.reset();
    // Controls that redraw the training set drop the visitor's edits (they name its positions).
    for (const id of ['pg-dataset', 'pg-noise', 'pg-noise-kind', 'pg-imbalance', 'pg-seed']) {
      el(id).addEventListener('change', () => { this.clearEdits(); this.reset(); });
    }
    for (const id of ['pg-val', 'pg-lr', 'pg-hidden']) {
      el(id).addEventListener('change', () => this.reset());
    }
    // Choosing a method loads its teaching state (the seed stays the visitor's).
    el('pg-method').addEventListener('change', () => {
      this.applyTeaching(el('pg-method').value);
      this.clearEdits();
      writeHash();
      this.reset();
    });
    el('pg-clear-edits').onclick = () => { this.clearEdits(); writeHash(); this.reset(); };
    el('pg-smooth').addEventListener('change', () => { this.smoothed = null; if (this.view) this.redraw(); });
    el('pg-export').onclick = () => this.exportCsv();
    for (const i of [0, 1]) this.bindCanvas(el(`pg-canvas-${i}`));
    for (const id of ['pg-noise', 'pg-imbalance']) el(id).addEventListener('input', () => this.outputs());
  }

  /** Moves to another engine (the WebGPU bundle's): a fresh start with the same controls. The
   * engine it leaves stays as `hostEngine`, for the methods that read back (HOST_READ_METHODS). */
  async rebind(engine) {
    this.pause();
    while (this.busy) await nextTask();
    this.handle?.free();
    this.handle = null;
    this.hostEngine = this.engine;
    this.engine = engine;
    await this.reset();
  }

  /** Sets every control but the method and the seed to `method`'s teaching state. */
  applyTeaching(method) {
    const t = this.teaching.get(method);
    if (!t) return;
    Object.entries({ 'pg-dataset': t.dataset, 'pg-noise': t.noise_rate, 'pg-noise-kind': t.noise_kind,
      'pg-imbalance': t.imbalance, 'pg-val': t.val_size, 'pg-lr': t.lr, 'pg-hidden': t.hidden, 'pg-stop': t.steps })
      .forEach(([id, v]) => { el(id).value = String(v); });
  }

  /** The visitor's placed points [[x, y, class]…] and flipped positions, from the hidden inputs
   * that keep them in the address. */
  edits() {
    const added = el('pg-added').value.split(';').filter(Boolean).map((p) => p.split(':').map(Number));
    const flips = el('pg-flips').value.split(',').filter(Boolean).map(Number);
    return { added, flips };
  }

  setEdits({ added, flips }) {
    el('pg-added').value = added.map((p) => `${p[0].toFixed(3)}:${p[1].toFixed(3)}:${p[2]}`).join(';');
    el('pg-flips').value = flips.join(',');
  }

  clearEdits() {
    this.setEdits({ added: [], flips: [] });
  }

  /** Adds an edit, keeps it in the address and restarts both networks on the new data. */
  async edit(change) {
    const e = this.edits();
    change(e);
    this.setEdits(e);
    writeHash();
    await this.reset();
  }

  /** Canvas pixel → data coordinates (2-D sets), from a pointer event. */
  toData(canvas, ev) {
    const r = canvas.getBoundingClientRect();
    const [x0, x1, y0, y1] = this.data.bounds;
    const u = (ev.clientX - r.left) / r.width, v = (ev.clientY - r.top) / r.height;
    return [x0 + u * (x1 - x0), y1 - v * (y1 - y0), u * canvas.width, v * canvas.height];
  }

  /** Training positions within `radius` canvas pixels of (px, py), nearest first. */
  near(canvas, px, py, radius) {
    const [x0, x1, y0, y1] = this.data.bounds;
    const { width: w, height: h } = canvas;
    const hits = [];
    this.data.train_labels.forEach((_, j) => {
      const dx = ((this.x[2 * j] - x0) / (x1 - x0)) * w - px;
      const dy = (h - ((this.x[2 * j + 1] - y0) / (y1 - y0)) * h) - py;
      const d = Math.hypot(dx, dy);
      if (d <= radius) hits.push([d, j]);
    });
    return hits.sort((a, b) => a[0] - b[0]).map(([, j]) => j);
  }

  /** Click: add a point of the chosen class; shift-click or the flip tool: flip the nearest
   * label; the brush: flip every label it passes over (once per stroke). */
  bindCanvas(canvas) {
    let stroke = null;
    canvas.addEventListener('pointerdown', (ev) => {
      if (!this.data?.bounds) return;
      const [x, y, px, py] = this.toData(canvas, ev);
      const tool = ev.shiftKey ? 'flip' : el('pg-tool').value;
      if (tool === 'add') {
        const cls = Number(el('pg-add-class').value) || 0;
        this.edit((e) => e.added.push([x, y, cls]));
      } else if (tool === 'flip') {
        const [j] = this.near(canvas, px, py, 12);
        if (j !== undefined) this.edit((e) => e.flips.push(j));
      } else {
        stroke = new Set(this.near(canvas, px, py, 14));
        canvas.setPointerCapture(ev.pointerId);
      }
    });
    canvas.addEventListener('pointermove', (ev) => {
      if (!stroke) return;
      const [, , px, py] = this.toData(canvas, ev);
      for (const j of this.near(canvas, px, py, 14)) stroke.add(j);
    });
    const end = () => {
      if (!stroke) return;
      const picked = [...stroke];
      stroke = null;
      if (picked.length) this.edit((e) => e.flips.push(...picked));
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    // Keyboard: arrows move a cross-hair (Shift: 10× faster), Enter places a point of the chosen
    // class there, Shift+Enter flips the label nearest to it.
    canvas.addEventListener('keydown', (ev) => {
      if (!this.data?.bounds) return;
      const step = ev.shiftKey ? 0.05 : 0.005;
      const move = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
      if (move) {
        this.cursor = this.cursor.map((c, k) => Math.min(1, Math.max(0, c + move[k])));
        ev.preventDefault();
        this.redraw();
        return;
      }
      if (ev.key !== 'Enter') return;
      ev.preventDefault();
      const [x0, x1, y0, y1] = this.data.bounds;
      const [u, v] = this.cursor;
      if (ev.shiftKey) {
        const [j] = this.near(canvas, u * canvas.width, v * canvas.height, 24);
        if (j !== undefined) this.edit((e) => e.flips.push(j));
      } else {
        const cls = Number(el('pg-add-class').value) || 0;
        this.edit((e) => e.added.push([x0 + u * (x1 - x0), y1 - v * (y1 - y0), cls]));
      }
    });
    canvas.addEventListener('focus', () => this.view && this.redraw());
    canvas.addEventListener('blur', () => this.view && this.redraw());
  }

  /** The right model's weights as shown: the latest, or their moving average (0.9) when
   * smoothing is on. */
  shownWeights(right) {
    if (!el('pg-smooth').checked) return right.weights;
    if (!this.smoothed || this.smoothed.length !== right.weights.length) this.smoothed = right.weights.slice();
    else this.smoothed = this.smoothed.map((v, j) => 0.9 * v + 0.1 * right.weights[j]);
    return this.smoothed;
  }

  /** Every training point with its label, flip and the right model's weight, as CSV text. */
  weightsCsv() {
    const d = this.data, right = this.view?.learners[1];
    if (!right) return '';
    const dims = this.x.length / d.train_labels.length;
    const head = [dims === 2 ? 'index,x,y' : 'index', 'label_seen,true_label,flipped,weight', this.smoothed ? 'weight_smoothed' : null]
      .filter(Boolean).join(',');
    const rows = d.train_labels.map((label, j) => [j, ...(dims === 2 ? [this.x[2 * j], this.x[2 * j + 1]] : []),
      label, d.true_labels[j], d.noisy[j] ? 1 : 0, right.weights[j], ...(this.smoothed ? [this.smoothed[j]] : [])].join(','));
    return `# ${right.label} at step ${this.view.step}; weight: batch size x the example's factor in the step (1 = ERM's)\n${head}\n${rows.join('\n')}\n`;
  }

  exportCsv() {
    const text = this.weightsCsv();
    if (!text) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    a.download = `ballast-weights-${this.view.learners[1].label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-step${this.view.step}.csv`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  /** The step where a run pauses. */
  stopAt() {
    return Math.max(1, Number(el('pg-stop').value) || 1);
  }

  config() {
    return {
      dataset: el('pg-dataset').value,
      noise_rate: Number(el('pg-noise').value),
      noise_kind: el('pg-noise-kind').value,
      imbalance: Number(el('pg-imbalance').value),
      val_size: Number(el('pg-val').value),
      method: el('pg-method').value,
      lr: Number(el('pg-lr').value),
      hidden: Number(el('pg-hidden').value),
      steps: this.stopAt(),
      seed: Number(el('pg-seed').value),
      ...this.edits(),
    };
  }

  outputs() {
    el('pg-noise-out').textContent = `${Math.round(Number(el('pg-noise').value) * 100)} %`;
    el('pg-imbalance-out').textContent = `${Math.round(Number(el('pg-imbalance').value) * 100)} %`;
  }

  /** A fresh pair of networks on the controls' data. The latest of overlapping resets wins;
   * step and run wait for it (`settled`), so a click during a reset acts on the new networks. */
  reset() {
    this.resetting = this.rebuild();
    return this.resetting;
  }

  /** Resolves once no reset is in flight. */
  async settled() {
    let seen;
    while (seen !== this.resetting) {
      seen = this.resetting;
      await seen;
    }
  }

  async rebuild() {
    this.pause();
    const gen = (this.gen ?? 0) + 1;
    this.gen = gen;
    while (this.busy) await nextTask();
    if (gen !== this.gen) return;
    this.outputs();
    this.handle?.free();
    this.handle = null;
    this.history = [];
    this.rate = null;
    el('pg-rate').textContent = '';
    try {
      const config = this.config();
      const onCpu = !!this.hostEngine && HOST_READ_METHODS.has(config.method);
      const handle = await (onCpu ? this.hostEngine : this.engine).create('PlaygroundHandle', JSON.stringify(config));
      const [data, x] = await Promise.all([handle.data(), handle.train_x()]);
      if (gen !== this.gen) {
        handle.free();
        return;
      }
      this.handle = handle;
      this.onCpu = onCpu;
      this.data = JSON.parse(data);
      this.x = x;
      this.smoothed = null;
      const classes = el('pg-add-class');
      if (classes.options.length !== this.data.num_classes) {
        classes.replaceChildren(...Array.from({ length: this.data.num_classes }, (_, k) => new Option(`class ${k}`, String(k))));
      }
      const { added, flips } = this.edits();
      el('pg-edits').textContent = added.length || flips.length ? `your edits: ${added.length} placed, ${flips.length} flipped` : '';
      el('pg-tools').dataset.points = String(this.data.train_labels.length);
      el('pg-tools').dataset.flipped = String(this.data.noisy.filter(Boolean).length);
      this.report(null);
      await this.refresh();
    } catch (e) {
      this.report(String(e.message ?? e));
    }
  }

  async stepOnce() {
    await this.settled();
    if (!this.handle || this.busy) return;
    this.busy = true;
    try {
      await this.handle.step(1);
      await this.refresh();
    } catch (e) {
      this.pause();
      this.report(String(e.message ?? e));
    } finally {
      this.busy = false;
    }
  }

  /** Steps done by the shown networks (the latest view's). */
  stepsDone() {
    return this.view?.step ?? 0;
  }

  /** Trains until paused, or until the pause step when started before it. Each chunk of steps
   * is one request to the worker, followed by a view; pausing takes effect after the chunk in
   * flight. */
  async run() {
    await this.settled();
    if (!this.handle || this.running || this.busy) return;
    this.running = true;
    const stop = this.stepsDone() < this.stopAt() ? this.stopAt() : Infinity;
    el('pg-run').textContent = 'pause';
    let perChunk = 1;
    let t0 = performance.now();
    let s0 = this.stepsDone();
    this.busy = true;
    try {
      while (this.running) {
        const start = performance.now();
        // The step and the view are sent together: the worker answers both without waiting.
        const k = Math.min(perChunk, stop - this.stepsDone());
        const [, view] = await Promise.all([this.handle.step(k), this.handle.view()]);
        this.show(view);
        const spent = performance.now() - start;
        // ~40 ms of training per chunk: a smooth animation, and a pause that acts at once.
        perChunk = Math.max(1, Math.min(200, Math.round(perChunk * (40 / Math.max(spent, 1)))));
        const now = performance.now();
        if (now - t0 > 1000) {
          this.rate = ((this.stepsDone() - s0) * 1000) / (now - t0);
          el('pg-rate').textContent = `${this.rate.toFixed(1)} steps/s`;
          el('pg-rate').dataset.rate = String(this.rate);
          t0 = now;
          s0 = this.stepsDone();
        }
        if (this.stepsDone() >= stop) break;
      }
    } catch (e) {
      this.report(String(e.message ?? e));
    } finally {
      this.busy = false;
      this.pause();
    }
  }

  pause() {
    this.running = false;
    el('pg-run').textContent = 'run';
  }

  async refresh() {
    const gen = this.gen;
    const view = await this.handle.view();
    if (gen !== this.gen) return; // a reset replaced the playground meanwhile
    this.show(view);
  }

  /** Draws a view: [view JSON, heatmap left, heatmap right] as the engine answers it. */
  show([json, heat0, heat1]) {
    const view = JSON.parse(json);
    this.view = view;
    const [left, right] = view.learners;
    this.history.push([view.step, left.test_acc, right.test_acc]);
    if (this.history.length > 400) this.history = this.history.filter((_, i) => i % 2 === 0);
    el('pg-steps').textContent = `step ${view.step}${this.onCpu ? ' (on the CPU worker)' : ''}`;
    el('pg-steps').dataset.engine = this.onCpu ? 'cpu-worker' : 'page-backend';
    el('pg-title-1').textContent = right.label;
    [left, right].forEach((l, i) => {
      const hyper = l.hyper ? ` · GCE q = ${l.hyper[0].toFixed(3)}` : '';
      el(`pg-acc-${i}`).textContent = `clean test accuracy ${(100 * l.test_acc).toFixed(1)} % · loss ${l.loss.toFixed(3)}${hyper}`;
      el(`pg-acc-${i}`).dataset.acc = String(l.test_acc);
    });
    this.heats = [heat0, heat1];
    this.shown = this.shownWeights(right);
    this.redraw();
    lineChart(el('pg-curve'), [
      { label: left.label, color: COLORS[0], points: this.history.map((h) => [h[0], h[1]]) },
      { label: right.label, color: COLORS[1], points: this.history.map((h) => [h[0], h[2]]) },
    ], { yMin: 0, yMax: 1, xLabel: 'step' });
    const stats = el('pg-stats');
    const noisyMean = right.mean_weight_noisy;
    stats.textContent = noisyMean === null
      ? `mean weight ${right.mean_weight_clean.toFixed(3)} (no flipped labels)`
      : `mean weight: clean ${right.mean_weight_clean.toFixed(3)} · flipped ${noisyMean.toFixed(3)}`;
    stats.dataset.step = String(view.step);
    stats.dataset.clean = String(right.mean_weight_clean);
    stats.dataset.noisy = String(noisyMean);
  }

  /** Both pictures and the weight histogram, from the latest view (smoothed weights if on). */
  redraw() {
    const [left, right] = this.view.learners;
    if (!this.shown || this.shown.length !== right.weights.length) this.shown = right.weights;
    if (!el('pg-smooth').checked) this.shown = right.weights;
    this.drawSide(0, this.heats[0], left, left.weights);
    this.drawSide(1, this.heats[1], right, this.shown);
    const clean = [], noisy = [];
    this.shown.forEach((w, i) => (this.data.noisy[i] ? noisy : clean).push(w));
    const hi = Math.max(2, ...this.shown.map((w) => Math.min(w, 10)));
    histogram(el('pg-hist'), [
      { label: 'clean', color: COLORS[2], values: clean },
      { label: 'flipped', color: COLORS[5], values: noisy },
    ], 0, hi);
  }

  drawSide(i, heat, learner, weights) {
    const canvas = el(`pg-canvas-${i}`);
    const ctx = canvas.getContext('2d');
    const { width: w, height: h } = canvas;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    const d = this.data;
    if (heat) {
      const img = new ImageData(heat, d.grid, d.grid);
      const off = new OffscreenCanvas(d.grid, d.grid);
      off.getContext('2d').putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(off, 0, 0, w, h);
      const [x0, x1, y0, y1] = d.bounds;
      const X = (x) => ((x - x0) / (x1 - x0)) * w;
      const Y = (y) => h - ((y - y0) / (y1 - y0)) * h;
      d.train_labels.forEach((label, j) => {
        const r = 1.5 + 3.2 * Math.sqrt(Math.min(weights[j], 9));
        const c = this.palette.slice(3 * label, 3 * label + 3);
        ctx.beginPath();
        ctx.arc(X(this.x[2 * j]), Y(this.x[2 * j + 1]), r, 0, 2 * Math.PI);
        ctx.fillStyle = `rgb(${c})`;
        ctx.fill();
        ctx.lineWidth = d.noisy[j] ? 2 : 0.6;
        ctx.strokeStyle = d.noisy[j] ? '#111' : '#fff';
        ctx.stroke();
      });
      if (document.activeElement === canvas) {
        const [cx, cy] = [this.cursor[0] * w, this.cursor[1] * h];
        ctx.strokeStyle = '#000';
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(cx - 10, cy); ctx.lineTo(cx + 10, cy); ctx.moveTo(cx, cy - 10); ctx.lineTo(cx, cy + 10);
        ctx.stroke();
      }
    } else {
      this.drawDigits(ctx, w, h, weights);
    }
  }

  /** MNIST: the 24 training digits the model currently weighs least, with their labels. */
  drawDigits(ctx, w, h, weights) {
    const d = this.data;
    const order = weights.map((v, j) => [v, j]).sort((a, b) => a[0] - b[0]).slice(0, 24);
    const cell = Math.floor(w / 6);
    ctx.font = '11px sans-serif';
    order.forEach(([weight, j], k) => {
      const img = new ImageData(28, 28);
      for (let p = 0; p < 784; p++) {
        const v = 255 - Math.round(255 * this.x[784 * j + p]);
        img.data.set([v, v, v, 255], 4 * p);
      }
      const off = new OffscreenCanvas(28, 28);
      off.getContext('2d').putImageData(img, 0, 0);
      const cx = (k % 6) * cell, cy = Math.floor(k / 6) * (cell + 4);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(off, cx + 4, cy + 2, cell - 8, cell - 8);
      ctx.fillStyle = d.noisy[j] ? '#d55e00' : '#333';
      ctx.fillText(`${d.train_labels[j]}${d.noisy[j] ? '✗' : ''} w=${weight.toFixed(2)}`, cx + 2, cy + cell + 2);
    });
    ctx.fillStyle = '#333';
    const uniform = weights.every((v) => v === 1);
    ctx.fillText(uniform ? 'every digit weighs the same for this model' : 'lowest-weighted training digits (label given, ✗ = flipped)', 4, h - 4);
  }
}
