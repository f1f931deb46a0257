/* main.c -- the ttdm command: serve, and the administration commands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/channels.h"
#include "app/users.h"
#include "http/server.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/str.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(void)
{
    printf("usage: ttdm [COMMAND] [--config FILE] [--SETTING=VALUE ...]\n\n"
           "commands:\n"
           "  serve                       run the server (default)\n"
           "  apikey create [--name NAME] [--role admin|agent] [--workspace ID]\n"
           "                              create an API key and print it once\n"
           "  workspace create --name NAME --admin-email EMAIL [--admin-password PASSWORD]\n"
           "                              create a workspace and its first admin (a generated\n"
           "                              password is printed once)\n"
           "  channel create --business-id ID --access-token TOKEN [--refresh-token TOKEN]\n"
           "                 [--expires-in SECONDS]\n"
           "                              connect a TikTok account with a token (reads its\n"
           "                              profile from TikTok)\n"
           "  help                        this text\n\n"
           "settings (file 'key = value', environment TTDM_KEY, or --key=value):\n");
    ttdm_config_help();
}

/* Command options are "--name value" or "--name=value"; returns NULL when absent. */
static const char *opt(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) || strncmp(argv[i] + 2, name, n))
            continue;
        if (argv[i][2 + n] == '=')
            return argv[i] + 3 + n;
        if (argv[i][2 + n] == '\0' && i + 1 < argc)
            return argv[i + 1];
    }
    return NULL;
}

/* First start: the first admin, with a generated password shown exactly once. */
static int bootstrap_admin(struct ttdm_app *app)
{
    char password[128];
    bool created = false, generated = false;

    if (ttdm_app_bootstrap_admin(app, &created, &generated, password, sizeof(password))) {
        fprintf(stderr, "ttdm: cannot create the first admin (see the log)\n");
        return -1;
    }
    if (created && generated)
        printf("first admin: %s / %s\n", ttdm_app_config(app)->admin_email, password);
    else if (created)
        printf("first admin: %s (password from the configuration)\n",
               ttdm_app_config(app)->admin_email);
    memset(password, 0, sizeof(password));
    return 0;
}

