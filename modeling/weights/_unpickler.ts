// Private: the restricted pickle machine. It reads the opcodes torch writes for a state dict
// (protocols 2 to 5) from an opcode table; every other opcode, and every global outside the
// allow-list of `_torch_globals.ts`, is a WeightsError naming the opcode and its offset.
import { WeightsError } from "./errors.ts";
import { describe, MARK, PyDict, PyGlobal, PyTuple, type PyValue } from "./_pickle_values.ts";
import { allowGlobal, callAllowed, persistentLoad, type Rebuild } from "./_torch_globals.ts";

/** The machine's state: input, position, stack and memo, plus readers and stack helpers. */
class Machine {
  readonly view: DataView;
  readonly stack: (PyValue | typeof MARK)[] = [];
  readonly memo = new Map<number, PyValue>();
  pos = 0;
  op = 0;
  opAt = 0;
  sawProto = false;
  result: PyValue | undefined;

  constructor(readonly data: Uint8Array, readonly file: string, readonly rebuild: Rebuild) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  fail = (msg: string): never => {
    throw new WeightsError(
      `${this.file}: pickle opcode 0x${this.op.toString(16)} at offset ${this.opAt}: ${msg}`,
    );
  };

  need(n: number): void {
    if (n < 0 || this.pos + n > this.data.length) {
      this.fail(`needs ${n} bytes but the pickle ends at ${this.data.length} (truncated)`);
    }
  }
  u8(): number {
    this.need(1);
    return this.data[this.pos++];
  }
  u16(): number {
    this.need(2);
    this.pos += 2;
    return this.view.getUint16(this.pos - 2, true);
  }
  u32(): number {
    this.need(4);
    this.pos += 4;
    return this.view.getUint32(this.pos - 4, true);
  }
  u64(): number {
    this.need(8);
    const x = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (x > BigInt(this.data.length)) {
      this.fail(`length ${x} exceeds the pickle size ${this.data.length}`);
    }
    return Number(x);
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    this.pos += n;
    return this.data.slice(this.pos - n, this.pos);
  }
  text(n: number): string {
    return new TextDecoder("utf-8", { fatal: false }).decode(this.bytes(n));
  }
  line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) this.fail("unterminated line (truncated)");
    const s = new TextDecoder().decode(this.data.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  push(x: PyValue | typeof MARK): void {
    this.stack.push(x);
  }
  pop(): PyValue {
    if (this.stack.length === 0) this.fail("stack underflow");
    const x = this.stack.pop()!;
    if (x === MARK) this.fail("unexpected MARK on the stack");
    return x as PyValue;
  }
  top(): PyValue {
    const x = this.stack[this.stack.length - 1];
    if (this.stack.length === 0 || x === MARK) this.fail("stack underflow");
    return x as PyValue;
  }
  popMark(): PyValue[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i < 0) this.fail("no MARK on the stack");
    const items = this.stack.splice(i) as PyValue[];
    items.shift();
    return items;
  }
  setItems(target: PyValue, items: PyValue[]): void {
    if (!(target instanceof PyDict)) return void this.fail(`SETITEM(S) on a ${describe(target)}`);
    if (items.length % 2) this.fail("odd number of items for SETITEMS");
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (
        !(typeof k === "string" || typeof k === "number" || typeof k === "bigint" ||
          typeof k === "boolean" || k === null)
      ) this.fail(`unsupported dict key of type ${describe(k)}`);
      target.map.set(k as string, items[i + 1]);
    }
  }
  append(target: PyValue, items: PyValue[]): void {
    if (!Array.isArray(target)) return void this.fail(`APPEND(S) on a ${describe(target)}`);
    for (const x of items) target.push(x);
  }
}

type Handler = (m: Machine) => void;

/** Framing, protocol and STOP. */
const CONTROL: Record<number, Handler> = {
  0x80: (m) => { // PROTO
    const proto = m.u8();
    if (m.sawProto || m.opAt !== 0) m.fail("a second or nested PROTO is not allowed");
    if (proto < 2 || proto > 5) m.fail(`pickle protocol ${proto}, expected 2 to 5`);
    m.sawProto = true;
  },
  0x95: (m) => void m.u64(), // FRAME
  0x2e: (m) => void (m.result = m.pop()), // STOP
};

/** Constants: strings, bytes, ints, floats, None, booleans. */
const CONSTANTS: Record<number, Handler> = {
  0x58: (m) => m.push(m.text(m.u32())), // BINUNICODE
  0x8c: (m) => m.push(m.text(m.u8())), // SHORT_BINUNICODE
  0x8d: (m) => m.push(m.text(m.u64())), // BINUNICODE8
  0x43: (m) => m.push(m.bytes(m.u8())), // SHORT_BINBYTES
  0x42: (m) => m.push(m.bytes(m.u32())), // BINBYTES
  0x4a: (m) => { // BININT
    m.need(4);
    m.push(m.view.getInt32(m.pos, true));
    m.pos += 4;
  },
  0x4b: (m) => m.push(m.u8()), // BININT1
  0x4d: (m) => m.push(m.u16()), // BININT2
  0x8a: (m) => { // LONG1
    const n = m.u8();
    const b = m.bytes(n);
    let x = 0n;
    for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]);
    if (n > 0 && b[n - 1] & 0x80) x -= 1n << BigInt(8 * n);
    const safe = x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER);
    m.push(safe ? Number(x) : x);
  },
  0x47: (m) => { // BINFLOAT (big-endian)
    m.need(8);
    m.push(m.view.getFloat64(m.pos, false));
    m.pos += 8;
  },
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
};

