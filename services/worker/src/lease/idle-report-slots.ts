/**
 * The instants at which a worker's quiet leases report: one grid per worker, its period the idle report interval.
 * Leases that became quiet at different times then report in the same instant, and the report coalescer sends them in
 * one call: with 30 idle tasks a worker made ~3 report calls a second (each a read and a write transaction in etcd on
 * the control service), one per interval on the grid. A lease reports at the latest slot not after its due time, never
 * later, so the gap between its confirmations stays within the idle interval the control service counts on.
 */

/** The latest instant ≤ `dueMs` of the grid `phaseMs + k × intervalMs` (all in one clock's ms). */
export function idleReportSlot(dueMs: number, intervalMs: number, phaseMs: number): number {
  if (!(intervalMs > 0)) return dueMs;
  const into = (((dueMs - phaseMs) % intervalMs) + intervalMs) % intervalMs;
  return dueMs - into;
}

/**
 * A worker's place on the grid, from its id: workers spread their idle calls over the interval instead of all
 * reaching the control service in the same instant.
 */
export function idleReportPhaseMs(workerId: string): number {
  // FNV-1a: stable and spread enough for a handful of workers.
  let h = 0x811c9dc5;
  for (let i = 0; i < workerId.length; i++) {
    h ^= workerId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
