"use strict";
// A fan-out the dispatcher runs concurrently: ctx.parallel.all of shell effects, then
// ctx.parallel.map of agent effects (their prompts carry fake-harness @reply lines),
// then one more shell effect alone. Completes with every value as received.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const shellStep = defineTask("e2e.fanout.shell", (args) => ({
  kind: "shell",
  title: `shell ${args.n}`,
  shell: { command: `printf 'shell %s\\n' ${args.n}; echo "note ${args.n}" >&2` },
}));

const review = defineTask("e2e.fanout.review", (args) => ({
  kind: "agent",
  title: `review ${args.item}`,
  agent: {
    name: "general-purpose",
    prompt: {
      role: "Reviewer",
      task: `Review ${args.item}\n@sleep 0.3\n@reply {"item": "${args.item}", "score": ${args.score}}`,
      instructions: ["Read", "Score"],
      outputFormat: "JSON",
    },
    outputSchema: { type: "object", required: ["item", "score"] },
  },
}));

const summary = defineTask("e2e.fanout.summary", (args) => ({
  kind: "shell",
  title: "summary",
  shell: { command: "printf", args: ["%s reviews", String(args.count)] },
}));

exports.process = async function process(inputs, ctx) {
  const shells = await ctx.parallel.all(
    [1, 2, 3].map((n) => () => ctx.task(shellStep, { n })),
  );
  const reviews = await ctx.parallel.map(
    inputs.items.map((item, index) => ({ item, score: index * 10 })),
    (args) => ctx.task(review, args),
  );
  const total = await ctx.task(summary, { count: reviews.length });
  return { shells, reviews, total };
};
