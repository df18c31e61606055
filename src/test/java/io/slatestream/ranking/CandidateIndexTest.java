package io.slatestream.ranking;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Item;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.ItemStats;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CandidateIndexTest {

  private static CatalogEntry entry(String id, String category, double likes, double skips) {
    Item item = Item.newBuilder().setItemId(id).setCategory(category).setCreatorId("c-" + id)
        .setDurationMs(1_000).setPublishedTimeMs(1).build();
    return new CatalogEntry(item, new ItemStats(id, 1L, likes + skips, likes, skips, 0.0));
  }

  /** Documented popularity: ln(2 + likes) · (likes + 1) / (likes + skips + quickSkips + 2). */
  private static double popularity(double likes, double skips) {
    return Math.log(2 + likes) * (likes + 1) / (likes + skips + 2);
  }

  private static List<String> global(CandidateIndex idx, int k) {
    List<String> out = new ArrayList<>();
    idx.topGlobal(k, c -> out.add(c.itemId()));
    return out;
  }

  private static List<String> inCategory(CandidateIndex idx, String category, int k) {
    List<String> out = new ArrayList<>();
    idx.topInCategory(category, k, c -> out.add(c.itemId()));
    return out;
  }

  @Test
  void ordersByPopularityThenItemId() {
    CandidateIndex idx = new CandidateIndex();
    idx.put("b", entry("b", "x", 5, 1));
    idx.put("a", entry("a", "y", 5, 1)); // same popularity as b: the id decides
    idx.put("c", entry("c", "x", 50, 0));
    idx.put("d", entry("d", "y", 0, 10));
    idx.put("e", new CatalogEntry(entry("e", "x", 0, 0).getItem(), null)); // no stats yet
    assertThat(global(idx, 10)).containsExactly("c", "a", "b", "e", "d");
    assertThat(global(idx, 2)).containsExactly("c", "a");
    assertThat(global(idx, 0)).isEmpty();
    assertThat(idx.get("c").popularity()).isEqualTo(popularity(50, 0));
    assertThat(idx.get("e").popularity()).isEqualTo(popularity(0, 0));
    assertThat(idx.get("a").category()).isEqualTo("y");
    assertThat(idx.get("a").creatorId()).isEqualTo("c-a");
  }

  @Test
  void topKPerCategory() {
    CandidateIndex idx = new CandidateIndex();
    for (int i = 0; i < 10; i++) {
      idx.put("x" + i, entry("x" + i, "x", i, 0));
      idx.put("y" + i, entry("y" + i, "y", 10 - i, 0));
    }
    assertThat(inCategory(idx, "x", 3)).containsExactly("x9", "x8", "x7");
    assertThat(inCategory(idx, "y", 3)).containsExactly("y0", "y1", "y2");
    assertThat(inCategory(idx, "y", 100)).hasSize(10);
    assertThat(inCategory(idx, "unknown", 3)).isEmpty();
    // y0 has 10 likes; x9 and y1 have 9 each (tie: by id); then x8 and y2 with 8.
    assertThat(global(idx, 5)).containsExactly("y0", "x9", "y1", "x8", "y2");
  }

  @Test
  void updatesMoveAnItemAndNeverDuplicateIt() {
    CandidateIndex idx = new CandidateIndex();
    idx.put("a", entry("a", "x", 1, 0));
    idx.put("b", entry("b", "x", 2, 0));
    assertThat(global(idx, 10)).containsExactly("b", "a");

    idx.put("a", entry("a", "x", 9, 0)); // more popular now
    assertThat(global(idx, 10)).containsExactly("a", "b");
    assertThat(inCategory(idx, "x", 10)).containsExactly("a", "b");
    assertThat(idx.size()).isEqualTo(2);

    idx.put("a", entry("a", "z", 9, 0)); // re-categorised
    assertThat(inCategory(idx, "x", 10)).containsExactly("b");
    assertThat(inCategory(idx, "z", 10)).containsExactly("a");
    assertThat(global(idx, 10)).containsExactly("a", "b");

    idx.put("b", entry("b", "z", 2, 0)); // the last item leaves x
    assertThat(inCategory(idx, "x", 10)).isEmpty();
    assertThat(inCategory(idx, "z", 10)).containsExactly("a", "b");
  }

  @Test
  void removalAndDeletionTakeAnItemOutEverywhere() {
    CandidateIndex idx = new CandidateIndex();
    idx.put("a", entry("a", "x", 1, 0));
    idx.put("b", entry("b", "x", 2, 0));
    idx.put("c", entry("c", "y", 3, 0));

    idx.remove("b");
    assertThat(global(idx, 10)).containsExactly("c", "a");
    assertThat(inCategory(idx, "x", 10)).containsExactly("a");
    assertThat(idx.get("b")).isNull();
    idx.remove("b"); // unknown: nothing happens
    idx.remove("never");
    assertThat(idx.size()).isEqualTo(2);

    CatalogEntry deleted = entry("a", "x", 1, 0);
    deleted.getItem().setDeleted(true);
    idx.put("a", deleted);
    assertThat(global(idx, 10)).containsExactly("c");
    assertThat(inCategory(idx, "x", 10)).isEmpty();

    // Statistics without a catalog record (deleted, or not yet published) are not a candidate.
    idx.put("c", new CatalogEntry(null, entry("c", "y", 3, 0).getStats()));
    idx.put("s", new CatalogEntry(null, entry("s", "y", 3, 0).getStats()));
    idx.put("n", null);
    assertThat(global(idx, 10)).isEmpty();
    assertThat(idx.size()).isZero();
  }

  private record Model(String category, double popularity) {}

  @Test
  void randomUpdatesAndRemovalsKeepEveryViewConsistentWithABruteForceModel() {
    Random r = new Random(99);
    CandidateIndex idx = new CandidateIndex();
    Map<String, Model> model = new HashMap<>();
    List<String> categories = List.of("a", "b", "c", "d");
    for (int step = 0; step < 2_000; step++) {
      String id = "item-" + r.nextInt(60);
      int op = r.nextInt(10);
      if (op < 7) {
        String cat = categories.get(r.nextInt(categories.size()));
        double likes = r.nextInt(6); // few distinct values: many ties
        double skips = r.nextInt(3);
        idx.put(id, entry(id, cat, likes, skips));
        model.put(id, new Model(cat, popularity(likes, skips)));
      } else if (op < 9) {
        idx.remove(id);
        model.remove(id);
      } else {
        CatalogEntry deleted = entry(id, "a", 1, 1);
        deleted.getItem().setDeleted(true);
        idx.put(id, deleted);
        model.remove(id);
      }
      if (step % 100 == 0 || step == 1_999) {
        assertMatchesModel(idx, model, categories);
      }
    }
  }

  private static void assertMatchesModel(CandidateIndex idx, Map<String, Model> model, List<String> categories) {
    Comparator<Map.Entry<String, Model>> order = Comparator
        .comparingDouble((Map.Entry<String, Model> e) -> -e.getValue().popularity())
        .thenComparing(Map.Entry::getKey);
    List<String> expected = model.entrySet().stream().sorted(order).map(Map.Entry::getKey).toList();
    assertThat(idx.size()).isEqualTo(model.size());
    assertThat(global(idx, Integer.MAX_VALUE)).containsExactlyElementsOf(expected);
    for (String cat : categories) {
      List<String> inCat = model.entrySet().stream().filter(e -> e.getValue().category().equals(cat))
          .sorted(order).map(Map.Entry::getKey).toList();
      assertThat(inCategory(idx, cat, Integer.MAX_VALUE)).as("category %s", cat).containsExactlyElementsOf(inCat);
      assertThat(inCategory(idx, cat, 3)).containsExactlyElementsOf(inCat.subList(0, Math.min(3, inCat.size())));
    }
  }

  private static CatalogEntry published(String id, long publishedMs) {
    CatalogEntry e = entry(id, "x", 1, 0);
    e.getItem().setPublishedTimeMs(publishedMs);
    return e;
  }

  private static List<String> freshest(CandidateIndex idx, int k, long notBeforeMs) {
    List<String> out = new ArrayList<>();
    idx.freshest(k, notBeforeMs, c -> out.add(c.itemId()));
    return out;
  }

  @Test
  void theFreshPoolIsTheNewestKWithinTheMaximumAgeAndFollowsTheCatalog() {
    CandidateIndex idx = new CandidateIndex();
    idx.put("old", published("old", 100));
    idx.put("b", published("b", 900));
    idx.put("a", published("a", 900)); // same time as b: the id decides
    idx.put("new", published("new", 1_000));
    idx.put("mid", published("mid", 500));
    assertThat(freshest(idx, 10, Long.MIN_VALUE)).containsExactly("new", "a", "b", "mid", "old");
    assertThat(freshest(idx, 2, Long.MIN_VALUE)).containsExactly("new", "a");
    List<String> any = new ArrayList<>();
    idx.freshest(3, c -> any.add(c.itemId()));
    assertThat(any).containsExactly("new", "a", "b");
    // However few items are newer, an item published before the cut-off is not fresh.
    assertThat(freshest(idx, 10, 500)).containsExactly("new", "a", "b", "mid");
    assertThat(freshest(idx, 10, 901)).containsExactly("new");
    assertThat(freshest(idx, 10, 2_000)).isEmpty();
    // A catalog update moves an item (republished), a deletion takes it out, a stats update keeps it.
    idx.put("old", published("old", 1_100));
    idx.remove("new");
    idx.put("a", new CatalogEntry(published("a", 900).getItem(), new ItemStats("a", 1L, 50.0, 40.0, 0.0, 0.0)));
    assertThat(freshest(idx, 10, 500)).containsExactly("old", "a", "b", "mid");
  }

  @Test
  void aWalkOfTheFreshPoolStopsWhereTheVisitorSays() {
    CandidateIndex idx = new CandidateIndex();
    for (int i = 0; i < 10; i++) {
      idx.put("i" + i, published("i" + i, 1_000 + i));
    }
    List<String> visited = new ArrayList<>();
    idx.freshestWhile(8, Long.MIN_VALUE, c -> {
      visited.add(c.itemId());
      return !c.itemId().equals("i6");
    });
    assertThat(visited).containsExactly("i9", "i8", "i7", "i6");
    visited.clear();
    idx.freshestWhile(3, Long.MIN_VALUE, c -> visited.add(c.itemId()));
    assertThat(visited).containsExactly("i9", "i8", "i7");
  }

  @Test
  void theOrderDoesNotDependOnInsertionOrder() {
    List<CatalogEntry> entries = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      entries.add(entry(String.format("i%02d", i), i % 2 == 0 ? "x" : "y", i % 4, i % 3));
    }
    List<String> reference = null;
    for (long seed = 0; seed < 5; seed++) {
      List<CatalogEntry> shuffled = new ArrayList<>(entries);
      Collections.shuffle(shuffled, new Random(seed));
      CandidateIndex idx = new CandidateIndex();
      shuffled.forEach(e -> idx.put(e.getItem().getItemId(), e));
      List<String> order = global(idx, 100);
      if (reference == null) {
        reference = order;
      }
      assertThat(order).hasSize(40).isEqualTo(reference);
      assertThat(inCategory(idx, "x", 100)).isEqualTo(reference.stream().filter(id -> Integer.parseInt(id.substring(1)) % 2 == 0).toList());
    }
  }
}
