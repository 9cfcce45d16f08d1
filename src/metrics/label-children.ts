/**
 * One value per pair of label values, made on first use: prom-client validates and hashes a label set
 * each time `labels()` or `inc({...})` is called, so hot paths keep the labelled child it returns.
 * The number of pairs is bounded by the caller (the labels it chooses are).
 */
export class LabelChildren<T> {
  private readonly byFirst = new Map<string, Map<string, T>>();

  constructor(private readonly make: (first: string, second: string) => T) {}

  get(first: string, second: string): T {
    let bySecond = this.byFirst.get(first);
    if (bySecond === undefined) this.byFirst.set(first, (bySecond = new Map()));
    let child = bySecond.get(second);
    if (child === undefined) bySecond.set(second, (child = this.make(first, second)));
    return child;
  }
}
