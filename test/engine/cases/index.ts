/**
 * All rows of the consistency table, one file per op family.
 */
import type { OpCase } from './types.js';
import { cases as elementwise } from './elementwise.js';
import { cases as linalg } from './linalg.js';
import { cases as nn } from './nn.js';
import { cases as quant } from './quant.js';

export const allCases: OpCase[] = [...elementwise, ...linalg, ...nn, ...quant];
