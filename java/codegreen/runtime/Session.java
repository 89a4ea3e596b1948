package codegreen.runtime;

/**
 * Measures named, nested spans ("tasks") of a Java program, like Python's
 * {@code codegreen.Session}: each task start and stop is one call into libcodegreen-nemb, which
 * timestamps it in the calling thread's own records; at {@link #stop()} the library builds the
 * report (the same JSON envelope: meta, tasks, totals) and writes the file.
 *
 * <pre>
 *   try (Session s = new Session("train").start()) {
 *     try (Session.Task t = s.task("load")) { load(); }
 *     try (Session.Task t = s.task("fit")) { fit(); }
 *   }                                   // stop(): report written to codegreen_&lt;pid&gt;.json
 * </pre>
 *
 * <p>One Session is active per process at a time (RAPL counters are machine-wide); the runtime of
 * instrumented code runs beside it. Tasks nest per thread; any thread may start and stop its own.
 * Errors of the library become exceptions: {@link IllegalStateException} (wrong state, another
 * session active), {@link IllegalArgumentException} (a bad name or option),
 * {@link java.io.UncheckedIOException} (the report cannot be written).
 */
public final class Session implements AutoCloseable {
  static final int EINVAL = -22;
  static final int ESTATE = -4005;
  /** nemb.h's NEMB_INTERVAL_MS_MAX (python/tests/test_one_source.py holds them equal). */
  static final int INTERVAL_MS_MAX = 60000;

  private final String name;
  private String outputFile;
  private String outputFormat = "auto";
  private boolean saveToFile = true;
  private boolean recordTimeSeries;
  private int sampleIntervalMs;
  private long handle;
  private String state = "new"; // new -> active -> stopped
  private String report;

