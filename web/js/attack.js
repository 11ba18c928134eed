// Panel 2: every attack of the core's suite against the natively trained MNIST models the
// manifest ships (their list and labels come from the core crate, through the engine).

import { drawDigit, drawPerturbation, toMnist, drawingPad } from './digits.js';
import { lineChart, COLORS } from './plot.js';
import { writeHash } from './state.js';

const el = (id) => document.getElementById(id);
const nextTask = () => new Promise((r) => setTimeout(r, 0));

/** Thrown between chunks of work when the visitor presses stop. */
class Stopped extends Error {
  constructor() { super('stopped'); }
}
const EPS_GRID = { linf: [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4], l2: [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4] };

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** How the native report measured a robust figure: AutoAttack's standard suite, or the attacks named. */
function suiteName(attacks) {
  const kinds = attacks.map((a) => a.split(' ')[0].replace(/-\d+(x\d+)?$/, ''));
  const aa = ['apgd-ce', 'apgd-t', 'fab-t', 'square'];
  return aa.every((k) => kinds.includes(k)) ? 'AutoAttack' : kinds.join(', ');
}

/** The attacks that run entirely on the device. The others (APGD, FAB, Square and AutoAttack)
 * read results back between steps to decide per example (step sizes, restarts, accepted squares),
 * which WebGPU in a browser only allows asynchronously: on WebGPU they run on the CPU worker. */
const DEVICE_ONLY_ATTACKS = new Set(['fgsm', 'pgd']);

/** A shipped test digit (index) where, on the PGD-AT model at ℓ∞ ε = 0.3, AutoAttack's gradient
 * attacks (APGD-CE, APGD-T, FAB-T) all fail and Square breaks it (checked natively by
 * web/tests/engines.rs). */
const SQUARE_ONLY_DIGIT = 76;

/** The attack of the settings, with its budget: "PGD-20", "Square-5000", "AutoAttack (…)". */
function attackName(s) {
  const upper = { fgsm: 'FGSM', pgd: 'PGD', 'apgd-ce': 'APGD-CE', 'apgd-dlr': 'APGD-DLR', 'apgd-t': 'APGD-T', 'fab-t': 'FAB-T', fab: 'FAB', square: 'Square' };
  if (s.kind === 'fgsm') return 'FGSM';
  if (s.kind === 'square') return `Square-${s.queries}`;
  if (s.kind === 'aa-standard') return `AutoAttack (APGD-CE/APGD-T/FAB-T ${s.steps} steps, Square ${s.queries} queries)`;
  return `${upper[s.kind] ?? s.kind}-${s.steps}`;
}

export class AttackPanel {
  constructor(engine, manifest, report) {
    this.engine = engine;
    this.manifest = manifest;
    this.report = report;
    this.image = null; // {pixels, label (-1: unknown), source}
    this.busy = false;
    this.pad = drawingPad(el('at-draw'));
    el('at-run').onclick = () => this.attack();
    el('at-prev').onclick = () => this.pickDigit(Number(el('at-digit').value) - 1);
    el('at-next').onclick = () => this.pickDigit(Number(el('at-digit').value) + 1);
    el('at-digit').addEventListener('change', () => this.pickDigit(Number(el('at-digit').value)));
    el('at-draw-clear').onclick = () => this.pad.clear();
    el('at-draw-use').onclick = () => this.useImage(el('at-draw'), 'your drawing');
    el('at-upload').addEventListener('change', async (e) => {
      const file = e.target.files[0];
      if (file) this.useImage(await createImageBitmap(file), file.name);
    });
    el('at-norm').addEventListener('change', () => this.normChanged());
    el('at-eps').addEventListener('input', () => this.outputs());
    el('at-batch-run').onclick = () => this.batch();
    const example = el('at-square-example');
    example.append('Try ', Object.assign(document.createElement('button'), {
      id: 'at-square-run', textContent: `test digit ${SQUARE_ONLY_DIGIT} under AutoAttack`,
      onclick: () => this.squareExample(),
    }), ': on the PGD-AT model every gradient attack fails and Square breaks it (AutoAttack\'s full budgets, ' +
      'a few seconds on the CPU).');
    el('at-curve-run').onclick = () => this.curve();
    for (const id of ['at-stop', 'at-batch-stop']) el(id).onclick = () => { this.stopRequested = true; };
  }

