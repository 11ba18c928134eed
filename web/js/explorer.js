// Panel 4: a learned perturbation set (MNIST under rotation / scale / translation). Sliders move
// along its leading latent directions, a grid shows random members of the ε-ball, and the latent
// attack searches the ball for the transformation that fools each classifier.

import { drawDigit } from './digits.js';

const el = (id) => document.getElementById(id);
const nextTask = () => new Promise((r) => setTimeout(r, 0));
const SET = 'mnist-rts';
const SLIDERS = 4;
const GRID = 16;

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function canvas(size = 56) {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  return c;
}

export class ExplorerPanel {
  constructor(engine, manifest, report) {
    this.engine = engine;
    this.manifest = manifest;
    this.report = report;
    this.busy = false;
    el('ex-prev').onclick = () => this.pick(Number(el('ex-digit').value) - 1);
    el('ex-next').onclick = () => this.pick(Number(el('ex-digit').value) + 1);
    el('ex-digit').addEventListener('change', () => this.pick(Number(el('ex-digit').value)));
    el('ex-eps').addEventListener('input', () => this.refresh());
    el('ex-resample').onclick = () => { el('ex-seed').value = String(Number(el('ex-seed').value) + 1); this.refresh(); };
    el('ex-attack').onclick = () => this.attack();
    el('ex-reset').onclick = () => { for (let k = 0; k < SLIDERS; k++) el(`ex-s${k}`).value = '0'; this.refresh(); };
    for (let k = 0; k < SLIDERS; k++) el(`ex-s${k}`).addEventListener('input', () => this.refresh());
  }

  async load() {
    const set = this.manifest.perturbation_sets?.find((s) => s.name === SET);
    if (!set) throw new Error(`${SET} is missing from assets/manifest.json`);
    const models = this.manifest.models.filter((m) => m.perturbation_set === SET);
    this.names = [set.name, ...models.map((m) => m.name)];
    this.files = [await fetchBytes(`assets/${set.file}`)];
    for (const m of models) this.files.push(await fetchBytes(`assets/${m.file}`));
    this.handle = await this.engine.create('ExplorerHandle', JSON.stringify(this.manifest), SET, this.names, this.files);
    this.entry = set;
    this.models = JSON.parse(await this.handle.model_names()).map(([name, method]) => ({ name, method }));
    el('ex-about').textContent = `${set.perturbation}; latent dimension ${set.cvae.latent}; ` +
      (set.quality.length ? 'approximation error ' + set.quality.map((q) => `${q.approximation_error.toFixed(4)} at ε = ${q.eps}`).join(', ') : '');
    el('ex-digit').max = String(this.digitCount() - 1);
    this.pick(Number(el('ex-digit').value) || 0);
  }

  /** Moves the explorer to another engine (the WebGPU bundle's). */
  async rebind(engine) {
    while (this.busy) await nextTask();
    const handle = await engine.create('ExplorerHandle', JSON.stringify(this.manifest), SET, this.names, this.files);
    this.handle.free();
    this.engine = engine;
    this.handle = handle;
  }

  /** The shipped test digits are the attack lab's (it keeps them). */
  digits() { return window.ballast.attack; }

  digitCount() { return this.digits().digitCount(); }

  pick(i) {
    const n = this.digitCount();
    i = ((i % n) + n) % n;
    el('ex-digit').value = String(i);
    this.pixels = this.digits().digit(i);
    this.label = this.digits().digitLabel(i);
    drawDigit(el('ex-original'), this.pixels);
    el('ex-original-label').textContent = `test digit ${i} (label ${this.label})`;
    el('ex-attacks').querySelector('tbody').innerHTML = '';
    return this.refresh();
  }

  sliders() {
    const eps = Number(el('ex-eps').value);
    el('ex-eps-out').textContent = eps.toFixed(1);
    return Array.from({ length: SLIDERS }, (_, k) => {
      const v = Number(el(`ex-s${k}`).value) * eps;
      el(`ex-s${k}-out`).textContent = v.toFixed(2);
      return v;
    });
  }

  /** Redraws the slider point and the grid of random members of the ball. */
  async refresh() {
    if (!this.handle) return;
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    try {
      do {
        this.again = false;
        const eps = Number(el('ex-eps').value);
        const out = JSON.parse(await this.handle.samples(Float32Array.from(this.pixels), Float32Array.from(this.sliders()),
          eps, GRID + 1, BigInt(Number(el('ex-seed').value))));
        const img = (k) => out.images.slice(784 * k, 784 * (k + 1));
        drawDigit(el('ex-point'), img(0));
        el('ex-point-label').textContent = this.models.map((m, i) => `${this.short(m)}: ${out.predictions[i][0]}`).join(' · ');
        const grid = el('ex-grid');
        grid.innerHTML = '';
        let correct = this.models.map(() => 0);
        for (let k = 1; k <= GRID; k++) {
          const c = canvas();
          drawDigit(c, img(k));
          const preds = this.models.map((_, i) => out.predictions[i][k]);
          preds.forEach((p, i) => { if (p === this.label) correct[i] += 1; });
          c.title = this.models.map((m, i) => `${this.short(m)} reads ${preds[i]}`).join(', ');
          if (preds[0] !== this.label) c.classList.add('fooled');
          grid.append(c);
        }
        grid.dataset.images = JSON.stringify(Array.from({ length: GRID }, (_, k) => img(k + 1)));
        grid.dataset.correct = JSON.stringify(correct);
        el('ex-grid-label').textContent = this.models.map((m, i) => `${this.short(m)} correct on ${correct[i]}/${GRID}`).join(' · ');
        this.report(null);
      } while (this.again);
    } catch (e) {
      this.report(e.message ?? String(e));
    } finally {
      this.busy = false;
    }
  }

  short(m) { return m.method === 'erm' ? 'standard' : m.method; }

  /** The latent attack against every linked classifier. */
  async attack() {
    if (!this.handle || this.busy) return;
    this.busy = true;
    const body = el('ex-attacks').querySelector('tbody');
    body.innerHTML = '';
    try {
      const eps = Number(el('ex-eps').value);
      const steps = Number(el('ex-steps').value);
      const t0 = performance.now();
      const results = [];
      for (let m = 0; m < this.models.length; m++) {
        const out = JSON.parse(await this.handle.attack(m, Float32Array.from(this.pixels), this.label, eps, steps, 0n));
        results.push(out);
        const row = document.createElement('tr');
        const adv = canvas(84);
        drawDigit(adv, out.adv);
        const cells = [this.short(this.models[m]), null,
          `${out.clean_pred} → ${out.adv_pred}${out.adv_pred !== this.label ? ' (fooled)' : ' (still correct)'}`,
          `‖u‖ = ${out.u_norm.toFixed(2)} ≤ ε = ${eps}`];
        for (const c of cells) {
          const td = document.createElement('td');
          if (c === null) td.append(adv); else td.textContent = c;
          row.append(td);
        }
        row.dataset.fooled = String(out.adv_pred !== this.label);
        row.dataset.unorm = String(out.u_norm);
        body.append(row);
        await nextTask();
      }
      el('ex-time').textContent = `${this.models.length} latent attacks (${steps} steps) in ${(performance.now() - t0).toFixed(0)} ms`;
      this.report(null);
      return results;
    } catch (e) {
      this.report(e.message ?? String(e));
    } finally {
      this.busy = false;
    }
  }
}
