// The load generator: a separate process (pinned to its own core by the orchestrator)
// driven over IPC. It pre-signs every request of a phase with a unique nonce before the
// clock starts, then sends each exactly once over a fixed number of keep-alive
// connections (node:http Agent), one request in flight per connection.
import { must } from './lib/must';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Signer, formBody, type ConsumerCreds, type Req, type TokenCreds } from './lib/oauth';
import { summarise, type Summary } from './lib/stats';

export interface Target {
  host: string;
  port: number;
}

export type Job =
  | {
      kind: 'signed';
      target: Target;
      method: 'GET' | 'POST';
      path: string;
      form?: Record<string, string>;
      consumer: ConsumerCreds;
      token: TokenCreds;
      count: number;
      concurrency: number;
    }
  | {
      kind: 'dance';
      target: Target;
      consumer: ConsumerCreds;
      callback: string;
      /** one signed-in session (Cookie header value) per connection */
      sessions: string[];
      count: number;
      concurrency: number;
    }
  | {
      kind: 'sustained';
      target: Target;
      path: string;
      consumer: ConsumerCreds;
      tokens: TokenCreds[];
      durationMs: number;
      concurrency: number;
    };

export type ParentMessage = { type: 'prepare'; id: number; job: Job } | { type: 'go'; id: number } | { type: 'exit' };

export interface Result extends Summary {
  count: number;
  failures: number;
  firstFailure: string | null;
  durationMs: number;
  /** this generator's own CPU per request, µs: it must stay well below the server's */
  generatorCpuPerRequest: number;
}

export type ChildMessage = { type: 'prepared'; id: number } | { type: 'result'; id: number; result: Result };

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(agent: Agent, t: Target, r: Req): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { agent, host: t.host, port: t.port, method: r.method, path: r.path, headers: r.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

const origin = (t: Target) => `http://${t.host}:${t.port}`;

/** Runs `total` operations over `concurrency` loops; op(i, loop) returns an error text or null. */
async function drive(
  total: number,
  concurrency: number,
  deadline: number | null,
  op: (i: number, loop: number) => Promise<string | null>,
): Promise<Raw> {
  const latencies: number[] = [];
  let next = 0;
  let done = 0;
  let failures = 0;
  let firstFailure: string | null = null;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const loop = async (l: number) => {
    for (;;) {
      const i = next++;
      if (i >= total || (deadline !== null && performance.now() > deadline)) return;
      const s = performance.now();
      let err: string | null;
      try {
        err = await op(i, l);
      } catch (e) {
        err = (e as Error).message;
      }
      latencies.push(performance.now() - s);
      done++;
      if (err !== null) {
        failures++;
        firstFailure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, l) => loop(l)));
  const durationMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    ...summarise(latencies),
    count: done,
    failures,
    firstFailure,
    durationMs,
    cpuMicros: cpu.user + cpu.system,
  };
}

type Raw = Omit<Result, 'generatorCpuPerRequest'> & { cpuMicros: number };

const expect200 = (a: Answer, what: string): string | null =>
  a.status === 200 ? null : `${what}: ${a.status} ${a.body.slice(0, 200)}`;

const formOf = (body: string) => Object.fromEntries(new URLSearchParams(body));

interface Prepared {
  run(): Promise<Result>;
}

function prepare(job: Job): Prepared {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const signer = new Signer(job.consumer);
  const finish = (r: Raw): Result => {
    const { cpuMicros, ...rest } = r;
    agent.destroy();
    return { ...rest, generatorCpuPerRequest: rest.count ? cpuMicros / rest.count : 0 };
  };

  if (job.kind === 'signed') {
    const reqs = new Array<Req>(job.count);
    for (let i = 0; i < job.count; i++) {
      reqs[i] = signer.request(job.method, origin(job.target), job.path, { token: job.token, form: job.form });
    }
    return {
      run: async () =>
        finish(
          await drive(job.count, job.concurrency, null, async (i) =>
            expect200(await send(agent, job.target, must(reqs[i], 'a prepared request')), `${job.method} ${job.path}`),
          ),
        ),
    };
  }

  if (job.kind === 'dance') {
    const o = origin(job.target);
    // The first leg is pre-signed; the others depend on what the server answered.
    const first = new Array<Req>(job.count);
    for (let i = 0; i < job.count; i++) {
      first[i] = signer.request('POST', o, '/oauth/request-token', { oauth: { oauth_callback: job.callback } });
    }
    const dance = async (i: number, loop: number): Promise<string | null> => {
      const cookie = must(job.sessions[loop % job.sessions.length], 'a session');
      const rt = await send(agent, job.target, must(first[i], 'a prepared request'));
      if (rt.status !== 200) return expect200(rt, 'request-token');
      const { oauth_token: token, oauth_token_secret: secret } = formOf(rt.body);
      if (!token || !secret) return `request-token: no token in ${rt.body}`;
      const page = await send(agent, job.target, {
        method: 'GET',
        path: `/oauth/authorize?oauth_token=${encodeURIComponent(token)}`,
        headers: { cookie },
      });
      if (page.status !== 200) return expect200(page, 'consent page');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
      if (!csrf) return 'consent page: no CSRF field';
      const body = formBody({ _csrf: csrf, oauth_token: token, decision: 'allow' });
      const decided = await send(agent, job.target, {
        method: 'POST',
        path: '/oauth/authorize',
        headers: {
          cookie,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(Buffer.byteLength(body)),
        },
        body,
      });
      if (decided.status !== 302) return `decision: ${decided.status} ${decided.body.slice(0, 200)}`;
      const verifier = new URL(must(decided.headers.location, 'the decision redirect'), o).searchParams.get(
        'oauth_verifier',
      );
      if (!verifier) return 'decision: no verifier in the redirect';
      const at = await send(
        agent,
        job.target,
        signer.request('POST', o, '/oauth/access-token', {
          token: { key: token, secret },
          oauth: { oauth_verifier: verifier },
        }),
      );
      if (at.status !== 200) return expect200(at, 'access-token');
      return formOf(at.body).oauth_token ? null : `access-token: no token in ${at.body}`;
    };
    return { run: async () => finish(await drive(job.count, job.concurrency, null, dance)) };
  }

  // sustained: signed as it goes (timestamps must stay inside the server's window)
  const o = origin(job.target);
  return {
    run: async () =>
      finish(
        await drive(Number.MAX_SAFE_INTEGER, job.concurrency, performance.now() + job.durationMs, async (i) =>
          expect200(
            await send(
              agent,
              job.target,
              signer.request('GET', o, job.path, { token: must(job.tokens[i % job.tokens.length], 'a token') }),
            ),
            `GET ${job.path}`,
          ),
        ),
      ),
  };
}

if (require.main === module) {
  const prepared = new Map<number, Prepared>();
  const reply = (m: ChildMessage) => {
    if (!process.send) throw new Error('loadgen runs as a child process with an IPC channel');
    process.send(m);
  };
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'exit') process.exit(0);
    if (m.type === 'prepare') {
      prepared.set(m.id, prepare(m.job));
      reply({ type: 'prepared', id: m.id });
    } else {
      // 'go'
      const p = must(prepared.get(m.id), `prepared job ${m.id}`);
      prepared.delete(m.id);
      void p.run().then((result) => reply({ type: 'result', id: m.id, result }));
    }
  });
}
