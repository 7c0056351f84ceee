#!/usr/bin/env node
/**
 * The `llava` command. One flat options object per command, defaults in one place, unknown flags are
 * errors (commander). Commands arrive with the features they drive.
 */
import { Command } from 'commander';
import { createRequire } from 'node:module';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

/** `--threads N`, applied before the backend loads: the native thread pool reads LLAVA_THREADS once. */
function useThreads(o: { threads?: string }): void {
  if (o.threads === undefined) return;
  if (!/^[1-9]\d*$/.test(o.threads)) throw new Error(`--threads must be a positive integer, got ${JSON.stringify(o.threads)}`);
  process.env.LLAVA_THREADS = o.threads;
}

/** The generation flags `run` and `chat` share (sampling in HF's processor order, defaults as the reference CLI). */
function withGeneration(cmd: Command): Command {
  return cmd
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', '0.2')
    .option('--top-p <p>', 'nucleus sampling: keep the smallest set of tokens reaching probability p')
    .option('--top-k <k>', 'keep the k most likely tokens (default 50 when sampling)')
    .option('--min-p <p>', 'drop tokens below p times the top probability')
    .option('--repetition-penalty <r>', 'penalize tokens already generated in the reply (HF rule; 1 = off)')
    .option('--seed <n>', 'seed of the sampling draws (default: random)')
    .option('--threads <n>', 'native compute threads (default: the machine\'s cores)')
    .option('--quant <type>', 'quantize the language model in memory at load: q8_0 or q4_0 (norms stay f32, the head q8_0)');
}

// Whoever reads the output went away (`llava run --stream … | head`, `llava info | head`): end quietly, as
// other filters do, whichever command was writing.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(0);
});

const program = new Command();
program
  .name('llava')
  .description('LLaVA vision-language assistant in TypeScript')
  .version(pkg.version)
  .option('--debug', 'print the stack trace of an error')
  .showHelpAfterError();

program
  .command('info')
  .description('show the compute backend, CPU features, threads and native kernels')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    const { info } = await import('./info.js');
    await info(opts);
  });

program
  .command('tokenize')
  .description('print the token ids of TEXT as a JSON array (slow LlamaTokenizer semantics)')
  .option('--tokenizer <path>', 'tokenizer.json, tokenizer.model or a model folder')
  .option('--legacy <bool>', 'override legacy from tokenizer_config.json (true|false)', (v: string) => {
    if (v !== 'true' && v !== 'false') throw new Error(`--legacy takes true or false, not '${v}'`);
    return v === 'true';
  })
  .option('--no-bos', 'do not add the BOS token')
  .option('--image-token', "apply LLaVA's tokenizer_image_token: -200 for each <image>")
  .argument('[text...]', 'the text (after -- it may start with a dash)')
  .action(async (text: string[], opts: { tokenizer?: string; legacy?: boolean; bos?: boolean; imageToken?: boolean }) => {
    const { tokenize } = await import('./tokenize.js');
    await tokenize({ ...opts, text });
  });

program
  .command('preprocess')
  .description('write the uint8 image a model sees (pad/resize/crop) as PNG, optionally its pixel_values')
  .option('--image <file>', 'input image (JPEG, PNG, WebP, GIF first frame, TIFF first page, ...)')
  .option('--model <dir>', 'take size, crop, mean/std and pad/crop mode from this model folder')
  .option('--vision-tower <dir>', 'with --model: CLIP tower folder searched for preprocessor_config.json')
  .option('--size <n>', 'shortest-edge size and square crop, with OpenAI CLIP mean/std (instead of --model)')
  .option('--pad', "pad to square with the mean colour first (LLaVA-1.5's image_aspect_ratio pad)")
  .option('--crop', 'plain CLIP resize + center crop (the default with --size)')
  .option('--out <file>', 'output PNG of the uint8 image after pad/resize/crop')
  .option('--dump-pixels <file>', 'also write pixel_values f32 [1,3,H,W] as safetensors')
  .option('--auto-orient', 'apply the EXIF orientation (the reference ignores it)')
  .option('--max-pixels <n>', 'refuse images with more pixels than this (default 178956970, as Pillow)')
  .option('--json', 'print a JSON summary')
  .action(async (o) => (await import('./preprocess.js')).preprocess(o));

