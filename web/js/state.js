// Every control of the page lives in the URL hash (`#key=value&…`), so a view can be shared:
// copy the address, open it elsewhere, and the same controls (and seed) come back.

/** Controls bound to the hash: hash key -> element id. */
export const BOUND = {
  backend: 'backend-choice',
  'pg.dataset': 'pg-dataset', 'pg.noise': 'pg-noise', 'pg.kind': 'pg-noise-kind',
  'pg.imbalance': 'pg-imbalance', 'pg.val': 'pg-val', 'pg.method': 'pg-method',
  'pg.lr': 'pg-lr', 'pg.hidden': 'pg-hidden', 'pg.stop': 'pg-stop', 'pg.seed': 'pg-seed',
  'pg.added': 'pg-added', 'pg.flips': 'pg-flips', 'pg.smooth': 'pg-smooth',
  'at.digit': 'at-digit', 'at.kind': 'at-kind', 'at.norm': 'at-norm', 'at.eps': 'at-eps',
  'at.steps': 'at-steps', 'at.step': 'at-step-size', 'at.rs': 'at-random-start',
  'at.n': 'at-batch-n', 'at.q': 'at-queries',
  'ro.run': 'ro-run', 'ro.clean': 'ro-clean',
  'ex.digit': 'ex-digit', 'ex.eps': 'ex-eps', 'ex.seed': 'ex-seed', 'ex.steps': 'ex-steps',
  'ex.s0': 'ex-s0', 'ex.s1': 'ex-s1', 'ex.s2': 'ex-s2', 'ex.s3': 'ex-s3',
};

const el = (id) => document.getElementById(id);

function valueOf(e) {
  return e.type === 'checkbox' ? (e.checked ? '1' : '0') : e.value;
}

function setValue(e, v) {
  if (e.type === 'checkbox') e.checked = v === '1';
  else e.value = v;
}

/** The hash as a Map (unknown keys are kept, so newer links survive older pages). */
export function readHash() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  return new Map(params.entries());
}

/** Applies hash values to their controls; returns the keys that were applied. */
export function applyHash() {
  const applied = [];
  for (const [key, value] of readHash()) {
    const e = BOUND[key] && el(BOUND[key]);
    if (!e) continue;
    if (e.tagName === 'SELECT' && ![...e.options].some((o) => o.value === value)) continue;
    setValue(e, value);
    applied.push(key);
  }
  return applied;
}

/** Writes every bound control into the hash (without adding a history entry). */
export function writeHash() {
  const params = new URLSearchParams();
  for (const [key, id] of Object.entries(BOUND)) {
    const e = el(id);
    if (e && valueOf(e) !== '') params.set(key, valueOf(e));
  }
  history.replaceState(null, '', '#' + params.toString());
}

/** Keeps the hash in step with every bound control. */
export function bindHash() {
  for (const id of Object.values(BOUND)) {
    const e = el(id);
    if (e) e.addEventListener('change', writeHash);
  }
}
