// Capping a server to a share of one core with a CPU cgroup (v1 `cpu` controller, or v2 `cpu.max`),
// so that one and two instances can be compared on a 2-core machine that also runs the load
// generator and Redis. Needs write access to /sys/fs/cgroup (root in a container); without it the
// scaling scenario reports that it could not cap, and does not run.
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const V1 = '/sys/fs/cgroup/cpu';
const V2 = '/sys/fs/cgroup';
const PERIOD_US = 20_000;

export interface CpuCap {
  readonly path: string;
  /** Moves a process (and its later children) into the group. */
  add(pid: number): void;
  /** Removes the group (once its processes have exited). */
  remove(): void;
}

/** A group allowing `share` (0–1) of one core, or why there cannot be one. */
export function cpuCap(name: string, share: number): CpuCap | string {
  const quota = Math.round(PERIOD_US * share);
  try {
    if (existsSync(join(V1, 'cpu.cfs_quota_us'))) {
      const path = join(V1, name);
      mkdirSync(path, { recursive: true });
      writeFileSync(join(path, 'cpu.cfs_period_us'), String(PERIOD_US));
      writeFileSync(join(path, 'cpu.cfs_quota_us'), String(quota));
      return group(path);
    }
    if (existsSync(join(V2, 'cgroup.controllers'))) {
      const path = join(V2, name);
      mkdirSync(path, { recursive: true });
      writeFileSync(join(path, 'cpu.max'), `${quota} ${PERIOD_US}`);
      return group(path);
    }
    return 'no CPU cgroup controller is mounted at /sys/fs/cgroup';
  } catch (err) {
    return `a CPU cgroup could not be made (${(err as Error).message})`;
  }
}

function group(path: string): CpuCap {
  return {
    path,
    add: (pid) => writeFileSync(join(path, 'cgroup.procs'), String(pid)),
    remove: () => {
      try {
        rmdirSync(path);
      } catch {
        // still has a process in it, or already gone: the next run reuses it
      }
    },
  };
}
