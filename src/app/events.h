/* events.h -- live events for dashboards and API clients (Server-Sent Events), per workspace. */
#ifndef TTDM_EVENTS_H
#define TTDM_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Events are small: they name what changed ("message" with conversation and message ids,
 * "conversation", "channel") and clients read the details through the API, so no message
 * body ever travels twice and an event can never leak a field the API would not show.
 * Publishing never blocks on a slow client: each subscriber has a bounded buffer, and one
 * that falls behind gets a single "resync" event telling it to reload.
 */
struct ttdm_events;
struct ttdm_subscriber;

struct ttdm_events *ttdm_events_new(void);
/* All subscribers must be gone. NULL is a no-op. */
void ttdm_events_free(struct ttdm_events *ev);

/* wake(wake_ud) is called (with an internal lock held: it must be quick) when data arrives. */
struct ttdm_subscriber *ttdm_events_subscribe(struct ttdm_events *ev, int64_t workspace_id,
                                              void (*wake)(void *), void *wake_ud);
/* After this returns, wake is never called again for this subscriber. */
void ttdm_events_unsubscribe(struct ttdm_events *ev, struct ttdm_subscriber *sub);

/*
 * Copies up to `max` bytes of pending SSE text ("event: message\ndata: {...}\n\n") into
 * buf; returns the byte count, 0 when nothing is pending. Whole events are never split
 * across calls unless an event is larger than `max`.
 */
size_t ttdm_events_read(struct ttdm_events *ev, struct ttdm_subscriber *sub, char *buf, size_t max);

/* Sends `type` with the JSON object text `data` to every subscriber of the workspace. */
void ttdm_events_publish(struct ttdm_events *ev, int64_t workspace_id, const char *type,
                         const char *data);

/* Sends `type` to every subscriber of every workspace (e.g. "resync" after the sandbox clock
 * moved, which changes every reply budget at once). */
void ttdm_events_publish_all(struct ttdm_events *ev, const char *type, const char *data);

/* Number of live subscribers, read without the lock: publishers skip their work at 0. */
size_t ttdm_events_count(struct ttdm_events *ev);

#endif /* TTDM_EVENTS_H */
