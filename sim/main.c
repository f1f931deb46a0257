/* main.c -- the ttdm-sim command: run the TikTok Business Messaging simulator until a signal. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"
#include "util/config.h"
#include "util/httpc.h"
#include "util/log.h"

#define ENV_PREFIX "TTDM_SIM_"

static void usage(FILE *out)
{
    fprintf(out, "usage: ttdm-sim [--config FILE] [--SETTING=VALUE ...]\n\n"
                 "The TikTok Business Messaging simulator of ttdm (sandbox, demo, tests,\n"
                 "benchmarks). See docs/SIMULATOR.md.\n\n"
                 "settings (file 'key = value', environment " ENV_PREFIX "KEY, or --key=value):\n");
    ttdm_config_print_help(out, ttdm_sim_config_table, ttdm_sim_config_table_len, ENV_PREFIX);
}

/* --config FILE or --config=FILE; NULL when absent. Sets *bad when the value is missing. */
static const char *config_path(int argc, char **argv, bool *bad)
{
    *bad = false;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 < argc)
                return argv[i + 1];
            *bad = true;
        }
    }
    return NULL;
}

/* Every argument must be a setting, --config, or --help: typos should not pass silently. */
static int check_arguments(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t n;
        bool known = false;
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0) {
            /* A value of the previous "--name value" option. */
            if (i > 1 && strncmp(argv[i - 1], "--", 2) == 0 && !strchr(argv[i - 1], '='))
                continue;
            fprintf(stderr, "ttdm-sim: unexpected argument '%s' (try --help)\n", a);
            return -1;
        }
        n = strcspn(a + 2, "=");
        for (size_t k = 0; k < ttdm_sim_config_table_len; k++)
            if (strlen(ttdm_sim_config_table[k].name) == n &&
                strncmp(ttdm_sim_config_table[k].name, a + 2, n) == 0)
                known = true;
        if (!known) {
            fprintf(stderr, "ttdm-sim: unknown option '%s' (try --help)\n", a);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ttdm_sim_config cfg;
    struct ttdm_sim *sim;
    const struct ttdm_sim_demo *demo;
    const char *path;
    char err[512];
    bool bad;
    sigset_t set;
    int sig = 0;

    /*
     * The simulator keeps every message it is sent, so its heap only grows: grow it in
     * large steps and never give the top back, instead of one system call and a fresh page
     * fault per few messages (a third of its CPU under the send benchmark).
     */
    mallopt(M_TOP_PAD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
            strcmp(argv[i], "help") == 0) {
            usage(stdout);
            return 0;
        }
    }
    path = config_path(argc, argv, &bad);
    if (bad) {
        fprintf(stderr, "ttdm-sim: --config needs a file name\n");
        return 2;
    }
    if (check_arguments(argc, argv))
        return 2;
    memset(&cfg, 0, sizeof(cfg));
    if (ttdm_config_load(ttdm_sim_config_table, ttdm_sim_config_table_len, &cfg, path, ENV_PREFIX,
                         argc, argv, 1, err, sizeof(err))) {
        fprintf(stderr, "ttdm-sim: %s\n", err);
        return 2;
    }
    if (ttdm_log_set_level(cfg.log_level)) {
        fprintf(stderr, "ttdm-sim: log_level must be debug, info, warn, error or off\n");
        return 2;
    }

    /* Every thread inherits this mask, so the signals reach only sigwait below. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ttdm_httpc_global_init();

    sim = ttdm_sim_start(&cfg);
    if (!sim) {
        fprintf(stderr, "ttdm-sim: cannot start (see the log above)\n");
        return 1;
    }
    demo = ttdm_sim_demo(sim);
    if (demo->business_id[0]) {
        /* Sandbox credentials, printed on purpose so the demo can be wired by hand. */
        printf("demo account: username=%s business_id=%s\n", demo->username, demo->business_id);
        printf("demo access_token=%s\n", demo->access_token);
        printf("demo refresh_token=%s\n", demo->refresh_token);
    }
    printf("ttdm-sim listening on http://%s:%u\n", cfg.listen_addr, (unsigned)ttdm_sim_port(sim));
    fflush(stdout);

    while (sigwait(&set, &sig) != 0)
        ;
    LOG_INFO("sim", "signal %d: stopping", sig);
    ttdm_sim_stop(sim);
    return 0;
}
