/**
 * A TCP proxy on 127.0.0.1 that a test controls, to put one process on the bad side of a network fault:
 * - `partition()`: nothing passes in either direction and new connections hang (packets dropped, nothing reset),
 *   the way a real partition looks to both ends; `heal()` lets the held bytes through again.
 * - `delayResponses(ms)`: a slow server as its client sees it: requests arrive at once, every answer ms later.
 *   Applies to the connections open at the call only, so a process that connects later (another worker) is not slowed.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pipe {
  readonly client: Socket;
  readonly upstream: Socket;
  responseDelayMs: number;
  /** When the last delayed answer chunk is due, so chunks keep their order. */
  lastDueMs: number;
}

export class TcpProxy {
  private server: Server | undefined;
  private readonly pipes = new Set<Pipe>();
  private partitioned = false;
  private readonly held: (() => void)[] = [];
  port = 0;

  constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {}

  /** `host:port`, `http://host:port` or `redis://host:port`. */
  static forAddress(address: string): TcpProxy {
    const url = new URL(address.includes('://') ? address : `tcp://${address}`);
    return new TcpProxy(url.hostname, Number(url.port));
  }

  get address(): string {
    return `127.0.0.1:${String(this.port)}`;
  }

  async start(): Promise<this> {
    const server = createServer((client) => {
      this.accept(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
    this.port = addr.port;
    this.server = server;
    return this;
  }

  partition(): void {
    this.partitioned = true;
  }

  heal(): void {
    this.partitioned = false;
    for (const release of this.held.splice(0)) release();
  }

  delayResponses(ms: number): void {
    for (const p of this.pipes) p.responseDelayMs = ms;
  }

  async stop(): Promise<void> {
    this.heal();
    for (const p of this.pipes) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pipes.clear();
    await new Promise<void>((resolve) => {
      if (this.server === undefined) resolve();
      else
        this.server.close(() => {
          resolve();
        });
    });
  }

  private accept(client: Socket): void {
    const upstream = connect(this.upstreamPort, this.upstreamHost);
    const pipe: Pipe = { client, upstream, responseDelayMs: 0, lastDueMs: 0 };
    this.pipes.add(pipe);
    const close = (): void => {
      this.pipes.delete(pipe);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.on('data', (chunk: Buffer) => {
      this.pass(chunk, upstream, client, 0);
    });
    upstream.on('data', (chunk: Buffer) => {
      const now = Date.now();
      pipe.lastDueMs = Math.max(pipe.lastDueMs, now + pipe.responseDelayMs);
      this.pass(chunk, client, upstream, pipe.lastDueMs - now);
    });
  }

  /** Writes `chunk` after `delayMs`, holding it (and pausing its sender) while partitioned. */
  private pass(chunk: Buffer, to: Socket, from: Socket, delayMs: number): void {
    const deliver = (): void => {
      if (this.partitioned) {
        from.pause();
        this.held.push(() => {
          from.resume();
          deliver();
        });
        return;
      }
      if (!to.destroyed) to.write(chunk);
    };
    if (delayMs > 0) setTimeout(deliver, delayMs);
    else deliver();
  }
}
