"use strict";
// Sixteen one-second shell effects in one ctx.parallel.map: the dispatch benchmark.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const nap = defineTask("e2e.sleep16.nap", (args) => ({
  kind: "shell",
  title: `nap ${args.n}`,
  shell: { command: `sleep 1; echo ${args.n}` },
}));

exports.process = async function process(inputs, ctx) {
  const naps = await ctx.parallel.map(
    Array.from({ length: 16 }, (_, n) => n),
    (n) => ctx.task(nap, { n }),
  );
  return { naps };
};
