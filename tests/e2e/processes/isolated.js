"use strict";
// ctx.parallel.all of agent effects that each edit a file of the repository (run with
// `dispatch --isolate worktree` and the stand-in agent tests/plugin/fakes/edit_agent.py,
// whose prompt is a JSON list of edits), then a shell effect in the working tree that
// reads what was merged back.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const edit = defineTask("e2e.isolated.edit", (args) => ({
  kind: "agent",
  title: `edit ${args.n}`,
  agent: {
    name: "general-purpose",
    prompt: JSON.stringify([["write", `src/m${args.n}.txt`, `module ${args.n}\n`]]),
  },
}));

const collect = defineTask("e2e.isolated.collect", () => ({
  kind: "shell",
  title: "collect",
  shell: { command: "cat src/m1.txt src/m2.txt src/m3.txt src/m4.txt" },
}));

exports.process = async function process(inputs, ctx) {
  const edits = await ctx.parallel.all([1, 2, 3, 4].map((n) => () => ctx.task(edit, { n })));
  const merged = await ctx.task(collect, {});
  return { edits: edits.map((e) => e.done), merged };
};
