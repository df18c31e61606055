package io.slatestream.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.slatestream.avro.Context;
import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.SlateTrigger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.api.java.typeutils.EitherTypeInfo;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.types.Either;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * Every Kafka record becomes a valid record or a dead letter that carries the original bytes and
 * where they came from; nothing throws. Records go through {@link DecodingDeserializer#deserialize},
 * the method the Kafka source calls.
 */
class DecodingDeserializerTest {

  private static final Duration SKEW = Duration.ofHours(1);
  private static final String TOPIC = "interactions";
  private static final int PARTITION = 3;
  private static final long OFFSET = 4_242L;
  private static final byte[] KEY = "user-1".getBytes(StandardCharsets.UTF_8);

  private final AvroCodec<Interaction> interactionCodec = AvroCodec.of(Interaction.class);
  private final DecodingDeserializer<Interaction> interactions =
      new DecodingDeserializer<>(interactionCodec, Validation.interactions(SKEW), null);

  /** The catalog's tombstone handler: the key names the deleted item. */
  private static final DecodingDeserializer.TombstoneHandler<Item> DELETE_ITEM = key ->
      Item.newBuilder().setItemId(new String(key, StandardCharsets.UTF_8)).setCategory("").setCreatorId("")
          .setDurationMs(0).setPublishedTimeMs(1).setDeleted(true).build();

  private final DecodingDeserializer<Item> items =
      new DecodingDeserializer<>(AvroCodec.of(Item.class), Validation.items(SKEW), DELETE_ITEM);

  private static Interaction.Builder validInteraction() {
    return Interaction.newBuilder()
        .setEventId("e1")
        .setUserId("user-1")
        .setItemId("item-1")
        .setType(InteractionType.SKIP)
        .setWatchTimeMs(1_500)
        .setEventTimeMs(System.currentTimeMillis() - 60_000)
        .setSlateId("slate-9")
        .setPosition(2)
        .setContext(new Context("ios", "home"));
  }

  private static <T> Either<DeadLetter, T> deserialize(
      DecodingDeserializer<? extends SpecificRecordBase> d, String topic, byte[] key, byte[] value) throws Exception {
    List<Either<DeadLetter, T>> out = new ArrayList<>();
    @SuppressWarnings({"unchecked", "rawtypes"})
    DecodingDeserializer<SpecificRecordBase> raw = (DecodingDeserializer) d;
    @SuppressWarnings({"unchecked", "rawtypes"})
    ListCollector<Either<DeadLetter, SpecificRecordBase>> collector = new ListCollector(out);
    raw.deserialize(new ConsumerRecord<>(topic, PARTITION, OFFSET, key, value), collector);
    assertThat(out).as("one output per Kafka record").hasSize(1);
    return out.get(0);
  }

  private Either<DeadLetter, Interaction> interaction(byte[] value) throws Exception {
    return deserialize(interactions, TOPIC, KEY, value);
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  /** Asserts a dead letter that keeps the original record and where it came from. */
  private static DeadLetter assertDeadLetter(Either<DeadLetter, ?> result, String topic, byte[] key, byte[] value) {
    assertThat(result.isLeft()).as("dead letter expected, got %s", result).isTrue();
    DeadLetter d = result.left();
    assertThat(d.getSourceTopic()).isEqualTo(topic);
    assertThat(d.getPartition()).isEqualTo(PARTITION);
    assertThat(d.getOffset()).isEqualTo(OFFSET);
    if (key == null) {
      assertThat(d.getKey()).isNull();
    } else {
      assertThat(bytes(d.getKey())).isEqualTo(key);
    }
    if (value == null) {
      assertThat(d.getValue()).isNull();
    } else {
      assertThat(bytes(d.getValue())).isEqualTo(value);
    }
    assertThat(d.getError()).isNotBlank();
    assertThat(d.getTimeMs()).isCloseTo(System.currentTimeMillis(), within(60_000L));
    return d;
  }

  @Test
  void validRecordsRoundTripThroughTheCodec() throws Exception {
    Interaction i = validInteraction().build();
    byte[] encoded = interactionCodec.encode(i);
    // Avro single-object encoding: marker C3 01, then the 8-byte schema fingerprint, then the body.
    assertThat(Arrays.copyOf(encoded, 2)).containsExactly((byte) 0xC3, (byte) 0x01);
    assertThat(interactionCodec.decode(encoded)).isEqualTo(i);
    Either<DeadLetter, Interaction> decoded = interaction(encoded);
    assertThat(decoded.isRight()).as("%s", decoded).isTrue();
    assertThat(decoded.right()).isEqualTo(i);

    Item item = Item.newBuilder().setItemId("item-1").setCategory("music").setCreatorId("ann")
        .setDurationMs(30_000).setPublishedTimeMs(System.currentTimeMillis() - 86_400_000L)
        .setTags(List.of("live", "jazz")).build();
    byte[] itemBytes = AvroCodec.of(Item.class).encode(item);
    Either<DeadLetter, Item> decodedItem = deserialize(items, "items", "item-1".getBytes(StandardCharsets.UTF_8), itemBytes);
    assertThat(decodedItem.isRight()).as("%s", decodedItem).isTrue();
    assertThat(decodedItem.right()).isEqualTo(item);

    SlateRequest request = SlateRequest.newBuilder().setRequestId("r1").setUserId("user-1").setSlateSize(0)
        .setEventTimeMs(System.currentTimeMillis()).setContext(new Context("web", "feed"))
        .setCandidateItemIds(List.of("a", "b")).build();
    AvroCodec<SlateRequest> requestCodec = AvroCodec.of(SlateRequest.class);
    DecodingDeserializer<SlateRequest> requests =
        new DecodingDeserializer<>(requestCodec, Validation.slateRequests(SKEW, 3), null);
    Either<DeadLetter, SlateRequest> decodedRequest = deserialize(requests, "slate-requests", KEY, requestCodec.encode(request));
    assertThat(decodedRequest.isRight()).as("%s", decodedRequest).isTrue();
    assertThat(decodedRequest.right()).isEqualTo(request);
  }

  @Test
  void randomBytesBecomeADeadLetterWithTheOriginalBytes() throws Exception {
    byte[] garbage = new byte[64];
    new Random(42).nextBytes(garbage);
    garbage[0] = 0x7F; // never the single-object marker
    DeadLetter d = assertDeadLetter(interaction(garbage), TOPIC, KEY, garbage);
    assertThat(d.getError()).startsWith("undecodable:");
  }

  @Test
  void anEmptyValueBecomesADeadLetter() throws Exception {
    byte[] empty = new byte[0];
    DeadLetter d = assertDeadLetter(interaction(empty), TOPIC, KEY, empty);
    assertThat(d.getError()).startsWith("undecodable:");
  }

  @Test
  void aValidHeaderWithATruncatedBodyBecomesADeadLetter() throws Exception {
    byte[] full = interactionCodec.encode(validInteraction().build());
    for (int len : new int[] {2, 10, 12, full.length / 2, full.length - 1}) {
      byte[] truncated = Arrays.copyOf(full, len);
      DeadLetter d = assertDeadLetter(interaction(truncated), TOPIC, KEY, truncated);
      assertThat(d.getError()).as("truncated to %d of %d bytes", len, full.length).startsWith("undecodable:");
    }
  }

  @Test
  void aLengthPrefixFarBeyondTheBodyBecomesADeadLetter() throws Exception {
    byte[] full = interactionCodec.encode(validInteraction().build());
    byte[] corrupt = full.clone();
    // The eventId length right after the 10-byte header: zig-zag varint 0x7FFFFFFF = about 1 GiB.
    byte[] huge = {(byte) 0xFE, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x0F};
    System.arraycopy(huge, 0, corrupt, 10, huge.length);
    DeadLetter d = assertDeadLetter(interaction(corrupt), TOPIC, KEY, corrupt);
    assertThat(d.getError()).startsWith("undecodable:");
  }

  @Test
  void anUnknownEnumIndexBecomesADeadLetterNotAnException() throws Exception {
    Interaction i = validInteraction().setEventId("e1").setUserId("user-1").setItemId("item-1")
        .setType(InteractionType.SKIP).build();
    byte[] bytes = interactionCodec.encode(i);
    // Header (10 bytes), then three strings, each a zig-zag varint length (2·len, one byte for
    // short strings) and the bytes; then the enum index of `type`.
    int pos = 10;
    for (String s : List.of("e1", "user-1", "item-1")) {
      assertThat(bytes[pos]).as("length of %s", s).isEqualTo((byte) (2 * s.length()));
      pos += 1 + s.length();
    }
    assertThat(bytes[pos]).as("SKIP is index 1, zig-zag 2").isEqualTo((byte) 2);
    byte[] corrupt = bytes.clone();
    corrupt[pos] = 14; // index 7: InteractionType has only LIKE and SKIP
    DeadLetter d = assertDeadLetter(interaction(corrupt), TOPIC, KEY, corrupt);
    assertThat(d.getError()).startsWith("undecodable:");
  }

  @Test
  void aBlankOrEmptyUserIdIsInvalid() throws Exception {
    for (String userId : List.of("", "   ")) {
      byte[] bytes = interactionCodec.encode(validInteraction().setUserId(userId).build());
      DeadLetter d = assertDeadLetter(interaction(bytes), TOPIC, KEY, bytes);
      assertThat(d.getError()).isEqualTo("invalid: missing userId");
    }
    byte[] noEventId = interactionCodec.encode(validInteraction().setEventId("").build());
    assertThat(assertDeadLetter(interaction(noEventId), TOPIC, KEY, noEventId).getError())
        .isEqualTo("invalid: missing eventId");
  }

  @Test
  void aNegativeWatchTimeIsInvalid() throws Exception {
    byte[] bytes = interactionCodec.encode(validInteraction().setWatchTimeMs(-1).build());
    DeadLetter d = assertDeadLetter(interaction(bytes), TOPIC, KEY, bytes);
    assertThat(d.getError()).startsWith("invalid:").contains("watchTimeMs").contains("-1");
    // Zero is a valid watch time.
    assertThat(interaction(interactionCodec.encode(validInteraction().setWatchTimeMs(0).build())).isRight()).isTrue();
  }

  @Test
  void anEventTimeFarAheadOfTheWallClockIsInvalid() throws Exception {
    long now = System.currentTimeMillis();
    byte[] future = interactionCodec.encode(validInteraction().setEventTimeMs(now + Duration.ofDays(10).toMillis()).build());
    DeadLetter d = assertDeadLetter(interaction(future), TOPIC, KEY, future);
    assertThat(d.getError()).startsWith("invalid:").contains("eventTimeMs").contains("ahead of the wall clock");

    // Within the allowed skew it is accepted; zero or negative is not a timestamp.
    assertThat(interaction(interactionCodec.encode(validInteraction().setEventTimeMs(now + 30 * 60_000L).build())).isRight())
        .isTrue();
    byte[] zero = interactionCodec.encode(validInteraction().setEventTimeMs(0).build());
    assertThat(assertDeadLetter(interaction(zero), TOPIC, KEY, zero).getError()).contains("eventTimeMs");
  }

  @Test
  void theEncodingIsExactlyHeaderPlusAvroBinaryBody() throws Exception {
    Interaction i = validInteraction().build();
    java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
    org.apache.avro.io.BinaryEncoder enc = org.apache.avro.io.EncoderFactory.get().binaryEncoder(body, null);
    new org.apache.avro.specific.SpecificDatumWriter<Interaction>(Interaction.getClassSchema()).write(i, enc);
    enc.flush();
    byte[] encoded = interactionCodec.encode(i);
    // No trailing buffer space: dead letters of re-encoded records carry exactly the record.
    assertThat(encoded).hasSize(10 + body.size());
    assertThat(Arrays.copyOfRange(encoded, 10, encoded.length)).isEqualTo(body.toByteArray());
  }

  @Test
  void negativePositionsAndSlateSizesAreInvalid() throws Exception {
    byte[] position = interactionCodec.encode(validInteraction().setPosition(-1).build());
    assertThat(assertDeadLetter(interaction(position), TOPIC, KEY, position).getError()).contains("position");
    AvroCodec<SlateRequest> codec = AvroCodec.of(SlateRequest.class);
    DecodingDeserializer<SlateRequest> requests = new DecodingDeserializer<>(codec, Validation.slateRequests(SKEW, 3), null);
    byte[] negative = codec.encode(SlateRequest.newBuilder().setRequestId("r").setUserId("u").setSlateSize(-1)
        .setEventTimeMs(System.currentTimeMillis()).build());
    assertThat(assertDeadLetter(deserialize(requests, "slate-requests", KEY, negative), "slate-requests", KEY, negative)
        .getError()).contains("slateSize");
  }

  @Test
  void aRequestSupplyingMoreCandidatesThanAllowedIsDeadLettered() throws Exception {
    AvroCodec<SlateRequest> codec = AvroCodec.of(SlateRequest.class);
    DecodingDeserializer<SlateRequest> requests = new DecodingDeserializer<>(codec, Validation.slateRequests(SKEW, 3), null);
    SlateRequest.Builder r = SlateRequest.newBuilder().setRequestId("r").setUserId("u").setSlateSize(5)
        .setEventTimeMs(System.currentTimeMillis());
    byte[] three = codec.encode(r.setCandidateItemIds(java.util.List.of("a", "b", "c")).build());
    assertThat(deserialize(requests, "slate-requests", KEY, three).isRight()).isTrue();
    byte[] four = codec.encode(r.setCandidateItemIds(java.util.List.of("a", "b", "c", "d")).build());
    assertThat(assertDeadLetter(deserialize(requests, "slate-requests", KEY, four), "slate-requests", KEY, four)
        .getError()).contains("4 candidateItemIds").contains("slate.max-request-candidates");
  }

  @Test
  void aServedSlateReadBackNeedsItsIdsAndATriggerTime() throws Exception {
    AvroCodec<Slate> codec = AvroCodec.of(Slate.class);
    DecodingDeserializer<Slate> slates = new DecodingDeserializer<>(codec, Validation.servedSlates(SKEW), null);
    Slate.Builder s = Slate.newBuilder().setSlateId("s1").setUserId("u").setTrigger(SlateTrigger.REQUEST)
        .setItems(List.of(new SlateItem("item-1", 0.5, 0, CandidateSource.FRESH))).setModelVersion("m")
        .setGeneratedAtMs(System.currentTimeMillis()).setTriggerEventTimeMs(System.currentTimeMillis() - 1_000);
    byte[] valid = codec.encode(s.build());
    Either<DeadLetter, Slate> ok = deserialize(slates, "recommendations", KEY, valid);
    assertThat(ok.right().getItems()).hasSize(1);
    byte[] blankItem = codec.encode(Slate.newBuilder(s.build())
        .setItems(List.of(new SlateItem("item-1", 0.5, 0, CandidateSource.FRESH), new SlateItem(" ", 0.4, 1, CandidateSource.FRESH)))
        .build());
    assertThat(assertDeadLetter(deserialize(slates, "recommendations", KEY, blankItem), "recommendations", KEY, blankItem)
        .getError()).isEqualTo("invalid: missing itemId of the item at rank 1");
    byte[] noTime = codec.encode(Slate.newBuilder(s.build()).setTriggerEventTimeMs(0).build());
    assertThat(assertDeadLetter(deserialize(slates, "recommendations", KEY, noTime), "recommendations", KEY, noTime)
        .getError()).contains("triggerEventTimeMs");
    byte[] noUser = codec.encode(Slate.newBuilder(s.build()).setUserId("").build());
    assertThat(assertDeadLetter(deserialize(slates, "recommendations", KEY, noUser), "recommendations", KEY, noUser)
        .getError()).isEqualTo("invalid: missing userId");
  }

  @Test
  void aValidatorThatThrowsYieldsADeadLetter() throws Exception {
    DecodingDeserializer<Interaction> d = new DecodingDeserializer<>(interactionCodec, (r, now) -> {
      throw new IllegalStateException("boom");
    }, null);
    byte[] bytes = interactionCodec.encode(validInteraction().build());
    DeadLetter dead = assertDeadLetter(deserialize(d, TOPIC, KEY, bytes), TOPIC, KEY, bytes);
    assertThat(dead.getError()).isEqualTo("invalid: IllegalStateException: boom");
  }

  @Test
  void anItemTombstoneBecomesADeletedItem() throws Exception {
    byte[] key = "item-7".getBytes(StandardCharsets.UTF_8);
    Either<DeadLetter, Item> result = deserialize(items, "items", key, null);
    assertThat(result.isRight()).as("%s", result).isTrue();
    assertThat(result.right().getItemId()).isEqualTo("item-7");
    assertThat(result.right().getDeleted()).isTrue();

    // A tombstone without a key names no item.
    DeadLetter d = assertDeadLetter(deserialize(items, "items", null, null), "items", null, null);
    assertThat(d.getError()).contains("tombstone");
  }

  @Test
  void aTombstoneOnATopicWithoutATombstoneHandlerIsADeadLetter() throws Exception {
    DeadLetter d = assertDeadLetter(interaction(null), TOPIC, KEY, null);
    assertThat(d.getError()).startsWith("invalid:").contains("tombstone");
  }

  @Test
  void aDeletedItemNeedsOnlyItsIdButALiveItemNeedsItsFields() throws Exception {
    AvroCodec<Item> codec = AvroCodec.of(Item.class);
    byte[] deleted = codec.encode(Item.newBuilder().setItemId("item-8").setCategory("").setCreatorId("")
        .setDurationMs(0).setPublishedTimeMs(1).setDeleted(true).build());
    assertThat(deserialize(items, "items", null, deleted).isRight()).isTrue();

    byte[] noCategory = codec.encode(Item.newBuilder().setItemId("item-8").setCategory(" ").setCreatorId("ann")
        .setDurationMs(0).setPublishedTimeMs(System.currentTimeMillis()).build());
    assertThat(assertDeadLetter(deserialize(items, "items", null, noCategory), "items", null, noCategory).getError())
        .isEqualTo("invalid: missing category");
  }

  @Test
  void theProducedTypeIsAnEitherOfAvroTypes() {
    TypeInformation<Either<DeadLetter, Interaction>> type = interactions.getProducedType();
    assertThat(type).isInstanceOf(EitherTypeInfo.class);
    EitherTypeInfo<DeadLetter, Interaction> either = (EitherTypeInfo<DeadLetter, Interaction>) type;
    assertThat(either.getLeftType()).isInstanceOf(AvroTypeInfo.class);
    assertThat(either.getLeftType().getTypeClass()).isEqualTo(DeadLetter.class);
    assertThat(either.getRightType()).isInstanceOf(AvroTypeInfo.class);
    assertThat(either.getRightType().getTypeClass()).isEqualTo(Interaction.class);
    assertThat(items.getProducedType()).isEqualTo(
        new EitherTypeInfo<>(new AvroTypeInfo<>(DeadLetter.class), new AvroTypeInfo<>(Item.class)));
  }
}
