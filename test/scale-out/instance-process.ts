// Starts test/scale-out/instance.ts as a real process and waits for its URL and instance id.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Instance {
  child: ChildProcess;
  url: string;
  port: number;
  id: string;
  dead: boolean;
}

/** `env`: REDIS_URL and PREFIX, and any of the settings instance.ts reads. */
export async function spawnInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/scale-out/instance.ts'], {
    env: { ...process.env, ...env },
    // stdin is a pipe from the test process: when that goes (killed, timed out), the instance goes too.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`instance exited ${code}`)));
  });
  const [, url, id] = line.split(' ') as [string, string, string];
  const instance = { child, url, port: Number(new URL(url).port), id, dead: false };
  child.once('exit', () => (instance.dead = true));
  return instance;
}