  /** Runs `work` as the panel's one job: the stop buttons are live while it runs, and a stop
   * ends it between chunks (digits, a model) with "stopped" in `readout` instead of an error. */
  async job(work, readout = 'at-curve-progress') {
    if (!this.lab || this.busy) return;
    this.busy = true;
    this.stopRequested = false;
    for (const id of ['at-stop', 'at-batch-stop']) el(id).disabled = false;
    try {
      await work();
      this.report(null);
    } catch (e) {
      if (e instanceof Stopped) el(readout).textContent = 'stopped';
      else this.report(String(e.message ?? e));
    } finally {
      for (const id of ['at-stop', 'at-batch-stop']) el(id).disabled = true;
      this.busy = false;
    }
    // An image chosen while the panel was busy is attacked now.
    if (this.attackQueued) {
      this.attackQueued = false;
      this.attack();
    }
  }

  checkStop() {
    if (this.stopRequested) throw new Stopped();
  }

  async load() {
    this.models = JSON.parse(await this.engine.call('attack_lab_models', JSON.stringify(this.manifest)));
    this.names = this.models.map((m) => m.name);
    this.files = [];
    for (const name of this.names) {
      const entry = this.manifest.models.find((m) => m.name === name);
      this.files.push(await fetchBytes(`assets/${entry.file}`));
    }
    this.lab = await this.engine.create('AttackLabHandle', JSON.stringify(this.manifest), this.names, this.files);
    // The shipped test digits stay here: picking one (this panel, the explorer) needs no call.
    this.pixels = await this.lab.all_digits();
    this.labels = await this.lab.all_labels();
    el('at-digit').max = String(this.digitCount() - 1);
    this.normChanged(false);
    this.pickDigit(Number(el('at-digit').value) || 0, false);
  }

  digitCount() { return this.labels?.length ?? 0; }

  /** Shipped test digit i: 784 values in [0, 1] (its own copy). */
  digit(i) { return this.pixels.slice(784 * i, 784 * (i + 1)); }

  digitLabel(i) { return this.labels[i]; }

  /** Moves the lab to another engine (the WebGPU bundle's), keeping the current image. The
   * lab on the engine it leaves stays as `hostLab`, for the attacks that are not device-only. */
  async rebind(engine) {
    this.stopRequested = true;
    while (this.busy) await nextTask();
    const lab = await engine.create('AttackLabHandle', JSON.stringify(this.manifest), this.names, this.files);
    this.hostLab?.free();
    this.hostLab = this.lab;
    this.engine = engine;
    this.lab = lab;
  }

  /** The lab that runs attack `kind`, and whether it is the CPU one while the page is on WebGPU. */
  labFor(kind) {
    return this.hostLab && !DEVICE_ONLY_ATTACKS.has(kind) ? [this.hostLab, true] : [this.lab, false];
  }

  normChanged(clamp = true) {
    const linf = el('at-norm').value === 'linf';
    const eps = el('at-eps');
    eps.max = linf ? '0.5' : '5';
    eps.step = linf ? '0.01' : '0.1';
    if (clamp && Number(eps.value) > Number(eps.max)) eps.value = eps.max;
    this.outputs();
  }

  outputs() {
    el('at-eps-out').textContent = Number(el('at-eps').value).toFixed(2);
  }

  settings() {
    const stepSize = el('at-step-size').value.trim();
    if (stepSize !== '' && stepSize !== 'auto' && !(Number(stepSize) > 0)) {
      throw new Error(`step size must be a positive number or "auto", got "${stepSize}"`);
    }
    return {
      kind: el('at-kind').value,
      norm: el('at-norm').value,
      eps: Number(el('at-eps').value),
      steps: Number(el('at-steps').value),
      step_size: stepSize === '' || stepSize === 'auto' ? null : Number(stepSize),
      random_start: el('at-random-start').checked,
      queries: Number(el('at-queries').value) || 5000,
      seed: 0,
    };
  }

  pickDigit(i, run = true) {
    const n = this.digitCount();
    i = ((Math.round(i) % n) + n) % n;
    el('at-digit').value = String(i);
    this.image = { pixels: this.digit(i), label: this.digitLabel(i), source: `test digit #${i} (label ${this.digitLabel(i)})` };
    writeHash();
    if (run) this.attack();
  }

  /** The gradient-free lesson: AutoAttack at its standard budgets on SQUARE_ONLY_DIGIT. */
  async squareExample() {
    while (this.busy) await nextTask();
    Object.entries({ 'at-kind': 'aa-standard', 'at-norm': 'linf', 'at-eps': '0.3', 'at-steps': '100', 'at-queries': '5000' })
      .forEach(([id, v]) => { el(id).value = v; });
    this.normChanged(false);
    this.pickDigit(SQUARE_ONLY_DIGIT, true);
  }

