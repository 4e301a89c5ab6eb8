"use strict";
// A babysitter process with two parallel groups:
//   1. ctx.parallel.all of three shell effects (checks that each take about a second);
//   2. ctx.parallel.map of agent effects, one per topic in inputs.json.
// The babysit skill performs such effects one after another; `babysit-plugin dispatch`
// performs each group at once.
//
// Tasks are plain {id, build} objects (what defineTask returns), so this file loads
// without the SDK installed beside it.

const check = {
  id: "example.check",
  build(args) {
    return {
      kind: "shell",
      title: `check: ${args.name}`,
      shell: { command: `sleep 1; echo "${args.name} passed"` },
    };
  },
};

const review = {
  id: "example.review",
  build(args) {
    return {
      kind: "agent",
      title: `review ${args.topic}`,
      agent: {
        name: "general-purpose",
        prompt: {
          role: "Reviewer",
          task: `Review the ${args.topic} of the project and summarise it in one sentence.`,
          context: { topic: args.topic },
          instructions: ["Read the relevant files", "Summarise in one sentence"],
          outputFormat: "JSON",
        },
        outputSchema: {
          type: "object",
          required: ["topic", "summary"],
          properties: { topic: { type: "string" }, summary: { type: "string" } },
        },
      },
    };
  },
};

exports.process = async function process(inputs, ctx) {
  const checks = await ctx.parallel.all(
    ["lint", "unit tests", "type check"].map((name) => () => ctx.task(check, { name })),
  );
  const reviews = await ctx.parallel.map(inputs.topics, (topic) => ctx.task(review, { topic }));
  return { checks, reviews };
};
