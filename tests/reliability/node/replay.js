"use strict";
// Replays many runs in one Node process with the SDK's own orchestrateIteration (the
// function `babysitter run:iterate` calls), so that checking dozens of run directories
// costs one Node start-up. Prints one JSON line per run:
//   {"runDir", "status": "waiting"|"completed"|"failed"|"threw", "pending", "error"?}
// usage: node replay.js <sdk dist dir> <runDir>...
const path = require("path");
const [dist, ...runDirs] = process.argv.slice(2);
const { orchestrateIteration } = require(path.join(dist, "runtime", "index.js"));

(async () => {
  for (const runDir of runDirs) {
    let line;
    try {
      const result = await orchestrateIteration({ runDir });
      line = {
        runDir,
        status: result.status,
        pending: (result.nextActions || []).length,
      };
      if (result.status === "completed") line.output = result.output;
      if (result.status === "failed") line.error = String(result.error && result.error.message);
    } catch (error) {
      line = { runDir, status: "threw", pending: 0, error: String(error && error.message) };
    }
    process.stdout.write(JSON.stringify(line) + "\n");
  }
})();
