"use strict";
// The benchmark's process: one ctx.parallel.all of `inputs.n` shell effects, each running
// `inputs.command`. Every effect is pending after the first run:iterate, in one parallel
// group; once all are resolved the process returns how many results it received.
//
// The task is a plain DefinedTask object ({id, build}), so the file needs no require().

const effect = {
  id: "bench.effect",
  build(args) {
    return {
      kind: "shell",
      title: `effect ${args.i}`,
      shell: { command: args.command },
    };
  },
};

exports.process = async function process(inputs, ctx) {
  const ids = Array.from({ length: inputs.n }, (_, i) => i);
  const results = await ctx.parallel.all(
    ids.map((i) => () => ctx.task(effect, { i, command: inputs.command }, { label: `effect-${i}` })),
  );
  return { count: results.length };
};
