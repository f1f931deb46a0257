/* httpload.c -- the load engine of the benchmarks: epoll, HTTP/1.1 keep-alive, bounded runs. */
#include "httpload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/str.h"

/* Answers larger than this are a benchmark setup error, not something to buffer. */
#define MAX_ANSWER (64u * 1024 * 1024)
/* How long in-flight requests may take to finish once no new ones are issued. */
#define DRAIN_GRACE_US (10 * 1000000LL)

int64_t httpload_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t httpload_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- histogram ------------------------------------------------------------------------ */

void httpload_hist_init(struct httpload_hist *h)
{
    memset(h, 0, sizeof(*h));
}

static size_t bucket_of(uint64_t v)
{
    unsigned e;
    size_t idx;
    if (v < 128)
        return (size_t)v;
    e = 63u - (unsigned)__builtin_clzll(v); /* 7.. */
    idx = 128 + (size_t)(e - 7) * 64 + (size_t)((v >> (e - 6)) - 64);
    return idx < HTTPLOAD_HIST_BUCKETS ? idx : HTTPLOAD_HIST_BUCKETS - 1;
}

/* The middle of a bucket's range, in µs. */
static double bucket_value(size_t idx)
{
    unsigned e;
    uint64_t lo, width;
    if (idx < 128)
        return (double)idx;
    e = (unsigned)((idx - 128) / 64) + 7;
    width = (uint64_t)1 << (e - 6);
    lo = ((uint64_t)64 + (idx - 128) % 64) << (e - 6);
    return (double)lo + (double)(width - 1) / 2.0;
}

void httpload_hist_add(struct httpload_hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    h->buckets[bucket_of((uint64_t)us)]++;
    h->count++;
    h->sum_us += (double)us;
    if (us > h->max_us)
        h->max_us = us;
}

