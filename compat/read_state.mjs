// Reads queue state with the real npm BullMQ client, so tests can prove that what jobqueue
// writes is what BullMQ itself sees.
//
// stdin:  {"redisUrl": "redis://127.0.0.1:6379/0", "prefix": "bull",
//          "queues": {"<queue>": ["<jobId>", ...]}, "metrics": false, "cluster": false}
// cluster: redisUrl names a node of a Redis Cluster, read through an ioredis Cluster connection, and each
//          queue is opened by its hash tag, `new Queue('{<queue>}')` (BullMQ's cluster convention)
// stdout: {"<queue>": {"counts": <queue.getJobCounts()>,
//          "jobs": {"<jobId>": null | {id, name, data, attemptsMade, progress, returnvalue,
//                   failedReason, state, processedOn, finishedOn, timestamp, opts}},
//          "metrics": {"completed": <queue.getMetrics('completed')>, "failed": ...}  (when asked)}}
//
// Read-only by construction: a Queue with skipMetasUpdate (the constructor otherwise HSETs
// `<prefix>:<queue>:meta`), no Worker, no QueueEvents. Caveat (BullMQ's own, not ours):
// getJobCounts' Lua script RPOPs the tail of `wait`/`paused` if it is a legacy "0:..." marker
// left by BullMQ < 5, so it writes only if such a marker (or a job id starting "0:") is there.
// Fields BullMQ leaves undefined are printed as null so both readers have the same keys.
import { Queue } from 'bullmq';
import { connect, queueName, readStdin, orNull } from './stdio.mjs';

async function readJob(queue, jobId) {
  const job = await queue.getJob(jobId);
  if (!job) {
    return null;
  }
  return {
    id: orNull(job.id),
    name: orNull(job.name),
    data: orNull(job.data),
    attemptsMade: orNull(job.attemptsMade),
    progress: orNull(job.progress),
    returnvalue: orNull(job.returnvalue),
    failedReason: orNull(job.failedReason),
    state: await job.getState(),
    processedOn: orNull(job.processedOn),
    finishedOn: orNull(job.finishedOn),
    timestamp: orNull(job.timestamp),
    opts: orNull(job.opts),
  };
}

async function readQueue(connection, prefix, name, jobIds, metrics) {
  const queue = new Queue(name, { connection, prefix, skipMetasUpdate: true });
  // Queue emits 'error' on connection trouble; without a listener Node would crash the process
  // instead of letting the awaited call reject with the message.
  queue.on('error', () => {});
  try {
    const counts = await queue.getJobCounts();
    const jobs = {};
    for (const jobId of jobIds) {
      jobs[jobId] = await readJob(queue, String(jobId));
    }
    if (!metrics) {
      return { counts, jobs };
    }
    const [completed, failed] = [await queue.getMetrics('completed'), await queue.getMetrics('failed')];
    return { counts, jobs, metrics: { completed, failed } };
  } finally {
    await queue.close();
  }
}

async function main() {
  const request = await readStdin();
  const prefix = request.prefix ?? 'bull';
  const connection = connect(request);
  try {
    const result = {};
    for (const [name, jobIds] of Object.entries(request.queues ?? {})) {
      result[name] = await readQueue(connection, prefix, queueName(request, name), jobIds, request.metrics === true);
    }
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    connection.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
