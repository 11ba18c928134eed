// The page's compute: one wasm bundle of the web/ crate (CPU or WebGPU) in a dedicated module
// worker, so training and attacks never hold up the page. js/engine.js on the main thread sends
// requests; they run one after another, in the order sent, and each is answered by its number.
//
// Requests: {seq, op: 'load', js, wasm}   load and start the bundle at these URLs
//           {seq, op: 'call', name, args} call an exported function
//           {seq, op: 'new', name, args}  construct an exported class; answers a handle number
//           {seq, op: 'method', id, name, args}  call a method of a handle
//           {seq, op: 'free', id}         free a handle
// Answers:  {seq, result} or {seq, error: message}.

let wasm = null; // the bundle's module
let memory = null; // its linear memory
const handles = new Map();
let nextHandle = 1;
let queue = Promise.resolve();

/** Buffers of the typed arrays in an answer (they move to the main thread instead of being
 * copied). wasm-bindgen hands back copies, never views of the module's memory. */
function transferables(value, found = new Set()) {
  if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer && value.buffer !== memory?.buffer) {
    found.add(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, found);
  }
  return [...found];
}

function exported(name) {
  if (!wasm) throw new Error('the engine has no bundle loaded yet');
  const f = wasm[name];
  if (typeof f !== 'function') throw new Error(`the engine's bundle exports no \`${name}\``);
  return f;
}

async function run(msg) {
  switch (msg.op) {
    case 'load':
      wasm = await import(msg.js);
      ({ memory } = await wasm.default({ module_or_path: msg.wasm }));
      return true;
    case 'call':
      return exported(msg.name)(...msg.args);
    case 'new': {
      const Class = exported(msg.name);
      const id = nextHandle++;
      handles.set(id, new Class(...msg.args));
      return id;
    }
    case 'method': {
      const handle = handles.get(msg.id);
      if (!handle) throw new Error(`\`${msg.name}\` called on a handle that was freed`);
      if (typeof handle[msg.name] !== 'function') throw new Error(`the handle has no method \`${msg.name}\``);
      return handle[msg.name](...msg.args);
    }
    case 'free':
      handles.get(msg.id)?.free();
      handles.delete(msg.id);
      return null;
    default:
      throw new Error(`unknown engine request \`${msg.op}\``);
  }
}

self.onmessage = ({ data: msg }) => {
  queue = queue.then(async () => {
    try {
      const result = await run(msg);
      self.postMessage({ seq: msg.seq, result }, transferables(result));
    } catch (e) {
      self.postMessage({ seq: msg.seq, error: String(e?.message ?? e) });
    }
  });
};
