package codegreen.runtime;

/**
 * What instrumented Java code calls ({@code codegreen measure java} puts it on the class path).
 *
 * <p>The reference's checkpoint form, over the C library's checkpoint API:
 *
 * <pre>
 *   CodeGreenRuntime.checkpoint(checkpointId, name, "enter" | "exit");
 *   CodeGreenRuntime.measureCheckpoint(checkpointId, checkpointType, name, line, context);
 * </pre>
 *
 * and the fast path the instrumenter writes, which passes a number instead of strings:
 *
 * <pre>
 *   int id = CodeGreenRuntime.register(name, context, line);   // once per method
 *   CodeGreenRuntime.enter(id); try { BODY } finally { CodeGreenRuntime.exit(id); }
 * </pre>
 *
 * <p>The session begins when this class is initialised (non-exclusive, so a {@link Session} of
 * the program's own runs beside it) and ends in a shutdown hook, which writes the report to
 * {@code $CODEGREEN_RESULT_FILE} when that is set (the CLI's way: nothing is printed), else to
 * codegreen_&lt;pid&gt;.json. Spans still open then (System.exit() inside a method, threads still
 * running) are closed at the end and counted in checkpoints.unbalanced. Without the native
 * library every call does nothing, after one line on stderr. Thread-safe: any thread.
 */
public final class CodeGreenRuntime {
  private static final boolean ACTIVE = start();

  private CodeGreenRuntime() {}

  private static boolean start() {
    String error = NativeLibrary.error();
    if (error == null) {
      String name = System.getProperty("sun.java.command", "java");
      int rc = nativeStart(name.isEmpty() ? "java" : name.split(" ", 2)[0]);
      if (rc == 0) {
        Thread hook = new Thread(CodeGreenRuntime::finish, "codegreen-runtime-finish");
        Runtime.getRuntime().addShutdownHook(hook);
        return true;
      }
      error = "cannot begin a session: " + NativeLibrary.nativeLastError(rc);
    }
    System.err.println("codegreen runtime: " + error + "; checkpoints are not measured");
    return false;
  }

  private static void finish() {
    int rc = nativeFinish();
    if (rc != 0) {
      System.err.println("codegreen runtime: cannot write the result: " + NativeLibrary.nativeLastError(rc));
    }
  }

  /**
   * The id of method {@code name} (defined in {@code context}, e.g. the file, at {@code line})
   * for {@link #enter}/{@link #exit}: the same for the same three values; 0 when nothing is
   * measured (enter and exit then do nothing).
   */
  public static int register(String name, String context, int line) {
    if (!ACTIVE) {
      return 0;
    }
    int id = nativeRegister(name, context, line);
    return id >= 0 ? id + 1 : 0;
  }

  /** Entry into the method registered as {@code id}. */
  public static void enter(int id) {
    if (id != 0) {
      nativeEnter(id - 1);
    }
  }

  /** Exit from the method registered as {@code id}. */
  public static void exit(int id) {
    if (id != 0) {
      nativeExit(id - 1);
    }
  }

  /**
   * Records a checkpoint with its source line and context ({@code checkpointType}: "enter" or
   * "exit"; an exit pairs with the latest open enter of {@code name} in the same thread).
   *
   * @throws IllegalArgumentException for another checkpoint type
   */
  public static void measureCheckpoint(
      String checkpointId, String checkpointType, String name, int lineNumber, String context) {
    if (!ACTIVE) {
      return;
    }
    int rc = nativeCheckpoint(checkpointId, checkpointType, name, lineNumber, context);
    if (rc == Session.EINVAL) {
      throw new IllegalArgumentException(
          "codegreen checkpoint: checkpointType must be \"enter\" or \"exit\", not \""
              + checkpointType + "\"");
    }
  }

  /** Marks a checkpoint in the energy measurement stream (the reference's form). */
  public static void checkpoint(String checkpointId, String name, String checkpointType) {
    measureCheckpoint(checkpointId, checkpointType, name, 0, null);
  }

  /** True when checkpoints are measured (the native library is loaded, the session began). */
  public static boolean isActive() {
    return ACTIVE;
  }

  private static native int nativeStart(String name);

  private static native int nativeRegister(String name, String context, int line);

  private static native void nativeEnter(int id);

  private static native void nativeExit(int id);

  private static native int nativeCheckpoint(
      String id, String type, String name, int line, String context);

  private static native int nativeFinish();
}
