import { describe, expect, it } from 'vitest';
import { CALL_FLAGS } from '../../src/cli/call.js';
import { EXPERIMENT_FLAGS } from '../../src/cli/experiment.js';
import { REPLAY_FLAGS } from '../../src/cli/replay.js';
import { SERVE_FLAGS } from '../../src/cli/serve-options.js';
import { usage } from '../../src/cli/usage.js';

describe('usage', () => {
  it('lists every flag with its default and its variable', () => {
    const text = usage();
    for (const flag of [...SERVE_FLAGS, ...CALL_FLAGS, ...EXPERIMENT_FLAGS, ...REPLAY_FLAGS]) {
      expect(text).toContain(`--${flag.name} ${flag.value}`);
      expect(text).toContain(`default: ${flag.defaultText}; env: SMASH_EMU_${flag.name.toUpperCase().replaceAll('-', '_')}`);
    }
    expect(text).toContain('default: 127.0.0.1; env: SMASH_EMU_HOST');
    expect(text).toContain('default: 8547; env: SMASH_EMU_PORT');
    expect(text).toContain('default: 16777216 (16 MiB); env: SMASH_EMU_MAX_FRAME_BYTES');
    expect(text).toContain('smash-emu experiment SPEC.json [FLAGS]');
    expect(text).toContain('smash-emu replay FILE [FLAGS]');
  });
});
