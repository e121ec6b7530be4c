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
    ? clusterOf(url, options, { clusterRetryStrategy: () => null })
    : new Redis(url, options);
  connection.on('error', () => {});
  return connection;
}

// An ioredis Cluster found from the URL of any one node (ElastiCache's configuration endpoint). The URL's user and
// password, and TLS for rediss://, apply to every node the cluster reports; with TLS the nodes' host names are kept
// as reported rather than resolved, since ElastiCache's certificates name the hosts.
export function clusterOf(url, redisOptions = {}, clusterOptions = {}) {
  const { protocol, hostname, port, username, password } = new URL(url);
  const tls = protocol === 'rediss:';
  const auth = password ? { username: decodeURIComponent(username) || undefined, password: decodeURIComponent(password) } : {};
  return new Cluster([{ host: hostname, port: Number(port || 6379) }], {
    ...clusterOptions,
    ...(tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    redisOptions: { ...redisOptions, ...auth, ...(tls ? { tls: {} } : {}) },
  });
}

export function queueName(request, name) {
  return request.cluster ? `{${name}}` : name;
}
