// `npm run build`'s last step: the dashboard's static files go next to the compiled module that
// serves them (dist/serve/dashboard/public), where it looks for them.
import { cpSync, existsSync } from 'node:fs';

const from = new URL('../src/serve/dashboard/public/', import.meta.url);
const to = new URL('../dist/serve/dashboard/public/', import.meta.url);
if (!existsSync(new URL('index.html', from))) throw new Error('copy-dashboard: src/serve/dashboard/public/index.html is missing');
cpSync(from, to, { recursive: true });
