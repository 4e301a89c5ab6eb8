"use strict";
// One effect per name in inputs.names, all at once; each is expected to fail.
// Completes with the error each one raised inside the process.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

// An agent task: its results are posted by hand, and 6.x would turn a shell effect's
// error into an ok {success: false} value instead of a thrown error.
const attempt = defineTask("e2e.attempt", (args) => ({
  kind: "agent",
  title: `attempt ${args.name}`,
  agent: { name: "general-purpose", prompt: `Attempt ${args.name}` },
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
