/**
 * A restricted pickle reader: a stack machine for the opcodes torch state dicts use (protocols 2–4 of the
 * binary format) that never executes anything from the file. Globals, calls (REDUCE), persistent ids and
 * BUILD are handed to a policy object, which decides what a global may be and what a call produces;
 * everything the policy does not accept is an error naming the global and the file.
 *
 * Values: None → null, bool, int → number (bigint beyond 2^53), float → number, str → string,
 * bytes → Uint8Array, list → array, tuple → PyTuple, dict → PyDict (ordered Map). Text-protocol opcodes,
 * objects (NEWOBJ, INST, OBJ), sets and extension registries are refused with the opcode and byte offset.
 * Not torch-specific: torch's policy lives in torch-bin.ts.
 */

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** State given by BUILD (an OrderedDict's `_metadata`), kept but never interpreted here. */
  state: PyValue | undefined;
}
/** A global named by the pickle, as the policy resolved it. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}
export type PyKey = string | number | bigint | boolean | null;
export type PyValue = PyKey | Uint8Array | PyTuple | PyDict | PyGlobal | PyValue[] | { readonly kind: string };

export interface UnpicklePolicy {
  /** Resolves GLOBAL/STACK_GLOBAL; throws for anything not allowed. */
  global(module: string, name: string): PyGlobal;
  /** REDUCE: calls an allowed global with positional arguments. */
  call(fn: PyGlobal, args: readonly PyValue[]): PyValue;
  persistentLoad(pid: PyValue): PyValue;
  /** BUILD: applies `state` to `obj` (or refuses). */
  build(obj: PyValue, state: PyValue): void;
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

/** Unpickles `data`; `where` names the file and entry in every error. */
export function unpickle(data: Uint8Array, policy: UnpicklePolicy, where: string): PyValue {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, PyValue>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;
  let opAt = 0;

  const fail: (msg: string) => never = (msg) => {
    throw new Error(`${where}: ${msg} (pickle byte ${opAt})`);
  };
  const need = (n: number): number => {
    if (pos + n > data.length) fail(`pickle ends inside an opcode argument`);
    const at = pos;
    pos += n;
    return at;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) return fail('pickle stack underflow');
    if (v === MARK) return fail('unexpected MARK on the pickle stack');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail('pickle stack has no object here');
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) return fail('no MARK on the pickle stack');
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const text = (n: number): string => {
    const at = need(n);
    try {
      return utf8.decode(data.subarray(at, at + n));
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const int = (n: number | bigint): PyValue =>
    typeof n === 'bigint' && n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  const long = (n: number): PyValue => {
    const at = need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[at + i]!);
    if (n > 0 && data[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return int(v);
  };
  const setItems = (dict: PyValue, items: PyValue[]): void => {
    if (!(dict instanceof PyDict)) return fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) return fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i]!;
      if (k !== null && typeof k === 'object') return fail('dict key is not a str, int or bool');
      dict.map.set(k, items[i + 1]!);
    }
  };
  const append = (list: PyValue, items: PyValue[]): void => {
    if (!Array.isArray(list)) return fail('APPEND(S) on something that is not a list');
    for (const it of items) list.push(it);
  };
  const put = (idx: number): void => {
    memo.set(idx, top());
  };
  const get = (idx: number): void => {
    const v = memo.get(idx);
    if (v === undefined) fail(`memo entry ${idx} is not defined`);
    stack.push(v!);
  };

  for (;;) {
    opAt = pos;
    if (pos >= data.length) fail('pickle ends without a STOP opcode');
    const op = data[need(1)]!;
    switch (op) {
      case 0x80: need(1); break; // PROTO
      case 0x95: need(8); break; // FRAME: framing is irrelevant when the whole pickle is in memory
      case 0x2e: { // STOP
        const result = pop();
        return result;
      }
      case 0x28: stack.push(MARK); break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(data[need(1)]!); break; // BININT1
      case 0x4d: stack.push(view.getUint16(need(2), true)); break; // BININT2
      case 0x8a: stack.push(long(data[need(1)]!)); break; // LONG1
      case 0x8b: { // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0) fail('negative LONG4 length');
        stack.push(long(n));
        break;
      }
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x58: stack.push(text(view.getUint32(need(4), true))); break; // BINUNICODE
      case 0x8c: stack.push(text(data[need(1)]!)); break; // SHORT_BINUNICODE
      case 0x8d: { // BINUNICODE8
        const n = view.getBigUint64(need(8), true);
        if (n > BigInt(data.length)) fail('string length beyond the pickle');
        stack.push(text(Number(n)));
        break;
      }
      case 0x55: case 0x54: { // SHORT_BINSTRING, BINSTRING: Python 2 str, latin-1 bytes
        const n = op === 0x55 ? data[need(1)]! : view.getInt32(need(4), true);
        if (n < 0) fail('negative string length');
        const at = need(n);
        stack.push(Array.from(data.subarray(at, at + n), (c) => String.fromCharCode(c)).join(''));
        break;
      }
      case 0x43: case 0x42: { // SHORT_BINBYTES, BINBYTES
        const n = op === 0x43 ? data[need(1)]! : view.getUint32(need(4), true);
        const at = need(n);
        stack.push(data.slice(at, at + n));
        break;
      }
      case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: stack.push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: stack.push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x7d: stack.push(new PyDict()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: put(data[need(1)]!); break; // BINPUT
      case 0x72: put(view.getUint32(need(4), true)); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x68: get(data[need(1)]!); break; // BINGET
      case 0x6a: get(view.getUint32(need(4), true)); break; // LONG_BINGET
      case 0x63: { // GLOBAL "module\nname\n"
        const line = (): string => {
          const end = data.indexOf(0x0a, pos);
          if (end < 0) fail('GLOBAL without a newline');
          const s = Array.from(data.subarray(pos, end), (c) => String.fromCharCode(c)).join('');
          pos = end + 1;
          return s;
        };
        const module = line();
        stack.push(policy.global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(policy.global(module as string, name as string));
        break;
      }
      case 0x51: stack.push(policy.persistentLoad(pop())); break; // BINPERSID
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal)) fail('REDUCE of something that is not an allowed global');
        if (!(args instanceof PyTuple)) fail(`REDUCE of ${(fn as PyGlobal).qualified} without an argument tuple`);
        stack.push(policy.call(fn as PyGlobal, (args as PyTuple).items));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        policy.build(top(), state);
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}
