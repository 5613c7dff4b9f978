// A first-in first-out queue with an O(1) shift. `Array.prototype.shift` copies every element of a
// short array (V8 moves the start of the backing store only for long ones): a busy session drops its
// oldest finished stream on every request, from a queue 100 long.

export class Queue<T> {
  private items: (T | undefined)[] = [];
  /** Index of the first live item; the slots before it are empty. */
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Moved down once the empty slots are as many as the live ones: one copy per `length` shifts.
    if (this.head >= 16 && this.head * 2 >= this.items.length) {
      this.items.copyWithin(0, this.head);
      this.items.length -= this.head;
      this.head = 0;
    }
    return item;
  }

  /** Takes `item` out from wherever it is; false when it is not queued. */
  remove(item: T): boolean {
    const at = this.items.indexOf(item, this.head);
    if (at < 0) return false;
    this.items.splice(at, 1);
    return true;
  }
}
