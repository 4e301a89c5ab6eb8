"use strict";
// inputs.count sequential effects, one per iteration; completes with every value.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const step = defineTask("e2e.step", (args) => ({
  kind: "agent",
  title: `step ${args.n}`,
  agent: { name: "general-purpose", prompt: { task: `Do step ${args.n}` } },
}));

exports.process = async function process(inputs, ctx) {
  const values = [];
  for (let n = 1; n <= inputs.count; n += 1) {
    values.push(await ctx.task(step, { n, previous: values.length }, { label: `step-${n}` }));
  }
  return { values };
};
