// The orchestrator's handle on the load-generator process, and one measured phase:
// the generator pre-signs, then the server's CPU time is read, the requests are sent,
// and the server's CPU time is read again.
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { cpuMicros, machineCpu, start, stop } from './proc';
import type { ChildMessage, Job, ParentMessage, Result } from '../loadgen';

export interface Measured extends Result {
  /** requests (or dances) per second */
  rate: number;
  /** server CPU time per request (or dance), µs */
  cpuPerRequest: number;
  /** cores' worth of CPU used meanwhile by everything but the server and the generator */
  otherCores: number;
}

export class Generator {
  private nextId = 1;
  private readonly waiting = new Map<number, (m: ChildMessage) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: ChildMessage) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      w?.(m);
    });
  }

  static start(core: number | null): Generator {
    const child = start(core, process.execPath, [join(__dirname, '..', 'loadgen.js')], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Generator(child);
  }

  private ask(m: ParentMessage & { id: number }): Promise<ChildMessage> {
    return new Promise((resolve) => {
      this.waiting.set(m.id, resolve);
      this.child.send(m);
    });
  }

  /** Prepares `job`, then runs it while measuring the CPU time of process `serverPid`. */
  async phase(job: Job, serverPid: number): Promise<Measured> {
    const id = this.nextId++;
    await this.ask({ type: 'prepare', id, job });
    const before = cpuMicros(serverPid);
    const machine = machineCpu();
    const m = await this.ask({ type: 'go', id });
    const after = cpuMicros(serverPid);
    const machineAfter = machineCpu();
    if (m.type !== 'result') throw new Error('the load generator answered out of turn');
    const r = m.result;
    const server = after - before;
    const others = machineAfter.busy - machine.busy - server - r.generatorCpuPerRequest * r.count;
    return {
      ...r,
      rate: (r.count * 1000) / r.durationMs,
      cpuPerRequest: server / r.count,
      otherCores: Math.max(0, others) / (r.durationMs * 1000),
    };
  }

  async close(): Promise<void> {
    this.child.send({ type: 'exit' });
    await stop(this.child);
  }
}
