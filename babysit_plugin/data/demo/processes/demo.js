"use strict";
// babysit-plugin demo: six independent shell effects of about one second each,
// requested together by one ctx.parallel.all. Performed one after another they
// take about six seconds; performed concurrently, about one.
//
// The tasks are plain DefinedTask objects ({id, build}) rather than defineTask()
// results so this file loads without the SDK installed beside it.

const chunk = {
  id: "demo.chunk",
  build(args) {
    return {
      kind: "shell",
      title: `chunk ${args.n}`,
      description: "Sleep for a second, then report the chunk number",
      shell: { command: `sleep 1; echo chunk ${args.n} done` },
    };
  },
};

exports.process = async function process(inputs, ctx) {
  const chunks = [1, 2, 3, 4, 5, 6];
  const results = await ctx.parallel.all(
    chunks.map((n) => () => ctx.task(chunk, { n }, { label: `chunk-${n}` })),
  );
  return { results };
};
