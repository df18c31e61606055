package io.slatestream.state;

import java.util.Collection;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;

/**
 * The one RocksDB option the job's cluster sets that Flink's configuration has no key for:
 * {@code atomic_flush}. Named in {@code state.backend.rocksdb.options-factory}
 * (flink-conf/config.yaml); every other RocksDB setting comes from Flink's own options, which Flink
 * applies before this factory.
 *
 * <p>Why: Flink's RocksDB checkpoint is a native RocksDB checkpoint, whose synchronous part (on the
 * task thread, while no record is processed) flushes every column family's memtable, since Flink
 * writes no write-ahead log. Without atomic flush RocksDB flushes the states one after the other,
 * and the task thread waits for each flush and issues the next: on a busy machine the waits
 * between them were as long as the flushes (the load harness's {@code --diagnose}, README
 * Performance). With atomic flush all states go in one background job and the task waits once.
 * The states' files are the same; the flush is one unit, which is also what RocksDB recommends
 * when, as here, there is no write-ahead log.
 */
public final class AtomicFlushOptions implements RocksDBOptionsFactory {
  private static final long serialVersionUID = 1L;

  @Override
  public DBOptions createDBOptions(DBOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
    return currentOptions.setAtomicFlush(true);
  }

  @Override
  public ColumnFamilyOptions createColumnOptions(ColumnFamilyOptions currentOptions,
      Collection<AutoCloseable> handlesToClose) {
    return currentOptions;
  }
}
