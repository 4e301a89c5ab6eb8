"use strict";
// The process shapes of bench/drive.py: inputs.shape is "chain" (inputs.steps steps one
// after another), "fanout" (a parallel.all of inputs.width steps, then one more), or
// "branches" (a parallel.map of inputs.sleeps.length branches, branch i's steps sleeping
// inputs.sleeps[i][k] seconds).
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const sh = defineTask("bench.shapes.sh", (args) => ({
  kind: "shell",
  title: args.name,
  shell: { command: `sleep ${args.sleep}; printf '%s' '${args.name}'` },
}));

exports.process = async function process(inputs, ctx) {
  const step = (name, sleep) => ctx.task(sh, { name, sleep }, { label: name });
  if (inputs.shape === "chain") {
    const out = [];
    for (let k = 0; k < inputs.steps; k += 1) out.push(await step(`c${k}`, inputs.sleep));
    return out;
  }
  if (inputs.shape === "fanout") {
    const all = await ctx.parallel.all(
      Array.from({ length: inputs.width }, (_, k) => () => step(`f${k}`, inputs.sleep)),
    );
    return [all, await step("join", inputs.sleep)];
  }
  return ctx.parallel.map(inputs.sleeps, async (sleeps, i) => {
    const out = [];
    for (let k = 0; k < sleeps.length; k += 1) out.push(await step(`b${i}.${k}`, sleeps[k]));
    return out;
  });
};
