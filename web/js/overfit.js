// Panel 3: the robust curves of a real native adversarial-training run, with what early
// stopping on a robust validation split keeps.

import { lineChart, COLORS } from './plot.js';

const el = (id) => document.getElementById(id);

export class OverfitPanel {
  constructor(manifest, report) {
    this.report = report;
    const select = el('ro-run');
    for (const c of manifest.curves ?? []) {
      select.append(Object.assign(document.createElement('option'), { value: c.name, textContent: `${c.name} (${c.method}, ${c.dataset})` }));
    }
    this.entries = manifest.curves ?? [];
    select.addEventListener('change', () => this.show());
    el('ro-clean').addEventListener('change', () => this.draw());
  }

  async show() {
    const entry = this.entries.find((c) => c.name === el('ro-run').value) ?? this.entries[0];
    if (!entry) {
      this.report('no training curves are shipped in assets/manifest.json');
      return;
    }
    el('ro-run').value = entry.name;
    const r = await fetch(`assets/${entry.file}`);
    if (!r.ok) throw new Error(`assets/${entry.file}: HTTP ${r.status}`);
    this.curves = await r.json();
    this.draw();
  }

  draw() {
    const c = this.curves;
    if (!c) return;
    const pts = (f) => c.points.map((p) => [p.epoch, 1 - f(p)]);
    const series = [
      { label: 'robust train error', color: COLORS[0], points: pts((p) => p.train_robust_acc) },
      { label: 'robust validation error', color: COLORS[2], points: pts((p) => p.val_robust_acc) },
      { label: 'robust test error', color: COLORS[5], points: pts((p) => p.test_robust_acc) },
    ];
    if (el('ro-clean').checked) {
      series.push(
        { label: 'clean train error', color: COLORS[0], dash: [5, 4], points: pts((p) => p.train_acc) },
        { label: 'clean test error', color: COLORS[5], dash: [5, 4], points: pts((p) => p.test_acc) },
      );
    }
    const last = c.points[c.points.length - 1];
    const sel = c.points.find((p) => p.epoch === c.selected_epoch) ?? last;
    const best = c.points.reduce((a, p) => (p.test_robust_acc > a.test_robust_acc ? p : a));
    lineChart(el('ro-chart'), series, {
      xLabel: 'epoch', yMin: 0, yMax: Math.min(1, Math.max(...series.flatMap((s) => s.points.map((p) => p[1]))) + 0.05),
      marks: [
        { x: sel.epoch, label: `early stop: epoch ${sel.epoch}`, color: '#009e73', row: 0 },
        { x: last.epoch, label: 'final', color: '#555', row: 1 },
      ],
    });
    const pct = (v) => `${(100 * v).toFixed(1)} %`;
    el('ro-summary').textContent =
      `${c.method} on ${c.dataset} (${c.model}, seed ${c.seed}); robust figures use ${c.attack} on ${c.test_examples} test examples. ` +
      `Early stopping on robust validation accuracy keeps epoch ${sel.epoch}: robust test accuracy ${pct(sel.test_robust_acc)}. ` +
      `Training to the end (epoch ${last.epoch}) gives ${pct(last.test_robust_acc)}, while robust training accuracy climbs to ${pct(last.train_robust_acc)}. ` +
      `The best test epoch, which no honest method can pick, was ${best.epoch} (${pct(best.test_robust_acc)}).`;
    el('ro-summary').dataset.selected = String(sel.epoch);
  }
}
