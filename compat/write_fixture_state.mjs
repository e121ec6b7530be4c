// Builds a known mixed queue state with the real npm BullMQ (Queue + Worker), so the readers in
// tests/support/bullmq_py.py can be checked against state BullMQ itself wrote.
//
// stdin:  {"redisUrl": "redis://127.0.0.1:6379/0", "prefix": "...", "queue": "..."}
// stdout: {"ids": {"completed", "failed", "progress", "delayed", "prioritized",
//                  "waiting", "waitingCustom"}}
//
// Phase 1 processes three jobs with a Worker (one completes with a returnvalue, one fails both of
// its 2 attempts, one reports progress 50 then completes). The worker is closed before phase 2
// adds the jobs that must stay unprocessed (delayed, prioritized, two waiting), since a running
// worker would take the prioritized and waiting ones.
import { Queue, Worker } from 'bullmq';
import { readStdin } from './stdio.mjs';

const PHASE1_TIMEOUT_MS = 20000;

async function process1(job) {
  if (job.name === 'fail') {
    throw new Error(`boom attempt ${job.attemptsMade + 1}`);
  }
  if (job.name === 'progress') {
    await job.updateProgress(50);
    return { score: 42 };
  }
  return { ok: true, echo: job.data.n };
}

async function waitForCounts(queue, want) {
  const deadline = Date.now() + PHASE1_TIMEOUT_MS;
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed');
    if (Object.entries(want).every(([state, n]) => counts[state] === n)) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`fixture: timed out waiting for ${JSON.stringify(want)}, got ${JSON.stringify(counts)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function main() {
  const { redisUrl, prefix, queue: queueName } = await readStdin();
  const connection = { url: redisUrl };
  const queue = new Queue(queueName, { connection, prefix });
  const ids = {};
  try {
    ids.completed = (await queue.add('complete', { n: 1 })).id;
    ids.failed = (await queue.add('fail', { n: 2 }, { attempts: 2 })).id;
    ids.progress = (await queue.add('progress', { n: 3 })).id;

    const worker = new Worker(queueName, process1, { connection, prefix, concurrency: 1 });
    worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
    try {
      await waitForCounts(queue, { completed: 2, failed: 1, active: 0, waiting: 0, delayed: 0 });
    } finally {
      await worker.close();
    }

    ids.delayed = (await queue.add('delayed', { n: 4 }, { delay: 3600000 })).id;
    ids.prioritized = (await queue.add('prioritized', { n: 5 }, { priority: 5 })).id;
    ids.waiting = (await queue.add('waiting', { n: 6 })).id;
    ids.waitingCustom = (await queue.add('waiting-custom', { n: 7, nested: { a: [1, 'x', null] } },
      { jobId: 'custom-id-1' })).id;
  } finally {
    await queue.close();
  }
  process.stdout.write(JSON.stringify({ ids }) + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
