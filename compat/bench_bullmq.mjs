// The BullMQ baseline for the benchmark: the same workload jobqueue runs, done by the real npm
// BullMQ, so its Redis cost (measured by the Python harness from INFO around this process) can be
// compared with ours.
//
// stdin:  {"redisUrl", "prefix", "queue", "jobs": 20000, "concurrency": 10, "backlog": 0}
// stdout: {"jobs": N, "elapsed_ms": ..., "add_ms": ..., "process_ms": ...}
//
// Adds `jobs` jobs (name "bench", data {"i": n}, default opts, so completed jobs are kept) with
// addBulk in chunks of 1000, then runs one Worker with a no-op processor until all are completed.
// Completion is counted from the worker's in-process 'completed' events, never by polling, so the
// only Redis traffic is BullMQ's own. `backlog` is accepted and ignored: the backlog scenario is
// measured for jobqueue only.
import { Queue, Worker } from 'bullmq';
import { readStdin } from './stdio.mjs';

const CHUNK = 1000;

async function main() {
  const request = await readStdin();
  const jobs = Number(request.jobs ?? 20000);
  const concurrency = Number(request.concurrency ?? 10);
  const prefix = request.prefix ?? 'bull';
  const connection = { url: request.redisUrl ?? 'redis://127.0.0.1:6379/0' };
  const queue = new Queue(request.queue, { connection, prefix });
  queue.on('error', (err) => process.stderr.write(`queue error: ${err.message}\n`));

  const started = performance.now();
  for (let first = 0; first < jobs; first += CHUNK) {
    const batch = [];
    for (let i = first; i < Math.min(first + CHUNK, jobs); i++) {
      batch.push({ name: 'bench', data: { i } });
    }
    await queue.addBulk(batch);
  }
  const added = performance.now();

  let completed = 0;
  let failed = 0;
  let worker;
  const done = new Promise((resolve, reject) => {
    if (jobs === 0) {
      resolve();
      return;
    }
    worker = new Worker(request.queue, async () => {}, { connection, prefix, concurrency });
    worker.on('completed', () => {
      completed += 1;
      if (completed + failed >= jobs) {
        resolve();
      }
    });
    worker.on('failed', (job, err) => {
      failed += 1;
      reject(new Error(`job ${job ? job.id : '?'} failed: ${err.message}`));
    });
    worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
  });
  try {
    await done;
  } finally {
    const finished = performance.now();
    if (worker) {
      await worker.close();
    }
    await queue.close();
    if (completed === jobs) {
      process.stdout.write(JSON.stringify({
        jobs: completed,
        elapsed_ms: Math.round((finished - started) * 1000) / 1000,
        add_ms: Math.round((added - started) * 1000) / 1000,
        process_ms: Math.round((finished - added) * 1000) / 1000,
      }) + '\n');
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
