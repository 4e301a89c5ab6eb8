"use strict";
// What `drive` must carry a run through: a chain, a parallel group, a breakpoint, a
// parallel.map of two-step branches with uneven step times, and a final step. Each shell
// step appends "<name>" to inputs.log, so a test can count how often each step ran.
// inputs.fail makes the process throw after the breakpoint; inputs.orchestrator leaves
// an orchestrator_task as the only thing after the chain. A branch's `gate` makes its
// first step wait (up to 30 s) for the file that step `opens` (a sibling's) creates.
const { defineTask } = require("@a5c-ai/babysitter-sdk");

const sh = defineTask("e2e.drive.sh", (args) => ({
  kind: "shell",
  title: `sh ${args.name}`,
  shell: {
    command:
      (args.gate
        ? `t=0; while [ ! -e '${args.gate}' ] && [ $t -lt 600 ]; do sleep 0.05; t=$((t+1)); done; `
        : "") +
      `sleep ${args.sleep || 0}; echo '${args.name}' >> '${args.log}'; ` +
      (args.opens ? `touch '${args.opens}'; ` : "") +
      `printf '%s' '${args.name}'`,
  },
}));

const ask = defineTask("e2e.drive.orchestrate", () => ({
  kind: "orchestrator_task",
  title: "decide for me",
  orchestratorTask: { payload: { question: "which?" } },
}));

exports.process = async function process(inputs, ctx) {
  const log = inputs.log;
  const a = await ctx.task(sh, { name: "a", log }, { label: "a" });
  const b = await ctx.task(sh, { name: `b-after-${a}`, log }, { label: "b" });
  if (inputs.orchestrator) {
    return { decided: await ctx.task(ask, {}, { label: "decide" }) };
  }
  const group = await ctx.parallel.all(
    [1, 2, 3].map((n) => () => ctx.task(sh, { name: `g${n}`, log }, { label: `g${n}` })),
  );
  const answer = await ctx.breakpoint(
    { question: "Go on?", options: ["Yes", "No"] },
    { label: "go-on" },
  );
  if (inputs.fail) {
    throw new Error(`the process gave up: ${inputs.fail}`);
  }
  const branches = await ctx.parallel.map(inputs.branches || [], async (br) => {
    const out = [];
    for (let s = 0; s < br.sleeps.length; s += 1) {
      out.push(
        await ctx.task(
          sh,
          {
            name: `${br.name}.${s}`,
            sleep: br.sleeps[s],
            log,
            gate: s === 0 ? br.gate : undefined,
            opens: (br.opens || [])[s],
          },
          { label: `${br.name}-${s}` },
        ),
      );
    }
    return out;
  });
  const final = await ctx.task(sh, { name: "final", log }, { label: "final" });
  return { a, b, group, answer, branches, final };
};
