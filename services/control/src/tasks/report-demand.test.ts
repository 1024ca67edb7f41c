import { describe, expect, it } from 'vitest';
import { ReportDemand } from './report-demand.js';

describe('ReportDemand', () => {
  it('lists a wanted task for the hold time, renewed by each demand', () => {
    const now = { t: 1_000 };
    const demand = new ReportDemand({ now: () => now.t }, 5_000);
    expect(demand.wanted()).toEqual([]);
    demand.want('a');
    now.t += 3_000;
    demand.want('b');
    expect(demand.wanted()).toEqual(['a', 'b']);
    now.t += 2_000;
    expect(demand.wanted()).toEqual(['b']);
    demand.want('a');
    now.t += 3_000;
    expect(demand.wanted()).toEqual(['a']);
    now.t += 2_000;
    expect(demand.wanted()).toEqual([]);
  });
});
