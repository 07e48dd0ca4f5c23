import { describe } from 'vitest';
import { simulateSeeds } from './seeds.js';

describe('deterministic simulation (seeds 261..520)', () => {
  simulateSeeds(261, 520);
});
