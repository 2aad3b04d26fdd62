// Runs before vendor/xgrammar.mjs (runtime/grammar.js imports this module first). The package's
// build (npm @mlc-ai/web-xgrammar, an Emscripten UMD bundle) finds its own location through
// CommonJS's `require` and `__filename` whenever neither `document` nor `location` exists, that
// is in Node; as an ES module it has neither, and it stops with a ReferenceError. Node (>= 20.16)
// lends them here. Browsers, workers and service workers skip this: they have `location`, and the
// WASM is inlined in the bundle, so nothing is looked up there.

const builtinModule = globalThis.process?.getBuiltinModule;
if (builtinModule && typeof document === 'undefined' && typeof location === 'undefined') {
  globalThis.require ??= builtinModule('node:module').createRequire(import.meta.url);
  globalThis.__filename ??= builtinModule('node:url').fileURLToPath(import.meta.url);
}
