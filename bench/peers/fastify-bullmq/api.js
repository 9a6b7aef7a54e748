// bench/peers/fastify-bullmq/api.js: the peer "a small Fastify + BullMQ
// service" that bench/run measures hangtight against.  The same contract as
// hangtight's api: POST /v1/jobs {type, payload} -> 202 + Location, and
// GET /v1/jobs/{id} -> the job's status (and result once done), 404 if unknown.
// Written as a user of these libraries would on 2 cores: one Node process
// (Node is single-threaded), one BullMQ Queue, ioredis defaults.
'use strict';
const Fastify = require('fastify');
const { Queue, Job } = require('bullmq');

const redisUrl = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
const connection = { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) };
const queue = new Queue('jobs', { connection });
const app = Fastify({ logger: false });

// BullMQ state names -> hangtight's status words.
const STATUS = { waiting: 'queued', prioritized: 'queued', 'waiting-children': 'queued',
                 delayed: 'scheduled', active: 'running', completed: 'succeeded', failed: 'failed' };

app.post('/v1/jobs', async (req, reply) => {
  const body = req.body;
  if (!body || typeof body.type !== 'string') {
    return reply.code(422).type('application/problem+json').send({ title: 'type is required' });
  }
  const job = await queue.add(body.type, body.payload ?? {});
  const location = `/v1/jobs/${job.id}`;
  return reply.code(202).header('location', location)
    .send({ id: job.id, type: body.type, status: 'queued' });
});

app.get('/v1/jobs/:id', async (req, reply) => {
  const job = await Job.fromId(queue, req.params.id);
  if (!job) return reply.code(404).type('application/problem+json').send({ title: 'no such job' });
  const state = await job.getState();
  return { id: job.id, type: job.name, status: STATUS[state] || state,
           result: job.returnvalue ?? null, payload: job.data };
});

app.listen({ host: '127.0.0.1', port: Number(process.env.PORT || 3000) }).catch((err) => {
  console.error(err);
  process.exit(1);
});
