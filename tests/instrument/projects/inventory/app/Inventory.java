package app;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Items by category. */
public final class Inventory {
  private final Map<String, List<Item>> byCategory = new TreeMap<>();

  public void add(String category, Item item) {
    byCategory.computeIfAbsent(category, k -> new ArrayList<>()).add(item);
  }

  public long totalValue() {
    long total = 0;
    for (List<Item> items : byCategory.values()) {
      for (Item i : items) {
        total += i.value();
      }
    }
    return total;
  }

  public List<Item> mostValuable(int n) {
    List<Item> all = new ArrayList<>();
    byCategory.values().forEach(all::addAll);
    all.sort(Comparator.comparingLong(Item::value).reversed().thenComparing(Item::name));
    return all.subList(0, Math.min(n, all.size()));
  }

  public Map<String, List<Item>> categories() {
    return byCategory;
  }
}
