/* events.c -- live events per workspace: bounded per-subscriber buffers, never blocking. */
#include "app/events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"

#define SUBSCRIBER_BUFFER (256 * 1024)

struct ttdm_subscriber {
    int64_t workspace_id;
    void (*wake)(void *);
    void *wake_ud;
    struct ttdm_buf pending; /* SSE text not yet read */
    size_t read_pos;         /* bytes of pending already handed out */
    bool overflowed;         /* dropped events: send "resync" once there is room */
    struct ttdm_subscriber *prev, *next;
};

struct ttdm_events {
    pthread_mutex_t lock;
    struct ttdm_subscriber *subs;
    atomic_size_t n_subs; /* written under lock; read without it by ttdm_events_count */
    uint64_t next_id;
};

struct ttdm_events *ttdm_events_new(void)
{
    struct ttdm_events *ev = ttdm_calloc(1, sizeof(*ev));
    pthread_mutex_init(&ev->lock, NULL);
    ev->next_id = 1;
    return ev;
}

void ttdm_events_free(struct ttdm_events *ev)
{
    if (!ev)
        return;
    pthread_mutex_destroy(&ev->lock);
    ttdm_free(ev);
}

struct ttdm_subscriber *ttdm_events_subscribe(struct ttdm_events *ev, int64_t workspace_id,
                                              void (*wake)(void *), void *wake_ud)
{
    struct ttdm_subscriber *sub = ttdm_calloc(1, sizeof(*sub));
    sub->workspace_id = workspace_id;
    sub->wake = wake;
    sub->wake_ud = wake_ud;
    ttdm_buf_init(&sub->pending, SUBSCRIBER_BUFFER);
    /* The first bytes tell EventSource how long to wait before reconnecting. */
    ttdm_buf_append_str(&sub->pending, "retry: 2000\n\n");
    pthread_mutex_lock(&ev->lock);
    sub->next = ev->subs;
    if (ev->subs)
        ev->subs->prev = sub;
    ev->subs = sub;
    ev->n_subs++;
    pthread_mutex_unlock(&ev->lock);
    return sub;
}

void ttdm_events_unsubscribe(struct ttdm_events *ev, struct ttdm_subscriber *sub)
{
    if (!sub)
        return;
    pthread_mutex_lock(&ev->lock);
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        ev->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    ev->n_subs--;
    pthread_mutex_unlock(&ev->lock);
    ttdm_buf_cleanup(&sub->pending);
    ttdm_free(sub);
}

/* Drops what was read once it is most of the buffer, so appends find room. */
static void compact(struct ttdm_subscriber *sub)
{
    size_t left = sub->pending.len - sub->read_pos;
    if (sub->read_pos == 0)
        return;
    memmove(sub->pending.data, sub->pending.data + sub->read_pos, left);
    sub->pending.len = left;
    sub->pending.data[left] = '\0';
    sub->read_pos = 0;
}

size_t ttdm_events_read(struct ttdm_events *ev, struct ttdm_subscriber *sub, char *buf, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&ev->lock);
    if (sub->overflowed && sub->pending.len == sub->read_pos) {
        ttdm_buf_reset(&sub->pending);
        sub->read_pos = 0;
        ttdm_buf_append_str(&sub->pending, "event: resync\ndata: {}\n\n");
        sub->overflowed = false;
    }
    if (sub->pending.len > sub->read_pos) {
        size_t avail = sub->pending.len - sub->read_pos;
        n = avail < max ? avail : max;
        memcpy(buf, sub->pending.data + sub->read_pos, n);
        sub->read_pos += n;
        if (sub->read_pos == sub->pending.len) {
            ttdm_buf_reset(&sub->pending);
            sub->read_pos = 0;
        }
    }
    pthread_mutex_unlock(&ev->lock);
    return n;
}

static void publish(struct ttdm_events *ev, bool all, int64_t workspace_id, const char *type,
                    const char *data)
{
    char head[96];
    size_t head_len, data_len = strlen(data);

    pthread_mutex_lock(&ev->lock);
    head_len = (size_t)snprintf(
        head, sizeof(head), "id: %llu\nevent: %s\ndata: ", (unsigned long long)ev->next_id++, type);
    for (struct ttdm_subscriber *sub = ev->subs; sub; sub = sub->next) {
        size_t before;
        if ((!all && sub->workspace_id != workspace_id) || sub->overflowed)
            continue;
        compact(sub);
        before = sub->pending.len;
        if (ttdm_buf_append(&sub->pending, head, head_len) ||
            ttdm_buf_append(&sub->pending, data, data_len) ||
            ttdm_buf_append(&sub->pending, "\n\n", 2)) {
            /* A client this far behind must reload anyway: stop queueing for it. */
            sub->pending.len = before;
            sub->overflowed = true;
        }
        sub->wake(sub->wake_ud);
    }
    pthread_mutex_unlock(&ev->lock);
}

void ttdm_events_publish(struct ttdm_events *ev, int64_t workspace_id, const char *type,
                         const char *data)
{
    publish(ev, false, workspace_id, type, data);
}

void ttdm_events_publish_all(struct ttdm_events *ev, const char *type, const char *data)
{
    publish(ev, true, 0, type, data);
}

size_t ttdm_events_count(struct ttdm_events *ev)
{
    return atomic_load_explicit(&ev->n_subs, memory_order_relaxed);
}
