"use strict";
// One effect per name in inputs.names, all at once; each is expected to fail.
// Completes with the error each one raised inside the process.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const attempt = defineTask("e2e.attempt", (args) => ({
  kind: "shell",
  title: `attempt ${args.name}`,
  shell: { command: `./attempt.sh ${args.name}` },
}));

exports.process = async function process(inputs, ctx) {
  const outcomes = await ctx.parallel.map(inputs.names, (name) =>
    ctx.task(attempt, { name }, { label: name }).then(
      (value) => ({ name, value }),
      (error) => {
        if (error && error.isIntrinsic) throw error;
        return {
          name,
          error: {
            name: error.name,
            message: error.message,
            stack: typeof error.stack === "string" ? error.stack : null,
            data: error.data === undefined ? "<undefined>" : error.data,
          },
        };
      },
    ),
  );
  return { outcomes };
};
