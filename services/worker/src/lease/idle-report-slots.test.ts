import { describe, expect, it } from 'vitest';
import { idleReportPhaseMs, idleReportSlot } from './idle-report-slots.js';

describe('idle report slots', () => {
  it('is the latest grid instant not after the due time', () => {
    expect(idleReportSlot(10_500, 1_000, 0)).toBe(10_000);
    expect(idleReportSlot(10_500, 1_000, 300)).toBe(10_300);
    expect(idleReportSlot(10_200, 1_000, 300)).toBe(9_300);
    expect(idleReportSlot(10_300, 1_000, 300)).toBe(10_300); // on the grid: the due time itself
    expect(idleReportSlot(10_300, 1_000, 5_300)).toBe(10_300); // a phase past the interval wraps
    expect(idleReportSlot(250.5, 100, 0)).toBeCloseTo(200);
  });

  it('never comes later than the due time, nor an interval or more before it', () => {
    for (let due = 0; due < 3_000; due += 37) {
      const slot = idleReportSlot(due, 1_000, 123);
      expect(slot).toBeLessThanOrEqual(due);
      expect(slot).toBeGreaterThan(due - 1_000);
      expect((((slot - 123) % 1_000) + 1_000) % 1_000).toBe(0);
    }
  });

  it('is the due time without an interval', () => {
    expect(idleReportSlot(10_500, 0, 300)).toBe(10_500);
  });

  it('gives a worker the same phase every time, and different workers different ones', () => {
    expect(idleReportPhaseMs('worker-a')).toBe(idleReportPhaseMs('worker-a'));
    expect(idleReportPhaseMs('worker-a')).not.toBe(idleReportPhaseMs('worker-b'));
    expect(idleReportPhaseMs('worker-a')).toBeGreaterThanOrEqual(0);
  });
});
