/*
 * codegreen_jni.c - libcodegreen-jni: the JNI glue between the Java runtime (java/codegreen/
 * runtime: CodeGreenRuntime, Session) and libcodegreen-nemb. Built only where a JDK provides
 * jni.h (cmake/java.cmake); libcodegreen-nemb itself never needs it.
 *
 * Two things live here:
 *   - the runtime session of instrumented Java programs: one per process, begun by
 *     CodeGreenRuntime's class initialiser (non-exclusive, so a Session of the program's own can
 *     run beside it) and ended by its shutdown hook, which writes the report to
 *     $CODEGREEN_RESULT_FILE when set (else codegreen_<pid>.json); the hot path is
 *     nativeEnter/nativeExit with the ids of nemb_checkpoint_register();
 *   - the handle-based calls of codegreen.runtime.Session (a pointer in a Java long).
 * Errors are returned as the library's negative codes; Java turns them into exceptions with
 * nativeLastError(). Thread safety: that of libcodegreen-nemb (any thread).
 */
#include <jni.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nemb.h"

/* JNI entry points are looked up by name: they need no prototypes elsewhere. */
#define CG_JNI(ret, cls, name) JNIEXPORT ret JNICALL Java_codegreen_runtime_##cls##_##name

/* The runtime's session; NULL before nativeStart() and after nativeFinish(). */
static _Atomic(nemb_session *) runtime_session;

/* A Java string as UTF-8 (NULL for a null string); release with put_utf(). */
static const char *get_utf(JNIEnv *env, jstring s) {
  return s != NULL ? (*env)->GetStringUTFChars(env, s, NULL) : NULL;
}

static void put_utf(JNIEnv *env, jstring s, const char *u) {
  if (s != NULL && u != NULL) {
    (*env)->ReleaseStringUTFChars(env, s, u);
  }
}

CG_JNI(jint, CodeGreenRuntime, nativeStart)(JNIEnv *env, jclass cls, jstring name) {
  (void)cls;
  nemb_session_options o;
  nemb_session_options_init(&o);
  const char *n = get_utf(env, name);
  const char *result = getenv("CODEGREEN_RESULT_FILE");
  o.name = n;
  o.output_file = result != NULL && result[0] != '\0' ? result : NULL;
  o.output_format = NEMB_FORMAT_JSON;
  o.exclusive = 0; /* beside a Session of the program's own */
  nemb_session *s = NULL;
  int rc = nemb_session_begin(&o, &s);
  put_utf(env, name, n);
  if (rc == 0) {
    atomic_store(&runtime_session, s);
  }
  return rc;
}

CG_JNI(jint, CodeGreenRuntime, nativeRegister)
(JNIEnv *env, jclass cls, jstring name, jstring context, jint line) {
  (void)cls;
  nemb_session *s = atomic_load_explicit(&runtime_session, memory_order_acquire);
  if (s == NULL) {
    return -1;
  }
  const char *n = get_utf(env, name), *c = get_utf(env, context);
  uint32_t id = 0;
  int rc = n != NULL ? nemb_checkpoint_register(s, n, c, line, &id) : NEMB_EINVAL;
  put_utf(env, name, n);
  put_utf(env, context, c);
  return rc == 0 ? (jint)id : -1;
}

CG_JNI(void, CodeGreenRuntime, nativeEnter)(JNIEnv *env, jclass cls, jint id) {
  (void)env;
  (void)cls;
  nemb_session *s = atomic_load_explicit(&runtime_session, memory_order_relaxed);
  if (s != NULL) {
    nemb_checkpoint_enter(s, (uint32_t)id);
  }
}

CG_JNI(void, CodeGreenRuntime, nativeExit)(JNIEnv *env, jclass cls, jint id) {
  (void)env;
  (void)cls;
  nemb_session *s = atomic_load_explicit(&runtime_session, memory_order_relaxed);
  if (s != NULL) {
    nemb_checkpoint_exit(s, (uint32_t)id);
  }
}

