/**
 * `npm run protocol`: regenerates protocol/openrpc.json from the method table. A
 * test fails when the checked-in file is stale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderOpenRpcJson } from './openrpc.js';

const target = fileURLToPath(new URL('../../protocol/openrpc.json', import.meta.url));
mkdirSync(fileURLToPath(new URL('../../protocol/', import.meta.url)), { recursive: true });
writeFileSync(target, renderOpenRpcJson());
console.log(`wrote ${target}`);