program
  .command('inspect')
  .description('describe a LLaVA model folder from its config and checkpoint headers')
  .requiredOption('--model <dir>', 'model folder, or a text .gguf file (with --mmproj)')
  .option('--vision-tower <dir>', 'CLIP tower folder (original LLaVA checkpoints)')
  .option('--mmproj <file>', 'vision tower + projector GGUF of a text .gguf --model')
  .option('--json', 'print one JSON object')
  .action(async (o) => (await import('./inspect.js')).inspect(o));

withGeneration(program
  .command('run')
  .description('answer about images (streamed with --stream); sampling as the reference CLI by default')
  .option('--model <dir>', 'model folder or text .gguf file (default: the embedded tiny demo model and its image)')
  .option('--vision-tower <dir>', 'CLIP tower folder (original LLaVA checkpoints)')
  .option('--mmproj <file>', 'vision tower + projector GGUF of a text .gguf --model')
  .option('--image <file>', 'image file; repeat for several images, in prompt order', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--prompt <text>', 'user prompt (needs the folder\'s tokenizer)')
  .option('--template <name>', 'chat template for --prompt')
  .option('--system <text>', 'system prompt for --prompt (default: the template\'s)')
  .option('--input-ids <ids>', 'prompt token ids, comma-separated (-200 or the image token marks the image)')
  .option('--max-new-tokens <n>', 'most tokens to generate (default 512, fewer where the context leaves less room)')
  .option('--stream', 'print the reply as it is generated')
  .option('--json', 'print {"input_ids","output_ids","text"} on one line')
  .option('--dump <file>', 'write prefill tensors (f32) to a safetensors file (greedy decoding)')
  .option('--kv-cache <dtype>', 'KV cache storage: f32 or f16', 'f32')
  .option('--pad', 'pad the image to a square first (LLaVA-1.5)')
  .option('--crop', 'plain CLIP resize and center crop')
  .option('--batch <file>', 'decode the requests of a JSONL file (one {"prompt", "image", sampling fields…} per line) as one batch; prints a JSON line per request'))
  .action(async (o) => {
    useThreads(o);
    return (await import('./run.js')).run(o);
  });

withGeneration(program
  .command('chat')
  .description('chat about an image: streamed replies, multi-turn history, /image PATH, /reset, /save FILE, /exit')
  .option('--model <dir>', 'model folder or text .gguf file (default: the embedded tiny demo model and its image)')
  .option('--vision-tower <dir>', 'CLIP tower folder (original LLaVA checkpoints)')
  .option('--mmproj <file>', 'vision tower + projector GGUF of a text .gguf --model')
  .option('--image <file>', 'image of the conversation (change it later with /image PATH)')
  .option('--template <name>', 'chat template (default: chosen for the model)')
  .option('--system <text>', 'replace the template\'s system prompt')
  .option('--max-new-tokens <n>', 'most tokens per reply (default 512, or a quarter of the model\'s context if less)')
  .option('--kv-cache <dtype>', 'KV cache storage: f32 or f16', 'f32')
  .option('--pad', 'pad the image to a square first (LLaVA-1.5)')
  .option('--crop', 'plain CLIP resize and center crop')
  .addHelpText('after', '\nCtrl-C stops the reply in progress (also during a long prefill); twice at the prompt exits.\n'
    + 'Exit status: 0; 1 when stdin is not a terminal (one question per line) and any line failed (a reply or a\n'
    + 'command ended in an error; the other lines are still answered). On a terminal the chat goes on after an error.'))
  .action(async (o) => {
    useThreads(o);
    return (await import('./chat.js')).chat(o);
  });

program
  .command('quantize')
  .description('write a model as llama.cpp-compatible GGUF files (text + mmproj) with our small config')
  .requiredOption('--model <dir>', 'model folder (any layout llava run reads)')
  .requiredOption('--type <type>', 'text weights: f16, q8_0 or q4_0')
  .requiredOption('--out <dir>', 'output folder (created if missing)')
  .option('--mmproj-type <type>', 'vision tower and projector weights: f16 or q8_0', 'f16')
  .option('--vision-tower <dir>', 'CLIP tower folder (original LLaVA checkpoints)')
  .action(async (o) => (await import('./quantize.js')).quantize(o));

// Commands register here, each in its own file loaded on use: `program.command(...).action(async (o) =>
// (await import('./x.js')).x(o))`. Errors end as one sentence on stderr and exit code 1; --debug (anywhere on
// the command line) adds the stack trace.
program.parseAsync(process.argv).catch((e: unknown) => {
  const debug = process.argv.includes('--debug');
  process.stderr.write(`llava: ${e instanceof Error ? e.message : String(e)}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
