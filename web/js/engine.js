// The main thread's side of the engine: a wasm bundle running in a Web Worker
// (js/engine-worker.js). Every call returns a Promise; handles of the bundle's classes are
// proxies whose methods are calls into the worker. The main thread only draws.
//
//   const engine = await Engine.start('cpu');           // or 'gpu'
//   const defaults = JSON.parse(await engine.call('defaults'));
//   const pg = await engine.create('PlaygroundHandle', JSON.stringify(config));
//   await pg.step(10); const [view, heat0, heat1] = await pg.view(); pg.free();

export class Engine {
  /** Starts a worker and loads bundle `name` into it: "cpu" (web/cpu, whose hashed file names
   * trunk writes into the page as `window.ballastCpuBundle`) or "gpu" (web/gpu). */
  static async start(name) {
    const files = name === 'cpu'
      ? window.ballastCpuBundle
      : { js: `ballast-web-${name}.js`, wasm: `ballast-web-${name}_bg.wasm` };
    if (!files) throw new Error('the page does not name its CPU bundle: build it with trunk (see Trunk.toml)');
    const worker = new Worker(new URL('./engine-worker.js', import.meta.url), { type: 'module', name: `ballast-${name}` });
    const engine = new Engine(worker, name);
    const at = (file) => new URL(file, document.baseURI).href;
    await engine.request({ op: 'load', js: at(files.js), wasm: at(files.wasm) });
    return engine;
  }

  constructor(worker, name) {
    this.worker = worker;
    this.name = name;
    this.pending = new Map(); // seq -> {resolve, reject}
    this.seq = 0;
    this.failure = null;
    worker.onmessage = ({ data }) => {
      const p = this.pending.get(data.seq);
      if (!p) return;
      this.pending.delete(data.seq);
      if ('error' in data) p.reject(new Error(data.error));
      else p.resolve(data.result);
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      this.fail(new Error(`the ${name} engine stopped: ${ev.message || 'its worker could not start'}`));
    };
  }

  fail(error) {
    this.failure = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  request(msg) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const seq = ++this.seq;
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ ...msg, seq });
    });
  }

  /** Calls the bundle's exported function `name`. */
  call(name, ...args) {
    return this.request({ op: 'call', name, args });
  }

  /** Constructs the bundle's class `name`; resolves to a handle (see `remote`). */
  async create(name, ...args) {
    return remote(this, name, await this.request({ op: 'new', name, args }));
  }

  /** Stops the worker; calls in flight fail. */
  terminate() {
    this.worker.terminate();
    this.fail(new Error(`the ${this.name} engine was stopped`));
  }
}

/** A handle of class `cls` living in the worker: `h.method(...)` resolves to the method's answer,
 * `h.free()` releases it (later calls fail by name). Not a thenable, so `await` returns it. */
function remote(engine, cls, id) {
  let freed = false;
  return new Proxy({}, {
    get(_, key) {
      if (typeof key !== 'string' || key === 'then') return undefined;
      if (key === 'free') {
        return () => {
          if (freed) return;
          freed = true;
          engine.request({ op: 'free', id }).catch(() => {});
        };
      }
      return (...args) => (freed ? Promise.reject(new Error(`${cls}.${key}: the handle was freed`)) : engine.request({ op: 'method', id, name: key, args }));
    },
  });
}
