// Lesson mode (`?lesson=1`): a short guided walk a teacher can project, through label noise,
// reweighting, attacks, robust evaluation and perturbation sets. Each step is a page state (the
// same keys as the share link's `#key=value`), one question and what to observe; back / next
// restore the step's state, and `?lesson=N` links step N.

import { BOUND, writeHash } from './state.js';

const el = (id) => document.getElementById(id);

/** The playground's teaching state of L2RW (web/src/playground.rs, `PlaygroundConfig::teaching`). */
const NOISY_MOONS = {
  'pg.dataset': 'moons', 'pg.noise': '0.3', 'pg.kind': 'symmetric', 'pg.imbalance': '1', 'pg.val': '20',
  'pg.method': 'l2rw', 'pg.lr': '0.05', 'pg.hidden': '32', 'pg.stop': '1000', 'pg.seed': '1',
};

const ATTACK = {
  'at.digit': '0', 'at.kind': 'pgd', 'at.norm': 'linf', 'at.eps': '0.3', 'at.steps': '20', 'at.step': '',
  'at.rs': '1', 'at.n': '100',
};

export const LESSON = [
  {
    title: 'Wrong labels are memorised',
    panel: 'playground',
    state: NOISY_MOONS,
    question: 'Press run. Both networks see the same 200 points; 30 % of them carry the wrong colour (dark ring). ' +
      'Whose clean test accuracy falls after about step 500, and what happens to the boundary around the ringed points?',
    observe: 'ERM (left) bends its boundary around the flipped points: it memorises them, and its accuracy on clean ' +
      'test points drops. L2RW (right) keeps a smooth boundary and stays near 90 %.',
  },
  {
    title: 'Which examples does reweighting trust?',
    panel: 'playground',
    state: { ...NOISY_MOONS, 'pg.seed': '2' },
    question: 'Run again and watch the histogram of the right network\'s weights. Which points end up with weight ' +
      'near 0? L2RW is never told which labels are wrong: how can it find them? (Then pick MW-Net in the method menu: ' +
      'does a learned weighting network find the same points?)',
    observe: 'The flipped points shrink to weight ~0. L2RW checks, at every step, whether a step on each example ' +
      'would lower the loss on 20 clean validation points; a wrongly labelled point raises it.',
  },
  {
    title: 'Rare classes',
    panel: 'playground',
    state: {
      ...NOISY_MOONS, 'pg.method': 'class-ratio', 'pg.noise': '0', 'pg.imbalance': '0.1', 'pg.stop': '300',
    },
    question: 'Class 0 keeps only 10 % of its points and no label is wrong. Press run: where does ERM put the ' +
      'boundary, and which class pays for it? Then switch the method to L2RW: does it need to be told the class ' +
      'frequencies?',
    observe: 'ERM pushes the boundary into the rare class, so rare test points are misclassified. Class-ratio ' +
      'weights (given the frequencies) and L2RW (from 20 balanced validation points) move it back.',
  },
  {
    title: 'An adversarial example',
    panel: 'attack',
    state: ATTACK,
    question: 'The middle picture is the change PGD made to the digit, amplified. Would you notice it? Which of the ' +
      'four networks change their answer?',
    observe: 'Every pixel moved by at most 0.3, yet the standard network reads another digit. The adversarially ' +
      'trained ones (PGD-AT, MART) keep the right answer on most digits.',
  },
  {
    title: 'A weak attack overstates robustness',
    panel: 'attack',
    state: { ...ATTACK, 'at.kind': 'fgsm' },
    question: 'Attack a batch of 100 digits with FGSM (one step), then switch the attack to PGD (20 steps) and attack ' +
      'the batch again. Which attack breaks more digits? What would you report as the robust accuracy?',
    observe: 'PGD breaks digits FGSM leaves alone: robustness is only as strong as the strongest attack tried. ' +
      'Choose AutoAttack in the attack menu: it runs APGD, APGD-T, FAB-T and the gradient-free Square in turn, ' +
      'and the "broken by" column shows which of them succeeded on each network.',
  },
  {
    title: 'Robust overfitting',
    panel: 'overfit',
    state: { 'ro.clean': '0' },
    question: 'These curves come from a real adversarial-training run. Robust training error keeps falling; what does ' +
      'robust test error do after its best epoch? Using only the validation curve, where would you stop?',
    observe: 'Robust test error reaches its lowest point and then rises while training error falls: the network ' +
      'overfits to its own attacks. Early stopping on robust validation error keeps the marked epoch.',
  },
  {
    title: 'Perturbations that are not ℓp-small',
    panel: 'explorer',
    state: { 'ex.digit': '0', 'ex.eps': '2', 'ex.seed': '0', 'ex.s0': '0', 'ex.s1': '0', 'ex.s2': '0', 'ex.s3': '0' },
    question: 'Move the sliders. A conditional VAE learned these changes from pairs of real digits (rotated, ' +
      'shifted, scaled). Are they small pixel changes? Would an ℓ∞ ball of radius 0.3 contain them?',
    observe: 'They move many pixels by a lot, yet the digit stays the same: a learned perturbation set describes ' +
      'real variation that an ℓp ball cannot, and training against it (latent-at) resists those changes.',
  },
];

