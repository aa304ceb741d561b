/**
 * Jump-ahead for the platform PRNG (util/rng.ts, xoshiro128**): advances its state by
 * any number of 32-bit draws in O(log n), so the DMA engine can skip the draws of a
 * run of requests whose outcome it computes in closed form and leave the generator
 * exactly where drawing them one by one would have.
 *
 * xoshiro's state update is linear over GF(2) (only its output scrambler is not):
 * one draw is a 128x128 bit matrix T. Its powers T^(2^i) are built once, lazily, as
 * 128 columns of four 32-bit words; a jump by n applies the powers for n's set bits.
 */
import type { RngState, SeededRng } from './rng.js';

const BITS = 128;
/** Columns of T^(2^i), for i = 0..MAX_POW-1: 128 x 4 words each. */
const powers: Uint32Array[] = [];
const MAX_POW = 64;

/** One draw's state update, as SeededRng.nextUint32 does it (without the output). */
function step(s: Uint32Array): void {
  const t = (s[1] as number) << 9;
  s[2] = (s[2] as number) ^ (s[0] as number);
  s[3] = (s[3] as number) ^ (s[1] as number);
  s[1] = (s[1] as number) ^ (s[2] as number);
  s[0] = (s[0] as number) ^ (s[3] as number);
  s[2] = (s[2] as number) ^ t;
  const x = s[3] as number;
  s[3] = (x << 11) | (x >>> 21);
}

/** out = M · v, M given as 128 columns of 4 words. */
function apply(m: Uint32Array, v: Uint32Array, out: Uint32Array): void {
  let a = 0,
    b = 0,
    c = 0,
    d = 0;
  for (let w = 0; w < 4; w++) {
    const word = v[w] as number;
    if (word === 0) continue;
    for (let bit = 0; bit < 32; bit++) {
      if (((word >>> bit) & 1) === 0) continue;
      const col = (w * 32 + bit) * 4;
      a ^= m[col] as number;
      b ^= m[col + 1] as number;
      c ^= m[col + 2] as number;
      d ^= m[col + 3] as number;
    }
  }
  out[0] = a;
  out[1] = b;
  out[2] = c;
  out[3] = d;
}

function power(i: number): Uint32Array {
  while (powers.length <= i) {
    const m = new Uint32Array(BITS * 4);
    if (powers.length === 0) {
      const v = new Uint32Array(4);
      for (let j = 0; j < BITS; j++) {
        v.fill(0);
        v[j >>> 5] = 1 << (j & 31);
        step(v);
        m.set(v, j * 4);
      }
    } else {
      // T^(2^i) = (T^(2^(i-1)))^2: each column of the square is the half applied to the half's column.
      const half = powers[powers.length - 1] as Uint32Array;
      const out = new Uint32Array(4);
      for (let j = 0; j < BITS; j++) {
        apply(half, half.subarray(j * 4, j * 4 + 4), out);
        m.set(out, j * 4);
      }
    }
    powers.push(m);
  }
  return powers[i] as Uint32Array;
}

/** The state after `draws` more 32-bit draws (draws: a non-negative integer below 2^64). */
export function jumpState(state: RngState, draws: number | bigint): RngState {
  let n = BigInt(draws);
  if (n < 0n || n >= 1n << BigInt(MAX_POW)) throw new RangeError(`cannot jump ${n} draws`);
  const v = Uint32Array.from(state);
  const out = new Uint32Array(4);
  for (let i = 0; n > 0n; i++, n >>= 1n) {
    if ((n & 1n) === 0n) continue;
    apply(power(i), v, out);
    v.set(out);
  }
  return [v[0] as number, v[1] as number, v[2] as number, v[3] as number];
}

/** Advances `rng` by `draws` 32-bit draws, exactly as that many nextUint32 calls would. */
export function jumpRng(rng: SeededRng, draws: number): void {
  if (draws === 0) return;
  rng.setState(jumpState(rng.getState(), draws));
}
