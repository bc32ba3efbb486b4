// Builds the web console into dist/: one hashed JS bundle and one hashed CSS
// file under dist/assets/ (cached for a year by corrald), and index.html
// pointing at them.  No inline script or style: the page's CSP forbids them.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const dist = 'dist';
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist + '/assets', { recursive: true });
const result = await esbuild.build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['es2020'],
  outdir: dist,
  entryNames: 'assets/[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});
let js = '', css = '';
for (const out of Object.keys(result.metafile.outputs)) {
  const rel = path.relative(dist, out);
  if (rel.endsWith('.js')) js = rel;
  if (rel.endsWith('.css')) css = rel;
}
const html = readFileSync('index.html', 'utf8').replace('%JS%', '/' + js).replace('%CSS%', '/' + css);
writeFileSync(dist + '/index.html', html);
cpSync('public', dist, { recursive: true });
console.log(`web: built ${js} and ${css}`);
