/** A promise with its settle functions, settled at most once; unobserved rejections are not reported as unhandled. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  let settled = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = (v) => {
      if (!settled) (settled = true), res(v);
    };
    reject = (e) => {
      if (!settled) (settled = true), rej(e);
    };
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject, isSettled: () => settled };
}
