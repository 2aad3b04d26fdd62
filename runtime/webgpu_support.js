// Where WebGPU runs, for the visitor whose browser lacks it: one list, used by the engine's
// WebGPUNotAvailableError message (sw_client.js) and the chat page's problem box (ui/problems.js).

/** The browsers (and settings) that run the model, one line each. */
export const WEBGPU_BROWSERS = Object.freeze([
  'Chrome or Edge 113+ on Windows, macOS, ChromeOS or Android',
  'Chrome on Linux with WebGPU enabled (chrome://flags/#enable-unsafe-webgpu, or the --enable-unsafe-webgpu '
    + 'switch) and Vulkan drivers',
  'Safari 26+',
  'Firefox 141+ on Windows',
]);