static int serve(struct ttdm_app *app)
{
    struct ttdm_server *srv;
    struct sigaction sa;

    if (bootstrap_admin(app))
        return 1;
    srv = ttdm_server_start(app);
    if (!srv)
        return 1;
    ttdm_app_set_bound_port(app, ttdm_server_port(srv));
    if (ttdm_app_refresher_start(app)) {
        ttdm_server_stop(srv);
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("ttdm listening on http://%s:%u\n", ttdm_app_config(app)->listen_addr,
           (unsigned)ttdm_server_port(srv));
    fflush(stdout);
    while (!stop_requested)
        pause();
    LOG_INFO("main", "stopping");
    ttdm_server_stop(srv);
    return 0;
}

static int apikey_create(struct ttdm_app *app, int argc, char **argv)
{
    char key[128];
    const char *name = opt(argc, argv, "name");
    const char *role_name = opt(argc, argv, "role");
    const char *workspace = opt(argc, argv, "workspace");
    enum ttdm_role role = TTDM_ROLE_ADMIN;
    int64_t ws = 0;
    enum ttdm_err rc;

    if (role_name && !ttdm_role_parse(role_name, &role)) {
        fprintf(stderr, "ttdm: --role must be admin or agent\n");
        return 2;
    }
    if (workspace && ttdm_parse_i64(workspace, (size_t)-1, 1, INT64_MAX, &ws)) {
        fprintf(stderr, "ttdm: --workspace must be a workspace id\n");
        return 2;
    }
    rc = ttdm_app_apikey_create_role(app, ws, name ? name : "api", role, key, sizeof(key));
    if (rc) {
        fprintf(stderr, "ttdm: cannot create the API key: %s\n", ttdm_err_message(rc));
        return 1;
    }
    printf("%s\n", key);
    return 0;
}

static int channel_create(struct ttdm_app *app, int argc, char **argv)
{
    const char *business_id = opt(argc, argv, "business-id");
    const char *access = opt(argc, argv, "access-token");
    const char *refresh = opt(argc, argv, "refresh-token");
    const char *expires = opt(argc, argv, "expires-in");
    int64_t expires_in = 86400;
    struct ttdm_channel ch;
    struct ttdm_err_detail d;
    bool created = false;
    enum ttdm_err rc;

    if (!business_id || !access) {
        fprintf(stderr, "ttdm: channel create needs --business-id and --access-token\n");
        return 2;
    }
    if (expires && ttdm_parse_i64(expires, (size_t)-1, 1, INT32_MAX, &expires_in)) {
        fprintf(stderr, "ttdm: --expires-in must be a positive number of seconds\n");
        return 2;
    }
    rc = ttdm_app_channel_create_with_token(app, 0, business_id, access, refresh ? refresh : "",
                                            expires_in, &ch, &created, &d);
    if (rc) {
        fprintf(stderr, "ttdm: cannot connect the channel: %s\n",
                d.message[0] ? d.message : ttdm_err_message(rc));
        return 1;
    }
    printf("%s channel %lld for @%s (%s)\n", created ? "created" : "updated", (long long)ch.id,
           ch.username, ch.business_id);
    return 0;
}

static int workspace_create(struct ttdm_app *app, int argc, char **argv)
{
    const char *name = opt(argc, argv, "name");
    const char *email = opt(argc, argv, "admin-email");
    const char *password = opt(argc, argv, "admin-password");
    char generated[128];
    struct ttdm_err_detail d;
    int64_t ws = 0;
    enum ttdm_err rc;

    if (!name || !email) {
        fprintf(stderr, "ttdm: workspace create needs --name and --admin-email\n");
        return 2;
    }
    rc = ttdm_app_workspace_create(app, name, email, password, &ws, generated, sizeof(generated),
                                   &d);
    if (rc) {
        fprintf(stderr, "ttdm: cannot create the workspace: %s\n",
                d.message[0] ? d.message : ttdm_err_message(rc));
        return 1;
    }
    printf("workspace %lld\n", (long long)ws);
    if (generated[0])
        printf("admin: %s / %s\n", email, generated);
    memset(generated, 0, sizeof(generated));
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = "serve";
    const char *config_file = opt(argc, argv, "config");
    struct ttdm_config cfg;
    struct ttdm_app *app = NULL;
    char err[512];
    int first = 1, rc;

    if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
        cmd = argv[1];
        first = 2;
    }
    if (strcmp(cmd, "help") == 0 || opt(argc, argv, "help") ||
        (argc > 1 && strcmp(argv[argc - 1], "--help") == 0)) {
        usage();
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) {
        for (int i = first; i < argc; i++) {
            if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i], "--config") != 0 &&
                !ttdm_starts_with(argv[i], "--config=") && !ttdm_config_is_setting(argv[i] + 2)) {
                fprintf(stderr, "ttdm: unknown option %s (see ttdm --help)\n", argv[i]);
                return 2;
            }
        }
    }
    if (ttdm_config_load_all(&cfg, config_file, argc, argv, first, err, sizeof(err))) {
        fprintf(stderr, "ttdm: %s\n", err);
        return 2;
    }
    if (ttdm_log_set_level(cfg.log_level)) {
        fprintf(stderr, "ttdm: log_level must be debug, info, warn, error or off\n");
        return 2;
    }
    ttdm_httpc_global_init();
    signal(SIGPIPE, SIG_IGN);
    rc = ttdm_app_start(&cfg, &app, err, sizeof(err));
    ttdm_config_wipe_secrets(&cfg); /* the app keeps its own copy */
    if (rc) {
        fprintf(stderr, "ttdm: %s\n", err);
        return 1;
    }
    if (strcmp(cmd, "serve") == 0) {
        rc = serve(app);
    } else if (strcmp(cmd, "apikey") == 0 && argc > 2 && strcmp(argv[2], "create") == 0) {
        rc = apikey_create(app, argc, argv);
    } else if (strcmp(cmd, "workspace") == 0 && argc > 2 && strcmp(argv[2], "create") == 0) {
        rc = workspace_create(app, argc, argv);
    } else if (strcmp(cmd, "channel") == 0 && argc > 2 && strcmp(argv[2], "create") == 0) {
        rc = channel_create(app, argc, argv);
    } else {
        fprintf(stderr, "ttdm: unknown command '%s' (see ttdm --help)\n", cmd);
        rc = 2;
    }
    ttdm_app_stop(app);
    return rc;
}