  /** A session called {@code name}, not started. */
  public Session(String name) {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("name must be a non-empty string");
    }
    this.name = name;
  }

  /** A session with the default name, "default". */
  public Session() {
    this("default");
  }

  /** Where the report goes (null: codegreen_&lt;pid&gt;.json in the working directory). */
  public Session outputFile(String path) {
    checkNew();
    if (path != null && path.isEmpty()) {
      throw new IllegalArgumentException("outputFile must not be empty (null means the default)");
    }
    this.outputFile = path;
    return this;
  }

  /** "auto" (CSV for .csv, else JSON), "json", "csv" or "none". */
  public Session outputFormat(String format) {
    checkNew();
    if (format == null || formatCode(format) < 0) {
      throw new IllegalArgumentException(
          "outputFormat must be one of 'auto', 'json', 'csv', 'none', not " + format);
    }
    this.outputFormat = format.toLowerCase(java.util.Locale.ROOT);
    return this;
  }

  /** false: write no file (the report is still available from {@link #reportJson()}). */
  public Session saveToFile(boolean save) {
    checkNew();
    this.saveToFile = save;
    return this;
  }

  /** true: per-task samples and noise statistics in the report. */
  public Session recordTimeSeries(boolean record) {
    checkNew();
    this.recordTimeSeries = record;
    return this;
  }

  /** The sampling interval in milliseconds (1 to INTERVAL_MS_MAX; 0: the configuration's). */
  public Session sampleIntervalMs(int ms) {
    checkNew();
    if (ms < 0 || ms > INTERVAL_MS_MAX) {
      throw new IllegalArgumentException(
          "sampleIntervalMs must be 0 to " + INTERVAL_MS_MAX + ", not " + ms);
    }
    this.sampleIntervalMs = ms;
    return this;
  }

  private static int formatCode(String f) {
    switch (f.toLowerCase(java.util.Locale.ROOT)) {
      case "auto":
        return 0;
      case "json":
        return 1;
      case "csv":
        return 2;
      case "none":
        return 3;
      default:
        return -1;
    }
  }

  private void checkNew() {
    if (!state.equals("new")) {
      throw new IllegalStateException("the session was already started");
    }
  }

  private static RuntimeException error(int rc, String what) {
    String msg = what + ": " + NativeLibrary.nativeLastError(rc);
    if (rc == EINVAL) {
      return new IllegalArgumentException(msg);
    }
    if (rc == ESTATE) {
      return new IllegalStateException(msg);
    }
    if (rc < 0 && rc > -4000) {
      return new java.io.UncheckedIOException(new java.io.IOException(msg));
    }
    return new RuntimeException(msg);
  }

  /** Begins measuring. @return this */
  public synchronized Session start() {
    checkNew();
    String missing = NativeLibrary.error();
    if (missing != null) {
      throw new IllegalStateException("codegreen Session: " + missing);
    }
    int[] rc = new int[1];
    long h =
        nativeBegin(name, outputFile, formatCode(outputFormat), saveToFile, recordTimeSeries,
            sampleIntervalMs, rc);
    if (h == 0) {
      throw error(rc[0], "cannot begin the session");
    }
    handle = h;
    state = "active";
    return this;
  }

  /**
   * Ends the session: closes tasks left open, builds the report and writes the file. A second
   * call does nothing.
   */
  public synchronized void stop() {
    if (!state.equals("active")) {
      return;
    }
    state = "stopped";
    int rc = nativeEnd(handle);
    report = nativeReport(handle);
    if (rc != 0) {
      throw error(rc, "cannot write the report");
    }
  }

  /** {@link #stop()}, for try-with-resources. */
  @Override
  public void close() {
    stop();
  }

  /** True between start() and stop(). */
  public synchronized boolean isActive() {
    return state.equals("active");
  }

  /** The session's name. */
  public String name() {
    return name;
  }

  /** The report as JSON text, identical to the written file; null until stop(). */
  public synchronized String reportJson() {
    return report;
  }

  /** The path the report was written to (after stop()), or null when no file is written. */
  public synchronized String outputPath() {
    return handle != 0 && state.equals("stopped") ? nativeOutputPath(handle) : null;
  }

  /** Writes the report again, to {@code path} (format by extension: .csv is CSV). */
  public synchronized void write(String path) {
    if (!state.equals("stopped")) {
      throw new IllegalStateException("write() needs a stopped session");
    }
    int rc = nativeWrite(handle, path, 0);
    if (rc != 0) {
      throw error(rc, "cannot write " + path);
    }
  }

  private long active() {
    synchronized (this) {
      if (!state.equals("active")) {
        throw new IllegalStateException("the session is not active (start() it first)");
      }
      return handle;
    }
  }

  /** Starts a task in the calling thread, nested in its innermost open task. */
  public void startTask(String task) {
    if (task == null || task.isEmpty()) {
      throw new IllegalArgumentException("a task name must be a non-empty string");
    }
    int rc = nativeTaskStart(active(), task);
    if (rc != 0) {
      throw error(rc, "cannot start task '" + task + "'");
    }
  }

  /** Stops the calling thread's innermost task; {@code task}, if not null, must be its name. */
  public void stopTask(String task) {
    int rc = nativeTaskStop(active(), task);
    if (rc != 0) {
      throw error(rc, "cannot stop task" + (task != null ? " '" + task + "'" : ""));
    }
  }

  /** Stops the calling thread's innermost task. */
  public void stopTask() {
    stopTask(null);
  }

  /** The innermost open task of the calling thread, or null. */
  public String currentTask() {
    return nativeCurrentTask(active());
  }

  /** A task span for try-with-resources: {@code try (Session.Task t = s.task("load")) { ... }}. */
  public Task task(String task) {
    startTask(task);
    return new Task(this, task);
  }

  /**
   * Runs {@code body} as a task (the form that needs no variable: javac's -Xlint:try warns about
   * a try-with-resources resource the body never uses).
   */
  public void task(String task, Runnable body) {
    startTask(task);
    try {
      body.run();
    } finally {
      stopTask(task);
    }
  }

  /** What {@link Session#task} returns: closing it stops the task. */
  public static final class Task implements AutoCloseable {
    private final Session session;
    private final String name;

    private Task(Session session, String name) {
      this.session = session;
      this.name = name;
    }

    /** The task's name. */
    public String name() {
      return name;
    }

    @Override
    public void close() {
      session.stopTask(name);
    }
  }

  @Override
  public String toString() {
    return "Session(" + name + ", " + state + ")";
  }

  private static native long nativeBegin(
      String name, String output, int format, boolean save, boolean series, int intervalMs,
      int[] rc);

  private static native int nativeTaskStart(long h, String name);

  private static native int nativeTaskStop(long h, String name);

  private static native String nativeCurrentTask(long h);

  private static native int nativeEnd(long h);

  private static native String nativeReport(long h);

  private static native String nativeOutputPath(long h);

  private static native int nativeWrite(long h, String path, int format);
}
