// Small canvas charts: line plots with markers, and overlaid histograms.

export const COLORS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00'];

function frame(ctx, w, h) {
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
}

/**
 * series: [{label, color, points: [[x, y], …], dash}], opts: {xLabel, yLabel, yMin, yMax,
 * xMin, xMax, marks: [{x, label, color}]}.
 */
export function lineChart(canvas, series, opts = {}) {
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  frame(ctx, w, h);
  const rows = Math.ceil(series.length / 3);
  const pad = { l: 46, r: 12, t: 10 + 14 * rows, b: 34 };
  const all = series.flatMap((s) => s.points);
  const xMin = opts.xMin ?? Math.min(...all.map((p) => p[0]), 0);
  const xMax = opts.xMax ?? Math.max(...all.map((p) => p[0]), xMin + 1);
  const yMin = opts.yMin ?? Math.min(...all.map((p) => p[1]));
  const yMax = opts.yMax ?? Math.max(...all.map((p) => p[1]));
  const X = (x) => pad.l + ((x - xMin) / (xMax - xMin || 1)) * (w - pad.l - pad.r);
  const Y = (y) => h - pad.b - ((y - yMin) / (yMax - yMin || 1)) * (h - pad.t - pad.b);
  ctx.strokeStyle = '#999';
  ctx.fillStyle = '#333';
  ctx.font = '11px sans-serif';
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t);
  ctx.lineTo(pad.l, h - pad.b);
  ctx.lineTo(w - pad.r, h - pad.b);
  ctx.stroke();
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4;
    ctx.fillText(y.toFixed(2), 4, Y(y) + 4);
    const x = xMin + ((xMax - xMin) * i) / 4;
    ctx.fillText(Number.isInteger(x) ? String(x) : x.toFixed(2), X(x) - 8, h - pad.b + 14);
  }
  if (opts.xLabel) ctx.fillText(opts.xLabel, w / 2 - 20, h - 4);
  for (const m of opts.marks ?? []) {
    ctx.strokeStyle = m.color ?? '#444';
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(X(m.x), pad.t);
    ctx.lineTo(X(m.x), h - pad.b);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = m.color ?? '#444';
    ctx.fillText(m.label, Math.min(X(m.x) + 3, w - 110), pad.t + 10 + 12 * (m.row ?? 0));
  }
  series.forEach((s, i) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dash ?? []);
    ctx.beginPath();
    s.points.forEach(([x, y], j) => (j ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineWidth = 1;
    if (s.dots) {
      ctx.fillStyle = s.color;
      for (const [x, y] of s.points) ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4);
    }
    // Legend above the plot area.
    ctx.fillStyle = s.color;
    ctx.fillRect(pad.l + 8 + 170 * (i % 3), 6 + 14 * Math.floor(i / 3), 14, 3);
    ctx.fillText(s.label, pad.l + 26 + 170 * (i % 3), 11 + 14 * Math.floor(i / 3));
  });
}

/** groups: [{label, color, values}] over [lo, hi] in `bins` bins, as fractions of each group. */
export function histogram(canvas, groups, lo, hi, bins = 20) {
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  frame(ctx, w, h);
  const pad = { l: 36, r: 8, t: 10, b: 30 };
  const counts = groups.map((g) => {
    const c = new Array(bins).fill(0);
    for (const v of g.values) c[Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)))]++;
    return c.map((x) => x / Math.max(1, g.values.length));
  });
  const top = Math.max(0.01, ...counts.flat());
  const bw = (w - pad.l - pad.r) / bins;
  groups.forEach((g, gi) => {
    ctx.fillStyle = g.color;
    ctx.globalAlpha = 0.6;
    counts[gi].forEach((c, i) => {
      const bh = (c / top) * (h - pad.t - pad.b);
      ctx.fillRect(pad.l + i * bw + (gi * bw) / groups.length, h - pad.b - bh, bw / groups.length, bh);
    });
    ctx.globalAlpha = 1;
    ctx.fillText(`${g.label} (${g.values.length})`, pad.l + 6 + 150 * gi, pad.t + 10);
  });
  ctx.fillStyle = '#333';
  ctx.font = '11px sans-serif';
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    ctx.fillText(v.toFixed(1), pad.l + (i * (w - pad.l - pad.r)) / 4 - 6, h - pad.b + 14);
  }
  ctx.fillText('weight × batch size (1 = uniform)', w / 2 - 80, h - 4);
}
