package io.slatestream.topology;

import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.ModelRelease;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.TrainingExample;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RankerBroadcast;
import io.slatestream.avro.state.ServedItem;
import io.slatestream.config.JobConfig;
import io.slatestream.functions.ItemStatsFunction;
import io.slatestream.functions.RankerFunction;
import io.slatestream.functions.SplitDeadLetters;
import io.slatestream.serde.AvroCodec;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.java.typeutils.EitherTypeInfo;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.types.Either;
import org.apache.flink.util.Collector;

/**
 * The whole job as one method: the real entry point and the tests both call {@link #define} with
 * their own sources and sinks, so the topology under test is the topology that runs.
 *
 * <pre>
 * interactions ─► decode+validate ──invalid──► dead-letters
 *                      ├───────────────────────────► keyBy(item): item stats ─┐
 *                                                    ▲ (impressions)          │
 * recommendations ─► decode+validate ─► served items ┘                        │
 *  (read back: the feedback loop)                                             │
 * items ─► decode+validate ───────────────────────────────────────────────────┴─► broadcast:
 * model-releases ─► decode+validate ───────────────────────────────────────────┘  catalog, stats,
 * slate-requests ─► decode+validate ─┐                                            model     │
 *          interactions ─────────────┴─► keyBy(user): ranker ◄──────────────────────────────┘
 *                                           ├─► recommendations ─► (read back, above)
 *                                           └─► training-examples (served vector + label)
 * </pre>
 *
 * <p><b>Why the served slates come back through Kafka.</b> An impression is an item the job
 * actually served, and the item statistics the ranker reads are computed upstream of the ranker.
 * A DataStream job is a directed acyclic graph (Flink 2.x has no iterations), so the only way for
 * the ranker's output to reach an operator before it is to leave the job and come back in: the
 * slates are read back from the recommendations topic, as any consumer reads them. This also makes
 * an impression mean "delivered": with exactly-once delivery the source reads committed slates
 * only. The loop adds one trip through Kafka (with exactly-once, up to one checkpoint interval) to
 * when an impression is counted; the decayed statistics are exact whatever the order, and the
 * source's idleness keeps a quiet topic from holding back event time.
 */
public final class SlatestreamTopology {
  private SlatestreamTopology() {}

  /** The job's inputs: each yields a decoded record or a dead letter per Kafka record. */
  public record Inputs(
      Source<Either<DeadLetter, Interaction>, ?, ?> interactions,
      Source<Either<DeadLetter, Item>, ?, ?> items,
      Source<Either<DeadLetter, SlateRequest>, ?, ?> slateRequests,
      Source<Either<DeadLetter, ModelRelease>, ?, ?> modelReleases,
      Source<Either<DeadLetter, Slate>, ?, ?> servedSlates) {}

  /** The job's outputs. */
  public record Outputs(
      Sink<Slate> recommendations, Sink<DeadLetter> deadLetters, Sink<TrainingExample> trainingExamples) {}

  /** What {@link #define} built, for callers that attach more (tests, later stages). */
  public record Streams(
      DataStream<Slate> slates, DataStream<DeadLetter> deadLetters, DataStream<TrainingExample> trainingExamples,
      DataStream<ItemStats> itemStats) {}

