// What every compat script shares: its JSON request on stdin, its Redis connection, and BullMQ's undefined fields
// printed as null.
import { Cluster, Redis } from 'ioredis';

export async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export function orNull(value) {
  return value === undefined || Number.isNaN(value) ? null : value;
}

// One shared connection to request.redisUrl that gives up instead of retrying forever, so a dead Redis is an error
// (exit 1) rather than a hang; with request.cluster, an ioredis Cluster (the URL names any node), and queues are
// then opened by their hash tag, `{<queue>}` (queueName). BullMQ does not close a shared connection: the caller does.
export function connect(request) {
  const url = request.redisUrl ?? 'redis://127.0.0.1:6379/0';
  const options = { retryStrategy: () => null, maxRetriesPerRequest: 1, connectTimeout: 5000 };
  const connection = request.cluster
    ? new Cluster([url], { clusterRetryStrategy: () => null, redisOptions: options })
    : new Redis(url, options);
  connection.on('error', () => {});
  return connection;
}

export function queueName(request, name) {
  return request.cluster ? `{${name}}` : name;
}
