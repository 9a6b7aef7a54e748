// bench/lease/bullmq.js: the BullMQ side of bench/lease/run, with BullMQ's
// defaults (lockDuration 30 s, stalledInterval 30 s, maxStalledCount 1).
//   node bullmq.js worker   a Worker on queue "lease" whose jobs sleep
//                           payload.ms; prints {"event": "ready"} once
//                           connected, then {"event": "started", "id",
//                           "attemptsMade", "at" (ms)} as each job starts
//   node bullmq.js add MS   adds one job of MS ms; prints {"id"}
// REDIS_URL names the Redis; NODE_PATH must reach bullmq (bench/peers/
// fastify-bullmq/node_modules).
'use strict';
const { Queue, Worker } = require('bullmq');

const redisUrl = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
const connection = { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) };
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

async function main() {
  const mode = process.argv[2];
  if (mode === 'add') {
    const queue = new Queue('lease', { connection });
    const job = await queue.add('long', { ms: Number(process.argv[3]) });
    say({ id: job.id });
    await queue.close();
    return;
  }
  if (mode !== 'worker') throw new Error('usage: bullmq.js worker | add MS');
  const worker = new Worker('lease', async (job) => {
    say({ event: 'started', id: job.id, attemptsMade: job.attemptsMade, at: Date.now() });
    await new Promise((resolve) => setTimeout(resolve, job.data.ms));
    return job.data;
  }, { connection, concurrency: 1 });
  worker.on('error', (err) => console.error(err));
  await worker.waitUntilReady();
  say({ event: 'ready' });
  const stop = async () => { await worker.close(true); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => { console.error(err); process.exit(1); });
