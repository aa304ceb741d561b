import { describe, it, expect } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';

describe('Platform (default scenario)', () => {
  it('builds and audits clean', () => {
    const p = createPlatform();
    expect(p.audit().violations).toEqual([]);
  });
});
