/**
 * safetensors reading: a validated header (safetensors-header.ts), then each tensor read on demand from
 * its byte range straight into a fresh typed array of its engine dtype. Files of any size work: nothing
 * is mapped or buffered whole, so memory is the tensors the caller keeps.
 *
 * `openSafetensors(path)` takes a `.safetensors` file or a `*.safetensors.index.json` and returns a
 * WeightSource. Not here: writing (safetensors-writer.ts), folder discovery (checkpoint.ts).
 */
import { Tensor } from '../engine/tensor.js';
import { assertLittleEndianHost, withFile } from './fileio.js';
import { finishElements, readRawElements } from './elements.js';
import { FileWeightSource, openShardedSource, type TensorFile } from './file-source.js';
import { readSafetensorsHeader, type SafetensorsEntry, type SafetensorsHeader } from './safetensors-header.js';
import type { TensorInfo } from './source.js';

/** One opened .safetensors file. */
export class SafetensorsFile implements TensorFile {
  readonly path: string;
  readonly header: SafetensorsHeader;

  constructor(path: string) {
    assertLittleEndianHost('safetensors');
    this.path = path;
    this.header = readSafetensorsHeader(path);
  }

  /** `__metadata__` of the header (null when absent). */
  get metadata(): Readonly<Record<string, string>> | null {
    return this.header.metadata;
  }

  names(): string[] {
    return [...this.header.entries.keys()];
  }

  private entry(name: string): SafetensorsEntry {
    const e = this.header.entries.get(name);
    if (!e) throw new Error(`${this.path}: no tensor "${name}"`);
    return e;
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: e.type.engine, shape: e.shape, storedAs: e.type.name };
  }

  read(name: string): Tensor {
    const e = this.entry(name);
    const count = e.end - e.begin === 0 ? 0 : (e.end - e.begin) / e.type.itemBytes;
    const what = `"${name}" (data_offsets [${e.begin}, ${e.end}])`;
    const raw = withFile(this.path, this.header.fileSize, (fd) =>
      readRawElements(fd, this.header.dataStart + e.begin, e.type, count, this.path, what));
    const t = new Tensor(finishElements(raw, e.type, this.path, what), e.type.engine!, e.shape);
    t.name = name;
    return t;
  }
}

/** A WeightSource over a .safetensors file or a sharded `*.safetensors.index.json`. */
export function openSafetensors(path: string): FileWeightSource {
  if (path.endsWith('.json')) return openShardedSource(path, (f) => new SafetensorsFile(f));
  return new FileWeightSource(path, [new SafetensorsFile(path)]);
}
