import { describe } from 'vitest';
import { simulateSeeds } from './seeds.js';

describe('deterministic simulation (seeds 1..260)', () => {
  simulateSeeds(1, 260);
});
