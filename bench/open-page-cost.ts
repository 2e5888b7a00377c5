/**
 * What an operations page left open costs the gateway over time: real servers (nats-server, the
 * S3 double, an S3 uploader, the gateway in its own process), artifacts logged at a steady rate
 * throughout. First a phase with no page, then a phase of the same length with one page open as
 * the page behaves (its live stream read to the end, GET /v1/destinations every 3 s). The
 * gateway's CPU seconds and RSS are sampled from /proc every 30 s. Figures only; run it as
 *
 *   OPEN_PAGE_MINUTES=5 npx node bench/open-page-cost.ts
 *
 * and copy the printed section into bench/RESULTS.md.
 */
import { readFileSync } from "node:fs";
import { GatewayStack } from "../test/harness/gateway-stack.ts";

const PHASE_MS = Number(process.env.OPEN_PAGE_MINUTES ?? 5) * 60_000;
const RATE_PER_S = Number(process.env.OPEN_PAGE_RATE ?? 2);
const SAMPLE_MS = 30_000;

interface Usage {
  at: number;
  cpu: number;
  rssMiB: number;
}

/** CPU seconds (user + system) and RSS (MiB) of a process, from /proc. */
function usage(pid: number): Usage {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return { at: Date.now(), cpu: ticks / 100, rssMiB: Number(rss) / 1024 };
}

const stack = await GatewayStack.start();
try {
  const publish = stack.token(["demo"], ["publish"]);
  const reader = stack.token(["demo"], ["read"]);
  await stack.reload();
  const pid = stack.gateway.proc.pid!;
  let logged = 0;
  let logging = true;
  const logger = (async () => {
    for (let n = 0; logging; n++) {
      const started = Date.now();
      const res = await stack.fetch(`/v1/projects/demo/runs/page/artifacts/step-${n}.bin`, publish, {
        method: "PUT",
        body: Buffer.alloc(4096, n),
      });
      await res.arrayBuffer();
      if (res.status === 202) logged++;
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 / RATE_PER_S - (Date.now() - started))));
    }
  })();

  /** Samples the gateway every 30 s for `ms`; returns the samples. */
  const phase = async (ms: number): Promise<Usage[]> => {
    const samples = [usage(pid)];
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(SAMPLE_MS, end - Date.now())));
      samples.push(usage(pid));
    }
    return samples;
  };
  // A minute to settle (compile caches, first listings), then the phases.
  await phase(60_000);
  const loggedBefore = logged;
  const without = await phase(PHASE_MS);
  const loggedWithout = logged - loggedBefore;

  const gone = new AbortController();
  let events = 0;
  let polls = 0;
  const res = await stack.fetch("/v1/events/live", reader, { signal: gone.signal });
  const body = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const reading = (async () => {
    try {
      for (;;) {
        const { value, done } = await body.read();
        if (done) return;
        events += value.split("event: ledger").length - 1;
      }
    } catch {
      // aborted at the end
    }
  })();
  const poller = setInterval(() => {
    polls++;
    void stack
      .fetch("/v1/destinations", reader)
      .then((r) => r.arrayBuffer())
      .catch(() => {});
  }, 3_000);
  const loggedBeforePage = logged;
  const withPage = await phase(PHASE_MS);
  const loggedWith = logged - loggedBeforePage;
  clearInterval(poller);
  gone.abort();
  await reading;
  logging = false;
  await logger;

  const summary = (s: Usage[]) => {
    const first = s[0]!;
    const last = s.at(-1)!;
    const minutes = (last.at - first.at) / 60_000;
    return {
      minutes: +minutes.toFixed(1),
      cpuSeconds: +(last.cpu - first.cpu).toFixed(1),
      cpuPercentOfCore: +(((last.cpu - first.cpu) / (minutes * 60)) * 100).toFixed(2),
      rssStartMiB: +first.rssMiB.toFixed(1),
      rssEndMiB: +last.rssMiB.toFixed(1),
      rssMinMiB: +Math.min(...s.map((x) => x.rssMiB)).toFixed(1),
      rssMaxMiB: +Math.max(...s.map((x) => x.rssMiB)).toFixed(1),
    };
  };
  const a = summary(without);
  const b = summary(withPage);
  const extraCpuPerHour = ((b.cpuSeconds - a.cpuSeconds) / b.minutes) * 60;
  console.log(
    JSON.stringify({
      ratePerSecond: RATE_PER_S,
      without: { ...a, logged: loggedWithout },
      withPage: b,
      events,
      polls,
      // The trend, not just the ends: MiB at each 30-s sample.
      rssSeries: {
        without: without.map((x) => +x.rssMiB.toFixed(1)),
        withPage: withPage.map((x) => +x.rssMiB.toFixed(1)),
      },
    }),
  );
  console.log(`
## Open operations page over time (bench/open-page-cost.ts)

${new Date().toISOString().slice(0, 10)}, ${RATE_PER_S} artifacts of 4 KiB a second logged throughout (one S3 uploader),
the gateway sampled every 30 s, after a minute to settle.

| phase | minutes | artifacts | gateway CPU s | % of a core | RSS start → end (min–max) MiB |
| --- | ---: | ---: | ---: | ---: | --- |
| no page | ${a.minutes} | ${loggedWithout} | ${a.cpuSeconds} | ${a.cpuPercentOfCore} | ${a.rssStartMiB} → ${a.rssEndMiB} (${a.rssMinMiB}–${a.rssMaxMiB}) |
| one page open (live stream + /v1/destinations every 3 s) | ${b.minutes} | ${loggedWith} | ${b.cpuSeconds} | ${b.cpuPercentOfCore} | ${b.rssStartMiB} → ${b.rssEndMiB} (${b.rssMinMiB}–${b.rssMaxMiB}) |

The page received ${events} ledger events and made ${polls} destination reads. Extra CPU with the
page: ${extraCpuPerHour.toFixed(1)} s per hour (${((extraCpuPerHour / 3600) * 100).toFixed(2)} % of a core) at this rate.
`);
} finally {
  await stack.dispose();
}
