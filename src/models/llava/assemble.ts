/**
 * Building a LlavaModel from a parsed config and WeightSources, strictly: the key layout is detected
 * from the names, every tensor is fetched by published name with its shape checked, and afterwards every
 * stored key that nothing read is an error unless it is unused on purpose (derived buffers, CLIP's pooled
 * head and text side, tower layers after the selected one, which are never computed).
 *
 * Not here: files and folders (load.ts reads them and calls this), tower discovery (tower.ts).
 */
import { clipVisionConfigFromJson, type RawClipVisionConfig } from '../clip/config.js';
import { ClipVisionTower } from '../clip/vision.js';
import { LlamaForCausalLM } from '../llama/model.js';
import type { WeightQuant, WeightTypeFn } from '../llama/quant.js';
import { weightStorage } from './weight-types.js';
import type { WeightSource } from '../../io/source.js';
import { llavaConfigFromJson, normalizeLlavaConfig, type LlavaConfig, type RawLlavaConfig } from './config.js';
import { detectLayout, isSkippedVisionKey, KNOWN_BUFFERS, TOWER_IGNORED, type KeyLayout } from './layouts.js';
import { LlavaModel } from './model.js';
import { Projector } from './projector.js';

export interface TowerParts {
  /** The tower folder's config.json (CLIPVisionConfig or CLIPConfig), when there is one. */
  configJson: Record<string, unknown> | null;
  /** The tower checkpoint (keys `vision_model.*`, maybe a full CLIPModel), or null when embedded. */
  weights: WeightSource | null;
  where: string;
}

export interface LlavaParts {
  configJson: Record<string, unknown>;
  /** Names the config in errors ("<dir>/config.json"). */
  configWhere: string;
  weights: WeightSource;
  weightsWhere: string;
  /**
   * The separate CLIP tower of an original-layout checkpoint. Called with `required` true when the
   * checkpoint has no tower weights (it must then return the tower or throw), false when the weights are
   * embedded and only a config is wanted (null: none found, the config is read off the weights).
   */
  tower?: (required: boolean) => TowerParts | null;
  /** Quantize the language model's weights at load (the vision tower and projector stay as stored). */
  quant?: WeightQuant;
}

export interface AssembledLlava {
  model: LlavaModel;
  config: LlavaConfig;
  layout: KeyLayout;
  /** "embedded", or the tower's `where`. */
  towerFrom: string;
}

/** Whether an original-layout checkpoint carries its CLIP weights. */
export function hasEmbeddedTower(weights: WeightSource, layout: KeyLayout): boolean {
  return weights.keys().some((k) => k.startsWith(`${layout.vision}.`));
}

/**
 * A CLIPVisionConfig read off the weights, for embedded towers without a config: sizes from shapes,
 * heads assuming CLIP's head width of 64 (true for every OpenAI CLIP ViT).
 */
export function inferTowerConfig(vision: WeightSource): RawClipVisionConfig {
  const shape = (n: string) => vision.info(n).shape;
  const [d, c, p] = shape('embeddings.patch_embedding.weight') as [number, number, number, number];
  const positions = shape('embeddings.position_embedding.weight')[0]!;
  const layers = new Set(vision.keys().map((k) => /^encoder\.layers\.(\d+)\./.exec(k)?.[1]).filter((x) => x !== undefined)).size;
  if (d % 64 !== 0) {
    throw new Error(`the embedded vision tower has width ${d}, so its number of attention heads cannot be inferred (CLIP heads are 64 wide); pass the tower folder with its config.json as --vision-tower DIR`);
  }
  return clipVisionConfigFromJson({
    hidden_size: d,
    num_channels: c,
    patch_size: p,
    image_size: Math.round(Math.sqrt(positions - 1)) * p,
    num_hidden_layers: layers,
    intermediate_size: shape('encoder.layers.0.mlp.fc1.weight')[0],
    num_attention_heads: d / 64,
  });
}


/** Everything decided before reading a single tensor (shared with header-only inspection). */
export interface ResolvedLlava {
  config: LlavaConfig;
  layout: KeyLayout;
  /** Where the CLIP `vision_model` weights are (a prefix view of the checkpoint or of the tower). */
  vision: WeightSource;
  /** The separate tower checkpoint, when there is one. */
  tower: WeightSource | null;
  /** "embedded", or the tower's `where`. */
  towerFrom: string;
  /** Encoder layers computed (= the largest hidden-state index used). */
  layersRun: number;
  /** Keys of the checkpoint / of the tower that are unused on purpose. */
  ignorable: (key: string) => boolean;
  towerIgnorable: (key: string) => boolean;
}

