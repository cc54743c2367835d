/**
 * A Platform that refuses everything a test does not hand it: one stub for every unit test that needs a
 * Platform, so a method added to Platform (src/ports.ts) is added here once, not in each test's fake.
 *
 * Async capabilities reject and sync ones (readStdin, connectSyslog) throw, each with
 * "<method> is not available in <what>"; the harmless ones answer: hostNames a host "test" without
 * addresses, onSignal and watchFile a no-op unsubscribe, sleep at once, pid 1, monotonicMs 0; the optional
 * collectGarbage is left out (a runtime without one).
 * A test spreads it and sets the capabilities it plays on top.
 */
import type { Platform } from "../../src/ports.ts";

export function refusingPlatform(what: string): Platform {
  const refusal = (method: keyof Platform) => new Error(`${method} is not available in ${what}`);
  const reject = (method: keyof Platform) => () => Promise.reject(refusal(method));
  return {
    serveUnix: reject("serveUnix"),
    serveHttps: reject("serveHttps"),
    hostNames: () => ({ hostname: "test", addresses: [] }),
    onSignal: () => () => {},
    watchFile: () => () => {},
    unixFetch: reject("unixFetch"),
    httpsFetch: reject("httpsFetch"),
    websocketConnect: reject("websocketConnect"),
    spawn: reject("spawn"),
    connectSyslog: () => {
      throw refusal("connectSyslog");
    },
    connectEtcd: reject("connectEtcd"),
    sleep: () => Promise.resolve(),
    pid: 1,
    monotonicMs: () => 0,
    unixHijack: reject("unixHijack"),
    unixForward: reject("unixForward"),
    readStdin: () => {
      throw refusal("readStdin");
    },
  };
}
