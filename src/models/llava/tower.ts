/**
 * Finding the CLIP tower folder of an original LLaVA checkpoint, whose weights are not in the model
 * files. In order: the `--vision-tower DIR` option; `mm_vision_tower` read as a path (absolute, or relative
 * to the model folder); the local Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
 * ~/.cache/huggingface/hub) entry `models--<org>--<name>/snapshots/<rev>` (the revision `refs/main` names,
 * else the most recently modified snapshot). Nothing is downloaded.
 *
 * Not here: reading the tower (load.ts).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TowerLocation {
  dir: string;
  /** How it was found: the option, the config path, or the HF cache. */
  via: 'option' | 'config-path' | 'hf-cache';
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The hub cache root as huggingface_hub resolves it. */
export function hfHubCache(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  return path.join(os.homedir(), '.cache', 'huggingface', 'hub');
}

/** The snapshot folder of hub repo `org/name` in `cache`, or null. */
export function hfCacheSnapshot(cache: string, repoId: string): string | null {
  const parts = repoId.split('/');
  if (parts.length !== 2 || parts.some((p) => p === '' || p === '.' || p === '..')) return null;
  const repo = path.join(cache, `models--${parts[0]}--${parts[1]}`);
  const snaps = path.join(repo, 'snapshots');
  if (!isDir(snaps)) return null;
  const ref = path.join(repo, 'refs', 'main');
  if (existsSync(ref)) {
    const rev = readFileSync(ref, 'utf8').trim();
    if (rev && isDir(path.join(snaps, rev))) return path.join(snaps, rev);
  }
  const all = readdirSync(snaps).map((s) => path.join(snaps, s)).filter(isDir);
  all.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return all[0] ?? null;
}

/**
 * Where the tower is, or an error naming the option. `towerName` is `mm_vision_tower` from the config
 * (a hub id like "openai/clip-vit-large-patch14-336", or a path).
 */
export function findVisionTower(modelDir: string, towerName: string | null, option?: string, env: NodeJS.ProcessEnv = process.env): TowerLocation {
  if (option) {
    if (!isDir(option)) throw new Error(`--vision-tower ${option}: not a folder`);
    return { dir: option, via: 'option' };
  }
  const tried: string[] = [];
  if (towerName) {
    const asPath = path.isAbsolute(towerName) ? towerName : path.join(modelDir, towerName);
    if (isDir(asPath)) return { dir: asPath, via: 'config-path' };
    tried.push(asPath);
    const cache = hfHubCache(env);
    const snap = hfCacheSnapshot(cache, towerName);
    if (snap) return { dir: snap, via: 'hf-cache' };
    tried.push(path.join(cache, `models--${towerName.replace('/', '--')}`));
  }
  const what = towerName ? `mm_vision_tower "${towerName}"` : 'the vision tower (config.json has no mm_vision_tower)';
  throw new Error(`cannot find ${what}${tried.length ? ` (looked in ${tried.join(', ')})` : ''}; pass its folder with --vision-tower DIR`);
}
