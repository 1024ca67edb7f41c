/**
 * Drives the Go test producer `test/producers/wal26` (Milvus 2.6 message builders + Kafka WAL, built and cached by
 * `deploy/local/producers.sh`): one JSON command per line on its stdin, one JSON reply per line on its stdout. Each
 * instance emulates its own cluster (unique channel prefix and etcd root) on the shared Kafka and etcd, and removes
 * its topics and keys on `dispose()`.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import type { Kafka } from 'kafkajs';
import { createKafkaClient } from '../../services/worker/src/adapters/kafka-client.js';
import { REPO_ROOT } from './processes.js';
import { stackEnv } from './stack.js';

export interface Appended {
  readonly pchannel: string;
  readonly vchannel: string;
  /** WAL message id: the Kafka offset in base36. */
  readonly id: string;
  readonly type: string;
  readonly timeTick: string;
}

export interface ProducerReply {
  readonly appended: Appended[];
  readonly controlChannel: string;
  readonly pchannels: string[];
}

let binary: Promise<string> | undefined;

/** Builds (or finds in the cache) the producer binary; the first build takes minutes, later ones are cached. */
export function wal26Binary(): Promise<string> {
  binary ??= promisify(execFile)('bash', ['deploy/local/producers.sh', 'wal26'], {
    cwd: REPO_ROOT,
    maxBuffer: 1 << 20,
    timeout: 900_000,
  }).then(({ stdout }) => stdout.trim().split('\n').pop() ?? '');
  return binary;
}

export class Wal26Producer {
  readonly prefix: string;
  readonly etcdRoot: string;
  grpcAddress = '';
  private child: ChildProcess | undefined;
  private readonly replies: ((line: string) => void)[] = [];
  private stderr = '';

  constructor(
    readonly pchannels = 2,
    tag = randomUUID().slice(0, 8),
  ) {
    this.prefix = `cdc26-${tag}`;
    this.etcdRoot = `cdc26-${tag}`;
  }

  async start(): Promise<this> {
    const env = stackEnv();
    const bin = await wal26Binary();
    const child = spawn(
      bin,
      [
        '-kafka',
        env.kafkaBrokers.join(','),
        '-etcd',
        env.etcdEndpoints.join(','),
        '-root',
        this.etcdRoot,
        '-prefix',
        this.prefix,
        '-pchannels',
        String(this.pchannels),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8_000);
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => this.replies.shift()?.(line));
    const ready = JSON.parse(await this.nextLine(60_000)) as { grpc: string };
    this.grpcAddress = ready.grpc;
    return this;
  }

  private nextLine(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`wal26 producer did not answer within ${timeoutMs} ms; stderr: ${this.stderr}`),
        );
      }, timeoutMs);
      this.replies.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  /** Sends one command (see test/producers/wal26/session.go) and returns what it appended. */
  async send(command: Record<string, unknown>): Promise<ProducerReply> {
    const child = this.child;
    if (child?.stdin === null || child === undefined) throw new Error('wal26 producer not started');
    const reply = this.nextLine(60_000);
    child.stdin.write(`${JSON.stringify(command)}\n`);
    const parsed = JSON.parse(await reply) as ProducerReply & { ok: boolean; error?: string };
    if (!parsed.ok)
      throw new Error(
        `wal26 producer: ${parsed.error ?? 'failed'} (command ${JSON.stringify(command).slice(0, 200)})`,
      );
    return parsed;
  }

  dmlChannel(i: number): string {
    return `${this.prefix}-rootcoord-dml_${i}`;
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
    const kafka: Kafka = createKafkaClient({
      brokers: env.kafkaBrokers,
      clientId: 'wal26-cleanup',
    });
    const admin = kafka.admin();
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
