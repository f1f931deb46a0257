/* sim_state.h -- the simulator's world in memory: accounts, tokens, customers, conversations,
 * messages, media, faults and counters, all guarded by one mutex. */
#ifndef TTDM_SIM_STATE_H
#define TTDM_SIM_STATE_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"
#include "sim_map.h"
#include "sim_rules.h"

/*
 * Locking: every function here expects the caller to hold st->lock, and every struct below
 * is read and written only under it. Pointers to objects stay valid until
 * ttdm_sim_state_reset() or cleanup; never keep one across an unlock in a handler that
 * may race with POST /sim/reset (copy what you need instead).
 */

#define SIM_ID_MAX 72
#define SIM_NAME_MAX 65
#define SIM_DISPLAY_MAX 129
#define SIM_TOKEN_MAX 80

struct sim_account {
    char business_id[SIM_ID_MAX];
    char username[SIM_NAME_MAX];
    char display_name[SIM_DISPLAY_MAX];
    char region[3];
    bool origin_app; /* R7: created in the TikTok mobile app ("app") or on the web ("web") */
    int64_t daily_limit;
    /* R4: distinct conversations sent to during daily_day. A conversation is counted when
     * its counted_epoch equals daily_epoch, which changes whenever the day rolls over (also
     * backwards, when a test moves the clock back). */
    int64_t daily_day;
    int64_t daily_epoch;
    int64_t daily_used;
    char access_token[SIM_TOKEN_MAX]; /* the latest issued, shown by GET /sim/accounts */
    char refresh_token[SIM_TOKEN_MAX];
    int64_t created_ms;
};

struct sim_token {
    char value[SIM_TOKEN_MAX];
    bool is_refresh;
    struct sim_account *account;
    int64_t expires_ms; /* simulator clock */
    bool revoked;       /* rotated (refresh) or revoked (E4) */
    char *scope;        /* owned, comma-separated */
};

struct sim_auth_code {
    char code[SIM_ID_MAX];
    struct sim_account *account;
    char *scope;        /* owned */
    char *redirect_uri; /* owned */
    int64_t expires_ms;
    bool used;
};

struct sim_customer {
    char customer_id[SIM_ID_MAX]; /* also TikTok's unique_identifier of the person */
    char username[SIM_NAME_MAX];
    char display_name[SIM_DISPLAY_MAX];
    char region[3];
    struct sim_account *account;
    struct sim_conversation *conv;
};

struct sim_message {
    char message_id[SIM_ID_MAX];
    bool inbound;  /* customer -> business */
    char type[33]; /* webhook spelling: text, image, share_post, ... */
    char *text;    /* owned, NULL unless text */
    char media_id[SIM_ID_MAX];
    char source[8]; /* outbound: "API" or "APP"; "" inbound */
    int64_t timestamp_ms;
    cJSON *extra; /* owned object merged into the webhook content, may be NULL */
};

struct sim_conversation {
    char conversation_id[SIM_ID_MAX];
    struct sim_account *account;
    struct sim_customer *customer;
    struct ttdm_sim_vec messages; /* struct sim_message *, owned, in arrival order */
    bool customer_wrote;
    int64_t last_customer_ms; /* the latest by TikTok's timestamp, not by arrival */
    int64_t replies_used;     /* R3: business messages timed at or after last_customer_ms */
    int64_t counted_epoch;    /* see sim_account.daily_epoch; -1 = never */
    int64_t last_read_ms;
    int64_t created_ms;
    int64_t updated_ms;
    bool business_replied;
};

struct sim_media {
    char media_id[SIM_ID_MAX];
    unsigned char *data; /* owned */
    size_t len;
    const char *content_type; /* static string */
    struct sim_account *account;
    struct sim_conversation *conv; /* the conversation a customer sent it in, or NULL */
    int64_t created_ms;
};

#define SIM_FAULT_ENDPOINT_MAX 40
#define SIM_FAULT_KIND_MAX 24

