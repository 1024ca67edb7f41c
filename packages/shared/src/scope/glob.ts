/**
 * Name globs of task scopes: `*` is the only wildcard (any run of characters, possibly empty). One implementation for
 * the control service (scope overlap checks) and the worker (filtering), so the two can never disagree on a name.
 */
/** Glob with `*` as the only wildcard (any run of characters, possibly empty). */
export function globMatch(pattern: string, name: string): boolean {
  return intersectFrom(pattern, 0, name.replaceAll('*', '\u0000'), 0, new Map());
}

/**
 * True when some name matches both globs. Dynamic programming over (i, j): a `*` on either side may consume
 * one character of the other side or nothing.
 */
export function globsIntersect(a: string, b: string): boolean {
  return intersectFrom(a, 0, b, 0, new Map());
}

function intersectFrom(
  a: string,
  i: number,
  b: string,
  j: number,
  memo: Map<string, boolean>,
): boolean {
  const key = `${i},${j}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  let result: boolean;
  if (i === a.length && j === b.length) result = true;
  else if (i < a.length && a[i] === '*')
    result =
      intersectFrom(a, i + 1, b, j, memo) || (j < b.length && intersectFrom(a, i, b, j + 1, memo));
  else if (j < b.length && b[j] === '*')
    result =
      intersectFrom(a, i, b, j + 1, memo) || (i < a.length && intersectFrom(a, i + 1, b, j, memo));
  else
    result =
      i < a.length && j < b.length && a[i] === b[j] && intersectFrom(a, i + 1, b, j + 1, memo);
  memo.set(key, result);
  return result;
}

/**
 * True when every name matched by `inner` is matched by `outer` (sufficient test: `outer` matches `inner` read
 * literally, where a `*` of `inner` can only be matched by a `*` of `outer`).
 */
export function globCovers(outer: string, inner: string): boolean {
  return coverFrom(outer, 0, inner, 0, new Map());
}

function coverFrom(
  o: string,
  i: number,
  n: string,
  j: number,
  memo: Map<string, boolean>,
): boolean {
  const key = `${i},${j}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  let result: boolean;
  if (i === o.length) result = j === n.length;
  else if (o[i] === '*')
    result = coverFrom(o, i + 1, n, j, memo) || (j < n.length && coverFrom(o, i, n, j + 1, memo));
  else
    result = j < n.length && n[j] !== '*' && o[i] === n[j] && coverFrom(o, i + 1, n, j + 1, memo);
  memo.set(key, result);
  return result;
}
