// What every compat script shares: its JSON request on stdin, and BullMQ's undefined fields printed as null.

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
