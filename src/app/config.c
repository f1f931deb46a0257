/* config.c -- the table of every ttdm setting: name, type, default, bounds, help. */
#include "app/config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "util/config.h"

#define S(field, def, help)                                                                        \
    {                                                                                              \
#field, TTDM_CFG_STR, def, 0, 0, offsetof(struct ttdm_config, field),                      \
            sizeof(((struct ttdm_config *)0)->field), help                                         \
    }
#define I(field, def, lo, hi, help)                                                                \
    {                                                                                              \
#field, TTDM_CFG_INT, def, lo, hi, offsetof(struct ttdm_config, field), 0, help            \
    }
#define B(field, def, help)                                                                        \
    {                                                                                              \
#field, TTDM_CFG_BOOL, def, 0, 0, offsetof(struct ttdm_config, field), 0, help             \
    }

static const struct ttdm_cfg_entry table[] = {
    S(listen_addr, "127.0.0.1", "IPv4 address the HTTP server binds to"),
    I(port, "8080", 0, 65535, "HTTP port (0 picks a free one and prints it)"),
    S(public_url, "", "base URL browsers and TikTok use to reach ttdm (default http://ADDR:PORT)"),
    I(http_workers, "16", 1, 256, "threads that run request handlers (storage, TikTok calls)"),
    I(http_event_threads, "1", 1, 16, "libmicrohttpd epoll threads"),
    I(http_connection_memory_bytes, "16384", 8192, 1048576,
      "memory of each HTTP connection; request line and headers get about half (431 above)"),
    I(max_body_bytes, "5242880", 1024, 67108864, "largest request body accepted (413 above)"),
    I(max_webhook_bytes, "65536", 1024, 1048576, "largest TikTok webhook body accepted"),
    S(log_level, "info", "debug, info, warn, error or off"),
    S(data_dir, "var", "directory for the database and media files"),
    S(db_path, "", "SQLite database file (default DATA_DIR/ttdm.db)"),
    B(durable, "true", "fsync every commit before acknowledging (synchronous=FULL)"),
    I(group_commit_max, "64", 1, 1024, "most writes committed together in one transaction"),
    S(tiktok_api_base, "http://127.0.0.1:7071/open_api/v1.3",
      "TikTok Business API base URL (the simulator's in the sandbox)"),
    S(tiktok_auth_base, "http://127.0.0.1:7071/v2/auth/authorize/", "TikTok authorize page URL"),
    S(tiktok_app_id, "ttdm-sandbox-app", "TikTok app id (client key)"),
    S(tiktok_app_secret, "ttdm-sandbox-secret", "TikTok app secret: signs webhooks; keep private"),
    I(tiktok_timeout_ms, "10000", 100, 120000, "timeout of one call to TikTok"),
    I(webhook_tolerance_s, "300", 1, 86400, "webhook signatures older than this are refused"),
    I(outbox_inflight, "64", 1, 1024,
      "text messages the outbox sends to TikTok at once, from one thread"),
    I(outbox_workers, "4", 1, 64,
      "threads sending images and handling failed sends (retries, token refresh)"),
    I(outbox_batch, "64", 1, 256, "most messages the outbox claims (leases) in one write"),
    I(outbox_poll_ms, "200", 5, 60000, "how often the outbox looks for due retries"),
    I(outbox_lease_ms, "60000", 1000, 3600000,
      "how long a claimed message is reserved for one worker"),
    I(outbox_retry_base_ms, "500", 10, 600000,
      "first retry delay after a transient failure (doubles)"),
    I(outbox_max_attempts, "6", 1, 100, "attempts before a message fails for good"),
    I(rule_window_hours, "48", 1, 720, "R2: hours after the customer's latest message"),
    I(rule_replies_per_window, "10", 1, 1000, "R3: business messages per customer message"),
    I(rule_daily_limit_default, "100", 1, 100000, "R4: daily conversations of a new channel"),
    I(rule_daily_limit_min, "100", 1, 100000, "R4: lowest daily limit an admin may set"),
    I(rule_daily_limit_max, "200", 1, 100000, "R4: highest daily limit an admin may set"),
    I(rule_day_offset_minutes, "0", -1440, 1440, "R4: calendar day offset from UTC, in minutes"),
    I(rule_text_max_chars, "6000", 1, 1000000, "R5: longest text, in Unicode code points"),
    I(rule_image_max_bytes, "3145728", 1, 67108864, "R5: largest image"),
    S(admin_email, "admin@localhost", "email of the first admin, created on the first start"),
    S(admin_password, "",
      "password of the first admin (empty: generate one and print it once); keep private"),
    I(session_ttl_s, "604800", 60, 31536000, "how long a dashboard sign-in lasts, in seconds"),
    S(key_file, "",
      "file with the 32-byte key that encrypts TikTok tokens at rest (default "
      "DATA_DIR/secret.key, created with mode 0600 on the first start)"),
    S(secret_key, "",
      "the token encryption key as 64 hex digits, instead of key_file; keep private"),
    S(oauth_redirect_uri, "",
      "TikTok login redirect URI, as registered with TikTok (default "
      "PUBLIC_URL/oauth/tiktok/callback)"),
    S(oauth_scopes, TTDM_OAUTH_SCOPES_DEFAULT, "scopes asked for at TikTok login, comma-separated"),
    I(oauth_state_ttl_s, "600", 60, 3600,
      "how long a started TikTok login stays valid, in seconds"),
    I(token_refresh_ahead_s, "3600", 1, 2592000,
      "refresh an access token this many seconds before it expires"),
    I(token_refresh_interval_ms, "60000", 50, 3600000,
      "how often the token refresher looks for tokens to refresh"),
    B(sandbox, "false", "sandbox mode: allows the clock offset and test-only settings"),
    I(clock_offset_ms, "0", -315360000000LL, 315360000000LL,
      "sandbox only: shift this process's clock (replay a 48-hour story in seconds)"),
    B(enforce_rules, "true", "sandbox only: false lets TikTok be the only judge of R1-R8"),
};

