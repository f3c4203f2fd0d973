/**
 * The guard a value from across a boundary passes before any schema looks at it: only what JSON or a structured
 * clone of plain data yields (no class instances, inherited fields, prototype-pollution keys, functions or symbols),
 * no deeper than `depth`, and no more than `values` values in all.
 *
 * The work is bounded before it is done: every value visited counts against the budget, an array or object whose
 * length alone exceeds what is left is refused without looking inside, and a structure that shares references
 * (one object reachable along many paths) is counted once per path, so it runs out of budget instead of being
 * walked exponentially.
 */

interface PlainDataBounds {
  /** The deepest nesting of objects and arrays allowed (the top-level value is at depth 0). */
  depth: number;
  /** How many values may be visited in all. */
  values: number;
}

const forbiddenKeys = new Set(["__proto__", "constructor", "prototype"]);

/** What is wrong with `value` as plain data within `bounds`, or undefined when nothing is. May throw (a trapping proxy). */
export function plainDataProblem(value: unknown, bounds: PlainDataBounds): string | undefined {
  let left = bounds.values;
  const tooMany = `more than ${bounds.values} values`;

  const visit = (item: unknown, depth: number): string | undefined => {
    left -= 1;
    if (left < 0) return tooMany;
    if (item === null) return undefined;
    switch (typeof item) {
      case "string":
      case "number":
      case "boolean":
        return undefined;
      case "object":
        break;
      default:
        return `a ${typeof item} is not plain data`;
    }
    if (depth > bounds.depth) return "nested too deeply";
    const proto: unknown = Object.getPrototypeOf(item);
    if (Array.isArray(item)) {
      if (proto !== Array.prototype) return "an array with a foreign prototype";
      if (item.length > left) return tooMany;
      for (const element of item) {
        const problem = visit(element, depth + 1);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    if (proto !== Object.prototype && proto !== null) return "not a plain object";
    const keys = Reflect.ownKeys(item);
    if (keys.length > left) return tooMany;
    for (const key of keys) {
      if (typeof key !== "string") return "a symbol key";
      if (forbiddenKeys.has(key)) return `forbidden key "${key}"`;
      const problem = visit((item as Record<string, unknown>)[key], depth + 1);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };

  return visit(value, 0);
}