struct sim_fault {
    int64_t id;
    char endpoint[SIM_FAULT_ENDPOINT_MAX]; /* "message/send", ..., or "*" */
    char kind[SIM_FAULT_KIND_MAX];         /* "http_500", "timeout", "delay", "51065", ... */
    int64_t remaining;                     /* -1 = until DELETE /sim/faults */
    int64_t delay_ms;
    bool process; /* timeout: carry out the call, then answer too late */
    int64_t hits;
};

#define SIM_STAT_SLOTS 48

struct sim_counter {
    char name[40];
    int64_t n;
};

struct sim_stats {
    struct sim_counter api_calls[SIM_STAT_SLOTS];
    struct sim_counter sends_refused[SIM_STAT_SLOTS]; /* by TikTok code */
    struct sim_counter app_refused[SIM_STAT_SLOTS];
    int64_t sends_accepted;
    int64_t app_messages_accepted;
    int64_t customer_messages;
    int64_t read_receipts;
    int64_t webhooks_delivered;
    int64_t webhooks_failed_attempts;
    int64_t webhooks_dropped;
    int64_t webhooks_skipped;
    int64_t faults_injected;
};

struct sim_state {
    pthread_mutex_t lock;
    const struct ttdm_sim_config *cfg; /* borrowed from the sim */
    struct ttdm_sim_rules rules;
    char callback_url[1024];

    struct ttdm_sim_vec accounts;      /* owned, creation order */
    struct ttdm_sim_vec tokens;        /* owned */
    struct ttdm_sim_vec codes;         /* owned */
    struct ttdm_sim_vec customers;     /* owned */
    struct ttdm_sim_vec conversations; /* owned, creation order */
    struct ttdm_sim_vec media;         /* owned */
    struct ttdm_sim_vec faults;        /* owned */
    struct ttdm_sim_map accounts_by_id, accounts_by_name, tokens_by_value, codes_by_value,
        customers_by_id, conversations_by_id, media_by_id;

    uint64_t next_message_id;
    int64_t conversation_seq;
    int64_t customer_seq;
    int64_t fault_seq;
    int64_t epoch_seq;
    struct sim_stats stats;
};

/* Sets up an empty world; cfg is borrowed for the state's lifetime. 0 or -1 (err set). */
int ttdm_sim_state_init(struct sim_state *st, const struct ttdm_sim_config *cfg, char *err,
                        size_t err_size);
void ttdm_sim_state_cleanup(struct sim_state *st);
/* Forgets every account, conversation, token, fault and counter (POST /sim/reset). */
void ttdm_sim_state_reset(struct sim_state *st);

/* --- accounts and tokens --- */

/* The fields of a new account; NULL/0 members take defaults. */
struct sim_account_spec {
    const char *username; /* required */
    const char *display_name;
    const char *region;      /* normalised two letters */
    const char *business_id; /* generated when NULL */
    int origin_app;          /* -1 default (app), 0 web, 1 app */
    int64_t daily_limit;     /* 0 = configured default */
};

/* Creates an account; NULL with a sentence in err when the username or id is taken. */
struct sim_account *ttdm_sim_state_account_create(struct sim_state *st,
                                                  const struct sim_account_spec *spec,
                                                  int64_t now_ms, char *err, size_t err_size);
struct sim_account *ttdm_sim_state_account_find(struct sim_state *st, const char *business_id);
struct sim_account *ttdm_sim_state_account_by_name(struct sim_state *st, const char *username);

/* Issues an access + refresh token pair for acc with `scope` (NULL = all allowed scopes). */
void ttdm_sim_state_tokens_grant(struct sim_state *st, struct sim_account *acc, const char *scope,
                                 int64_t now_ms, struct sim_token **access,
                                 struct sim_token **refresh);
struct sim_token *ttdm_sim_state_token_find(struct sim_state *st, const char *value);
/* Marks every access and/or refresh token of acc as expired at now_ms. */
void ttdm_sim_state_tokens_expire(struct sim_state *st, struct sim_account *acc, bool access,
                                  bool refresh, int64_t now_ms);
/* True when the comma-separated scope list contains `want`. */
bool ttdm_sim_state_scope_has(const char *scope, const char *want);

