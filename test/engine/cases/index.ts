/**
 * All rows of the consistency table, one file per op family.
 */
import type { OpCase } from './types.js';
import { cases as elementwise } from './elementwise.js';

export const allCases: OpCase[] = [...elementwise];
