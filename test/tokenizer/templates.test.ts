/**
 * Chat templates: each LLaVA template renders exactly conversation.py's get_prompt() strings (written out by
 * hand below from the template definitions and the spec's §5), training labels from one-pass segment encoding
 * equal LLaVA's preprocess_v1 masks (the shared golden conversations and make_random.py's random ones, both
 * tokenizer modes), Jinja chat templates with generation blocks or plain assistant turns, and template
 * selection by folder and by model name.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  buildInferencePrompt, encodeSegments, getTemplate, renderChat, renderConversation, segmentsToText, selectTemplate,
  templateNameForModel, withImagePlaceholders, type ChatMessage, type ChatTemplate,
} from '../../src/tokenizer/index.js';
import { golden, randomVectors, tokenizer } from './fixtures.js';

const USER_SYS = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.";
const HUMAN_SYS = "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";
const Q = 'What is shown in this image?';

const llava = (name: string): ChatTemplate => selectTemplate({ name });
const prompt = (name: string, user = Q, images = 1) => buildInferencePrompt(llava(name), { user, images }).prompt;

/** Turns of a vicuna_v1 conversation string (system, then `USER: q ASSISTANT: a</s>` rounds). */
function turnsOf(conversation: string): ChatMessage[] {
  assert.ok(conversation.startsWith(USER_SYS + ' '));
  const out: ChatMessage[] = [];
  for (const round of conversation.slice(USER_SYS.length + 1).split('</s>').filter(Boolean)) {
    const [q, a] = round.split(' ASSISTANT: ') as [string, string];
    out.push({ role: 'user', content: q.replace(/^USER: /, '' ) }, { role: 'assistant', content: a });
  }
  return out;
}

/** Labels from the supervised [start, end) ranges make_random.py stores. */
function labelsOf(ids: number[], ranges: [number, number][]): number[] {
  const labels = ids.map(() => -100);
  for (const [a, b] of ranges) for (let k = a; k < b; k++) labels[k] = ids[k]!;
  return labels;
}