/* Single-use authorization code valid for 10 minutes. */
struct sim_auth_code *ttdm_sim_state_code_create(struct sim_state *st, struct sim_account *acc,
                                                 const char *scope, const char *redirect_uri,
                                                 int64_t now_ms);
struct sim_auth_code *ttdm_sim_state_code_find(struct sim_state *st, const char *code);

/* --- customers, conversations, messages --- */

struct sim_customer *ttdm_sim_state_customer_create(struct sim_state *st, struct sim_account *acc,
                                                    const char *username, const char *display_name,
                                                    const char *region, int64_t now_ms);
struct sim_customer *ttdm_sim_state_customer_find(struct sim_state *st, const char *customer_id);
struct sim_conversation *ttdm_sim_state_conversation_find(struct sim_state *st,
                                                          const char *conversation_id);

/*
 * Records a customer message. text and extra are copied/taken: text is copied, extra is
 * taken (deleted on failure too). Updates R2/R3 facts order-independently.
 */
struct sim_message *ttdm_sim_state_record_inbound(struct sim_state *st,
                                                  struct sim_conversation *conv, const char *type,
                                                  const char *text, const char *media_id,
                                                  cJSON *extra, int64_t timestamp_ms);

/* The reply budget of conv at now_ms plus R4 numbers of its account. */
struct sim_budget_view {
    struct ttdm_sim_budget b;
    int64_t daily_used;
    int64_t daily_limit;
    bool counted_today;
};
void ttdm_sim_state_budget(struct sim_state *st, struct sim_conversation *conv, int64_t now_ms,
                           struct sim_budget_view *out);

/* A business message to be judged by R1-R7 and, when allowed, recorded. */
struct sim_outbound {
    bool image;
    const char *text;     /* TEXT: already checked for length by the caller */
    const char *media_id; /* IMAGE: an existing media of the account */
    const char *source;   /* "API" or "APP" */
};

/*
 * Judges and records a business message atomically. Returns 0 with *out set, or TikTok's
 * code (40064 for R1-R4, 40118 for R6/R7) with a sentence in msg; nothing is recorded then.
 * Counts the result in the statistics (sends or app messages by source).
 */
int ttdm_sim_state_business_send(struct sim_state *st, struct sim_conversation *conv,
                                 const struct sim_outbound *ob, int64_t now_ms,
                                 struct sim_message **out, char *msg, size_t msg_size);

/* --- media --- */

/* Takes data (allocated with ttdm_malloc). */
struct sim_media *ttdm_sim_state_media_add(struct sim_state *st, struct sim_account *acc,
                                           struct sim_conversation *conv, unsigned char *data,
                                           size_t len, const char *content_type, int64_t now_ms);
struct sim_media *ttdm_sim_state_media_find(struct sim_state *st, const char *media_id);

/* --- webhook content (the inner object TikTok serialises into "content") --- */

/* im_receive_msg / im_send_msg content for msg of conv. Caller owns the result. */
cJSON *ttdm_sim_state_message_content(const struct sim_conversation *conv,
                                      const struct sim_message *msg);
/* im_mark_read_msg content. */
cJSON *ttdm_sim_state_read_content(const struct sim_conversation *conv, int64_t read_ms,
                                   int64_t now_ms);

/* --- faults --- */

/* Adds a fault; returns it. */
struct sim_fault *ttdm_sim_state_fault_add(struct sim_state *st, const char *endpoint,
                                           const char *kind, int64_t count, int64_t delay_ms,
                                           bool process);
/* Consumes one use of the first fault matching endpoint; copies it into out. */
bool ttdm_sim_state_fault_take(struct sim_state *st, const char *endpoint, struct sim_fault *out);
void ttdm_sim_state_faults_clear(struct sim_state *st);

/* --- statistics --- */

void ttdm_sim_state_count(struct sim_counter *slots, const char *name);
cJSON *ttdm_sim_state_counters_json(const struct sim_counter *slots);

/* --- JSON views (caller owns the result) --- */

cJSON *ttdm_sim_state_account_json(const struct sim_state *st, const struct sim_account *acc,
                                   int64_t now_ms);
cJSON *ttdm_sim_state_message_json(const struct sim_message *msg);

#endif /* TTDM_SIM_STATE_H */