double httpload_hist_ms(const struct httpload_hist *h, double p)
{
    uint64_t want, seen = 0;
    if (h->count == 0)
        return 0;
    want = (uint64_t)(p * (double)h->count + 0.999999);
    if (want < 1)
        want = 1;
    for (size_t i = 0; i < HTTPLOAD_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= want) {
            double v = bucket_value(i);
            return (v > (double)h->max_us ? (double)h->max_us : v) / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

/* ---- connections ---------------------------------------------------------------------- */

struct conn {
    int fd;
    bool connecting;
    bool busy; /* a request is in flight */
    bool want_out;
    uint64_t seq;
    int64_t start_mono;
    int64_t start_wall;
    char *out; /* unwritten rest of a request the socket did not take at once */
    size_t out_len, out_off;
    char *in;
    size_t in_len, in_cap;
};

struct engine {
    const struct httpload_opts *o;
    struct httpload_result *r;
    int ep;
    struct sockaddr_in addr;
    struct conn *conns;
    uint64_t next_seq;
    bool exhausted; /* the source has no more requests, or the limits are reached */
    int in_flight;
    int64_t t0, deadline;
    int64_t measure_start; /* when the slice's first measured request was written, 0 before */
    int64_t last_answer;
    int64_t measured_us; /* the measured time of the slices before this one */
    uint64_t slice_end;  /* sliced runs: no request from this sequence number on before
                            the pause */
    int slices_done;
    int connect_failures;
};

static void conn_close(struct engine *e, struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(e->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->connecting = false;
    c->want_out = false;
    c->in_len = 0;
    ttdm_free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
}

static int conn_open(struct engine *e, struct conn *c)
{
    struct epoll_event ev;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->connecting = false;
    if (connect(fd, (const struct sockaddr *)&e->addr, sizeof(e->addr)) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            c->fd = -1;
            return -1;
        }
        c->connecting = true;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (c->connecting ? EPOLLOUT : 0);
    ev.data.ptr = c;
    c->want_out = c->connecting;
    if (epoll_ctl(e->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void set_out_interest(struct engine *e, struct conn *c, bool want)
{
    struct epoll_event ev;
    if (c->want_out == want)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(e->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

static void request_failed(struct engine *e, struct conn *c)
{
    if (!c->busy)
        return;
    c->busy = false;
    e->in_flight--;
    e->r->failed++;
    if (e->o->done)
        e->o->done(e->o->ud, c->seq, 0, NULL, 0, c->start_wall, 0);
}

/* Connection lost: the request in flight (if any) is lost with it; reconnect for the next. */
static void conn_reset(struct engine *e, struct conn *c)
{
    request_failed(e, c);
    conn_close(e, c);
    if (conn_open(e, c) != 0)
        e->connect_failures++;
}

static void flush_out(struct engine *e, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_out_interest(e, c, true);
                return;
            }
            if (errno == EINTR)
                continue;
            conn_reset(e, c);
            return;
        }
        c->out_off += (size_t)n;
    }
    ttdm_free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    set_out_interest(e, c, false);
}

/* True when a new request may be issued now; *wait_us says how long until the next one. */
static bool may_issue(struct engine *e, int64_t now, int64_t *wait_us)
{
    int64_t due;
    if (e->exhausted)
        return false;
    if (e->next_seq >= e->o->max_requests || now >= e->deadline) {
        e->exhausted = true;
        return false;
    }
    if (e->o->slice && e->next_seq >= e->slice_end)
        return false; /* the slice is over: the main loop pauses once its answers are in */
    if (e->o->rate <= 0)
        return true;
    due = e->t0 + (int64_t)((double)e->next_seq * 1e6 / e->o->rate);
    if (now >= due)
        return true;
    if (*wait_us < 0 || due - now < *wait_us)
        *wait_us = due - now;
    return false;
}

static void issue(struct engine *e, struct conn *c)
{
    struct httpload_req req;
    ssize_t n;

    if (!e->o->next(e->o->ud, e->next_seq, &req)) {
        e->exhausted = true;
        return;
    }
    c->seq = e->next_seq++;
    c->busy = true;
    c->in_len = 0;
    e->in_flight++;
    e->r->sent++;
    c->start_wall = httpload_wall_us();
    c->start_mono = httpload_mono_us();
    if (e->o->rate > 0) {
        /* Paced: a request is late when no connection was free at its time. Its latency
         * counts from when it was due, so a slow server cannot hide the requests it delayed
         * (no coordinated omission). */
        int64_t due = e->t0 + (int64_t)((double)c->seq * 1e6 / e->o->rate);
        if (due < c->start_mono) {
            c->start_wall -= c->start_mono - due;
            c->start_mono = due;
        }
    }
    if (c->seq >= e->o->warmup && e->measure_start == 0)
        e->measure_start = c->start_mono;
    for (;;) {
        n = send(c->fd, req.data, req.len, MSG_NOSIGNAL);
        if (n >= 0 || errno != EINTR)
            break;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_reset(e, c);
        return;
    }
    if (n < 0)
        n = 0;
    if ((size_t)n < req.len) {
        /* The socket did not take it all: keep our own copy of the rest. */
        c->out_len = req.len - (size_t)n;
        c->out_off = 0;
        c->out = ttdm_malloc(c->out_len);
        memcpy(c->out, req.data + n, c->out_len);
        flush_out(e, c);
    }
}

/* Case-insensitive search of a header's value inside the header block. */
static const char *find_header(const char *head, size_t len, const char *name)
{
    size_t n = strlen(name);
    const char *p = head;
    const char *end = head + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > n + 1 && p[n] == ':' && ttdm_slice_ieq(p, n, name)) {
            const char *v = p + n + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Parses a complete answer in c->in; returns 1 when complete, 0 when more is needed, -1 bad. */
static int parse_answer(struct conn *c, int *status, size_t *body_off, size_t *body_len,
                        bool *close_after)
{
    const char *end = NULL;
    const char *cl, *te, *cn;
    size_t head_len, n;
    int64_t v;

    for (size_t i = 3; i < c->in_len; i++) {
        if (c->in[i] == '\n' && c->in[i - 1] == '\r' && c->in[i - 2] == '\n' &&
            c->in[i - 3] == '\r') {
            end = c->in + i + 1;
            break;
        }
    }
    if (!end)
        return 0;
    head_len = (size_t)(end - c->in);
    if (head_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
        return -1;
    if (ttdm_parse_i64(c->in + 9, 3, 100, 599, &v))
        return -1;
    *status = (int)v;
    te = find_header(c->in, head_len, "Transfer-Encoding");
    if (te && ttdm_slice_ieq(te, 7, "chunked"))
        return -1; /* ttdm and ttdm-sim answer with Content-Length */
    cl = find_header(c->in, head_len, "Content-Length");
    if (!cl)
        return -1;
    n = strspn(cl, "0123456789");
    if (ttdm_parse_i64(cl, n, 0, MAX_ANSWER, &v))
        return -1;
    cn = find_header(c->in, head_len, "Connection");
    *close_after = cn && ttdm_slice_ieq(cn, 5, "close");
    if (c->in_len < head_len + (size_t)v)
        return 0;
    *body_off = head_len;
    *body_len = (size_t)v;
    return 1;
}

static void answered(struct engine *e, struct conn *c, int status, const char *body,
                     size_t body_len)
{
    int64_t now = httpload_mono_us();
    int64_t lat = now - c->start_mono;
    struct httpload_result *r = e->r;

    c->busy = false;
    e->in_flight--;
    r->answered++;
    if (c->seq >= e->o->warmup) {
        r->measured++;
        e->last_answer = now;
        httpload_hist_add(&r->hist, lat);
        if (status >= 200 && status < 300) {
            r->ok++;
        } else {
            if (r->bad_status++ == 0) {
                size_t n = body_len < sizeof(r->first_bad_body) - 1 ? body_len
                                                                    : sizeof(r->first_bad_body) - 1;
                r->first_bad_status = status;
                memcpy(r->first_bad_body, body, n);
                r->first_bad_body[n] = '\0';
            }
        }
    }
    if (e->o->done)
        e->o->done(e->o->ud, c->seq, status, body, body_len, c->start_wall, lat);
}

static void on_readable(struct engine *e, struct conn *c)
{
    for (;;) {
        ssize_t n;
        size_t space;
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 16384;
            if (cap > MAX_ANSWER + 65536) {
                fprintf(stderr, "httpload: answer too large\n");
                conn_reset(e, c);
                return;
            }
            c->in = ttdm_realloc(c->in, cap);
            c->in_cap = cap;
        }
        space = c->in_cap - c->in_len;
        n = recv(c->fd, c->in + c->in_len, space, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            /* A short read drained the socket: epoll is level-triggered and says when more
             * comes, so asking again would only return EAGAIN (one system call per answer,
             * on the two vCPUs the server uses too). */
            if ((size_t)n < space)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_reset(e, c); /* closed by the server, or an error */
        return;
    }
    if (!c->busy) {
        if (c->in_len) /* bytes nobody asked for */
            conn_reset(e, c);
        return;
    }
    {
        int status = 0;
        size_t off = 0, len = 0;
        bool close_after = false;
        int rc = parse_answer(c, &status, &off, &len, &close_after);
        if (rc == 0)
            return;
        if (rc < 0) {
            fprintf(stderr, "httpload: unreadable answer on request %llu\n",
                    (unsigned long long)c->seq);
            conn_reset(e, c);
            return;
        }
        answered(e, c, status, c->in + off, len);
        c->in_len = 0;
        if (close_after) {
            conn_close(e, c);
            if (conn_open(e, c) != 0)
                e->connect_failures++;
        }
    }
}

static void on_event(struct engine *e, struct conn *c, uint32_t events)
{
    if (c->fd < 0)
        return;
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if ((events & (EPOLLERR | EPOLLHUP)) ||
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            e->connect_failures++;
            conn_close(e, c);
            return;
        }
        c->connecting = false;
        set_out_interest(e, c, false);
        return;
    }
    if (events & EPOLLOUT)
        flush_out(e, c);
    if (c->fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        on_readable(e, c);
}

/* Adds the slice that just ended (or the whole run, when it is not sliced) to the time measured. */
static void end_slice(struct engine *e)
{
    if (e->measure_start && e->last_answer > e->measure_start)
        e->measured_us += e->last_answer - e->measure_start;
    e->measure_start = 0;
}

int httpload_run(const struct httpload_opts *o, struct httpload_result *r)
{
    struct engine e;
    struct epoll_event events[256];
    int rc = 0;

    memset(r, 0, sizeof(*r));
    httpload_hist_init(&r->hist);
    memset(&e, 0, sizeof(e));
    e.o = o;
    e.r = r;
    e.addr.sin_family = AF_INET;
    e.addr.sin_port = htons(o->port);
    e.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    e.ep = epoll_create1(EPOLL_CLOEXEC);
    if (e.ep < 0)
        return -1;
    e.conns = ttdm_calloc((size_t)o->connections, sizeof(*e.conns));
    for (int i = 0; i < o->connections; i++) {
        e.conns[i].fd = -1;
        if (conn_open(&e, &e.conns[i]) != 0)
            e.connect_failures++;
    }
    e.t0 = httpload_mono_us();
    e.deadline = e.t0 + (int64_t)(o->max_seconds * 1e6);
    e.slice_end = o->slice;

    for (;;) {
        int64_t now = httpload_mono_us();
        int64_t wait_us = -1;
        struct timespec timeout;
        int n;

        for (int i = 0; i < o->connections; i++) {
            struct conn *c = &e.conns[i];
            if (c->fd < 0 && !e.exhausted && e.connect_failures < 1000) {
                if (conn_open(&e, c) != 0)
                    e.connect_failures++;
            }
            if (c->fd < 0 || c->connecting || c->busy)
                continue;
            if (!may_issue(&e, now, &wait_us))
                break;
            issue(&e, c);
        }
        if (e.connect_failures >= 1000 && e.in_flight == 0) {
            fprintf(stderr, "httpload: cannot connect to 127.0.0.1:%u\n", (unsigned)o->port);
            rc = -1;
            break;
        }
        if (e.exhausted && e.in_flight == 0)
            break;
        if (o->slice && !e.exhausted && e.next_seq >= e.slice_end && e.in_flight == 0) {
            /* Between two slices: the time until the next one starts is not measured, and
             * does not count against the run's time limit. */
            int64_t paused = httpload_mono_us();
            end_slice(&e);
            if (!o->pause || !o->pause(o->ud, ++e.slices_done)) {
                e.exhausted = true;
                continue;
            }
            paused = httpload_mono_us() - paused;
            e.deadline += paused;
            e.slice_end += o->slice;
            continue;
        }
        if (e.exhausted && now > e.deadline + DRAIN_GRACE_US) {
            fprintf(stderr, "httpload: %d request(s) still unanswered after the grace period\n",
                    e.in_flight);
            for (int i = 0; i < o->connections; i++)
                request_failed(&e, &e.conns[i]);
            break;
        }
        /* Sleep until the next request is due, to the microsecond: a paced run issues one
         * every 200 us at 5,000/s, and a millisecond timeout rounded down to 0 would spin,
         * taking a CPU from the server it measures. */
        if (wait_us < 0)
            wait_us = 50000;
        timeout.tv_sec = (time_t)(wait_us / 1000000);
        timeout.tv_nsec = (long)(wait_us % 1000000) * 1000;
        n = epoll_pwait2(e.ep, events, (int)(sizeof(events) / sizeof(events[0])), &timeout, NULL);
        if (n < 0 && errno != EINTR) {
            perror("httpload: epoll_pwait2");
            rc = -1;
            break;
        }
        for (int i = 0; i < n; i++)
            on_event(&e, events[i].data.ptr, events[i].events);
    }
    end_slice(&e);
    r->elapsed_s = (double)e.measured_us / 1e6;
    for (int i = 0; i < o->connections; i++) {
        conn_close(&e, &e.conns[i]);
        ttdm_free(e.conns[i].in);
    }
    ttdm_free(e.conns);
    close(e.ep);
    return rc;
}

/* ---- the gate between slices ------------------------------------------------------------ */

int httpload_gate_open(struct httpload_gate *g, const char *go_path, const char *done_path)
{
    g->go = fopen(go_path, "r");
    g->done = g->go ? fopen(done_path, "w") : NULL;
    if (!g->done) {
        fprintf(stderr, "bench: cannot open the gate %s / %s: %s\n", go_path, done_path,
                strerror(errno));
        httpload_gate_close(g);
        return -1;
    }
    return 0;
}

bool httpload_gate_wait(struct httpload_gate *g)
{
    char line[64];
    return fgets(line, sizeof(line), g->go) != NULL;
}

void httpload_gate_done(struct httpload_gate *g, int n)
{
    fprintf(g->done, "done %d\n", n);
    fflush(g->done);
}

void httpload_gate_close(struct httpload_gate *g)
{
    if (g->go)
        fclose(g->go);
    if (g->done)
        fclose(g->done);
    g->go = g->done = NULL;
}
