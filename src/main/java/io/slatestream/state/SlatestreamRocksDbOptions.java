package io.slatestream.state;

import java.util.Collection;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.Priority;

/**
 * The RocksDB options the job's cluster sets that Flink's configuration has no key for. Named in
 * {@code state.backend.rocksdb.options-factory} (flink-conf/config.yaml); every other RocksDB
 * setting comes from Flink's own options, which Flink applies before this factory.
 *
 * <p><b>{@code atomic_flush}.</b> Flink's RocksDB checkpoint is a native RocksDB checkpoint, whose
 * synchronous part (on the task thread, while no record is processed) flushes every column
 * family's memtable, since Flink writes no write-ahead log. Without atomic flush RocksDB flushes
 * the states one after the other, and the task thread waits for each flush and issues the next: on
 * a busy machine the waits between them were as long as the flushes (the load harness's
 * {@code --diagnose}, README Performance). With atomic flush all states go in one background job
 * and the task waits once. The states' files are the same; the flush is one unit, which is also
 * what RocksDB recommends when, as here, there is no write-ahead log.
 *
 * <p><b>Compactions at the lowest CPU priority</b> (nice 19 for RocksDB's low-priority pool, the
 * compaction threads, of the process-wide environment; lowering a thread's priority needs no
 * privilege). Nothing waits for a compaction, but a burst of it took the cores from the task
 * threads: with 2 MB memtables compactions run every few seconds, and in paired load-harness runs
 * the request-to-slate p99 fell from 114-588 ms to 49-110 ms with this (README Performance).
 * Flushes, which a checkpoint waits for, run in the high-priority pool and keep their priority.
 * Should the cores stay saturated, level 0 grows until RocksDB slows writes, as it would without.
 */
public final class SlatestreamRocksDbOptions implements RocksDBOptionsFactory {
  private static final long serialVersionUID = 1L;

  @Override
  public DBOptions createDBOptions(DBOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
    currentOptions.getEnv().lowerThreadPoolCPUPriority(Priority.LOW);
    return currentOptions.setAtomicFlush(true);
  }

  @Override
  public ColumnFamilyOptions createColumnOptions(ColumnFamilyOptions currentOptions,
      Collection<AutoCloseable> handlesToClose) {
    return currentOptions;
  }
}
