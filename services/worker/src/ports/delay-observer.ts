/**
 * Where a change's time goes between the source and the target (the lag split the benchmark reports): how late a
 * channel's time tick is read, and how long after its source write a change was acknowledged by the target. Both are
 * measured against the source's hybrid timestamps, so they assume the source's clock and the worker's agree.
 */
export interface DelayObserver {
  /**
   * A time tick was read `ms` after the source stamped it, `sinceBrokerMs` after the broker took it (its record
   * timestamp, undefined when the MQ gives none): the difference is the source's own delay before the tick reached
   * the MQ.
   */
  tickRead(ms: number, sinceBrokerMs: number | undefined): void;
  /** The oldest change of a pack was acknowledged by the target this long after the source wrote it. */
  applied(ms: number): void;
}
