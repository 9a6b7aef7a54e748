// bench/peers/fastify-bullmq/worker.js: one BullMQ worker process for the
// peer.  The job is a no-op like hangtight's built-in "echo": the result is
// the payload.  CONCURRENCY jobs at once (BullMQ's own knob; bench/run sets
// it, see bench/README.md).
'use strict';
const { Worker } = require('bullmq');

const redisUrl = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
const connection = { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) };
const worker = new Worker('jobs', async (job) => job.data, {
  connection,
  concurrency: Number(process.env.CONCURRENCY || 1),
});
worker.on('error', (err) => console.error(err));
const stop = async () => { await worker.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
