/* sim.h -- ttdm-sim, the TikTok Business Messaging simulator, startable inside a test. */
#ifndef TTDM_SIM_H
#define TTDM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/config.h"

/*
 * Every setting of the simulator. Filled from ttdm_sim_config_table (defaults, file,
 * environment TTDM_SIM_*, command line) or by ttdm_sim_config_defaults() and then edited
 * by a test.
 */
struct ttdm_sim_config {
    char listen_addr[64];
    int64_t port;
    char app_id[128];
    char app_secret[128];
    char callback_url[1024];
    char public_url[256];
    int64_t clock_offset_ms;
    int64_t webhook_retry_base_ms;
    int64_t webhook_max_attempts;
    int64_t webhook_timeout_ms;
    int64_t webhook_workers;
    bool webhook_wall_clock;
    int64_t access_token_ttl_s;
    int64_t refresh_token_ttl_s;
    char allowed_scopes[1024];
    bool seed_demo;
    int64_t window_s;
    int64_t reply_quota;
    int64_t daily_limit;
    int64_t text_max_chars;
    int64_t image_max_bytes;
    char image_blocked_regions[512];
    int64_t http_workers;
    char log_level[16];
};

/* The table behind --help, the configuration file and the TTDM_SIM_ environment. */
extern const struct ttdm_cfg_entry ttdm_sim_config_table[];
extern const size_t ttdm_sim_config_table_len;

/* Fills cfg with the built-in defaults of the table. */
void ttdm_sim_config_defaults(struct ttdm_sim_config *cfg);

/* The account seed_demo creates; empty strings when seed_demo is off. */
struct ttdm_sim_demo {
    char business_id[72];
    char username[72];
    char access_token[80];
    char refresh_token[80];
};

struct ttdm_sim;

/*
 * Starts the simulator: binds listen_addr:port (0 picks a free port), starts the webhook
 * delivery threads and, with seed_demo, creates the demo account. The config is copied.
 * Returns NULL (and logs why) when the port cannot be bound or the config is unusable.
 */
struct ttdm_sim *ttdm_sim_start(const struct ttdm_sim_config *cfg);

/* The port actually bound. */
uint16_t ttdm_sim_port(const struct ttdm_sim *sim);

/* Base URL used in download_url and profile images ("http://127.0.0.1:PORT" by default). */
const char *ttdm_sim_public_url(const struct ttdm_sim *sim);

/* The demo account (borrowed, lives as long as sim). */
const struct ttdm_sim_demo *ttdm_sim_demo(const struct ttdm_sim *sim);

/* Stops serving, stops webhook delivery (pending deliveries are dropped), frees all. NULL ok. */
void ttdm_sim_stop(struct ttdm_sim *sim);

#endif /* TTDM_SIM_H */
