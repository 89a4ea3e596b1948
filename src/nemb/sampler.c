/*
 * sampler.c - the one thread per meter that reads the counters on a fixed schedule.
 *
 * It wakes on absolute CLOCK_MONOTONIC deadlines (start + k x interval), never on "sleep for an
 * interval", so lateness does not accumulate into drift. A wake-up that comes a whole interval or
 * more late skips the deadlines it missed instead of firing a burst of back-to-back reads, and
 * counts them. Between stored samples it still reads the counters often enough that none can
 * wrap twice unseen (guard_ns); with the default 1 ms interval every read is stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "meter.h"

void nemb__meter_read(nemb_meter *m, uint64_t t_ns) {
  for (size_t p = 0; p < m->n_providers; p++) {
    nemb__open_provider *op = &m->providers[p];
    int rc = op->ops->read(op->state, t_ns, m->raw + op->first);
    if (rc != 0) {
      /* Keep the previous raw values: the interval is then attributed to the next good read,
       * which loses no energy because the counters are cumulative. */
      for (size_t d = op->first; d < op->first + op->count; d++) {
        m->raw[d] = m->unwrap[d].last;
      }
      atomic_fetch_add_explicit(&m->st_read_errors, 1, memory_order_relaxed);
      atomic_store_explicit(&m->st_last_read_error, rc, memory_order_relaxed);
      atomic_store_explicit(&m->st_last_read_provider, op->ops->name, memory_order_relaxed);
      nemb__log(NEMB_LOG_WARN, "[%s] read failed: %s", op->ops->name, nemb_strerror(rc));
    }
  }
  for (size_t d = 0; d < m->n_domains; d++) {
    nemb__unwrap_feed(&m->unwrap[d], m->raw[d]);
    m->total[d] = m->unwrap[d].total;
  }
  atomic_fetch_add_explicit(&m->st_reads, 1, memory_order_relaxed);

  /* Publish under the sequence lock: odd while writing. Every field is an atomic, so a reader
   * racing with us reads a torn value at worst, sees the sequence change, and retries. */
  uint64_t seq = atomic_load_explicit(&m->latest_seq, memory_order_relaxed);
  atomic_store_explicit(&m->latest_seq, seq + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&m->latest_t, t_ns, memory_order_relaxed);
  for (size_t d = 0; d < m->n_domains; d++) {
    atomic_store_explicit(&m->latest_uj[d], m->total[d], memory_order_relaxed);
  }
  atomic_store_explicit(&m->latest_seq, seq + 2, memory_order_release);
}

void nemb__meter_store(nemb_meter *m, uint64_t t_ns) {
  int rc = nemb__store_append(&m->store, t_ns, m->total);
  if (rc == 0) {
    atomic_fetch_add_explicit(&m->st_samples, 1, memory_order_relaxed);
    return;
  }
  /* Never silent: the drop is counted, reported by nemb_meter_stats(), logged once. */
  if (atomic_fetch_add_explicit(&m->st_dropped, 1, memory_order_relaxed) == 0) {
    nemb__log(NEMB_LOG_WARN,
              rc == NEMB_EFULL ? "sample store is full (%zu samples, coordinator.max_samples): "
                                 "later samples are counted but not stored"
                               : "out of memory storing samples (%zu stored): later samples are "
                                 "counted but not stored",
              m->store.cap);
  }
}

static struct timespec to_timespec(uint64_t ns) {
  struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
  return ts;
}

static void record_lateness(nemb_meter *m, uint64_t late, uint64_t step) {
  atomic_fetch_add_explicit(&m->st_late_sum, late, memory_order_relaxed);
  if (late > atomic_load_explicit(&m->st_worst_late, memory_order_relaxed)) {
    atomic_store_explicit(&m->st_worst_late, late, memory_order_relaxed);
  }
  if (late > step / 2) {
    atomic_fetch_add_explicit(&m->st_late, 1, memory_order_relaxed);
  }
}

