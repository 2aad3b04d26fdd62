// Node only (tests, benchmarks): Dawn's Node binding (npm `webgpu`) settles its promises (mapAsync,
// onSubmittedWorkDone) by calling Instance::ProcessEvents from a setImmediate callback that queues
// itself again while any is pending (dawn/node/binding/AsyncRunner.cpp, which looks setImmediate up
// on the global object at every tick): a busy loop on the main thread for as long as the GPU works.
// On a CPU adapter (lavapipe, SwiftShader) the GPU's work runs on the same cores, and that loop took
// one of them: SmolLM2-135M greedy decode on lavapipe, 2-core machine, 2026-12-01, 420-487 ms/token
// with the loop, 272-284 with the polls 1 ms apart (setTimeout; README, "CPU adapters", has the command). Real GPUs keep the busy loop: a
// decode step there takes about a millisecond, and a 1 ms poll would be most of it.

let installed = false;

// Dawn's tick (a callback given to setImmediate): a native function without a name (Napi::Function::New). Bound functions are native
// too, but named "bound ...".
export const isDawnTick = (callback) => typeof callback === 'function' && callback.name === ''
  && /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(callback));

/**
 * From now on, Dawn's event polls in this process run 1 ms apart (setTimeout) instead of back to
 * back (setImmediate); every other setImmediate call is left as it is. Idempotent. For a device on
 * a CPU adapter in Node (device.js requestDevice calls it); a no-op where there is no setImmediate.
 */
export function pollDawnGently() {
  if (installed || typeof globalThis.setImmediate !== 'function') return;
  installed = true;
  const setImmediate = globalThis.setImmediate;
  const gentle = function (callback, ...args) {
    return isDawnTick(callback) ? setTimeout(callback, 1, ...args) : setImmediate(callback, ...args);
  };
  // its name and util.promisify's custom form as well
  globalThis.setImmediate = Object.defineProperties(gentle, Object.getOwnPropertyDescriptors(setImmediate));
}
