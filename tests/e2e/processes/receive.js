"use strict";
// Requests one effect per name in inputs.names, all at once, and completes with
// exactly what each effect's result was as the process received it:
// JSON.stringify of the value plus a signature that also tells -0 from 0.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const produce = defineTask("e2e.produce", (args) => ({
  kind: "shell",
  title: `produce ${args.name}`,
  shell: { command: `./produce.sh ${args.name}` },
}));

function signature(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return `[${value.map(signature).join(",")}]`;
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "num:-0" : `num:${value}`;
    case "string":
      return `str:${JSON.stringify(value)}`;
    case "boolean":
      return `bool:${value}`;
    case "object":
      return `{${Object.keys(value)
        .map((key) => `${JSON.stringify(key)}:${signature(value[key])}`)
        .join(",")}}`;
    default:
      return `?${typeof value}`;
  }
}

exports.process = async function process(inputs, ctx) {
  const values = await ctx.parallel.map(inputs.names, (name) =>
    ctx.task(produce, { name }, { label: name }),
  );
  return {
    received: inputs.names.map((name, i) => ({
      name,
      text: JSON.stringify(values[i]),
      signature: signature(values[i]),
    })),
  };
};
