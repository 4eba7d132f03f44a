// Run once by the setup (not in a session): start Pyodide, import the modules the REPL
// needs and save a memory snapshot, so that every session starts from it in a fraction
// of the cold start. Deno.args: [pyodide module path, pyodide folder, snapshot path].
const [modulePath, indexURL, target] = Deno.args;
const { loadPyodide } = await import(modulePath);
const pyodide = await loadPyodide({ indexURL, _makeSnapshot: true });
pyodide.runPython(
  "import ast, base64, builtins, contextlib, io, json, linecache, os, signal, stat, sys, time, traceback",
);
Deno.writeFileSync(target, pyodide.makeMemorySnapshot());
