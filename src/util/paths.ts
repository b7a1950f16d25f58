import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The root of the eddy package (the nearest directory above `fromUrl` holding eddy's package.json). Works from
 * the TypeScript sources and from the compiled `dist/` alike.
 */
export function packageRoot(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'schemas'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`eddy package root not found above ${fromUrl}`);
    dir = up;
  }
}
