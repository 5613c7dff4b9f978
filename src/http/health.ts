// GET /health: what a load balancer and a person need to know at a glance.
import { readFileSync } from 'node:fs';
import type { SessionManager } from '../session/manager.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const startedAt = Date.now();

/** A part of the service that health reports on (a gateway's children, a shared store…). */
export interface HealthCheck {
  name: string;
  check(): { ok: boolean; [detail: string]: unknown };
}

export interface HealthReport {
  status: 'ok' | 'draining' | 'degraded';
  sessions: { legacy: number; streamable: number };
  streams: number;
  uptimeS: number;
  version: string;
  [check: string]: unknown;
}

export function healthReport(engine: SessionManager, checks: HealthCheck[]): HealthReport {
  const report: HealthReport = {
    status: engine.draining ? 'draining' : 'ok',
    sessions: { legacy: engine.byWire.legacy, streamable: engine.byWire.streamable },
    streams: engine.connections.open.size,
    uptimeS: Math.round((Date.now() - startedAt) / 1000),
    version: VERSION,
  };
  for (const c of checks) {
    const r = c.check();
    report[c.name] = r;
    if (!r.ok && report.status === 'ok') report.status = 'degraded';
  }
  return report;
}
