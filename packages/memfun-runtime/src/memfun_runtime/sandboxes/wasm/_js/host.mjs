// The Deno main thread of a wasm REPL session (runs INSIDE the Deno sandbox).
//
// It starts the Pyodide worker, shares an interrupt buffer with it and enforces the soft
// time limit of each call: when the deadline the worker set passes, it writes SIGINT (2)
// into the buffer, which Pyodide turns into a signal handled by the Python side. The
// protocol itself (JSON lines on stdin/stdout, the first line being the session config)
// is spoken by the worker.

// [0]: Pyodide's interrupt buffer; [1]: 1 once the current deadline fired.
const shared = new SharedArrayBuffer(16);
const control = new Int32Array(shared, 0, 2);
const deadline = new Float64Array(shared, 8, 1);

const worker = new Worker(new URL("./worker.mjs", import.meta.url), { type: "module" });

worker.onmessage = (event) => {
  const message = event.data;
  if (message && message.type === "exit") {
    Deno.exit(typeof message.code === "number" ? message.code : 70);
  }
};
worker.onerror = (event) => {
  event.preventDefault();
  Deno.stderr.writeSync(new TextEncoder().encode(`worker error: ${event.message}\n`));
  Deno.exit(70);
};

setInterval(() => {
  const at = deadline[0];
  if (at > 0 && performance.now() > at) {
    deadline[0] = 0;
    control[1] = 1;
    Atomics.store(control, 0, 2);
  }
}, 20);

worker.postMessage({ shared });
