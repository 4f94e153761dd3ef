// One connection to the daemon's live events (GET /events, Server-Sent Events) for the whole
// app: every page subscribes to it. Nothing polls: lists and views change when an event says so.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Status, Step } from "./api.ts";

export type LiveEvent =
  | { type: "status"; job: string; from: Status | null; to: Status; queue: string; at: string }
  | { type: "progress"; job: string; progress: number; step: string | null; steps: Step[]; at: string };

export type LiveState = "connecting" | "live" | "reconnecting" | "off";

type Handler = (event: LiveEvent) => void;

const handlers = new Set<Handler>();
const stateHandlers = new Set<(state: LiveState) => void>();
let source: EventSource | null = null;
let state: LiveState = "off";
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let checkSession: () => Promise<boolean> = async () => true;

function setState(next: LiveState): void {
  state = next;
  for (const h of stateHandlers) h(next);
}

function dispatch(event: LiveEvent): void {
  for (const h of handlers) {
    try {
      h(event);
    } catch (error) {
      console.error(error);
    }
  }
}

/** Opens the stream; `sessionAlive` is asked when the stream is refused (a session that ended). */
export function startLive(sessionAlive: () => Promise<boolean>): void {
  checkSession = sessionAlive;
  if (source) return;
  setState("connecting");
  const es = new EventSource("/events");
  source = es;
  es.addEventListener("ready", () => setState("live"));
  es.addEventListener("status", (e) => dispatch({ type: "status", ...JSON.parse((e as MessageEvent).data) }));
  es.addEventListener("progress", (e) =>
    dispatch({ type: "progress", ...JSON.parse((e as MessageEvent).data) }),
  );
  es.onerror = () => {
    if (es.readyState === EventSource.CONNECTING) {
      setState("reconnecting");
      return;
    }
    // Closed for good (a 401, or the daemon gone): ask whether the session still holds.
    es.close();
    source = null;
    setState("reconnecting");
    retryTimer = setTimeout(async () => {
      retryTimer = null;
      if (await checkSession().catch(() => true)) startLive(checkSession);
      else setState("off");
    }, 3000);
  };
}

export function stopLive(): void {
  source?.close();
  source = null;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  setState("off");
}

/** Calls `handler` for every live event while the component is mounted (the latest handler). */
export function useLive(handler: Handler): void {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    const h: Handler = (e) => latest.current(e);
    handlers.add(h);
    return () => {
      handlers.delete(h);
    };
  }, []);
}

export function useLiveState(): LiveState {
  const [value, setValue] = useState(state);
  useEffect(() => {
    stateHandlers.add(setValue);
    setValue(state);
    return () => {
      stateHandlers.delete(setValue);
    };
  }, []);
  return value;
}

/**
 * A function that runs `fn` at most once per `ms`, the last call of a burst included (a
 * thousand events in a second refresh a view once or twice, not a thousand times).
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const last = useRef(0);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return useRef(() => {
    if (timer.current) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      latest.current();
    }, wait);
  }).current;
}
