package codegreen.runtime;

/**
 * Loads libcodegreen-jni, the JNI glue over libcodegreen-nemb, once: from the file named by the
 * system property {@code codegreen.jni.library} (or the environment variable
 * {@code CODEGREEN_JNI_LIBRARY}), else by name from {@code java.library.path} (what
 * {@code codegreen measure java} passes). Without it nothing is measured and nothing fails.
 */
final class NativeLibrary {
  private static final String ERROR = load();

  private NativeLibrary() {}

  private static String load() {
    String path = System.getProperty("codegreen.jni.library");
    if (path == null || path.isEmpty()) {
      path = System.getenv("CODEGREEN_JNI_LIBRARY");
    }
    try {
      if (path != null && !path.isEmpty()) {
        System.load(path);
      } else {
        System.loadLibrary("codegreen-jni");
      }
      return null;
    } catch (UnsatisfiedLinkError | SecurityException e) {
      return "cannot load libcodegreen-jni (" + e.getMessage() + "); set java.library.path or "
          + "-Dcodegreen.jni.library=/path/to/libcodegreen-jni.so";
    }
  }

  /** Why the library is not there, or null when it is loaded. */
  static String error() {
    return ERROR;
  }

  /** The library's detailed message for the last failure in this thread, or what @p rc means. */
  static native String nativeLastError(int rc);
}
