// The quality-bar load: `clients` concurrent acquirers each holding a slot
// for `holdMs`, against a pool of max 2. Expected: pending ≈ clients − 2 at
// peak and p99 wait ≈ (clients/2 − 1) × holdMs (0.9 s for 20 × 100 ms).
import assert from 'node:assert/strict';
import { quantile, sleep } from './sink.mjs';

export const CLIENTS = 20;
export const HOLD_MS = 100;

/** acquire(): Promise<conn>; release(conn): void|Promise; use(conn) optional query. */
export async function saturate({ acquire, release, use }) {
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const c = await acquire();
      try {
        if (use) await use(c);
        await sleep(HOLD_MS);
      } finally {
        await release(c);
      }
    }),
  );
}

/** The quality-bar assertions on a recorder after `saturate`. */
export function assertSaturation(rec, { kind, warm = true } = {}) {
  assert.equal(rec.kind, kind);
  assert.equal(rec.peak.max, 2, 'max = 2');
  assert.equal(rec.peak.used, 2, 'used = 2 at peak');
  const expectedPending = CLIENTS - 2;
  assert.ok(
    rec.peak.pending >= expectedPending - 1 && rec.peak.pending <= expectedPending,
    `pending ≈ ${expectedPending} at peak (got ${rec.peak.pending})`,
  );
  const grants = rec.waits.length;
  assert.ok(grants >= CLIENTS, `one wait observation per acquire (${grants})`);
  const p99 = quantile(rec.waits, 0.99);
  const expected = ((CLIENTS / 2 - 1) * HOLD_MS) / 1000;
  assert.ok(
    p99 >= expected * 0.75 && p99 <= expected * 1.25,
    `p99 wait ≈ ${expected}s ±25 % (got ${p99.toFixed(3)}s${warm ? '' : ', cold pool'})`,
  );
  // Use time: each slot was held ≈ holdMs.
  if (rec.uses.length) {
    assert.ok(rec.uses.length >= CLIENTS, `one use observation per release (${rec.uses.length})`);
    const p50 = quantile(rec.uses, 0.5);
    assert.ok(p50 >= HOLD_MS / 1000 && p50 < (HOLD_MS / 1000) * 2, `use time ≈ ${HOLD_MS} ms (p50 ${p50})`);
  }
  assert.equal(rec.last.pending, 0, 'pending back to 0');
  return { p99, peakPending: rec.peak.pending };
}
