import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deferCommonJsModule, sdkParquetModulePath } from './defer-sdk-bulk-writer.js';

const requireHere = createRequire(import.meta.url);
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A CommonJS module that counts its loads in a global. */
function countingModule(): { path: string; loads: () => number } {
  const dir = mkdtempSync(join(tmpdir(), 'defer-'));
  dirs.push(dir);
  const path = join(dir, 'heavy.cjs');
  const counter = `__deferLoads_${String(dirs.length)}_${String(Date.now())}`;
  writeFileSync(
    path,
    `globalThis.${counter} = (globalThis.${counter} ?? 0) + 1;\n` +
      `exports.Schema = class Schema { constructor(f) { this.fields = f; } };\nexports.answer = 42;\n`,
  );
  return { path, loads: () => ((globalThis as Record<string, unknown>)[counter] as number) ?? 0 };
}

describe('deferCommonJsModule', () => {
  it('loads the module only when a property is first read, then forwards to it', () => {
    const heavy = countingModule();
    expect(deferCommonJsModule(heavy.path)).toBe(true);
    const mod = requireHere(heavy.path) as {
      Schema: new (f: string[]) => { fields: string[] };
      answer: number;
    };
    expect(heavy.loads()).toBe(0);
    expect(new mod.Schema(['id']).fields).toEqual(['id']);
    expect(mod.answer).toBe(42);
    expect(heavy.loads()).toBe(1);
    expect(Object.keys(mod).sort()).toEqual(['Schema', 'answer']);
    expect('answer' in mod).toBe(true);
    expect(heavy.loads()).toBe(1);
  });

  it('leaves a module that is loaded already alone', () => {
    const heavy = countingModule();
    requireHere(heavy.path);
    expect(deferCommonJsModule(heavy.path)).toBe(false);
    expect((requireHere(heavy.path) as { answer: number }).answer).toBe(42);
    expect(heavy.loads()).toBe(1);
  });

  it('finds the Parquet module of the SDK this repo pins (an SDK upgrade must re-check it)', () => {
    expect(sdkParquetModulePath()).toMatch(/parquetjs/);
  });
});
