/*
 * session.h - everything inside a nemb_session, for session.c (the lifecycle: begin, tasks, end,
 * write, destroy), which sits on top of every layer, and for the tests. The layers, each below
 * the next: records.h (the session struct and its per-thread records), energy.h (energy at an
 * instant and over a span), checkpoint.h (function checkpoints and their aggregates), report.h
 * (the report, the numbers API, carbon). A file below the lifecycle includes only the layers it
 * uses. Not installed.
 */
#ifndef NEMB_SESSION_H
#define NEMB_SESSION_H

#include "checkpoint.h"
#include "energy.h"
#include "records.h"
#include "report.h"

#endif /* NEMB_SESSION_H */
