/**
 * Every engine op, in one import. Loading this module also hands autograd the helpers it needs.
 */
import { setGradHelpers } from '../autograd.js';
import { add } from './elementwise.js';
import { onesLike } from './factory.js';
import { clone } from './view.js';

export * from './factory.js';
export * from './view.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './linalg.js';
export * from './nn.js';
export * from './attention.js';
export * from './loss.js';
export * from './indexing.js';
export * from './conv.js';
export * from './quantize.js';

setGradHelpers({ add: (a, b) => add(a, b), clone: (a) => clone(a), onesLike: (a) => onesLike(a) });