/** Containers and the stack: tuples, lists, dicts, MARK, POP, DUP. */
const CONTAINERS: Record<number, Handler> = {
  0x7d: (m) => m.push(new PyDict(false)), // EMPTY_DICT
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x29: (m) => m.push(new PyTuple([])), // EMPTY_TUPLE
  0x28: (m) => m.push(MARK), // MARK
  0x30: (m) => void m.pop(), // POP
  0x31: (m) => void m.popMark(), // POP_MARK
  0x32: (m) => m.push(m.top()), // DUP
  0x85: (m) => m.push(new PyTuple([m.pop()])), // TUPLE1
  0x86: (m) => { // TUPLE2
    const b = m.pop();
    m.push(new PyTuple([m.pop(), b]));
  },
  0x87: (m) => { // TUPLE3
    const c = m.pop();
    const b = m.pop();
    m.push(new PyTuple([m.pop(), b, c]));
  },
  0x74: (m) => m.push(new PyTuple(m.popMark())), // TUPLE
  0x6c: (m) => m.push(m.popMark()), // LIST
  0x64: (m) => { // DICT
    const d = new PyDict(false);
    m.setItems(d, m.popMark());
    m.push(d);
  },
  0x73: (m) => { // SETITEM
    const value = m.pop();
    const key = m.pop();
    m.setItems(m.top(), [key, value]);
  },
  0x75: (m) => { // SETITEMS
    const items = m.popMark();
    m.setItems(m.top(), items);
  },
  0x61: (m) => { // APPEND
    const x = m.pop();
    m.append(m.top(), [x]);
  },
  0x65: (m) => { // APPENDS
    const items = m.popMark();
    m.append(m.top(), items);
  },
};

/** The memo. */
const MEMO: Record<number, Handler> = {
  0x71: (m) => void m.memo.set(m.u8(), m.top()), // BINPUT
  0x72: (m) => void m.memo.set(m.u32(), m.top()), // LONG_BINPUT
  0x94: (m) => void m.memo.set(m.memo.size, m.top()), // MEMOIZE
  0x68: (m) => get(m, m.u8()), // BINGET
  0x6a: (m) => get(m, m.u32()), // LONG_BINGET
};

function get(m: Machine, i: number): void {
  if (!m.memo.has(i)) m.fail(`memo entry ${i} was never stored`);
  m.push(m.memo.get(i)!);
}

/** Globals and calls: only the allow-list, and only what torch's state-dict pickle does. */
const OBJECTS: Record<number, Handler> = {
  0x63: (m) => { // GLOBAL
    const module = m.line();
    const name = m.line();
    m.push(allowGlobal(m.file, module, name, m.opAt));
  },
  0x93: (m) => { // STACK_GLOBAL
    const name = m.pop();
    const module = m.pop();
    if (typeof module !== "string" || typeof name !== "string") {
      m.fail("STACK_GLOBAL needs two strings");
    }
    m.push(allowGlobal(m.file, module as string, name as string, m.opAt));
  },
  0x52: (m) => { // REDUCE
    const args = m.pop();
    const fn = m.pop();
    m.push(callAllowed(fn, args, m.rebuild, m.fail));
  },
  0x81: (m) => { // NEWOBJ
    const args = m.pop();
    const cls = m.pop();
    if (
      !(cls instanceof PyGlobal) || cls.qualified !== "collections.OrderedDict" ||
      !(args instanceof PyTuple) || args.items.length !== 0
    ) {
      m.fail(`NEWOBJ of ${describe(cls)} is not allowed`);
    }
    m.push(new PyDict(true));
  },
  0x62: (m) => { // BUILD
    const state = m.pop();
    const target = m.top();
    // torch pickles a state dict's `_metadata` as the OrderedDict's state; nothing else may
    // receive a state (that is how `__setstate__` gadgets run code).
    if (!(target instanceof PyDict) || !target.ordered) {
      m.fail(`BUILD (__setstate__) on a ${describe(target)} is not allowed`);
    }
    if (state !== null && !(state instanceof PyDict)) {
      m.fail(`BUILD state of an OrderedDict must be a dict, found ${describe(state)}`);
    }
  },
  0x51: (m) => m.push(persistentLoad(m.pop(), m.fail)), // BINPERSID
};

/** Every opcode the restricted unpickler understands. */
const OPCODES: ReadonlyMap<number, Handler> = new Map(
  [CONTROL, CONSTANTS, CONTAINERS, MEMO, OBJECTS].flatMap((t) =>
    Object.entries(t).map(([k, h]) => [Number(k), h] as const)
  ),
);

/**
 * Runs the restricted pickle machine over `data` and returns the value STOP leaves (tensors are
 * built through `rebuild`). Throws a WeightsError naming the opcode and offset on anything else.
 */
export function runUnpickler(data: Uint8Array, file: string, rebuild: Rebuild): PyValue {
  const m = new Machine(data, file, rebuild);
  while (m.result === undefined) {
    m.opAt = m.pos;
    if (m.pos >= data.length) {
      throw new WeightsError(`${file}: pickle ends at offset ${m.pos} without STOP (truncated)`);
    }
    m.op = data[m.pos++];
    const handler = OPCODES.get(m.op);
    if (!handler) {
      m.fail("opcode not supported by the restricted unpickler (torch does not write it)");
    }
    handler!(m);
  }
  return m.result;
}
