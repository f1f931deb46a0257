/* config.h -- every setting of the ttdm server, one table (docs/CONFIG.md lists them). */
#ifndef TTDM_APP_CONFIG_H
#define TTDM_APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/policy.h"

#define TTDM_PATH_MAX 1024

/* The nine scopes of TikTok's business login (tiktok-api.md section 3.1). */
#define TTDM_OAUTH_SCOPES_DEFAULT                                                                  \
    "user.info.basic,user.info.username,user.info.stats,user.info.profile,user.account.type,"      \
    "user.insights,message.list.read,message.list.send,message.list.manage"

struct ttdm_config {
    /* server */
    char listen_addr[64];
    int64_t port;
    char public_url[TTDM_PATH_MAX];
    int64_t http_workers;
    int64_t http_event_threads;
    int64_t http_connection_memory_bytes;
    int64_t max_body_bytes;
    int64_t max_webhook_bytes;
    char log_level[16];
    /* storage */
    char data_dir[TTDM_PATH_MAX];
    char db_path[TTDM_PATH_MAX];
    bool durable;
    int64_t group_commit_max;
    /* TikTok */
    char tiktok_api_base[TTDM_PATH_MAX];
    char tiktok_auth_base[TTDM_PATH_MAX];
    char tiktok_app_id[256];
    char tiktok_app_secret[256];
    int64_t tiktok_timeout_ms;
    int64_t webhook_tolerance_s;
    /* outbox */
    int64_t outbox_inflight;
    int64_t outbox_workers;
    int64_t outbox_batch;
    int64_t outbox_poll_ms;
    int64_t outbox_lease_ms;
    int64_t outbox_retry_base_ms;
    int64_t outbox_max_attempts;
    /* rules (PRODUCT.md R1-R8) */
    int64_t rule_window_hours;
    int64_t rule_replies_per_window;
    int64_t rule_daily_limit_default;
    int64_t rule_daily_limit_min;
    int64_t rule_daily_limit_max;
    int64_t rule_day_offset_minutes;
    int64_t rule_text_max_chars;
    int64_t rule_image_max_bytes;
    /* users and sessions */
    char admin_email[256];
    char admin_password[256];
    int64_t session_ttl_s;
    /* secrets */
    char key_file[TTDM_PATH_MAX];
    char secret_key[128];
    /* channels: OAuth and token refresh */
    char oauth_redirect_uri[TTDM_PATH_MAX];
    char oauth_scopes[512];
    int64_t oauth_state_ttl_s;
    int64_t token_refresh_ahead_s;
    int64_t token_refresh_interval_ms;
    /* sandbox */
    bool sandbox;
    int64_t clock_offset_ms;
    bool enforce_rules;

    /* Derived at load, not settings. */
    bool public_url_derived; /* public_url was not set: it follows the bound port */
};

/*
 * Loads defaults, then the file (NULL: none), TTDM_* environment variables, then --key=value
 * options from argv. Returns 0, or -1 with the reason in err (e.g. "unknown key 'x' at
 * ttdm.conf:12"). Also checks cross-field rules (clock offset and enforce_rules=false only
 * in sandbox mode, secret_key as 64 hex digits) and derives db_path and key_file from
 * data_dir when empty.
 */
int ttdm_config_load_all(struct ttdm_config *cfg, const char *path, int argc, char **argv,
                         int first_arg, char *err, size_t err_size);

/* True when `name` (without the leading --, up to '=' if any) is a setting. */
bool ttdm_config_is_setting(const char *name);

/* Prints every setting with its help text and default. */
void ttdm_config_help(void);

/* Overwrites the secrets held in cfg (app secret, secret key, first admin's password) with
 * zeros: for a copy that is no longer needed. */
void ttdm_config_wipe_secrets(struct ttdm_config *cfg);

/*
 * Once the server listens: a public_url that was derived from port 0 gets the real port.
 * Call before serving starts (the configuration is read without locks afterwards).
 */
void ttdm_config_set_bound_port(struct ttdm_config *cfg, unsigned port);

/* The OAuth redirect URI: oauth_redirect_uri, or public_url + "/oauth/tiktok/callback". */
void ttdm_config_redirect_uri(const struct ttdm_config *cfg, char *out, size_t out_size);

/* The policy rules described by the configuration. */
void ttdm_config_rules(const struct ttdm_config *cfg, struct ttdm_policy_rules *rules);

#endif /* TTDM_APP_CONFIG_H */
