package app;

/** inventory [SCALE]: builds a small inventory, prints a report. */
public class Main {
  public static void main(String[] args) {
    int scale = args.length > 0 ? Integer.parseInt(args[0]) : 1;
    Inventory inv = new Inventory();
    for (int k = 0; k < scale; k++) {
      inv.add("tools", new Item("hammer" + k, 1299, 3));
      inv.add("tools", new Item("saw" + k, 2450, 1));
      inv.add("garden", new Item("rake" + k, 999, 5));
    }
    try {
      inv.add("garden", new Item("broken", -1, 1));
    } catch (IllegalArgumentException e) {
      System.err.println("skipped: " + e.getMessage());
    }
    System.out.print(new Report().render(inv));
  }
}
