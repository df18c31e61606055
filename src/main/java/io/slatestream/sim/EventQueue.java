package io.slatestream.sim;

/**
 * The simulator's schedule: one pending time per entity (each user, the catalog's arrivals, the
 * garbage source), in a primitive binary min-heap ordered by time, then entity id, so that equal
 * times always run in the same order.
 */
final class EventQueue {
  private final long[] time;
  private final int[] id;
  private int size;

  EventQueue(int capacity) {
    time = new long[capacity];
    id = new int[capacity];
  }

  void add(int entity, long atMs) {
    int i = size++;
    time[i] = atMs;
    id[i] = entity;
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      if (!less(i, parent)) {
        break;
      }
      swap(i, parent);
      i = parent;
    }
  }

  long peekTime() {
    return size == 0 ? Long.MAX_VALUE : time[0];
  }

  int peekId() {
    return id[0];
  }

  /** Reschedules the entity at the top to {@code atMs}. */
  void replaceTop(long atMs) {
    time[0] = atMs;
    int i = 0;
    while (true) {
      int l = 2 * i + 1;
      if (l >= size) {
        return;
      }
      int m = l + 1 < size && less(l + 1, l) ? l + 1 : l;
      if (!less(m, i)) {
        return;
      }
      swap(i, m);
      i = m;
    }
  }

  private boolean less(int a, int b) {
    return time[a] < time[b] || (time[a] == time[b] && id[a] < id[b]);
  }

  private void swap(int a, int b) {
    long t = time[a];
    time[a] = time[b];
    time[b] = t;
    int x = id[a];
    id[a] = id[b];
    id[b] = x;
  }
}
