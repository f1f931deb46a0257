/* bench_policy.c -- decisions per second of the pure reply policy (core/policy.h) on one core. */
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "core/policy.h"
#include "httpload.h"
#include "util/str.h"

/* A power of two, so the input index is a mask; small enough to stay in L1/L2. */
#define N_INPUTS 4096
#define HOUR_MS (3600LL * 1000)

struct input {
    struct ttdm_conversation_state conv;
    struct ttdm_channel_state chan;
    int64_t now_ms;
};

static struct input inputs[N_INPUTS];

/* xorshift64: varied, reproducible inputs without libc's rand(). */
static uint64_t next_random(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/*
 * Every branch of the rules is visited: no customer message, window open or closed (and
 * exactly at its end), quota left or used up, the daily limit reached or not, a counted
 * conversation, a channel to reconnect.
 */
static void make_inputs(void)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int64_t now = 1764120000000LL;
    for (int i = 0; i < N_INPUTS; i++) {
        struct input *in = &inputs[i];
        uint64_t r = next_random(&seed);
        in->now_ms = now + (int64_t)(r % (7 * 24 * HOUR_MS));
        in->conv.latest_customer_msg_at =
            (r >> 8) % 16 == 0 ? 0 : in->now_ms - (int64_t)((r >> 12) % (60 * HOUR_MS));
        if ((r >> 20) % 64 == 0)
            in->conv.latest_customer_msg_at = in->now_ms - 48 * HOUR_MS;
        in->conv.replies_used = (int)((r >> 24) % 12);
        in->conv.counted_today = (r >> 30) & 1;
        in->chan.reconnect_required = (r >> 31) % 32 == 0;
        in->chan.daily_limit = 100 + (int)((r >> 36) % 101);
        in->chan.daily_used = (int)((r >> 44) % 220);
    }
}

int main(int argc, char **argv)
{
    struct ttdm_policy_rules rules;
    struct ttdm_reply_budget budget;
    int64_t seconds = 2, start, elapsed;
    uint64_t n = 0, allowed = 0, replies = 0;
    cpu_set_t set;
    int cpu = sched_getcpu();

    if (argc == 3 && strcmp(argv[1], "--seconds") == 0 &&
        ttdm_parse_i64(argv[2], (size_t)-1, 1, 600, &seconds)) {
        fprintf(stderr, "usage: bench_policy [--seconds N (2)]\n");
        return 2;
    }
    /* One core: pinned, so the figure is one CPU's worth and not a migration artefact. */
    CPU_ZERO(&set);
    CPU_SET(cpu >= 0 ? cpu : 0, &set);
    sched_setaffinity(0, sizeof(set), &set);

    ttdm_policy_rules_default(&rules);
    make_inputs();

    /* ttdm_policy_may_send: the decision the store takes inside every reservation. */
    start = httpload_mono_us();
    do {
        for (int i = 0; i < 1 << 20; i++) {
            const struct input *in = &inputs[n & (N_INPUTS - 1)];
            allowed +=
                ttdm_policy_may_send(&rules, &in->conv, &in->chan, in->now_ms, NULL) == TTDM_OK;
            n++;
        }
        elapsed = httpload_mono_us() - start;
    } while (elapsed < seconds * 1000000);
    printf("policy_decisions_per_s %.0f decisions/s\n", (double)n * 1e6 / (double)elapsed);
    fprintf(stderr, "bench_policy: %llu decisions in %.2f s on cpu %d, %.1f%% allowed\n",
            (unsigned long long)n, (double)elapsed / 1e6, cpu, 100.0 * (double)allowed / (double)n);

    /* ttdm_policy_budget: the full budget every conversation in the API carries. */
    n = 0;
    start = httpload_mono_us();
    do {
        for (int i = 0; i < 1 << 20; i++) {
            const struct input *in = &inputs[n & (N_INPUTS - 1)];
            ttdm_policy_budget(&rules, &in->conv, &in->chan, in->now_ms, &budget);
            replies += (uint64_t)budget.replies_left;
            n++;
        }
        elapsed = httpload_mono_us() - start;
    } while (elapsed < seconds * 1000000);
    printf("policy_budgets_per_s %.0f budgets/s\n", (double)n * 1e6 / (double)elapsed);
    fprintf(stderr, "bench_policy: %llu budgets, %.2f replies left on average\n",
            (unsigned long long)n, (double)replies / (double)n);
    return 0;
}