describe('LLaVA templates render get_prompt() exactly', () => {
  test('vicuna_v1 and llava_v1 (TWO: sep " ", sep2 "</s>")', () => {
    assert.equal(prompt('vicuna_v1'), `${USER_SYS} USER: <image>\n${Q} ASSISTANT:`);
    assert.equal(prompt('v1'), prompt('vicuna_v1'));
    assert.equal(prompt('llava_v1'), `${HUMAN_SYS} USER: <image>\n${Q} ASSISTANT:`);
    const multi = buildInferencePrompt(llava('vicuna_v1'), { user: 'And the colour?', images: 1, history: [{ user: Q, assistant: 'A cat.' }] });
    assert.equal(multi.prompt, `${USER_SYS} USER: <image>\n${Q} ASSISTANT: A cat.</s>USER: And the colour? ASSISTANT:`);
  });

  test('llava_v0 (SINGLE, "###")', () => {
    assert.equal(prompt('llava_v0'), `${HUMAN_SYS}###Human: <image>\n${Q}###Assistant:`);
  });

  test('llava_llama_2 and mistral_instruct (LLAMA_2: [INST], <<SYS>>, lstrip of sep)', () => {
    const sys = 'You are a helpful language and vision assistant. You are able to understand the visual content that the user provides, and assist the user with a variety of tasks using natural language.';
    assert.equal(prompt('llava_llama_2'), `[INST] <<SYS>>\n${sys}\n<</SYS>>\n\n<image>\n${Q} [/INST]`);
    const two = buildInferencePrompt(llava('llava_llama_2'), { user: 'Q2', images: 1, system: '', history: [{ user: 'Q1', assistant: 'A1' }] });
    assert.equal(two.prompt, '[INST] <image>\nQ1 [/INST] A1 </s><s>[INST] Q2 [/INST]');
    assert.equal(prompt('mistral_instruct'), `[INST] <image>\n${Q} [/INST]`);
  });

  test('chatml_direct and mpt (MPT roles carry their own markers)', () => {
    assert.equal(prompt('chatml_direct'), `<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n<image>\n${Q}<|im_end|><|im_start|>assistant\n`);
    assert.equal(prompt('mpt'), '<|im_start|>system\nA conversation between a user and an LLM-based AI assistant. The assistant gives helpful and honest answers.'
      + `<|im_end|><|im_start|>user\n<image>\n${Q}<|im_end|><|im_start|>assistant\n`);
  });

  test('plain: inference is user text + "\\n"; training is preprocess_plain (spec §5.3/§5.5 ids and mask)', () => {
    assert.equal(prompt('plain'), `<image>\n${Q}\n`);
    const tok = tokenizer('model', true);
    const r = renderConversation(getTemplate('plain')!, [
      { role: 'user', content: '<image>\nDescribe the image briefly.' }, { role: 'assistant', content: 'a cat sitting on a mat' }]);
    assert.equal(segmentsToText(r.segments), '<image>a cat sitting on a mat\n');
    const e = encodeSegments(tok, r);
    assert.deepEqual(e.ids, [1, -200, 263, 6635, 16246, 373, 263, 1775, 13]);
    assert.deepEqual(e.labels, [-100, -100, 263, 6635, 16246, 373, 263, 1775, 13]);
  });

  test('images: <image>\\n prepended once per image unless the text places it; errors name the problem', () => {
    assert.equal(withImagePlaceholders('hi', 2), '<image>\n<image>\nhi');
    assert.equal(withImagePlaceholders('look: <image>', 1), 'look: <image>');
    assert.equal(withImagePlaceholders('hi', 0), 'hi');
    assert.equal(withImagePlaceholders('hi', 1, true), '<im_start><image><im_end>\nhi');
    const r = buildInferencePrompt(llava('vicuna_v1'), { user: 'a <image> b', images: 1 });
    assert.equal(r.segments.filter((s) => 'image' in s).length, 1);
    assert.throws(() => selectTemplate({ name: 'nope' }), /unknown template 'nope' \(known: vicuna_v1, /);
    assert.throws(() => renderConversation(getTemplate('vicuna_v1')!, [{ role: 'assistant', content: 'x' }]), /message 0 is 'assistant', expected 'user'/);
  });
});

describe('training labels equal preprocess_v1', () => {
  const t = getTemplate('vicuna_v1')!;
  for (const [src, legacy] of [['model', true], ['model', false], ['json', true], ['json', false]] as const) {
    const mode = legacy ? 'legacy' : 'nonlegacy';
    test(`golden conversations, ${src}, ${mode}`, () => {
      const tok = tokenizer(src, legacy);
      for (const v of golden().train_mask_vicuna_v1) {
        const r = renderConversation(t, turnsOf(v.conversation));
        assert.equal(segmentsToText(r.segments), v.conversation);
        const e = encodeSegments(tok, r);
        assert.deepEqual(e.ids, v[mode].input_ids);
        assert.deepEqual(e.labels, v[mode].labels);
      }
    });
    test(`random conversations (make_random.py), ${src}, ${mode}`, () => {
      const tok = tokenizer(src, legacy);
      const convs = randomVectors().vicuna_v1_conversations;
      assert.ok(convs.length >= 200);
      const bad: string[] = [];
      for (const c of convs) {
        const msgs = c.turns.map((content, i): ChatMessage => ({ role: i % 2 === 0 ? 'user' : 'assistant', content }));
        const e = encodeSegments(tok, renderConversation(t, msgs));
        const want = c[mode];
        if (JSON.stringify(e.ids) !== JSON.stringify(want.ids)) bad.push(`ids of ${JSON.stringify(c.turns)}`);
        else if (JSON.stringify(e.labels) !== JSON.stringify(labelsOf(want.ids, want.supervised))) bad.push(`labels of ${JSON.stringify(c.turns)}`);
      }
      assert.equal(bad.length, 0, `${bad.length} mismatches, first:\n${bad.slice(0, 3).join('\n')}`);
    });
  }
});

describe('Hugging Face chat templates', () => {
  // Shaped like llava-hf's processor template: content items, images first, {% generation %} around replies.
  const LLAVA_HF = "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    + "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    + "{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    + "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    + "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";
  // String content, BOS and EOS written by the template, no generation blocks.
  const PLAIN = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}USER: {{ m['content'] }} {% else %}ASSISTANT: {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}";

  test('content items and generation blocks (llava-hf style)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llava-tmpl-'));
    writeFileSync(path.join(dir, 'chat_template.json'), JSON.stringify({ chat_template: LLAVA_HF }));
    const t = selectTemplate({ modelDir: dir });
    assert.equal(t.kind, 'hf');
    const tok = tokenizer('model', true);
    const inf = buildInferencePrompt(t, { user: Q, images: 1 }, tok);
    assert.equal(inf.prompt, `USER: <image>\n${Q} ASSISTANT:`);
    const train = renderChat(t, [{ role: 'user', content: `<image>\n${Q}` }, { role: 'assistant', content: 'A cat.' }], { tokenizer: tok });
    assert.equal(segmentsToText(train.segments), `USER: <image>\n${Q} ASSISTANT: A cat. `);
    const e = encodeSegments(tok, train);
    // "A cat. " → ▁A ▁cat . ▁ : the replies' tokens are trained, "ASSISTANT:" and the image are not.
    const trained = e.labels.filter((l) => l !== -100);
    assert.deepEqual(trained, [319, 6635, 29889, 29871]);
    assert.equal(e.ids[e.ids.length - 5], 29901);
  });

  test('string content, template-written BOS and EOS (trained with the reply)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llava-tmpl-'));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: PLAIN }));
    const t = selectTemplate({ modelDir: dir });
    const tok = tokenizer('model', false);
    const r = renderChat(t, [{ role: 'user', content: '<image>\nHi' }, { role: 'assistant', content: 'Black.' }], { tokenizer: tok });
    assert.equal(segmentsToText(r.segments), 'USER: <image>\nHi ASSISTANT: Black.</s>');
    const e = encodeSegments(tok, r);
    assert.equal(e.ids.filter((id) => id === 1).length, 1); // one BOS, not two
    assert.deepEqual(e.labels.filter((l) => l !== -100), [6054, 29889, 2]); // ▁Black . </s>
  });
});

