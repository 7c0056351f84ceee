/**
 * Registers the backends and picks the active one: LLAVA_BACKEND=ts|native, default native when the addon
 * loaded. The choice is logged once. With CI=true a native addon that fails to load is an error.
 */
import { setBackend, activeBackend, type Backend } from '../engine/backend.js';
import { isMainThread } from 'node:worker_threads';
import { infoOnce, warnOnce } from '../util/log.js';
import { tsBackend } from './ts/index.js';
import { nativeBackend } from './native/index.js';
import { nativeLoadError } from './native/addon.js';

const native = nativeBackend();
const want = process.env.LLAVA_BACKEND;

if (!native && process.env.CI === 'true') {
  throw new Error(`llava-ts: the native addon failed to load and CI=true: ${nativeLoadError()?.message}`);
}
if (want && want !== 'ts' && want !== 'native') {
  throw new Error(`LLAVA_BACKEND=${want}: expected 'ts' or 'native'`);
}
if (want === 'native' && !native) {
  throw new Error(`LLAVA_BACKEND=native but the native addon did not load: ${nativeLoadError()?.message}`);
}
if (!native && want !== 'ts') {
  warnOnce(`native addon unavailable (${nativeLoadError()?.message}); using the ts backend`);
}
setBackend(want === 'ts' || !native ? 'ts' : 'native');
// A model's worker thread loads this module again: the thread that asked for the model says which backend
// it runs (generate/client.ts), so a process shows the line once rather than once per thread.
if (isMainThread) infoOnce(`backend ${activeBackend().describe()}`);

export { tsBackend };
/** The native backend when it loaded (whatever LLAVA_BACKEND chose as active). */
export const nativeBackendIfLoaded: Backend | null = native;
