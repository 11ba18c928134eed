// Boot: the default (CPU) bundle starts the page in a Web Worker (js/engine.js); when the
// browser offers a WebGPU adapter, the WebGPU bundle is loaded in a second worker in the
// background and the panels move onto it. This thread only draws and handles input.

import { Engine } from './engine.js';
import { applyHash, bindHash, writeHash } from './state.js';
import { PlaygroundPanel } from './playground.js';
import { AttackPanel } from './attack.js';
import { OverfitPanel } from './overfit.js';
import { ExplorerPanel } from './explorer.js';
import { Lesson, requestedStep } from './lesson.js';

const el = (id) => document.getElementById(id);

function errorReporter(id) {
  return (message) => {
    const box = el(id);
    box.hidden = !message;
    box.textContent = message ?? '';
    if (message) console.warn(`${id}: ${message}`);
  };
}

function showBackend(info, adapter) {
  const badge = el('backend');
  badge.textContent = info.name === 'webgpu' ? `WebGPU · ${adapter || info.adapter || 'adapter'}` : 'CPU (flex, WebAssembly)';
  if (info.fallback_reason) badge.textContent += ` — ${info.fallback_reason}`;
  badge.dataset.backend = info.name;
  badge.title = info.fallback_reason ?? '';
}

function applyDefaults(defaults) {
  const pg = defaults.playground, at = defaults.attack;
  // The playground's methods come from the core crate's registry, grouped by family.
  const select = el('pg-method');
  select.replaceChildren();
  const groups = new Map();
  for (const m of defaults.playground_methods) {
    if (!groups.has(m.family)) {
      const g = document.createElement('optgroup');
      g.label = m.family;
      groups.set(m.family, g);
      select.append(g);
    }
    const o = new Option(m.label, m.name);
    o.title = m.summary;
    groups.get(m.family).append(o);
  }
  Object.entries({ 'pg-dataset': pg.dataset, 'pg-noise': pg.noise_rate, 'pg-noise-kind': pg.noise_kind,
    'pg-imbalance': pg.imbalance, 'pg-val': pg.val_size, 'pg-method': pg.method, 'pg-lr': pg.lr, 'pg-seed': pg.seed,
    'pg-hidden': pg.hidden, 'pg-stop': pg.steps,
    'at-digit': 0, 'at-kind': at.kind, 'at-norm': at.norm, 'at-eps': at.eps, 'at-steps': at.steps, 'at-batch-n': 100, 'at-queries': at.queries })
    .forEach(([id, v]) => { el(id).value = String(v); });
  el('at-random-start').checked = at.random_start;
  el('at-eps').max = '5'; // the widest range (ℓ2); the attack panel narrows it to the norm's
}

/** Method name -> the playground state in which its lesson shows (the engine's choice). */
function teachingStates(defaults) {
  return new Map(defaults.playground_methods.filter((m) => m.teaching).map((m) => [m.name, m.teaching]));
}

/** Loads the WebGPU bundle in its own worker and moves the panels onto it. The CPU worker
 * stays for the work that reads back between steps: the attack lab's APGD, FAB, Square and
 * AutoAttack (js/attack.js) and the playground's MW-Net, teacher and GLC (js/playground.js). */
async function upgradeToWebGpu(app, choice) {
  const status = el('status');
  let adapter = null;
  try {
    adapter = await navigator.gpu?.requestAdapter();
  } catch { /* no WebGPU */ }
  if (!adapter) {
    showBackend({ name: 'cpu', fallback_reason: 'this browser offers no WebGPU adapter' });
    return;
  }
  // A software adapter (SwiftShader) is far slower than the CPU backend for these small
  // models: "auto" stays on the CPU; choosing WebGPU explicitly uses it anyway.
  const software = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  if (software && choice === 'auto') {
    showBackend({ name: 'cpu', fallback_reason: 'the only WebGPU adapter is a software fallback, slower than the CPU here (choose WebGPU to use it anyway)' });
    return;
  }
  const t0 = performance.now();
  status.textContent = 'ready · loading the WebGPU bundle…';
  const gpu = await Engine.start('gpu');
  const info = JSON.parse(await gpu.call('init_backend', choice));
  if (info.name !== 'webgpu') {
    gpu.terminate();
    showBackend(info);
    return;
  }
  const a = adapter.info ?? {};
  const described = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ');
  await app.attack.rebind(gpu);
  await app.playground.rebind(gpu);
  await app.explorer.rebind(gpu);
  app.engine = gpu; // the panels keep the CPU engine for the work that reads back
  app.backend = info;
  app.timings.webgpu_ready_ms = performance.now();
  app.timings.webgpu_upgrade_ms = performance.now() - t0;
  showBackend(info, described);
  status.textContent = `ready on WebGPU (bundle loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`;
  status.dataset.gpu = 'ready';
  app.attack.attack();
}

async function main() {
  const t0 = performance.now();
  const status = el('status');
  try {
    const cpu = await Engine.start('cpu');
    const defaults = JSON.parse(await cpu.call('defaults'));
    applyDefaults(defaults);
    applyHash();
    bindHash();
    el('backend-choice').addEventListener('change', () => location.reload());
    el('share').onclick = async () => {
      writeHash();
      await navigator.clipboard?.writeText(location.href).catch(() => {});
      el('share').textContent = 'link copied';
    };
    for (const b of document.querySelectorAll('nav [data-scroll]')) {
      b.onclick = () => el(b.dataset.scroll).scrollIntoView({ behavior: 'smooth' });
    }
    // `#cpu-kernels=off`: the CPU backend runs Burn's own convolution and pooling instead of
    // Ballast's kernels (the browser suite times both).
    if (new URLSearchParams(location.hash.replace(/^#/, '')).get('cpu-kernels') === 'off') {
      await cpu.call('set_cpu_kernels', false);
    }
    const backend = JSON.parse(await cpu.call('init_backend', 'cpu'));
    showBackend(backend);
    status.textContent = 'loading models…';
    const manifest = await (await fetch('assets/manifest.json')).json();
    const app = {
      engine: cpu,
      backend,
      playground: new PlaygroundPanel(cpu, errorReporter('pg-error'), teachingStates(defaults), await cpu.call('palette')),
      attack: new AttackPanel(cpu, manifest, errorReporter('at-error')),
      overfit: new OverfitPanel(manifest, errorReporter('ro-error')),
      explorer: new ExplorerPanel(cpu, manifest, errorReporter('ex-error')),
      timings: {},
    };
    window.ballast = app;
    await app.attack.load();
    await app.overfit.show();
    await app.explorer.load();
    await app.playground.reset();
    writeHash();
    // `?lesson=N`: the guided walk, at step N.
    const step = requestedStep();
    if (step !== null) {
      app.lesson = new Lesson(app);
      await app.lesson.go(step - 1);
    }
    app.timings.interactive_ms = performance.now();
    status.textContent = `ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    status.dataset.ready = '1';
    const choice = el('backend-choice').value;
    if (choice === 'cpu') {
      app.attack.attack();
      return;
    }
    await upgradeToWebGpu(app, choice).catch((e) => {
      showBackend({ name: 'cpu', fallback_reason: `WebGPU failed: ${e.message ?? e}` });
      console.warn(e);
    });
    status.dataset.upgrade = 'done';
    if (!status.dataset.gpu) {
      status.textContent = `ready in ${((app.timings.interactive_ms - t0) / 1000).toFixed(1)} s`;
      app.attack.attack();
    }
  } catch (e) {
    status.textContent = `error: ${e.message ?? e}`;
    status.dataset.error = '1';
    console.error(e);
  }
}

main();
