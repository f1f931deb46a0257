/* httpload.h -- the load engine of the benchmarks: epoll, HTTP/1.1 keep-alive, bounded runs. */
#ifndef TTDM_BENCH_HTTPLOAD_H
#define TTDM_BENCH_HTTPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Latency histogram in microseconds: exact below 128 µs, then 64 buckets per power of two
 * (relative error under 1.6 %), up to about 2^37 µs. Constant memory, so a 10-minute soak
 * costs the same as a 5-second run.
 */
#define HTTPLOAD_HIST_BUCKETS (128 + 31 * 64)

struct httpload_hist {
    uint64_t count;
    int64_t max_us;
    double sum_us;
    uint64_t buckets[HTTPLOAD_HIST_BUCKETS];
};

void httpload_hist_init(struct httpload_hist *h);
void httpload_hist_add(struct httpload_hist *h, int64_t us);
/* The p-quantile (0 < p <= 1) in milliseconds; 0 when empty. */
double httpload_hist_ms(const struct httpload_hist *h, double p);

/* One request as raw bytes (request line, headers, body); borrowed by the engine. */
struct httpload_req {
    const char *data;
    size_t len;
};

/*
 * Gives the request with sequence number seq (0, 1, 2, ... in order). Returns false when
 * there is none left. The bytes need only stay valid until the next call.
 */
typedef bool (*httpload_next_fn)(void *ud, uint64_t seq, struct httpload_req *out);

/*
 * Called for each answered request: HTTP status, the body (NOT NUL-terminated), the wall
 * clock (CLOCK_REALTIME, µs) when its first byte was written (paced: when it was due, if
 * that was earlier), and its latency in µs from that moment.
 * status is 0 when the connection failed before an answer.
 */
typedef void (*httpload_done_fn)(void *ud, uint64_t seq, int status, const char *body,
                                 size_t body_len, int64_t start_wall_us, int64_t latency_us);

/*
 * Called between two slices of a sliced run (see httpload_opts.slice) with nothing in
 * flight; returns when the next slice may start, or false to end the run there.
 */
typedef bool (*httpload_pause_fn)(void *ud, int slices_done);

struct httpload_opts {
    uint16_t port;         /* on 127.0.0.1, the only address the engine talks to */
    int connections;       /* concurrent keep-alive connections, each one request in flight */
    uint64_t max_requests; /* stop issuing after this many ... */
    double max_seconds;    /* ... or after this long, whichever comes first */
    double rate;           /* requests per second, evenly paced (latency from when each was
                              due); 0 = as fast as answered */
    uint64_t warmup;       /* the first `warmup` requests are sent but not measured */
    uint64_t slice;        /* > 0: after every `slice` requests, wait for all their answers,
                              then call `pause`; the time paused is not measured. Unpaced
                              runs only */
    httpload_pause_fn pause;
    httpload_next_fn next;
    httpload_done_fn done; /* may be NULL */
    void *ud;
};

struct httpload_result {
    uint64_t sent;       /* requests written, warm-up included */
    uint64_t answered;   /* answers received, warm-up included */
    uint64_t measured;   /* answers counted in the figures below (warm-up excluded) */
    uint64_t ok;         /* measured answers with a 2xx status */
    uint64_t bad_status; /* measured answers with another status */
    uint64_t failed;     /* requests lost to a connection error or left unanswered */
    int first_bad_status;
    char first_bad_body[200];
    double elapsed_s; /* first measured request written .. last measured answer, without
                         the pauses between slices */
    struct httpload_hist hist;
};

/* Runs the load; returns 0, or -1 when nothing could connect. Prints problems to stderr. */
int httpload_run(const struct httpload_opts *o, struct httpload_result *r);

/*
 * A sliced run's gate, shared with the script that runs two benchmarks in turns: before
 * each slice the tool reads one line from the `go` FIFO, after it writes one line to the
 * `done` FIFO. The script holds both open read-write, so neither open blocks.
 */
struct httpload_gate {
    FILE *go;
    FILE *done;
};

/* Opens both FIFOs; 0, or -1 after printing why. */
int httpload_gate_open(struct httpload_gate *g, const char *go_path, const char *done_path);
/* Waits for the next "go"; false when the script closed the FIFO (end the run). */
bool httpload_gate_wait(struct httpload_gate *g);
/* Says that slice n (1, 2, ...) is over. */
void httpload_gate_done(struct httpload_gate *g, int n);
void httpload_gate_close(struct httpload_gate *g);

/* Monotonic and wall clocks in microseconds. */
int64_t httpload_mono_us(void);
int64_t httpload_wall_us(void);

#endif /* TTDM_BENCH_HTTPLOAD_H */
