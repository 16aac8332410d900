// Run after `npm run build`:  node examples/embedded.mjs
import { open, WriteBatch } from 'stratadb';

const db = await open('./data/example', { syncIntervalMs: 1000 });

await db.put('fruit:apple', 'red');
await db.put('fruit:banana', 'yellow', { sync: true }); // durable before it resolves
console.log(await db.get('fruit:apple', { encoding: 'utf8' })); // red

// Atomic batch: all or nothing, even across a crash.
const batch = new WriteBatch().put('fruit:cherry', 'dark red').delete('fruit:banana');
await db.write(batch);

// A snapshot keeps seeing the state at the time it was taken.
const snap = db.snapshot();
await db.put('fruit:apple', 'green');
console.log(await db.get('fruit:apple', { snapshot: snap, encoding: 'utf8' })); // red
snap.release();

// Range and prefix iteration, forward or reverse.
for await (const [key, value] of db.iterator({ prefix: 'fruit:', keyEncoding: 'utf8', valueEncoding: 'utf8' })) {
  console.log(key, '=', value);
}
console.log(await db.scanRange('fruit:a', 'fruit:c', { keyEncoding: 'utf8', valueEncoding: 'utf8' }));

console.log(db.stats().levels.filter((l) => l.files > 0));
await db.close();
