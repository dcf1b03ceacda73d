// Headless Debian Chromium through playwright-core, as the browser test and the benchmarks
// launch it (the flags: ../shared/TOOLCHAIN.md). `webgpu` adds --enable-unsafe-webgpu, which
// gives a SwiftShader adapter on a page served from 127.0.0.1; without it there is none.
// Resolves to {context, close}: close() also removes the throwaway profile.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function launchChromium({ webgpu = true, args = [] } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'vqcodec-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', ...(webgpu ? ['--enable-unsafe-webgpu'] : []), ...args],
  });
  const close = async () => {
    try {
      await context.close();
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  };
  return { context, close };
}