export function resolveLlava(parts: LlavaParts): ResolvedLlava {
  const raw: RawLlavaConfig = llavaConfigFromJson(parts.configJson, parts.configWhere);
  const w = parts.weights;
  const layout = detectLayout(w.keys(), parts.weightsWhere);
  const embedded = hasEmbeddedTower(w, layout);
  let vision: WeightSource;
  let tower: WeightSource | null = null;
  let towerFrom = 'embedded';
  let towerRaw: RawClipVisionConfig | undefined;
  if (embedded) {
    vision = w.prefix(layout.vision);
    if (raw.kind === 'llava-original') {
      const t = parts.tower?.(false);
      towerRaw = t?.configJson ? clipVisionConfigFromJson(t.configJson) : inferTowerConfig(vision);
    }
  } else {
    if (raw.kind === 'llava-hf') {
      throw new Error(`${parts.weightsWhere}: no vision tower weights under "${layout.vision}." (llava-hf checkpoints carry their CLIP tower)`);
    }
    const t = parts.tower?.(true);
    if (!t?.weights) throw new Error(`${parts.weightsWhere}: the checkpoint has no vision tower weights; pass its folder with --vision-tower DIR`);
    if (!t.configJson) throw new Error(`${t.where}: the vision tower folder has no config.json`);
    towerRaw = clipVisionConfigFromJson(t.configJson);
    if (!t.weights.keys().some((k) => k.startsWith('vision_model.'))) {
      throw new Error(`${t.where}: no "vision_model.*" tensors (expected a CLIPVisionModel or CLIPModel checkpoint)`);
    }
    vision = t.weights.prefix('vision_model');
    tower = t.weights;
    towerFrom = t.where;
  }
  const config = normalizeLlavaConfig(raw, parts.configWhere, towerRaw);
  const layersRun = Math.max(...config.featureLayers);
  const skipped = (k: string, head: string) => k.startsWith(head) && isSkippedVisionKey(k.slice(head.length), layersRun);
  return {
    config, layout, vision, tower, towerFrom, layersRun,
    ignorable: (k) => KNOWN_BUFFERS.test(k) || (embedded && skipped(k, `${layout.vision}.`)),
    towerIgnorable: (k) => KNOWN_BUFFERS.test(k) || TOWER_IGNORED.test(k) || skipped(k, 'vision_model.'),
  };
}

function strictCheck(src: WeightSource, where: string, ignorable: (k: string) => boolean): void {
  const extra = src.unused().filter((k) => !ignorable(k));
  if (extra.length) {
    const list = extra.slice(0, 8).map((k) => `"${k}"`).join(', ');
    throw new Error(`${where}: ${extra.length} unexpected tensor(s) that this model does not use: ${list}${extra.length > 8 ? ', …' : ''}`);
  }
}

/**
 * The types of the `quant` load option: weight-types.ts's table, the one `llava quantize` writes. Where the
 * table keeps a matrix in f16 because its rows are not whole 32-value blocks, quantizing at load is an
 * error naming the tensor instead (an f16 copy made at load would be neither what was asked nor what is stored).
 */
function quantTypes(quant: WeightQuant | undefined): WeightTypeFn | undefined {
  if (!quant) return undefined;
  return (role, name, shape) => {
    const t = weightStorage(role, quant, shape);
    if (t === 'q8_0' || t === 'q4_0') return t;
    throw new Error(`tensor "${name}" [${shape.join(', ')}] cannot be quantized to ${quant}: its ${shape[1]} input features are not a multiple of 32 (the ${quant} block size)`);
  };
}

/** Build the model: every tensor by published name with its shape checked, then no unexplained leftovers. */
export function assembleLlava(parts: LlavaParts): AssembledLlava {
  const r = resolveLlava(parts);
  const { config, layout } = r;
  const w = parts.weights;
  const visionTower = ClipVisionTower.load(r.vision, config.vision, r.layersRun);
  const projector = Projector.load(w.prefix(layout.projector), config.projector, config.featureDim, config.text.hiddenSize, layout.projectorLayer);
  const headPresent = w.has(`${layout.head}.weight`);
  if (!headPresent && !config.tieWordEmbeddings) {
    throw new Error(`${parts.weightsWhere}: missing tensor "${layout.head}.weight" and tie_word_embeddings is not set`);
  }
  const languageModel = LlamaForCausalLM.load(w.prefix(layout.text), headPresent ? w.prefix(layout.head) : null, config.text, { weightType: quantTypes(parts.quant) });
  strictCheck(w, parts.weightsWhere, r.ignorable);
  if (r.tower) strictCheck(r.tower, r.towerFrom, r.towerIgnorable);
  return { model: new LlavaModel(config, visionTower, projector, languageModel), config, layout, towerFrom: r.towerFrom };
}
