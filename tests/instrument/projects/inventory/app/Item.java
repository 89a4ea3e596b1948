package app;

/** A stock item: a name, a unit price in cents and a quantity. */
public record Item(String name, long priceCents, int quantity) {
  public Item {
    if (priceCents < 0 || quantity < 0) {
      throw new IllegalArgumentException("negative price or quantity for " + name);
    }
  }

  public long value() {
    return priceCents * quantity;
  }
}