  async useImage(source, name) {
    const pixels = await toMnist(source, this.engine).catch((e) => { this.report(String(e.message ?? e)); return undefined; });
    if (pixels === undefined) return;
    if (!pixels) {
      this.report('the picture is empty: draw or upload a digit first');
      return;
    }
    this.image = { pixels, label: -1, source: `${name} (attacked away from each model's own answer)` };
    this.attack();
  }

  /** The shown image against every model, one model per call into the engine. */
  async attack() {
    if (!this.image) return;
    if (this.busy) {
      this.attackQueued = true;
      return;
    }
    await this.job(async () => {
      const body = el('at-results').querySelector('tbody');
      const times = [];
      const s = this.settings();
      const [lab, onCpu] = this.labFor(s.kind);
      const rows = [];
      for (let m = 0; m < this.models.length; m++) {
        this.checkStop();
        el('at-time').textContent = `${attackName(s)}: ${this.models[m].label}…`;
        const t0 = performance.now();
        const out = JSON.parse(await lab.attack(m, this.image.pixels, this.image.label, JSON.stringify(s)));
        times.push(performance.now() - t0);
        rows.push(out);
      }
      body.replaceChildren(...rows.map((out, m) => this.row(m, out, s)));
      el('at-source').textContent = `Attacking ${this.image.source}.`;
      el('at-time').textContent = `${attackName(s)} on one digit${onCpu ? ' (on the CPU worker)' : ''}: ` +
        times.map((t, m) => `${this.models[m].label} ${t.toFixed(0)} ms`).join(' · ');
      el('at-time').dataset.ms = JSON.stringify(times);
    }, 'at-time');
  }

  row(m, out, s) {
    const tr = document.createElement('tr');
    tr.dataset.model = this.models[m].name;
    tr.dataset.clean = String(out.clean_pred);
    tr.dataset.adv = String(out.adv_pred);
    const cell = (child) => { const td = document.createElement('td'); td.append(child); tr.append(td); return td; };
    const entry = this.manifest.models.find((e) => e.name === this.models[m].name);
    const name = document.createElement('div');
    const acc = entry.robust.find((r) => r.norm === 'linf');
    name.innerHTML = `<b>${this.models[m].label}</b><br><small>natively: clean ${(100 * entry.clean_test_accuracy).toFixed(1)} %` +
      (acc ? `, robust ${(100 * acc.worst_case_accuracy).toFixed(1)} % at ℓ∞ ε=${acc.eps} (${suiteName(acc.attacks)})` : '') + '</small>';
    cell(name);
    const canvas = () => { const c = document.createElement('canvas'); c.width = c.height = 84; return c; };
    const orig = canvas(); drawDigit(orig, this.image.pixels);
    const pert = canvas(); drawPerturbation(pert, out.adv.map((v, p) => v - this.image.pixels[p]), s.eps);
    const adv = canvas(); drawDigit(adv, out.adv);
    cell(orig).append(Object.assign(document.createElement('div'), { textContent: `says ${out.clean_pred}` }));
    cell(pert).append(Object.assign(document.createElement('div'), { textContent: `ℓ∞ ${out.linf.toFixed(2)} · ℓ2 ${out.l2.toFixed(2)}` }));
    const verdict = Object.assign(document.createElement('div'), { textContent: `says ${out.adv_pred}` });
    verdict.className = out.adv_pred === out.clean_pred ? 'held' : 'fooled';
    cell(adv).append(verdict);
    cell(this.bars(out));
    // "Broken by": each attack's verdict on this digit (✓ held, ✗ broke it).
    const marks = document.createElement('div');
    marks.className = 'marks';
    for (const a of out.attacks) {
      const span = document.createElement('span');
      span.className = a.broke ? 'fooled' : 'held';
      span.textContent = `${a.broke ? '✗' : '✓'} ${a.attack}`;
      span.title = a.broke ? `${a.attack} found an image the model reads as ${a.adv_pred}` : `${a.attack} did not break it`;
      marks.append(span, document.createElement('br'));
    }
    tr.dataset.brokenBy = out.attacks.filter((a) => a.broke).map((a) => a.attack).join(',');
    cell(marks);
    return tr;
  }