CG_JNI(jint, CodeGreenRuntime, nativeCheckpoint)
(JNIEnv *env, jclass cls, jstring id, jstring type, jstring name, jint line, jstring context) {
  (void)cls;
  nemb_session *s = atomic_load_explicit(&runtime_session, memory_order_acquire);
  if (s == NULL) {
    return NEMB_ESTATE;
  }
  const char *i = get_utf(env, id), *t = get_utf(env, type), *n = get_utf(env, name),
             *c = get_utf(env, context);
  int rc = i != NULL && t != NULL && n != NULL ? nemb_checkpoint(s, i, n, t, line, c) : NEMB_EINVAL;
  put_utf(env, id, i);
  put_utf(env, type, t);
  put_utf(env, name, n);
  put_utf(env, context, c);
  return rc;
}

CG_JNI(jint, CodeGreenRuntime, nativeFinish)(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  nemb_session *s = atomic_exchange(&runtime_session, NULL);
  /* ended, not destroyed: a thread still running instrumented code may hold the pointer, and a
   * call on an ended session is refused (NEMB_ESTATE) rather than undefined */
  return s != NULL ? nemb_session_end(s) : NEMB_ESTATE;
}

CG_JNI(jstring, NativeLibrary, nativeLastError)(JNIEnv *env, jclass cls, jint rc) {
  (void)cls;
  const char *detail = nemb_last_error();
  return (*env)->NewStringUTF(env, detail != NULL && detail[0] ? detail : nemb_strerror(rc));
}

/* ----- codegreen.runtime.Session ----- */

static nemb_session *handle(jlong h) {
  return (nemb_session *)(intptr_t)h;
}

CG_JNI(jlong, Session, nativeBegin)
(JNIEnv *env, jclass cls, jstring name, jstring output, jint format, jboolean save, jboolean series,
 jint interval_ms, jintArray rc_out) {
  (void)cls;
  nemb_session_options o;
  nemb_session_options_init(&o);
  const char *n = get_utf(env, name), *out = get_utf(env, output);
  o.name = n;
  o.output_file = out;
  o.output_format = (nemb_output_format)format;
  o.save_to_file = save ? 1 : 0;
  o.record_time_series = series ? 1 : 0;
  o.sample_interval_ms = interval_ms > 0 ? (unsigned)interval_ms : 0;
  nemb_session *s = NULL;
  jint rc = nemb_session_begin(&o, &s);
  put_utf(env, name, n);
  put_utf(env, output, out);
  (*env)->SetIntArrayRegion(env, rc_out, 0, 1, &rc);
  return rc == 0 ? (jlong)(intptr_t)s : 0;
}

CG_JNI(jint, Session, nativeTaskStart)(JNIEnv *env, jclass cls, jlong h, jstring name) {
  (void)cls;
  const char *n = get_utf(env, name);
  int rc = n != NULL ? nemb_task_start(handle(h), n) : NEMB_EINVAL;
  put_utf(env, name, n);
  return rc;
}

CG_JNI(jint, Session, nativeTaskStop)(JNIEnv *env, jclass cls, jlong h, jstring name) {
  (void)cls;
  const char *n = get_utf(env, name);
  int rc = nemb_task_stop(handle(h), n);
  put_utf(env, name, n);
  return rc;
}

CG_JNI(jstring, Session, nativeCurrentTask)(JNIEnv *env, jclass cls, jlong h) {
  (void)cls;
  const char *t = nemb_task_current(handle(h));
  return t != NULL ? (*env)->NewStringUTF(env, t) : NULL;
}

CG_JNI(jint, Session, nativeEnd)(JNIEnv *env, jclass cls, jlong h) {
  (void)env;
  (void)cls;
  return nemb_session_end(handle(h));
}

CG_JNI(jstring, Session, nativeReport)(JNIEnv *env, jclass cls, jlong h) {
  (void)cls;
  const char *r = nemb_session_report_json(handle(h));
  return r != NULL ? (*env)->NewStringUTF(env, r) : NULL;
}

CG_JNI(jstring, Session, nativeOutputPath)(JNIEnv *env, jclass cls, jlong h) {
  (void)cls;
  const char *p = nemb_session_output_path(handle(h));
  return p != NULL ? (*env)->NewStringUTF(env, p) : NULL;
}

CG_JNI(jint, Session, nativeWrite)(JNIEnv *env, jclass cls, jlong h, jstring path, jint format) {
  (void)cls;
  const char *p = get_utf(env, path);
  int rc = p != NULL ? nemb_session_write(handle(h), p, (nemb_output_format)format) : NEMB_EINVAL;
  put_utf(env, path, p);
  return rc;
}