/** The lesson step (1-based) the address asks for, or null outside lesson mode. */
export function requestedStep() {
  const v = new URLSearchParams(location.search).get('lesson');
  if (v === null) return null;
  const k = Math.round(Number(v));
  return Number.isFinite(k) ? Math.min(Math.max(k, 1), LESSON.length) : 1;
}

export class Lesson {
  constructor(app) {
    this.app = app;
    this.steps = LESSON;
    this.bound = BOUND; // state key -> control id
    this.index = 0;
    this.moving = false;
    el('lesson').hidden = false;
    el('lesson-back').onclick = () => this.go(this.index - 1);
    el('lesson-next').onclick = () => this.go(this.index + 1);
    el('lesson-exit').onclick = () => {
      history.replaceState(null, '', location.pathname + location.hash);
      el('lesson').hidden = true;
    };
    addEventListener('keydown', (e) => {
      if (e.target.closest?.('input, select, textarea') || el('lesson').hidden) return;
      if (e.key === 'ArrowRight' && e.altKey) this.go(this.index + 1);
      if (e.key === 'ArrowLeft' && e.altKey) this.go(this.index - 1);
    });
  }

  /** Shows step `i` (0-based): its text, its state in every control it names, its panel. */
  async go(i) {
    if (this.moving) return;
    i = Math.min(Math.max(i, 0), this.steps.length - 1);
    this.moving = true;
    try {
      this.index = i;
      const step = this.steps[i];
      el('lesson-step').textContent = `Lesson · step ${i + 1} of ${this.steps.length}`;
      el('lesson-title').textContent = step.title;
      el('lesson-question').textContent = step.question;
      el('lesson-observe').textContent = step.observe;
      el('lesson-details').open = false;
      el('lesson-back').disabled = i === 0;
      el('lesson-next').disabled = i === this.steps.length - 1;
      for (const [key, value] of Object.entries(step.state)) {
        const e = el(BOUND[key]);
        if (e.type === 'checkbox') e.checked = value === '1'; else e.value = value;
      }
      const panels = new Set(Object.keys(step.state).map((k) => k.split('.')[0]));
      const app = this.app;
      if (panels.has('pg')) await app.playground.reset();
      if (panels.has('at')) {
        while (app.attack.busy) await new Promise((r) => setTimeout(r, 20));
        app.attack.normChanged(false);
        app.attack.pickDigit(Number(el('at-digit').value), true);
      }
      if (panels.has('ro')) await app.overfit.show();
      if (panels.has('ex')) await app.explorer.pick(Number(el('ex-digit').value));
      writeHash();
      history.replaceState(null, '', `${location.pathname}?lesson=${i + 1}${location.hash}`);
      el(step.panel).scrollIntoView({ block: 'start' });
      el('lesson').dataset.step = String(i + 1);
    } finally {
      this.moving = false;
    }
  }
}
