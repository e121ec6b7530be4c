// Reads a flow with the real npm BullMQ client (FlowProducer.getFlow), so tests can prove that the flows
// jobqueue writes are the trees BullMQ itself sees.
//
// stdin:  {"redisUrl": "redis://127.0.0.1:6379/0", "prefix": "bull", "queueName": "<queue>", "id": "<root id>",
//          "cluster": false}  (cluster: a Redis Cluster node's URL; the queue is opened as `{<queue>}`)
// stdout: null | {id, queue, name, state, returnvalue, failedReason, parentKey,
//                 dependencies: {processed, unprocessed, failed, ignored}, children: [<the same>, ...]}
//
// Read-only: getFlow reads job hashes and their dependency keys; no Worker, no QueueEvents.
import { FlowProducer } from 'bullmq';
import { connect, queueName, readStdin, orNull } from './stdio.mjs';

async function describe(node) {
  const { job, children } = node;
  return {
    id: job.id,
    queue: job.queueName,
    name: job.name,
    state: await job.getState(),
    returnvalue: orNull(job.returnvalue),
    failedReason: orNull(job.failedReason),
    parentKey: orNull(job.parentKey),
    dependencies: await job.getDependencies(),
    children: await Promise.all((children ?? []).filter(Boolean).map(describe)),
  };
}

async function main() {
  const request = await readStdin();
  const connection = connect(request);
  const flows = new FlowProducer({ connection, prefix: request.prefix ?? 'bull' });
  flows.on('error', () => {});
  try {
    const tree = await flows.getFlow({ id: request.id, queueName: queueName(request, request.queueName) });
    process.stdout.write(JSON.stringify(tree ? await describe(tree) : null) + '\n');
  } finally {
    await flows.close();
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
