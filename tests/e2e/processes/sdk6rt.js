"use strict";
// 6.x runtime semantics: a parallel.all of one slow shell effect (it writes its pid, then
// sleeps inputs.seconds) and two quick ones; then one shell effect whose outputSchema a string fails.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const slow = defineTask("e2e.sdk6rt.slow", (args) => ({
  kind: "shell",
  title: "slow",
  shell: { command: `echo $$ > '${args.pidFile}'; exec sleep ${args.seconds}` },
}));

const quick = defineTask("e2e.sdk6rt.quick", (args) => ({
  kind: "shell",
  title: `quick ${args.n}`,
  shell: { command: `printf 'quick %s' ${args.n}` },
}));

const typed = defineTask("e2e.sdk6rt.typed", () => ({
  kind: "shell",
  title: "typed",
  shell: { command: "printf 'not an object'" },
  outputSchema: { type: "object", required: ["n"] },
}));

exports.process = async function process(inputs, ctx) {
  const first = await ctx.parallel.all([
    () => ctx.task(slow, { pidFile: inputs.pidFile, seconds: inputs.seconds }),
    () => ctx.task(quick, { n: 1 }),
    () => ctx.task(quick, { n: 2 }),
  ]);
  const last = await ctx.task(typed, {});
  return { first, last };
};
