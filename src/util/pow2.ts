/**
 * Powers of two and remainders by them for page and address arithmetic on plain
 * numbers (ARCHITECTURE.md, "Value conventions inside the domain").
 *
 * Why not `2 ** n` and `%`: with a variable exponent V8 calls pow, and `%` on a
 * number outside int32 (every SPA above 2 GiB, every IOVA page past 2^31) is a call
 * to fmod; the DMA walk path did several of each per level read. The forms below
 * give the same values: for an integer 0 <= x <= 2^53 and a power of two d, x / d is
 * exact (a power-of-two scaling), so is its floor, floor * d and the difference.
 */

/** POW2[n] = 2^n, n in 0..64. */
export const POW2: Float64Array = Float64Array.from({ length: 65 }, (_, n) => 2 ** n);

/** x mod 2^lg2 (= x % 2 ** lg2) for an integer 0 <= x <= 2^53 and lg2 in 0..64. */
export function modPow2(x: number, lg2: number): number {
  const d = POW2[lg2] as number;
  return x - Math.floor(x / d) * d;
}
