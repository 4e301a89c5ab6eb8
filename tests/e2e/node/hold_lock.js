"use strict";
// Takes a run's run.lock with the SDK's own acquireRunLock and holds it.
// Prints "held <pid>" once it holds the lock; on SIGUSR1 releases it with
// releaseRunLock, prints "released" and exits 0.
// usage: node hold_lock.js <sdk dist/storage/lock.js> <runDir>
const [lockModule, runDir] = process.argv.slice(2);
const { acquireRunLock, releaseRunLock } = require(lockModule);

acquireRunLock(runDir, "e2e:hold-lock").then(
  () => {
    process.on("SIGUSR1", () => {
      releaseRunLock(runDir).then(() => {
        process.stdout.write("released\n", () => process.exit(0));
      });
    });
    process.stdout.write(`held ${process.pid}\n`);
    setInterval(() => {}, 1 << 30);
  },
  (error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  },
);
