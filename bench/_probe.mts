import { dma } from './dma.js';
import { DmaEngine } from '../src/dma/dma-engine.js';
DmaEngine.defaults.closedForm = false;
console.log(await dma(0.5));
