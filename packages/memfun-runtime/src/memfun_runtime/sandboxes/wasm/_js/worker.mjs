// The Deno worker that hosts Pyodide and speaks the REPL wire protocol (runs INSIDE the
// Deno sandbox; Deno's permissions allow reading Pyodide's cache folder and nothing else).
//
// Everything the code prints (Python's stdout/stderr and `console.*`) goes into a capped
// buffer; only protocol messages reach the real stdout.
import process from "node:process";

// Pyodide reads the uid through node:process, which needs Deno's --allow-sys; answer
// without asking the host (Emscripten's own default user).
process.getuid = () => 1000;
process.getgid = () => 1000;
process.geteuid = () => 1000;
process.getegid = () => 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const stdin = Deno.stdin;
const stdout = Deno.stdout;

class CappedOutput {
  constructor(cap) {
    this.cap = cap;
    this.chunks = [];
    this.size = 0;
    this.dropped = 0;
  }
  add(bytes) {
    const room = this.cap - this.size;
    if (room > 0) {
      const kept = bytes.length <= room ? bytes : bytes.slice(0, room);
      this.chunks.push(kept.slice());
      this.size += kept.length;
    }
    this.dropped += Math.max(0, bytes.length - Math.max(room, 0));
    return bytes.length;
  }
  take() {
    const all = new Uint8Array(this.size);
    let offset = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    const result = [decoder.decode(all), this.dropped > 0];
    this.chunks = [];
    this.size = 0;
    this.dropped = 0;
    return result;
  }
}

class LineReader {
  constructor() {
    this.buffer = new Uint8Array(1 << 16);
    this.pending = [];
    this.pendingSize = 0;
    this.start = 0;
    this.end = 0;
  }
  readLine() {
    while (true) {
      const index = this.buffer.subarray(this.start, this.end).indexOf(10);
      if (index >= 0) {
        const piece = this.buffer.slice(this.start, this.start + index);
        this.start += index + 1;
        return this.joined(piece);
      }
      if (this.end > this.start) {
        this.pending.push(this.buffer.slice(this.start, this.end));
        this.pendingSize += this.end - this.start;
      }
      this.start = 0;
      this.end = 0;
      const count = stdin.readSync(this.buffer);
      if (count === null || count === 0) {
        return null;
      }
      this.end = count;
    }
  }
  joined(piece) {
    if (this.pending.length === 0) {
      return decoder.decode(piece);
    }
    const all = new Uint8Array(this.pendingSize + piece.length);
    let offset = 0;
    for (const chunk of this.pending) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    all.set(piece, offset);
    this.pending = [];
    this.pendingSize = 0;
    return decoder.decode(all);
  }
}

function writeAll(bytes) {
  let offset = 0;
  while (offset < bytes.length) {
    offset += stdout.writeSync(bytes.subarray(offset));
  }
}

function exit(code) {
  self.postMessage({ type: "exit", code });
}

// In a worker, Deno.exit() and close() would end only this thread and leave the session
// hanging until its hard time limit: make them end the whole process, as the host expects.
const workerClose = self.close.bind(self);
Deno.exit = (code) => {
  exit(typeof code === "number" ? code : 0);
  workerClose();
};
self.close = () => {
  exit(0);
  workerClose();
};

self.addEventListener("unhandledrejection", (event) => event.preventDefault());

self.onmessage = async (event) => {
  const { shared } = event.data;
  const reader = new LineReader();
  const first = reader.readLine();
  if (first === null) {
    exit(0);
    return;
  }
  const config = JSON.parse(first);
  const control = new Int32Array(shared, 0, 2);
  const deadline = new Float64Array(shared, 8, 1);
  const output = new CappedOutput(config.max_output_bytes);
  const toOutput = (...args) => {
    output.add(encoder.encode(args.map((a) => String(a)).join(" ") + "\n"));
  };
  for (const name of ["log", "info", "warn", "error", "debug", "trace"]) {
    console[name] = toOutput;
  }
  let pyodide;
  try {
    const { loadPyodide } = await import(config.pyodide_module);
    pyodide = await loadPyodide({
      indexURL: config.pyodide_dir,
      _loadSnapshot: Deno.readFileSync(config.snapshot),
    });
  } catch (error) {
    Deno.stderr.writeSync(encoder.encode(`Pyodide failed to load: ${error}\n`));
    exit(71);
    return;
  }
  pyodide.setStdout({ write: (bytes) => output.add(bytes) });
  pyodide.setStderr({ write: (bytes) => output.add(bytes) });
  pyodide.setStdin({ stdin: () => undefined });
  pyodide.setInterruptBuffer(control);
  output.take();
  const host = {
    config: JSON.stringify(config.session),
    read_line: () => reader.readLine(),
    write_line: (text) => writeAll(encoder.encode(text + "\n")),
    take_output: () => output.take(),
    set_deadline: (seconds) => {
      control[1] = 0;
      Atomics.store(control, 0, 0);
      deadline[0] = seconds > 0 ? performance.now() + seconds * 1000 : 0;
    },
    timed_out: () => control[1] === 1,
  };
  let code = 0;
  try {
    // The shared protocol (_worker/repl_worker.py) as the module `repl_worker`, then the
    // Pyodide side (repl.py), which imports it.
    const load = pyodide.runPython(
      "import sys, types\n" +
        "def load(name, source):\n" +
        "    module = sys.modules[name] = types.ModuleType(name)\n" +
        "    exec(compile(source, f'<memfun-{name}>', 'exec'), module.__dict__)\n" +
        "    return module\n" +
        "load",
    );
    load("repl_worker", Deno.readTextFileSync(config.worker_source));
    load("memfun_repl", Deno.readTextFileSync(config.repl_source)).main(host);
  } catch (error) {
    Deno.stderr.writeSync(encoder.encode(`the REPL worker failed: ${error}\n`));
    code = 70;
  }
  exit(code);
};
