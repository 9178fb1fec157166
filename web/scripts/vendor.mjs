// Copies the dash.js build the page loads (and hls.js, for hls.html) from node_modules into
// web/vendor/ (git-ignored), so the page server only ever serves web/ and never node_modules.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(web, 'node_modules', 'dashjs', 'dist', 'modern', 'umd', 'dash.all.min.js');
mkdirSync(join(web, 'vendor'), { recursive: true });
copyFileSync(src, join(web, 'vendor', 'dash.all.min.js'));
console.log('web/vendor/dash.all.min.js <- dashjs/dist/modern/umd/dash.all.min.js');
const hls = join(web, 'node_modules', 'hls.js', 'dist', 'hls.min.js');
copyFileSync(hls, join(web, 'vendor', 'hls.min.js'));
console.log('web/vendor/hls.min.js <- hls.js/dist/hls.min.js');
