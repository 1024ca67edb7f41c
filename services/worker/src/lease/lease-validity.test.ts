import { CdcError } from '@cdc/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaseValidity } from './lease-validity.js';

function clocks() {
  const t = { mono: 10_000, wall: 1_700_000_000_000 };
  return {
    t,
    opts: { monotonicNow: () => t.mono, wallNow: () => t.wall },
    advance(ms: number) {
      t.mono += ms;
      t.wall += ms;
      vi.advanceTimersByTime(ms);
    },
  };
}

describe('LeaseValidity', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts the validity from when the confirmed request was sent, and extends only forward', () => {
    vi.useFakeTimers();
    const c = clocks();
    const v = new LeaseValidity({ validityMs: 5_000, grantSentAt: c.t.mono - 1_000, ...c.opts });
    expect(v.remainingMs()).toBe(4_000);
    v.confirm(c.t.mono - 2_000); // an older answer arriving late does not shorten it
    expect(v.remainingMs()).toBe(4_000);
    c.advance(3_000);
    v.confirm(c.t.mono);
    expect(v.remainingMs()).toBe(5_000);
    v.stop();
  });

  it('gives calls a deadline before the validity ends, and waits when too little is left', () => {
    vi.useFakeTimers();
    const c = clocks();
    const v = new LeaseValidity({ validityMs: 5_000, grantSentAt: c.t.mono, ...c.opts });
    expect(v.callDeadline()).toBe(c.t.wall + 5_000 - 250);
    c.advance(4_400);
    const waiting = (() => {
      try {
        v.callDeadline();
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(waiting).toBeInstanceOf(CdcError);
    expect((waiting as CdcError).retryable).toBe(true);
    v.stop();
  });

  it('expires on its own without a confirmation, and then refuses every call', () => {
    vi.useFakeTimers();
    const c = clocks();
    const v = new LeaseValidity({ validityMs: 5_000, grantSentAt: c.t.mono, ...c.opts });
    c.advance(4_000);
    expect(v.signal.aborted).toBe(false);
    c.advance(1_001);
    expect(v.signal.aborted).toBe(true);
    expect(() => v.callDeadline()).toThrow(/may no longer write/);
    expect(() => v.callDeadline()).toThrow(expect.objectContaining({ code: 'LEASE_LOST' }));
    v.confirm(c.t.mono); // too late: an ended lease stays ended
    expect(v.remainingMs()).toBe(0);
  });

  it('a confirmation before expiry keeps it alive past the first deadline', () => {
    vi.useFakeTimers();
    const c = clocks();
    const v = new LeaseValidity({ validityMs: 5_000, grantSentAt: c.t.mono, ...c.opts });
    c.advance(3_000);
    v.confirm(c.t.mono);
    c.advance(4_000);
    expect(v.signal.aborted).toBe(false);
    c.advance(1_001);
    expect(v.signal.aborted).toBe(true);
  });

  it('revoking ends it at once with the reason', () => {
    const v = new LeaseValidity({ validityMs: 5_000, grantSentAt: 0, monotonicNow: () => 0 });
    v.revoke('stale lease epoch');
    expect(v.signal.aborted).toBe(true);
    expect(() => v.callDeadline()).toThrow(/stale lease epoch/);
  });

  describe('a quiet lease (idle reports)', () => {
    /** A lease with 3 s of validity, quiet from the start; `asked()` counts its requests for a confirmation. */
    function quietLease() {
      vi.useFakeTimers();
      const c = clocks();
      let asked = 0;
      const v = new LeaseValidity({
        validityMs: 3_000,
        grantSentAt: c.t.mono,
        onConfirmationNeeded: () => {
          asked++;
        },
        ...c.opts,
      });
      v.setQuiet(true);
      return { c, v, asked: () => asked };
    }

    it('lapses instead of ending, writes nothing while lapsed, and a confirmation renews it', () => {
      const { c, v } = quietLease();
      c.advance(3_001);
      expect(v.signal.aborted).toBe(false);
      expect(v.isLapsed).toBe(true);
      c.advance(60_000); // quiet: no deadline while nothing wants to write
      expect(v.signal.aborted).toBe(false);
      expect(() => v.callDeadline()).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' }));
      v.confirm(c.t.mono);
      expect(v.isLapsed).toBe(false);
      expect(v.callDeadline()).toBe(c.t.wall + 3_000 - 250);
      v.stop();
    });

    it('asks for a confirmation when a write waits, and gives the lease up if none comes within the validity', async () => {
      const { c, v, asked } = quietLease();
      c.advance(3_001);
      const write = v.ready(new AbortController().signal);
      const outcome = write.then(
        () => 'written',
        (err: unknown) => (err as CdcError).code,
      );
      expect(asked()).toBe(1);
      c.advance(2_999);
      expect(v.signal.aborted).toBe(false);
      c.advance(2);
      expect(v.signal.aborted).toBe(true);
      expect(await outcome).toBe('LEASE_LOST');
    });

    it('lets a waiting write go once the confirmation comes', async () => {
      const { c, v } = quietLease();
      c.advance(5_000);
      let written = false;
      const write = v.ready(new AbortController().signal).then(() => {
        written = true;
      });
      await Promise.resolve();
      expect(written).toBe(false);
      c.advance(1_000);
      v.confirm(c.t.mono - 100);
      await write;
      expect(written).toBe(true);
      c.advance(10_000); // the wait's deadline went with the confirmation; still quiet, so it lapses again
      expect(v.signal.aborted).toBe(false);
      expect(v.isLapsed).toBe(true);
    });

    it('a lapsed lease that stops being quiet needs a confirmation within the validity', () => {
      const { c, v, asked } = quietLease();
      c.advance(4_000);
      v.setQuiet(false); // e.g. its last report failed: the control service may be out of reach
      expect(asked()).toBe(1);
      c.advance(3_001);
      expect(v.signal.aborted).toBe(true);
    });

    it('ends at expiry like any lease once it is not quiet', () => {
      const { c, v } = quietLease();
      v.setQuiet(false);
      c.advance(3_001);
      expect(v.signal.aborted).toBe(true);
    });

    it('ready() resolves at once while the lease is confirmed', async () => {
      const v = new LeaseValidity({ validityMs: 3_000, grantSentAt: 0, monotonicNow: () => 0 });
      await expect(v.ready(new AbortController().signal)).resolves.toBeUndefined();
      v.stop();
    });
  });
});
