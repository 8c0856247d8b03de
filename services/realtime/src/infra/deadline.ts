/**
 * A request waiting in a write queue, answered by its deadline whatever the
 * write does: MessageWriter's messages, MembershipInserts' memberships. The
 * queue settles it with `answer`; a late write finds it `settled` already.
 */
export interface Deadlined<T> {
  /** Answered already: stored, refused, or told it timed out. */
  settled: boolean;
  timer: NodeJS.Timeout;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Queues `fields` as a request that rejects with `timeout()` after `deadlineMs` unless answered first. */
export function queueWithDeadline<T, F extends object>(fields: F, deadlineMs: number, timeout: () => Error, enqueue: (pending: F & Deadlined<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const pending: F & Deadlined<T> = {
      ...fields,
      settled: false,
      timer: setTimeout(() => {
        pending.settled = true;
        reject(timeout());
      }, deadlineMs),
      resolve,
      reject,
    };
    enqueue(pending);
  });
}

/** Answers a request once (the first outcome wins), and stops its deadline. */
export function answer<T>(pending: Deadlined<T>, outcome: T | Error): void {
  clearTimeout(pending.timer);
  if (pending.settled) return;
  pending.settled = true;
  if (outcome instanceof Error) pending.reject(outcome);
  else pending.resolve(outcome);
}
