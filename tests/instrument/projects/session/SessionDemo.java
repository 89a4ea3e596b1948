import codegreen.runtime.Session;

/** SessionDemo REPORT.json: the Java Session API, as a program uses it. */
public class SessionDemo {
  static long busy(int n) {
    long s = 0;
    for (int i = 0; i < n; i++) {
      s += (long) i * i % 7;
    }
    return s;
  }

  public static void main(String[] args) {
    try (Session s = new Session("demo").outputFile(args[0]).start()) {
      s.task("outer", () -> {
        try (Session.Task inner = s.task("inner")) {
          System.out.println("current " + inner.name() + " " + (busy(200000) > 0));
        }
      });
      System.out.println("after " + s.currentTask());
    }
    Session idle = new Session("idle");
    try {
      idle.stopTask();
    } catch (IllegalStateException e) {
      System.out.println("refused: " + e.getMessage());
    }
    try {
      new Session("").start();
    } catch (IllegalArgumentException e) {
      System.out.println("refused: " + e.getMessage());
    }
  }
}
