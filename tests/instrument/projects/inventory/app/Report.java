package app;

import java.util.List;
import java.util.Map;

/** Formats an inventory. */
final class Report {
  private final StringBuilder out = new StringBuilder();

  Report line(String text) {
    out.append(text).append('\n');
    return this;
  }

  static String money(long cents) {
    return String.format("%d.%02d", cents / 100, cents % 100);
  }

  String render(Inventory inv) {
    for (Map.Entry<String, List<Item>> e : inv.categories().entrySet()) {
      line(e.getKey() + ": " + e.getValue().size() + " items");
    }
    line("total " + money(inv.totalValue()));
    for (Item i : inv.mostValuable(2)) {
      line("top " + i.name() + " " + money(i.value()));
    }
    return out.toString();
  }
}