describe('template selection', () => {
  test("LLaVA's CLI rule by model name", () => {
    assert.equal(templateNameForModel('llava-v1.5-7b'), 'llava_v1');
    assert.equal(templateNameForModel('llava-1.5-7b-hf'), 'llava_v1');
    assert.equal(templateNameForModel('llava-llama-2-13b-chat-lightning-preview'), 'llava_llama_2');
    assert.equal(templateNameForModel('llava-v1.6-mistral-7b'), 'mistral_instruct');
    assert.equal(templateNameForModel('llava-v1.6-34b'), 'chatml_direct');
    assert.equal(templateNameForModel('LLaVA-Lightning-MPT-7B-preview'), 'mpt');
    assert.equal(templateNameForModel('LLaVA-7b-delta-v0'), 'llava_v0');
  });

  test('explicit name, else the folder template, else the folder name', () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'llava-sel-'));
    const dir = path.join(parent, 'llava-v1.5-7b');
    mkdirSync(dir);
    assert.equal(selectTemplate({ modelDir: dir }).name, 'llava_v1');
    assert.equal(selectTemplate({ modelDir: dir, name: 'vicuna_v1' }).name, 'vicuna_v1');
    assert.throws(() => selectTemplate({ modelDir: dir, name: 'hf' }), /has none/);
  });
});
