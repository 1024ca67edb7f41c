/** Stops and starts components of the local stack through deploy/local scripts (the real processes). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/processes.js';

function script(name: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, 'deploy/local', name), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(`${name} ${args.join(' ')} failed (${String(code)}): ${stderr.slice(-2000)}`),
        );
    });
  });
}

export type Component = 'redis' | 'etcd' | 'kafka' | 'milvus-target';

export async function stopComponent(c: Component): Promise<void> {
  await script('down.sh', [c]);
}

export async function startComponent(c: Component): Promise<void> {
  await script('up.sh', [c === 'milvus-target' ? 'milvus' : c]);
}
