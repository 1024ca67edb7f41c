/**
 * Options for prom-client's default process metrics in every CDC process. The event-loop delay histogram samples with
 * a libuv timer at this period; prom-client's 10 ms default wakes an idle process 100 times a second, measured at
 * 0.004 core per process (0.001 at 50 ms). `nodejs_eventloop_lag_*` then include up to 50 ms of sampling period:
 * stalls that matter here (write validity, reports) last seconds.
 */
export const DEFAULT_METRICS_OPTIONS = { eventLoopMonitoringPrecision: 50 } as const;