static void *sampler_main(void *arg) {
  nemb_meter *m = arg;
  /* The default 50 us timer slack would make every 1 ms wake-up late by design. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  uint64_t interval = atomic_load(&m->interval_ns);
  uint64_t deadline = atomic_load_explicit(&m->latest_t, memory_order_relaxed);
  uint64_t store_due = deadline + interval;

  pthread_mutex_lock(&m->lock);
  while (atomic_load(&m->running)) {
    interval = atomic_load(&m->interval_ns);
    uint64_t step = interval < m->guard_ns ? interval : m->guard_ns;
    deadline += step;
    struct timespec ts = to_timespec(deadline);
    while (atomic_load(&m->running) && !atomic_load(&m->retime) &&
           pthread_cond_timedwait(&m->wake, &m->lock, &ts) == 0) {
      /* Woken by a signal that was not for us (spurious): wait again for the same deadline. */
    }
    if (!atomic_load(&m->running)) {
      break;
    }
    uint64_t now = nemb__now_ns();
    atomic_fetch_add_explicit(&m->st_wakeups, 1, memory_order_relaxed);
    if (atomic_exchange(&m->retime, false)) {
      /* A new interval: restart the schedule from now rather than finish the old wait. */
      deadline = now;
      store_due = now;
    } else if (now > deadline) {
      uint64_t late = now - deadline;
      record_lateness(m, late, step);
      if (late >= step) {
        uint64_t missed = late / step;
        deadline += missed * step;
        atomic_fetch_add_explicit(&m->st_missed, missed, memory_order_relaxed);
      }
    }
    pthread_mutex_unlock(&m->lock); /* never hold the lock while reading hardware */
    nemb__meter_read(m, now);
    if (deadline >= store_due) {
      nemb__meter_store(m, now);
      store_due += interval;
      if (store_due <= deadline) {
        store_due = deadline + interval;
      }
    }
    pthread_mutex_lock(&m->lock);
  }
  pthread_mutex_unlock(&m->lock);
  /* Read by nemb__sampler_stop() after the join, which orders these writes before its reads. */
  m->last_deadline = deadline;
  m->last_step = interval < m->guard_ns ? interval : m->guard_ns;
  return NULL;
}

int nemb__sampler_start(nemb_meter *m) {
  /* The first reading primes every unwrapper; its sample is the zero of every total. */
  uint64_t t0 = nemb__now_ns();
  nemb__meter_read(m, t0);
  nemb__meter_store(m, t0);

  atomic_store(&m->running, true);
  int rc = pthread_create(&m->thread, NULL, sampler_main, m);
  if (rc != 0) {
    atomic_store(&m->running, false);
    return nemb__fail(nemb__from_errno(rc), "cannot start the sampler thread: %s", strerror(rc));
  }
  m->thread_live = true;
  return 0;
}

void nemb__sampler_stop(nemb_meter *m) {
  if (!m->thread_live) {
    return;
  }
  /* A counter shows the energy up to its last update, up to update_ns ago. Sampling on for one
   * more update period lets the counters catch up with "now", so the energy of the last moments
   * before the stop is in the samples rather than lost (capped: a slow model need not stall). */
  uint64_t settle = m->update_ns < 50000000u ? m->update_ns : 50000000u;
  struct timespec ts = to_timespec(settle + 100000u);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&m->lock);
  atomic_store(&m->running, false);
  pthread_cond_signal(&m->wake);
  pthread_mutex_unlock(&m->lock);
  pthread_join(m->thread, NULL);
  m->thread_live = false;

  /* The closing sample, so the last window ends at stop time and not up to an interval before.
   * Deadlines that passed while the thread was not scheduled at the end were neither read nor
   * counted; the closing read stands for one of them and the rest count as missed, so samples
   * plus missed deadlines always account for the whole schedule. */
  uint64_t t = nemb__now_ns();
  if (m->last_step > 0 && t >= m->last_deadline) {
    /* last_deadline is the one the thread was waiting for: it and those after it up to t went
     * unserved; the closing sample serves one. */
    atomic_fetch_add_explicit(&m->st_missed, (t - m->last_deadline) / m->last_step,
                              memory_order_relaxed);
  }
  nemb__meter_read(m, t);
  nemb__meter_store(m, t);
}
