// Seeded pseudo-random numbers for sampling. A request's `seed` must give the same tokens every
// time, in every browser and in Node, so we cannot use Math.random (unseedable, and its
// algorithm differs between engines). xoshiro128** is small, fast on 32-bit integer arithmetic
// (all JavaScript has without BigInt) and statistically sound for this use.

const TWO_POW_32 = 2 ** 32;

// Returns a function giving numbers in [0, 1), determined by `seed` (any safe integer).
export function createRandom(seed) {
  if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be a safe integer, got ${seed}`);
  // Both halves of the seed feed the state, so seeds that differ only above bit 32 differ.
  const low = seed >>> 0;
  const high = Math.floor(seed / TWO_POW_32) >>> 0;
  const mix = splitMix32(low ^ Math.imul(high, 0x9e3779b9));
  const state = Uint32Array.of(mix() ^ high, mix(), mix(), mix());
  if (!state.some(Boolean)) state[0] = 1; // the all-zero state is a fixed point of xoshiro
  return () => nextXoshiro128StarStar(state) / TWO_POW_32;
}

// A seed for requests that give none: different every time.
export function randomSeed() {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0];
}

// SplitMix32 spreads one 32-bit value over a sequence of well-mixed words: the usual way to
// fill a xoshiro state from a small seed.
function splitMix32(value) {
  let x = value >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function nextXoshiro128StarStar(s) {
  const result = Math.imul(rotateLeft(Math.imul(s[1], 5), 7), 9) >>> 0;
  const t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotateLeft(s[3], 11);
  return result;
}

function rotateLeft(x, k) {
  return (x << k) | (x >>> (32 - k));
}