#define N_ENTRIES (sizeof(table) / sizeof(table[0]))
#define CALLBACK_PATH "/oauth/tiktok/callback"

static bool is_hex_key(const char *s)
{
    size_t n = strlen(s);
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

int ttdm_config_load_all(struct ttdm_config *cfg, const char *path, int argc, char **argv,
                         int first_arg, char *err, size_t err_size)
{
    memset(cfg, 0, sizeof(*cfg));
    if (ttdm_config_load(table, N_ENTRIES, cfg, path, "TTDM_", argc, argv, first_arg, err,
                         err_size))
        return -1;
    if (!cfg->sandbox && cfg->clock_offset_ms != 0) {
        snprintf(err, err_size, "clock_offset_ms is only allowed with sandbox = true");
        return -1;
    }
    if (!cfg->sandbox && !cfg->enforce_rules) {
        snprintf(err, err_size, "enforce_rules = false is only allowed with sandbox = true");
        return -1;
    }
    if (cfg->rule_daily_limit_min > cfg->rule_daily_limit_max ||
        cfg->rule_daily_limit_default < cfg->rule_daily_limit_min ||
        cfg->rule_daily_limit_default > cfg->rule_daily_limit_max) {
        snprintf(err, err_size,
                 "rule_daily_limit_default must lie between rule_daily_limit_min and "
                 "rule_daily_limit_max");
        return -1;
    }
    if (!cfg->db_path[0] && snprintf(cfg->db_path, sizeof(cfg->db_path), "%s/ttdm.db",
                                     cfg->data_dir) >= (int)sizeof(cfg->db_path)) {
        snprintf(err, err_size, "data_dir is too long");
        return -1;
    }
    if (!cfg->key_file[0] && snprintf(cfg->key_file, sizeof(cfg->key_file), "%s/secret.key",
                                      cfg->data_dir) >= (int)sizeof(cfg->key_file)) {
        snprintf(err, err_size, "data_dir is too long");
        return -1;
    }
    if (cfg->secret_key[0] && !is_hex_key(cfg->secret_key)) {
        snprintf(err, err_size, "secret_key must be 64 hex digits (32 bytes)");
        return -1;
    }
    if (!cfg->oauth_scopes[0]) {
        snprintf(err, err_size, "oauth_scopes must name at least one scope");
        return -1;
    }
    if (!cfg->public_url[0]) {
        cfg->public_url_derived = true;
        snprintf(cfg->public_url, sizeof(cfg->public_url), "http://%s:%lld", cfg->listen_addr,
                 (long long)cfg->port);
    }
    /* A trailing slash would give "//oauth/..." */
    while (strlen(cfg->public_url) > 1 && cfg->public_url[strlen(cfg->public_url) - 1] == '/')
        cfg->public_url[strlen(cfg->public_url) - 1] = '\0';
    return 0;
}

void ttdm_config_set_bound_port(struct ttdm_config *cfg, unsigned port)
{
    if (cfg->public_url_derived)
        snprintf(cfg->public_url, sizeof(cfg->public_url), "http://%s:%u", cfg->listen_addr, port);
}

void ttdm_config_redirect_uri(const struct ttdm_config *cfg, char *out, size_t out_size)
{
    if (cfg->oauth_redirect_uri[0])
        snprintf(out, out_size, "%s", cfg->oauth_redirect_uri);
    else
        snprintf(out, out_size, "%s" CALLBACK_PATH, cfg->public_url);
}

bool ttdm_config_is_setting(const char *name)
{
    size_t n = strcspn(name, "=");
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (strlen(table[i].name) == n && strncmp(table[i].name, name, n) == 0)
            return true;
    return false;
}

void ttdm_config_help(void)
{
    ttdm_config_print_help(stdout, table, N_ENTRIES, "TTDM_");
}

void ttdm_config_rules(const struct ttdm_config *cfg, struct ttdm_policy_rules *rules)
{
    ttdm_policy_rules_default(rules);
    rules->window_ms = cfg->rule_window_hours * 3600 * 1000;
    rules->replies_per_window = (int)cfg->rule_replies_per_window;
    rules->daily_limit_min = (int)cfg->rule_daily_limit_min;
    rules->daily_limit_max = (int)cfg->rule_daily_limit_max;
    rules->day_offset_minutes = (int)cfg->rule_day_offset_minutes;
    rules->text_max_chars = (size_t)cfg->rule_text_max_chars;
    rules->image_max_bytes = (size_t)cfg->rule_image_max_bytes;
}

void ttdm_config_wipe_secrets(struct ttdm_config *cfg)
{
    sodium_memzero(cfg->tiktok_app_secret, sizeof(cfg->tiktok_app_secret));
    sodium_memzero(cfg->secret_key, sizeof(cfg->secret_key));
    sodium_memzero(cfg->admin_password, sizeof(cfg->admin_password));
}
