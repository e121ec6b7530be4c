// Bull Board (npm @bull-board/api with its express adapter) over jobqueue's Redis, as a seed system's
// operators run it: tests read its JSON API and act through it, to show what it sees and what its actions do.
//
// argv:   [--cluster] <redisUrl> <prefix> <queue> [<queue> ...]
// --cluster: jobqueue runs with JOBQUEUE_REDIS_CLUSTER=1. <redisUrl> names any node of the Redis Cluster
//            (ElastiCache's configuration endpoint), read through an ioredis Cluster connection, and each queue is
//            opened by its hash tag, `new Queue('{<queue>}')` (BullMQ's cluster convention); the board shows <queue>.
// stdout: one line {"url": "http://127.0.0.1:<port>/board"} once it listens; it runs until stdin closes.
//
// Its API is under <url>/api: GET /queues?activeQueue=<q>&status=<state>&page=1&jobsPerPage=<n>,
// GET /queues/<q>/<jobId>, PUT /queues/<q>/<jobId>/retry, PUT /queues/<q>/pause, ... where <q> is the BullMQ
// queue name: `{<queue>}` (URL-encoded) with --cluster.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { clusterOf, queueName } from './stdio.mjs';

const args = process.argv.slice(2);
const cluster = args[0] === '--cluster';
const [redisUrl, prefix, ...names] = cluster ? args.slice(1) : args;
if (!redisUrl || !prefix || names.length === 0) {
  console.error('usage: node bull_board.mjs [--cluster] <redisUrl> <prefix> <queue> [<queue> ...]');
  process.exit(2);
}

// BullMQ's advice for long-lived connections: retry every command until Redis answers again.
const options = { maxRetriesPerRequest: null };
const connection = cluster ? clusterOf(redisUrl, options) : new Redis(redisUrl, options);
const queues = names.map((name) => new Queue(queueName({ cluster }, name), { connection, prefix }));
const serverAdapter = new ExpressAdapter();
serverAdapter.setBasePath('/board');
createBullBoard({
  queues: queues.map((queue, i) => new BullMQAdapter(queue, { displayName: names[i] })),
  serverAdapter,
});

const app = express();
app.use('/board', serverAdapter.getRouter());
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}/board` })}\n`);
});

async function stop() {
  server.close();
  await Promise.all(queues.map((queue) => queue.close()));
  connection.disconnect();
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
