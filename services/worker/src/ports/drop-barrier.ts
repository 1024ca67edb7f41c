/**
 * Cross-channel barrier for drops. A DropCollection/DropPartition is broadcast into every pchannel of the collection,
 * and the leases of those channels may live in different worker processes. The drop is applied once all of them
 * reached it, and no channel moves past it before it is applied: otherwise rows of a re-created collection with the
 * same name could be written into the old one, or be dropped with it.
 */
export interface DropBarrier {
  /** Records that `channel` reached barrier `key`; returns the channels that have arrived so far. */
  arrive(key: string, channel: string): Promise<ReadonlySet<string>>;
  isDone(key: string): Promise<boolean>;
  markDone(key: string): Promise<void>;
}
