/**
 * Drives a Go msgstream test producer (`test/producers/msgstream25`: Milvus 2.5.5's own msgstream code;
 * `msgstream24`: the 2024-06-05 `milvus/pkg` msgstream; built and cached by `deploy/local/producers.sh`): one JSON
 * command per line on its stdin, one JSON reply per line on its stdout. Each instance emulates its own cluster
 * (unique channel prefix and etcd root) on the shared Kafka and etcd, and removes its topics and keys on `dispose()`.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { createKafkaClient } from '../../services/worker/src/adapters/kafka-client.js';
import { REPO_ROOT } from './processes.js';
import { stackEnv } from './stack.js';

/** A record a command broadcast (DDL and time ticks; Produce gives no ids back). */
export interface Broadcast {
  readonly channel: string;
  readonly offset: number;
  readonly type: string;
}

export interface MsgstreamReply {
  readonly broadcast: Broadcast[];
  readonly pchannels: string[];
  readonly replicateChannel: string;
}

const binaries = new Map<string, Promise<string>>();

/** Builds (or finds in the cache) a producer binary; the first build takes minutes, later ones are cached. */
export function producerBinary(name: string): Promise<string> {
  let bin = binaries.get(name);
  if (bin === undefined) {
    bin = promisify(execFile)('bash', ['deploy/local/producers.sh', name], {
      cwd: REPO_ROOT,
      maxBuffer: 1 << 20,
      timeout: 1_200_000,
    }).then(({ stdout }) => stdout.trim().split('\n').pop() ?? '');
    binaries.set(name, bin);
  }
  return bin;
}

export class MsgstreamProducer {
  readonly prefix: string;
  readonly etcdRoot: string;
  private child: ChildProcess | undefined;
  private readonly replies: ((line: string) => void)[] = [];
  private stderr = '';

  constructor(
    readonly name = 'msgstream25',
    readonly pchannels = 2,
    tag = randomUUID().slice(0, 8),
  ) {
    this.prefix = `cdc-${name}-${tag}`;
    this.etcdRoot = `cdc-${name}-${tag}`;
  }

  async start(): Promise<this> {
    const env = stackEnv();
    const bin = await producerBinary(this.name);
    const child = spawn(
      bin,
      [
        ...['-kafka', env.kafkaBrokers.join(','), '-etcd', env.etcdEndpoints.join(',')],
        ...['-root', this.etcdRoot, '-prefix', this.prefix, '-pchannels', String(this.pchannels)],
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8_000);
    });
    createInterface({ input: child.stdout }).on('line', (line) => this.replies.shift()?.(line));
    await this.nextLine(60_000);
    return this;
  }

  private nextLine(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`${this.name} did not answer within ${timeoutMs} ms; stderr: ${this.stderr}`),
        );
      }, timeoutMs);
      this.replies.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  /** Sends one command (see test/producers/msgstream25/session.go) and returns what it broadcast. */
  async send(command: Record<string, unknown>): Promise<MsgstreamReply> {
    const stdin = this.child?.stdin;
    if (stdin === null || stdin === undefined) throw new Error(`${this.name} not started`);
    const reply = this.nextLine(60_000);
    stdin.write(`${JSON.stringify(command)}\n`);
    const parsed = JSON.parse(await reply) as MsgstreamReply & { ok: boolean; error?: string };
    if (!parsed.ok)
      throw new Error(
        `${this.name}: ${parsed.error ?? 'failed'} (command ${JSON.stringify(command).slice(0, 200)})`,
      );
    return parsed;
  }

  /** A task spec's `source` reading this producer's records: its etcd root and channel prefix, on the stack's Kafka. */
  sourceSpec(): Record<string, unknown> {
    const env = stackEnv();
    return {
      etcd: { endpoints: env.etcdEndpoints, root_path: this.etcdRoot },
      mq: { type: 'MQ_TYPE_KAFKA', address: env.kafkaBrokers.join(',') },
      channel_prefix: this.prefix,
    };
  }

  dmlChannel(i: number): string {
    return `${this.prefix}-rootcoord-dml_${i}`;
  }

  get replicateChannel(): string {
    return `${this.prefix}-replicate-msg`;
  }

  async dispose(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child !== undefined && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.stdin?.end();
      child.kill('SIGTERM');
      await gone;
    }
    const env = stackEnv();
    const admin = createKafkaClient({
      brokers: env.kafkaBrokers,
      clientId: 'msgstream-cleanup',
    }).admin();
    await admin.connect();
    try {
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${this.prefix}-`));
      if (topics.length > 0) await admin.deleteTopics({ topics });
    } finally {
      await admin.disconnect();
    }
    const etcd = new Etcd3({ hosts: env.etcdEndpoints });
    try {
      await etcd.delete().prefix(`${this.etcdRoot}/`);
    } finally {
      etcd.close();
    }
  }
}