  bars(out) {
    const c = document.createElement('canvas');
    c.width = 260; c.height = 84;
    const ctx = c.getContext('2d');
    ctx.font = '10px sans-serif';
    const bw = c.width / 10;
    for (let k = 0; k < 10; k++) {
      const x = k * bw;
      ctx.fillStyle = '#bbb';
      ctx.fillRect(x + 2, 70 - 64 * out.clean_probs[k], bw / 2 - 2, 64 * out.clean_probs[k]);
      ctx.fillStyle = k === out.adv_pred ? '#d55e00' : '#0072b2';
      ctx.fillRect(x + bw / 2, 70 - 64 * out.adv_probs[k], bw / 2 - 2, 64 * out.adv_probs[k]);
      ctx.fillStyle = '#333';
      ctx.fillText(String(k), x + bw / 2 - 3, 82);
    }
    return c;
  }

  /** Clean / robust / flipped counts of model m on the first n digits at radius eps. */
  async counts(m, s, eps, n) {
    // Digits per call into the engine. On the CPU, sized to ~0.5 s of work (one digit first):
    // the stop button acts between calls, so within about half a second at any attack budget.
    // On WebGPU a call's cost is mostly its kernel dispatches, whatever the digit count: 50.
    const [lab, onCpu] = this.labFor(s.kind);
    const gpu = window.ballast?.backend.name === 'webgpu' && !onCpu;
    let chunk = gpu ? 50 : 1;
    const total = { examples: 0, clean_correct: 0, robust_correct: 0, flipped: 0, running: null };
    for (let start = 0; start < n;) {
      this.checkStop();
      const k = Math.min(chunk, n - start);
      const t0 = performance.now();
      const r = JSON.parse(await lab.attack_batch(m, JSON.stringify(s), eps, start, k));
      const perDigit = (performance.now() - t0) / k;
      if (!gpu) chunk = Math.max(1, Math.min(50, Math.round(500 / Math.max(perDigit, 1))));
      start += k;
      for (const key of ['examples', 'clean_correct', 'robust_correct', 'flipped']) total[key] += r[key];
      total.running = total.running ? total.running.map(([a, c], i) => [a, c + r.running[i][1]]) : r.running;
    }
    return total;
  }

  async batch() {
    const n = Number(el('at-batch-n').value);
    await this.job(async () => {
      const body = el('at-batch').querySelector('tbody');
      body.replaceChildren();
      const s = this.settings();
      for (let m = 0; m < this.models.length; m++) {
        el('at-curve-progress').textContent = `attacking ${n} digits: ${this.models[m].label}…`;
        const t0 = performance.now();
        const r = await this.counts(m, s, s.eps, n);
        const tr = document.createElement('tr');
        Object.assign(tr.dataset, { model: this.models[m].name, examples: r.examples, flipped: r.flipped, robust: r.robust_correct, clean: r.clean_correct, ms: performance.now() - t0 });
        tr.dataset.running = JSON.stringify(r.running);
        const running = r.running.length > 1 ? r.running.map(([a, c]) => `${a} ${c}`).join(' → ') : '';
        for (const v of [this.models[m].label, s.eps, r.examples, r.clean_correct, r.robust_correct, r.flipped, running]) {
          tr.append(Object.assign(document.createElement('td'), { textContent: String(v) }));
        }
        body.append(tr);
      }
      el('at-curve-progress').textContent = `done (${attackName(s)}, ${s.norm}, ε = ${s.eps})`;
    });
  }

  async curve() {
    const n = Number(el('at-batch-n').value);
    await this.job(async () => {
      const s = this.settings();
      const grid = EPS_GRID[s.norm];
      const series = this.models.map(({ label }, m) => ({ label, color: COLORS[m], points: [], dots: true }));
      for (const eps of grid) {
        for (let m = 0; m < this.models.length; m++) {
          el('at-curve-progress').textContent = `ε = ${eps}: ${this.models[m].label}…`;
          const r = await this.counts(m, s, eps, n);
          series[m].points.push([eps, r.robust_correct / r.examples]);
          lineChart(el('at-curve'), series, { yMin: 0, yMax: 1, xMin: 0, xMax: grid[grid.length - 1], xLabel: `ε (${s.norm === 'linf' ? 'ℓ∞' : 'ℓ2'}), ${attackName(s)} on ${n} test digits` });
        }
      }
      el('at-curve-progress').textContent = 'curve done';
      // [model][radius] -> [eps, robust accuracy], for tests and for copying the figures.
      el('at-curve').dataset.points = JSON.stringify(series.map((x) => x.points));
      el('at-curve').dataset.done = '1';
    });
  }
}
