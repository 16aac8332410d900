import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';

/** A seeded random source; randomness is injected, never `Math.random` in cores. */
export interface Random {
  /** Integer in [from, to], both included. */
  int(from: number, to: number): number;
  /** Float in [0, 1). */
  float(): number;
}

export class SeededRandom implements Random {
  private readonly rng;
  constructor(readonly seed: number) {
    this.rng = xoroshiro128plus(seed);
  }
  int(from: number, to: number): number {
    return uniformInt(this.rng, from, to);
  }
  float(): number {
    return uniformInt(this.rng, 0, 0x3fffffff) / 0x40000000;
  }
}
