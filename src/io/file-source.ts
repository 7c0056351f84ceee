/**
 * File-backed WeightSources shared by every format: one checkpoint file, or a sharded checkpoint described
 * by an index (`model.safetensors.index.json`, `pytorch_model.bin.index.json`: `{"metadata": …,
 * "weight_map": {name: shard file}}`).
 *
 * A source holds only each file's header/index (and, for mapped safetensors, the mapping: address space,
 * not memory); `get` reads the one tensor asked for, so peak memory is the tensors the caller keeps. The index is checked against the shards: a mapped name missing from its
 * shard, a name in two shards, or a shard path leaving the index's folder is an error naming both files.
 * Names found in a shard but absent from the weight_map are served too (the shards are the data; the
 * index only says where to look).
 *
 * Not here: the formats themselves (safetensors.ts, torch-bin.ts) and choosing files in a folder
 * (checkpoint.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../engine/tensor.js';
import { parseJsonObject } from './json.js';
import { BaseWeightSource, type TensorInfo } from './source.js';

/** One opened checkpoint file of any format. */
export interface TensorFile {
  readonly path: string;
  names(): string[];
  info(name: string): TensorInfo;
  /**
   * A contiguous tensor holding the named tensor's data, not shared with any earlier read: fresh memory,
   * or (mapped safetensors) a copy-on-write view over the file that only the returned tensor uses.
   */
  read(name: string): Tensor;
}

/** A WeightSource over one or more opened files (each name in exactly one). */
export class FileWeightSource extends BaseWeightSource {
  private readonly owner = new Map<string, TensorFile>();

  /** `label` names the checkpoint in messages (a file or index path). */
  constructor(readonly label: string, readonly files: readonly TensorFile[]) {
    super();
    for (const f of files) {
      for (const n of f.names()) {
        const other = this.owner.get(n);
        if (other) throw new Error(`${label}: tensor "${n}" is in both ${other.path} and ${f.path}`);
        this.owner.set(n, f);
      }
    }
  }

  protected allKeys(): string[] {
    return [...this.owner.keys()];
  }

  override has(name: string): boolean {
    return this.owner.has(name);
  }

  protected read(name: string): Tensor {
    return this.owner.get(name)!.read(name);
  }

  protected override describe(name: string): TensorInfo {
    return this.owner.get(name)!.info(name);
  }

  protected where(name: string): string {
    return this.owner.get(name)?.path ?? this.label;
  }
}

export interface ShardIndex {
  readonly path: string;
  /** Tensor name → shard file path (resolved against the index's folder). */
  readonly weightMap: ReadonlyMap<string, string>;
  /** Distinct shard paths in order of first mention. */
  readonly files: readonly string[];
  readonly metadata: Readonly<Record<string, unknown>> | null;
}

/** Reads and checks an index file (shard names must be plain relative paths inside its folder). */
export function readShardIndex(indexPath: string): ShardIndex {
  const text = readFileSync(indexPath, 'utf8');
  const obj = parseJsonObject(text, `${indexPath}`, 'key');
  const wm = obj['weight_map'];
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw new Error(`${indexPath}: missing "weight_map" object`);
  const dir = path.dirname(indexPath);
  const weightMap = new Map<string, string>();
  const files: string[] = [];
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== 'string' || file === '') throw new Error(`${indexPath}: weight_map entry "${name}" is ${JSON.stringify(file)}, not a file name`);
    // An index is data from the download; it must not point readers at files elsewhere on the machine.
    if (path.isAbsolute(file) || file.split(/[\\/]/).includes('..')) {
      throw new Error(`${indexPath}: weight_map entry "${name}" points outside the checkpoint folder (${JSON.stringify(file)})`);
    }
    const full = path.join(dir, file);
    if (!files.includes(full)) files.push(full);
    weightMap.set(name, full);
  }
  if (files.length === 0) throw new Error(`${indexPath}: weight_map is empty`);
  const meta = obj['metadata'];
  const metadata = typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? (meta as Record<string, unknown>) : null;
  return { path: indexPath, weightMap, files, metadata };
}

/** Opens every shard of an index with `open` and checks the index against their contents. */
export function openShardedSource(indexPath: string, open: (file: string) => TensorFile): FileWeightSource {
  const index = readShardIndex(indexPath);
  const files = index.files.map((f) => {
    try {
      return open(f);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') throw new Error(`${indexPath}: shard ${f} listed in the weight_map does not exist`);
      throw e;
    }
  });
  const byPath = new Map(files.map((f) => [f.path, new Set(f.names())]));
  for (const [name, file] of index.weightMap) {
    if (!byPath.get(file)!.has(name)) throw new Error(`${indexPath}: tensor "${name}" is mapped to ${file}, which does not contain it`);
  }
  return new FileWeightSource(indexPath, files);
}
