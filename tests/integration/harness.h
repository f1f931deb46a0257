/* harness.h -- runs the real ttdm and ttdm-sim binaries on 127.0.0.1 for integration tests. */
#ifndef TTDM_HARNESS_H
#define TTDM_HARNESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A started process; stopped by PID (only processes the harness started). */
struct h_proc {
    pid_t pid;
    int port;
    char log_path[512];
};

/* One test environment: a temporary directory, the simulator and a ttdm server. */
struct h_env {
    char dir[256];
    struct h_proc sim;
    struct h_proc ttdm;
    char sim_url[64];
    char ttdm_url[64];
    char api_key[128];
    char business_id[128];
    char access_token[1024];
    int64_t channel_id;
    /* Set by h_env_start_ex: the first admin, created by ttdm on its first start. */
    char admin_email[128];
    char admin_password[128];
};

/*
 * Starts ttdm-sim, creates a business account `username` on it, creates an API key and a
 * channel for that account with the ttdm command line, starts ttdm (sandbox mode) with
 * `extra_args` (NULL-terminated, may be NULL) and points the simulator's webhooks at it.
 * Fails the test (cmocka) on any problem.
 */
void h_env_start(struct h_env *env, const char *username, const char *const *extra_args);
/* Stops both processes (SIGTERM, then SIGKILL after 5 s) and removes the directory. */
void h_env_stop(struct h_env *env);

/* Restarts only ttdm with other arguments (same database). */
void h_env_restart_ttdm(struct h_env *env, const char *const *extra_args);

/*
 * One HTTP request. `body` may be NULL. Returns the status (0 on transport failure) and,
 * when `json` is not NULL, the parsed body (NULL if not JSON; caller deletes).
 * `headers` is a NULL-terminated list of "Name: value" or NULL.
 */
long h_http(const char *method, const char *url, const char *const *headers, const char *body,
            size_t body_len, cJSON **json);

/* Same against ttdm's API with the environment's API key: path like "/api/v1/...". */
long h_api(struct h_env *env, const char *method, const char *path, const char *body, cJSON **json);
/* Same against the simulator: path like "/sim/customers". */
long h_sim(struct h_env *env, const char *method, const char *path, const char *body, cJSON **json);

/* A simulated customer of the environment's account. */
struct h_customer {
    char customer_id[128];
    char conversation_id[128];    /* TikTok's */
    int64_t ttdm_conversation_id; /* 0 until ttdm has it */
};
void h_customer_new(struct h_env *env, const char *username, const char *region,
                    struct h_customer *out);
/* The customer writes `text`; returns the HTTP status ttdm answered to the first delivery. */
long h_customer_says(struct h_env *env, struct h_customer *c, const char *text, int deliveries);
/* Looks up (polling up to 5 s) ttdm's conversation id for the customer. */
int64_t h_conversation_id(struct h_env *env, struct h_customer *c);

/* Counts the messages with exactly `text` that the simulator holds in the customer's
 * conversation (what TikTok really received). */
int h_sim_count_text(struct h_env *env, const struct h_customer *c, const char *text);

/* Sends `text` as an agent; returns the status; *json is the answer (caller deletes). */
long h_reply(struct h_env *env, int64_t conversation_id, const char *text, cJSON **json);

/* Polls GET /api/v1/messages/{id} until status equals `status` (up to timeout_ms). */
bool h_wait_message_status(struct h_env *env, int64_t message_id, const char *status,
                           int timeout_ms, cJSON **last);

/* Polls the simulator's delivery log until no webhook is waiting or in flight (up to
 * timeout_ms): every echo and receipt TikTok owes ttdm has been answered, so committed. */
bool h_sim_wait_delivered(struct h_env *env, int timeout_ms);

/* Moves both processes' clocks to `offset_ms` from real time. */
void h_set_clock(struct h_env *env, int64_t offset_ms);

/* For tests whose counts are per day: keeps both clocks on one UTC day for the next
 * `span_ms`. When midnight UTC is nearer than that, moves them to one second past it.
 * Returns the offset now set (0 when none was needed); add it to every offset set later. */
int64_t h_stay_on_one_day(struct h_env *env, int64_t span_ms);

/* Field helpers on parsed JSON (fail the test when missing). */
int64_t h_int(const cJSON *obj, const char *path); /* dotted path: "reply_budget.replies_left" */
const char *h_str(const cJSON *obj, const char *path);
const cJSON *h_get(const cJSON *obj, const char *path); /* NULL when missing */

/* Sleeps. */
void h_sleep_ms(int ms);

/* ---- Environments for the channel lifecycle ---------------------------------------------- */

struct h_env_opts {
    const char *username;         /* simulator account to create; NULL: none */
    bool cli_channel;             /* connect it with `ttdm channel create` (as h_env_start) */
    const char *const *ttdm_args; /* extra ttdm arguments, NULL-terminated, may be NULL */
    const char *const *sim_args;  /* extra ttdm-sim arguments, NULL-terminated, may be NULL */
};

/*
 * h_env_start with choices: the account may be left unconnected (to connect it through the
 * TikTok login), and both servers take extra arguments. ttdm always starts with the first
 * admin admin@example.com and the password in env->admin_password, and an admin API key.
 */
void h_env_start_ex(struct h_env *env, const struct h_env_opts *opts);

/* Runs `ttdm ARGS... --data_dir=<env's>` to completion; its stdout (all lines) into out.
 * Returns the exit status. */
int h_ttdm_cli(struct h_env *env, const char *const *args, char *out, size_t out_size);

/* Creates another simulator account; its business id into business_id (may be NULL). */
void h_sim_account(struct h_env *env, const char *username, const char *region, char *business_id,
                   size_t size);

#endif /* TTDM_HARNESS_H */
