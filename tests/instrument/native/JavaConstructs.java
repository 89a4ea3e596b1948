// The constructs a Java instrumenter must leave working: methods get try/finally bodies,
// constructors keep this(...)/super(...) first, initialisers and block lambdas are measured,
// classes and lambdas are named as javac names them (javap shows the same names). The output
// (stack trace line numbers included) is the same.
// expect-calls: JavaConstructs.<clinit>=1 JavaConstructs.main=1 JavaConstructs.JavaConstructs=3 JavaConstructs.<init>=2 JavaConstructs.total=1 JavaConstructs$Point.Point=3 JavaConstructs$Point.norm1=3 JavaConstructs$Shape$1.area=1 JavaConstructs$Shape.area=1 JavaConstructs$Shape.describe=2 JavaConstructs$Greeter.greet=1 JavaConstructs$Inner.value=1 JavaConstructs$2.compare=1 JavaConstructs$1Local.twice=1 JavaConstructs.lambda$main$1=3 JavaConstructs.fail=2 JavaConstructs.safe=2 JavaConstructs$Res.close=1 JavaConstructs$Res.Res=1 JavaConstructs.labeled=1 JavaConstructs.generic=2 JavaConstructs.lambda$static$0=1
// expect-exit: 3
// expect-unbalanced: 1
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.IntUnaryOperator;
import java.util.function.Supplier;

public class JavaConstructs {
  static final List<String> LOG = new ArrayList<>();
  static final Supplier<String> HELLO = () -> { return "hello"; };

  static {
    LOG.add("static init");
  }

  private final int base;

  {
    LOG.add("instance init");
  }

  JavaConstructs() {
    this(1);
  }

  JavaConstructs(int base) {
    super();
    this.base = base;
  }

  int total(int... xs) {
    int t = base;
    for (int x : xs) {
      t += x;
    }
    return t;
  }

  record Point(int x, int y) {
    Point {
      if (x < 0) {
        throw new IllegalArgumentException("negative x");
      }
    }

    int norm1() {
      return Math.abs(x) + Math.abs(y);
    }
  }

  enum Shape {
    SQUARE {
      @Override
      double area() {
        return 4.0;
      }
    },
    NONE;

    double area() {
      return 0.0;
    }

    String describe() {
      return name().toLowerCase() + " " + area();
    }
  }

  interface Greeter {
    default String greet(String who) {
      return "hi " + who;
    }
  }

  class Inner {
    int value() {
      return base * 10;
    }
  }

  static final class Res implements AutoCloseable {
    Res() {
      LOG.add("open");
    }

    @Override
    public void close() {
      LOG.add("close");
    }
  }

  static int fail(int x) {
    if (x > 0) {
      throw new IllegalStateException("fail " + x);
    }
    return x;
  }

  static String safe(int x) {
    try {
      return "ok " + fail(x);
    } catch (IllegalStateException e) {
      return e.getMessage() + " at line " + e.getStackTrace()[0].getLineNumber();
    }
  }

  static int labeled() {
    int n = 0;
    outer:
    for (int i = 0; i < 5; i++) {
      for (int j = 0; j < 5; j++) {
        if (j == 3) {
          continue outer;
        }
        if (i == 4) {
          break outer;
        }
        n++;
      }
    }
    return n;
  }

  static <T extends Comparable<T>> T generic(T a, T b) {
    return a.compareTo(b) >= 0 ? a : b;
  }

  public static void main(String[] args) {
    JavaConstructs c = new JavaConstructs();
    JavaConstructs d = new JavaConstructs(2);
    System.out.println(c.total(1, 2, 3) + " " + d.new Inner().value());
    System.out.println(new Point(1, -2).norm1() + new Point(3, 4).norm1() + new Point(0, 0).norm1());
    System.out.println(Shape.SQUARE.describe() + ", " + Shape.NONE.describe());
    System.out.println(new Greeter() {}.greet("you"));
    IntUnaryOperator sq = x -> {
      return x * x;
    };
    System.out.println(sq.applyAsInt(3) + sq.applyAsInt(4) + sq.applyAsInt(5));
    Comparator<String> byLength = new Comparator<String>() {
      @Override
      public int compare(String a, String b) {
        return Integer.compare(a.length(), b.length());
      }
    };
    System.out.println(byLength.compare("ab", "abc"));
    class Local {
      int twice(int x) {
        return 2 * x;
      }
    }
    System.out.println(new Local().twice(21));
    System.out.println(safe(0) + "; " + safe(7));
    try (Res r = new Res()) {
      LOG.add("body " + (r != null));
    }
    System.out.println(labeled() + " " + generic("a", "b") + " " + generic(3, 2));
    System.out.println(HELLO.get() + " " + LOG);
    System.out.flush();
    System.exit(3); // main's span stays open: closed at the end and counted
  }
}
