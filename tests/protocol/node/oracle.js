// Line-oriented oracle for the JSON and collation tests: one JSON request per stdin line,
// one JSON reply per stdout line. Values arrive tagged so that everything a Python value can
// hold survives the trip: {"$i": "123"} int, {"$f": "1e-07"|"NaN"|"Infinity"|"-0.0"} float,
// {"$o": [[key, value], ...]} object (own data properties, "__proto__" included), arrays as
// arrays, strings as JSON strings (lone surrogates travel as \udxxx escapes).
"use strict";
const path = require("path");
const readline = require("readline");

function decode(v) {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(decode);
  if ("$i" in v) return Number(v.$i);
  if ("$f" in v) return Number(v.$f);
  const obj = {};
  for (const [k, child] of v.$o) {
    Object.defineProperty(obj, k, {
      value: decode(child),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return obj;
}

let sdkSerializer = null;
function serializer() {
  if (sdkSerializer === null) {
    const root = process.env.BABYSIT_SDK_DIST;
    sdkSerializer = require(path.join(root, "tasks", "serializer.js"));
  }
  return sdkSerializer;
}

async function handle(req) {
  switch (req.op) {
    case "stringify":
      return req.values.map((t) => {
        const v = decode(t);
        return [JSON.stringify(v, null, req.indent ?? 2), JSON.stringify(v)];
      });
    case "parse":
      return req.texts.map((text) => {
        try {
          return { ok: JSON.stringify(JSON.parse(text), null, 2) };
        } catch (err) {
          return { error: err.name };
        }
      });
    case "stable_clone": {
      const out = [];
      for (const t of req.values) {
        const result = await serializer().serializeTaskResult({
          runDir: "/nonexistent",
          effectId: "e",
          taskId: "t",
          invocationKey: "k",
          payload: { status: "ok", result: decode(t) },
        });
        out.push(JSON.stringify(result.result, null, 2));
      }
      return out;
    }
    case "sort":
      // Indices of each list after sorting with localeCompare (stable sort).
      return req.lists.map((list) =>
        list
          .map((s, i) => [s, i])
          .sort((a, b) => a[0].localeCompare(b[0]))
          .map((p) => p[1]),
      );
    case "compare":
      return req.pairs.map(([a, b]) => a.localeCompare(b));
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
rl.on("line", (line) => {
  queue = queue.then(async () => {
    let reply;
    try {
      reply = { ok: await handle(JSON.parse(line)) };
    } catch (err) {
      reply = { error: String(err && err.stack ? err.stack : err) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
});
