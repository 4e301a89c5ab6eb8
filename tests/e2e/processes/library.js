"use strict";
// Task definitions of the shapes upstream's process library writes: a skill
// with an object prompt and outputSchema, a skill whose prompt and schema are in
// an agent block beside it, an agent with an outputSchema (answered in prose by
// the stand-in), a node task with entry and args, and shell tasks with the
// library's shell.timeout (milliseconds).  Completes with what each one gave.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const io = (taskCtx) => ({
  inputJsonPath: `tasks/${taskCtx.effectId}/input.json`,
  outputJsonPath: `tasks/${taskCtx.effectId}/result.json`,
});

const ttls = defineTask("lib.configure-ttls", (args, taskCtx) => ({
  kind: "skill",
  title: `Configure cache TTLs - ${args.projectName}`,
  skill: {
    name: "distributed-caching",
    prompt: {
      role: "Performance Engineer",
      task: "Configure cache TTLs",
      context: args,
      instructions: ["1. Analyse data volatility", "2. Set TTLs per data type"],
      outputFormat: "JSON with TTL configs",
    },
    outputSchema: {
      type: "object",
      required: ["configs", "artifacts"],
      properties: { configs: { type: "array" }, artifacts: { type: "array" } },
    },
  },
  io: io(taskCtx),
  labels: ["caching"],
}));

const fuzz = defineTask("lib.fuzz", (args, taskCtx) => ({
  kind: "skill",
  title: "Fuzz the parser",
  skill: { name: "fuzzing" },
  agent: {
    name: "security-tester",
    prompt: {
      role: "Security tester",
      task: `Fuzz ${args.target}`,
      context: args,
      instructions: ["Write a harness", "Run it", "Triage crashes"],
      outputFormat: "JSON",
    },
    outputSchema: {
      type: "object",
      required: ["crashes"],
      properties: { crashes: { type: "integer", minimum: 0 } },
    },
  },
  io: io(taskCtx),
}));

const score = defineTask("lib.score", (args, taskCtx) => ({
  kind: "agent",
  title: "Score the README",
  agent: {
    name: "reviewer",
    prompt: { role: "Reviewer", task: "Score README.md", context: args, instructions: ["Be strict"] },
    outputSchema: { type: "object", required: ["score"], properties: { score: { type: "number" } } },
  },
  io: io(taskCtx),
}));

const verify = defineTask("lib.verify", (args, taskCtx) => ({
  kind: "node",
  title: `Verify task ${args.task}`,
  node: { entry: ".a5c/orchestrator_scripts/verify-task.js", args: ["--task", String(args.task)] },
  io: io(taskCtx),
}));

const gate = defineTask("lib.gate", (args, taskCtx) => ({
  kind: "shell",
  title: `gate ${args.name}`,
  shell: { command: args.command, expectedExitCode: 0, timeout: args.timeout },
  io: io(taskCtx),
}));

const settle = (promise) =>
  promise.then(
    (value) => ({ value }),
    (error) => {
      if (error && error.isIntrinsic) throw error;
      return { error: { name: error.name, message: error.message } };
    },
  );

exports.process = async function process(inputs, ctx) {
  const [ttl, fuzzed, scored, verified, fast, slow] = await ctx.parallel.all([
    () => settle(ctx.task(ttls, { projectName: "shop", tiers: ["l1", "l2"] })),
    () => settle(ctx.task(fuzz, { target: "src/parse.py" })),
    () => settle(ctx.task(score, { file: "README.md" })),
    () => settle(ctx.task(verify, { task: 3 })),
    () => settle(ctx.task(gate, { name: "fast", command: "printf passed", timeout: 60000 })),
    () => settle(ctx.task(gate, { name: "slow", command: "sleep 30", timeout: 300 })),
  ]);
  return { ttl, fuzzed, scored, verified, fast, slow };
};