  public static Streams define(StreamExecutionEnvironment env, Inputs in, Outputs out, JobConfig config) {
    env.setMaxParallelism(config.maxParallelism);

    SingleOutputStreamOperator<Interaction> interactions = decoded(env, in.interactions(), Interaction.class,
        config.topicInteractions, Uids.SOURCE_INTERACTIONS, Uids.SPLIT_INTERACTIONS,
        EventTime.strategy(Interaction::getEventTimeMs, config.outOfOrderness, config.idleness),
        config.allowedLateness.toMillis());
    // The catalog is state, not a stream of facts in time: an item published long ago is as valid
    // as a new one, so lateness never applies to it.
    SingleOutputStreamOperator<Item> items = decoded(env, in.items(), Item.class,
        config.topicItems, Uids.SOURCE_ITEMS, Uids.SPLIT_ITEMS,
        EventTime.strategy(Item::getPublishedTimeMs, config.outOfOrderness, config.idleness),
        Long.MAX_VALUE);
    SingleOutputStreamOperator<SlateRequest> requests = decoded(env, in.slateRequests(), SlateRequest.class,
        config.topicSlateRequests, Uids.SOURCE_SLATE_REQUESTS, Uids.SPLIT_SLATE_REQUESTS,
        EventTime.strategy(SlateRequest::getEventTimeMs, config.outOfOrderness, config.idleness),
        Long.MAX_VALUE);

    // Releases are rare control records: their time is when they were made, and none is ever late.
    SingleOutputStreamOperator<ModelRelease> releases = decoded(env, in.modelReleases(), ModelRelease.class,
        config.topicModelReleases, Uids.SOURCE_MODEL_RELEASES, Uids.SPLIT_MODEL_RELEASES,
        EventTime.strategy(ModelRelease::getCreatedTimeMs, config.outOfOrderness, config.idleness),
        Long.MAX_VALUE);

    // Served slates read back: lateness never applies (an impression counted late is still exact),
    // and the topic's own idleness keeps a quiet loop from holding back event time.
    SingleOutputStreamOperator<Slate> served = decoded(env, in.servedSlates(), Slate.class,
        config.topicRecommendations, Uids.SOURCE_SERVED_SLATES, Uids.SPLIT_SERVED_SLATES,
        EventTime.strategy(Slate::getTriggerEventTimeMs, config.outOfOrderness, config.idleness),
        Long.MAX_VALUE);
    DataStream<ServedItem> impressions = served
        .flatMap((Slate s, Collector<ServedItem> each) -> s.getItems().forEach(
            i -> each.collect(new ServedItem(i.getItemId(), s.getSlateId(), s.getTriggerEventTimeMs()))))
        .returns(new AvroTypeInfo<>(ServedItem.class))
        .uid(Uids.SERVED_ITEMS)
        .name("served items");

    DataStream<ItemStats> itemStats = interactions
        .keyBy(Interaction::getItemId)
        .connect(impressions.keyBy(ServedItem::getItemId))
        .process(new ItemStatsFunction(config))
        .uid(Uids.ITEM_STATS)
        .name("item statistics")
        .returns(new AvroTypeInfo<>(ItemStats.class));

    TypeInformation<RankerBroadcast> broadcastType = new AvroTypeInfo<>(RankerBroadcast.class);
    BroadcastStream<RankerBroadcast> catalog = items
        .map(i -> new RankerBroadcast(i.getItemId(), i)).returns(broadcastType).name("catalog update")
        .union(itemStats
                // Statistics wait on the served-slates loop through Kafka. They are state, not time:
                // without this, every ranker timer (debounce, label windows) would wait a round trip
                // of the loop (a checkpoint interval with exactly-once delivery).
                .assignTimestampsAndWatermarks(EventTime.<ItemStats>notHoldingBack())
                .uid(Uids.STATS_EVENT_TIME)
                .name("stats: no event-time hold")
                .map(s -> new RankerBroadcast(s.getItemId(), s)).returns(broadcastType).name("stats update"),
            releases.map(r -> new RankerBroadcast(r.getVersion(), r)).returns(broadcastType).name("model release"))
        .broadcast(RankerFunction.CATALOG, RankerFunction.MODEL);

    TypeInformation<Either<Interaction, SlateRequest>> userInputType =
        new EitherTypeInfo<>(new AvroTypeInfo<>(Interaction.class), new AvroTypeInfo<>(SlateRequest.class));
    DataStream<Either<Interaction, SlateRequest>> userInput = interactions
        .map(i -> Either.<Interaction, SlateRequest>Left(i)).returns(userInputType).name("as user input")
        .union(requests.map(r -> Either.<Interaction, SlateRequest>Right(r)).returns(userInputType).name("as user input"));

    SingleOutputStreamOperator<Slate> slates = userInput
        .keyBy(e -> e.isLeft() ? e.left().getUserId() : e.right().getUserId())
        .connect(catalog)
        .process(new RankerFunction(config))
        .uid(Uids.RANKER)
        .name("ranker")
        .returns(new AvroTypeInfo<>(Slate.class));

    DataStream<DeadLetter> deadLetters = interactions.getSideOutput(SplitDeadLetters.DEAD_LETTERS)
        .union(items.getSideOutput(SplitDeadLetters.DEAD_LETTERS),
            requests.getSideOutput(SplitDeadLetters.DEAD_LETTERS),
            releases.getSideOutput(SplitDeadLetters.DEAD_LETTERS),
            served.getSideOutput(SplitDeadLetters.DEAD_LETTERS),
            slates.getSideOutput(RankerFunction.DEAD_LETTERS));

    DataStream<TrainingExample> examples = slates.getSideOutput(RankerFunction.TRAINING_EXAMPLES);

    slates.sinkTo(out.recommendations()).uid(Uids.SINK_RECOMMENDATIONS).name("recommendations");
    deadLetters.sinkTo(out.deadLetters()).uid(Uids.SINK_DEAD_LETTERS).name("dead-letters");
    examples.sinkTo(out.trainingExamples()).uid(Uids.SINK_TRAINING_EXAMPLES).name("training-examples");
    return new Streams(slates, deadLetters, examples, itemStats);
  }

  private static <T extends SpecificRecordBase> SingleOutputStreamOperator<T> decoded(
      StreamExecutionEnvironment env,
      Source<Either<DeadLetter, T>, ?, ?> source,
      Class<T> type,
      String topic,
      String sourceUid,
      String splitUid,
      org.apache.flink.api.common.eventtime.WatermarkStrategy<Either<DeadLetter, T>> watermarks,
      long allowedLatenessMs) {
    TypeInformation<Either<DeadLetter, T>> eitherType =
        new EitherTypeInfo<>(new AvroTypeInfo<>(DeadLetter.class), new AvroTypeInfo<>(type));
    return env.fromSource(source, watermarks, topic, eitherType)
        .uid(sourceUid)
        .process(new SplitDeadLetters<>(topic, AvroCodec.of(type), allowedLatenessMs))
        .uid(splitUid)
        .name("decode " + topic)
        .returns(new AvroTypeInfo<>(type));
  }
}
