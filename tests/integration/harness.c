/* harness.c -- runs the real ttdm and ttdm-sim binaries on 127.0.0.1 for integration tests. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/httpc.h"
#include "util/json.h"
#include "util/str.h"

#define APP_ID "ttdm-sandbox-app"
#define APP_SECRET "ttdm-sandbox-secret"
#define MAX_ARGS 64

void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/*
 * Servers this harness started and has not stopped yet. A failed assertion jumps out of a
 * test without reaching h_env_stop, so the next h_env_start and exit stop what is left.
 */
#define MAX_LIVE 16
static pid_t live[MAX_LIVE];

static void remember(pid_t pid)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] == 0) {
            live[i] = pid;
            return;
        }
    }
}

static void forget(pid_t pid)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i] == pid)
            live[i] = 0;
}

static void stop_leftovers(void)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] > 0) {
            int status;
            kill(live[i], SIGKILL);
            waitpid(live[i], &status, 0);
            live[i] = 0;
        }
    }
}

static pid_t spawn(const char *const argv[], const char *log_path, int stdout_fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log >= 0) {
            dup2(stdout_fd >= 0 ? stdout_fd : log, STDOUT_FILENO);
            dup2(log, STDERR_FILENO);
        }
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits for "listening on http://127.0.0.1:PORT" in the log; returns the port or -1. */
static int wait_listening(const char *log_path, pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        char buf[65536];
        FILE *f = fopen(log_path, "r");
        int status;
        if (f) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            const char *p;
            fclose(f);
            buf[n] = '\0';
            p = strstr(buf, "listening on http://127.0.0.1:");
            if (p) {
                int64_t port;
                const char *d = p + strlen("listening on http://127.0.0.1:");
                size_t len = strspn(d, "0123456789");
                if (ttdm_parse_i64(d, len, 1, 65535, &port) == 0)
                    return (int)port;
            }
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        h_sleep_ms(20);
    }
    return -1;
}

static void dump_log(const char *path)
{
    char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n;
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    if (ftell(f) > (long)sizeof(buf) - 1)
        fseek(f, -(long)(sizeof(buf) - 1), SEEK_END);
    else
        fseek(f, 0, SEEK_SET);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- %s ----\n%s\n---- end ----\n", path, buf);
}

static void stop_proc(struct h_proc *p)
{
    int status;
    if (p->pid <= 0)
        return;
    forget(p->pid);
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 250; i++) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "process %s ended with status %d\n", p->log_path, status);
                dump_log(p->log_path);
            }
            return;
        }
        h_sleep_ms(20);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    fprintf(stderr, "process %s did not stop on SIGTERM\n", p->log_path);
    dump_log(p->log_path);
    p->pid = 0;
}

/* Runs a command to completion and captures its stdout (first line) into out. */
static int run_capture(const char *const argv[], const char *log_path, char *out, size_t out_size)
{
    int fds[2];
    pid_t pid;
    int status;
    size_t got = 0;

    if (pipe(fds))
        return -1;
    pid = spawn(argv, log_path, fds[1]);
    close(fds[1]);
    for (;;) {
        ssize_t n = read(fds[0], out + got, out_size - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == out_size - 1)
            break;
    }
    close(fds[0]);
    out[got] = '\0';
    out[strcspn(out, "\n")] = '\0';
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long h_http(const char *method, const char *url, const char *const *headers, const char *body,
            size_t body_len, cJSON **json)
{
    static __thread struct ttdm_httpc *client;
    struct ttdm_httpc_req req = {0};
    struct ttdm_httpc_resp resp;
    long status;

    if (!client)
        client = ttdm_httpc_new();
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = body ? (body_len ? body_len : strlen(body)) : 0;
    req.timeout_ms = 30000;
    req.max_response = 64u * 1024 * 1024;
    ttdm_httpc_do(client, &req, &resp);
    status = resp.status;
    if (json) {
        char err[128];
        *json =
            resp.body.len ? ttdm_json_parse(resp.body.data, resp.body.len, err, sizeof(err)) : NULL;
    }
    ttdm_httpc_resp_cleanup(&resp);
    return status;
}

long h_api(struct h_env *env, const char *method, const char *path, const char *body, cJSON **json)
{
    char url[1024], auth[256];
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    snprintf(url, sizeof(url), "%s%s", env->ttdm_url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", env->api_key);
    return h_http(method, url, headers, body, 0, json);
}

long h_sim(struct h_env *env, const char *method, const char *path, const char *body, cJSON **json)
{
    char url[1024];
    const char *headers[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof(url), "%s%s", env->sim_url, path);
    return h_http(method, url, headers, body, 0, json);
}

const cJSON *h_get(const cJSON *obj, const char *path)
{
    char key[128];
    const char *p = path;
    while (obj && *p) {
        size_t n = strcspn(p, ".");
        ttdm_strlcpy_n(key, sizeof(key), p, n);
        if (cJSON_IsArray(obj)) {
            int64_t idx;
            if (ttdm_parse_i64(key, (size_t)-1, 0, 1 << 20, &idx))
                return NULL;
            obj = cJSON_GetArrayItem(obj, (int)idx);
        } else {
            obj = cJSON_GetObjectItemCaseSensitive(obj, key);
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return obj;
}

int64_t h_int(const cJSON *obj, const char *path)
{
    const cJSON *v = h_get(obj, path);
    if (!cJSON_IsNumber(v)) {
        char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
        fail_msg("expected a number at '%s' in %s", path, s ? s : "(null)");
    }
    return (int64_t)v->valuedouble;
}

const char *h_str(const cJSON *obj, const char *path)
{
    const cJSON *v = h_get(obj, path);
    if (!cJSON_IsString(v)) {
        char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
        fail_msg("expected a string at '%s' in %s", path, s ? s : "(null)");
    }
    return v->valuestring;
}

static void start_ttdm(struct h_env *env, const char *const *extra)
{
    char data_dir[300], api_base[128], auth_base[128];
    const char *argv[MAX_ARGS];
    int n = 0;

    snprintf(data_dir, sizeof(data_dir), "--data_dir=%s/data", env->dir);
    snprintf(api_base, sizeof(api_base), "--tiktok_api_base=%s/open_api/v1.3", env->sim_url);
    snprintf(auth_base, sizeof(auth_base), "--tiktok_auth_base=%s/v2/auth/authorize/",
             env->sim_url);
    argv[n++] = TTDM_BIN;
    argv[n++] = "serve";
    argv[n++] = "--port=0";
    argv[n++] = data_dir;
    argv[n++] = api_base;
    argv[n++] = auth_base;
    argv[n++] = "--sandbox=true";
    argv[n++] = "--outbox_poll_ms=20";
    argv[n++] = "--outbox_retry_base_ms=50";
    argv[n++] = "--tiktok_timeout_ms=2000";
    argv[n++] = "--log_level=info";
    for (const char *const *a = extra; a && *a && n < MAX_ARGS - 1; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    snprintf(env->ttdm.log_path, sizeof(env->ttdm.log_path), "%s/ttdm.log", env->dir);
    env->ttdm.pid = spawn(argv, env->ttdm.log_path, -1);
    remember(env->ttdm.pid);
    env->ttdm.port = wait_listening(env->ttdm.log_path, env->ttdm.pid, 15000);
    if (env->ttdm.port < 0) {
        dump_log(env->ttdm.log_path);
        fail_msg("ttdm did not start");
    }
    snprintf(env->ttdm_url, sizeof(env->ttdm_url), "http://127.0.0.1:%d", env->ttdm.port);

    /* TikTok's subscription is per app: point it at this ttdm (E13). */
    {
        char body[512];
        cJSON *j = NULL;
        long st;
        snprintf(body, sizeof(body),
                 "{\"app_id\":\"%s\",\"secret\":\"%s\",\"event_type\":\"DIRECT_MESSAGE\","
                 "\"callback_url\":\"%s/webhooks/tiktok\"}",
                 APP_ID, APP_SECRET, env->ttdm_url);
        st = h_sim(env, "POST", "/open_api/v1.3/business/webhook/update/", body, &j);
        if (st != 200 || h_int(j, "code") != 0)
            fail_msg("webhook registration failed: %ld", st);
        cJSON_Delete(j);
    }
}

void h_env_start(struct h_env *env, const char *username, const char *const *extra_args)
{
    struct h_env_opts opts = {.username = username, .cli_channel = true, .ttdm_args = extra_args};
    h_env_start_ex(env, &opts);
}

void h_env_restart_ttdm(struct h_env *env, const char *const *extra_args)
{
    char old_log[600];
    stop_proc(&env->ttdm);
    /* A fresh log, or the new process would be taken to listen where the old one did. */
    snprintf(old_log, sizeof(old_log), "%s.%d", env->ttdm.log_path, env->ttdm.port);
    rename(env->ttdm.log_path, old_log);
    start_ttdm(env, extra_args);
}

void h_env_stop(struct h_env *env)
{
    char cmd[400];
    stop_proc(&env->ttdm);
    stop_proc(&env->sim);
    if (getenv("TTDM_KEEP_TEST_DIR")) {
        fprintf(stderr, "kept %s\n", env->dir);
        return;
    }
    if (strncmp(env->dir, "/tmp/ttdm-it-", 13) == 0) {
        const char *argv[] = {"/bin/rm", "-rf", env->dir, NULL};
        pid_t pid = spawn(argv, "/dev/null", -1);
        int status;
        waitpid(pid, &status, 0);
    }
    (void)cmd;
}

void h_customer_new(struct h_env *env, const char *username, const char *region,
                    struct h_customer *out)
{
    char body[512];
    cJSON *j = NULL;
    long st;

    memset(out, 0, sizeof(*out));
    snprintf(body, sizeof(body), "{\"business_id\":\"%s\",\"username\":\"%s\",\"region\":\"%s\"}",
             env->business_id, username, region ? region : "");
    st = h_sim(env, "POST", "/sim/customers", body, &j);
    if (st != 200 && st != 201)
        fail_msg("cannot create a simulated customer: HTTP %ld", st);
    ttdm_strlcpy(out->customer_id, h_str(j, "customer_id"), sizeof(out->customer_id));
    ttdm_strlcpy(out->conversation_id, h_str(j, "conversation_id"), sizeof(out->conversation_id));
    cJSON_Delete(j);
}

long h_customer_says(struct h_env *env, struct h_customer *c, const char *text, int deliveries)
{
    char path[256];
    cJSON *body = cJSON_CreateObject(), *j = NULL;
    char *s;
    long st, delivered;

    cJSON_AddStringToObject(body, "type", "text");
    cJSON_AddStringToObject(body, "text", text);
    cJSON_AddNumberToObject(body, "deliveries", deliveries);
    s = cJSON_PrintUnformatted(body);
    snprintf(path, sizeof(path), "/sim/customers/%s/messages", c->customer_id);
    st = h_sim(env, "POST", path, s, &j);
    cJSON_free(s);
    cJSON_Delete(body);
    if (st != 200 && st != 201)
        fail_msg("the simulated customer could not write: HTTP %ld", st);
    delivered = (long)h_int(j, "delivery_status");
    cJSON_Delete(j);
    return delivered;
}

int64_t h_conversation_id(struct h_env *env, struct h_customer *c)
{
    if (c->ttdm_conversation_id)
        return c->ttdm_conversation_id;
    for (int i = 0; i < 250; i++) {
        cJSON *j = NULL;
        const cJSON *row;
        h_api(env, "GET", "/api/v1/conversations?limit=200", NULL, &j);
        cJSON_ArrayForEach(row, h_get(j, "data"))
        {
            if (strcmp(h_str(row, "tiktok_conversation_id"), c->conversation_id) == 0) {
                c->ttdm_conversation_id = h_int(row, "id");
                break;
            }
        }
        cJSON_Delete(j);
        if (c->ttdm_conversation_id)
            return c->ttdm_conversation_id;
        h_sleep_ms(20);
    }
    fail_msg("ttdm never showed conversation %s", c->conversation_id);
    return 0;
}

long h_reply(struct h_env *env, int64_t conversation_id, const char *text, cJSON **json)
{
    char path[128];
    cJSON *body = cJSON_CreateObject();
    char *s;
    long st;
    cJSON_AddStringToObject(body, "text", text);
    s = cJSON_PrintUnformatted(body);
    snprintf(path, sizeof(path), "/api/v1/conversations/%lld/messages", (long long)conversation_id);
    st = h_api(env, "POST", path, s, json);
    cJSON_free(s);
    cJSON_Delete(body);
    return st;
}

bool h_wait_message_status(struct h_env *env, int64_t message_id, const char *status,
                           int timeout_ms, cJSON **last)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/messages/%lld", (long long)message_id);
    for (int waited = 0;; waited += 20) {
        cJSON *j = NULL;
        const cJSON *st;
        h_api(env, "GET", path, NULL, &j);
        st = h_get(j, "status");
        if (cJSON_IsString(st) && strcmp(st->valuestring, status) == 0) {
            if (last)
                *last = j;
            else
                cJSON_Delete(j);
            return true;
        }
        if (waited >= timeout_ms) {
            if (last)
                *last = j;
            else
                cJSON_Delete(j);
            return false;
        }
        cJSON_Delete(j);
        h_sleep_ms(20);
    }
}

bool h_sim_wait_delivered(struct h_env *env, int timeout_ms)
{
    for (int waited = 0;; waited += 20) {
        cJSON *j = NULL;
        const cJSON *pending;
        bool done;
        h_sim(env, "GET", "/sim/webhooks?limit=1", NULL, &j);
        pending = h_get(j, "pending");
        done = cJSON_IsNumber(pending) && pending->valuedouble == 0;
        cJSON_Delete(j);
        if (done)
            return true;
        if (waited >= timeout_ms)
            return false;
        h_sleep_ms(20);
    }
}

void h_set_clock(struct h_env *env, int64_t offset_ms)
{
    char body[96];
    long st;
    snprintf(body, sizeof(body), "{\"offset_ms\":%lld}", (long long)offset_ms);
    st = h_api(env, "POST", "/api/v1/sandbox/clock", body, NULL);
    if (st != 200)
        fail_msg("ttdm refused the clock offset: HTTP %ld", st);
    st = h_sim(env, "POST", "/sim/clock", body, NULL);
    if (st != 200)
        fail_msg("ttdm-sim refused the clock offset: HTTP %ld", st);
}

int64_t h_stay_on_one_day(struct h_env *env, int64_t span_ms)
{
    const int64_t day_ms = 24LL * 3600 * 1000;
    struct timespec ts;
    int64_t left;

    clock_gettime(CLOCK_REALTIME, &ts);
    left = day_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) % day_ms;
    if (left > span_ms)
        return 0;
    h_set_clock(env, left + 1000);
    return left + 1000;
}

int h_sim_count_text(struct h_env *env, const struct h_customer *c, const char *text)
{
    char path[512], enc[400];
    int n = 0;
    cJSON *j = NULL;
    const cJSON *m;

    /* Conversation ids may contain '+', which a query or path must carry as %2B. */
    if (ttdm_url_encode(c->conversation_id, enc, sizeof(enc)))
        fail_msg("conversation id too long");
    snprintf(path, sizeof(path), "/sim/conversations/%s/messages", enc);
    if (h_sim(env, "GET", path, NULL, &j) != 200)
        fail_msg("the simulator does not know conversation %s", c->conversation_id);
    cJSON_ArrayForEach(m, h_get(j, "messages"))
    {
        const cJSON *t = h_get(m, "text");
        if (cJSON_IsString(t) && strcmp(t->valuestring, text) == 0)
            n++;
    }
    cJSON_Delete(j);
    return n;
}

/* ---- Environments for the channel lifecycle ---------------------------------------------- */

#define ADMIN_EMAIL "admin@example.com"
#define ADMIN_PASSWORD "correct horse battery"

void h_env_start_ex(struct h_env *env, const struct h_env_opts *opts)
{
    char data_dir[300], api_base[128], log[300], body[512], bid_opt[200], tok_opt[1100];
    char admin_email[160], admin_password[160];
    const char *ttdm_args[MAX_ARGS];
    cJSON *j = NULL;
    int n = 0;
    long st;

    static bool registered;
    if (!registered) {
        atexit(stop_leftovers);
        registered = true;
    }
    stop_leftovers();
    memset(env, 0, sizeof(*env));
    snprintf(env->dir, sizeof(env->dir), "/tmp/ttdm-it-XXXXXX");
    if (!mkdtemp(env->dir))
        fail_msg("mkdtemp failed");
    signal(SIGPIPE, SIG_IGN);
    ttdm_strlcpy(env->admin_email, ADMIN_EMAIL, sizeof(env->admin_email));
    ttdm_strlcpy(env->admin_password, ADMIN_PASSWORD, sizeof(env->admin_password));

    snprintf(env->sim.log_path, sizeof(env->sim.log_path), "%s/sim.log", env->dir);
    {
        const char *argv[MAX_ARGS] = {TTDM_SIM_BIN, "--port=0", "--webhook_retry_base_ms=100",
                                      "--access_token_ttl_s=31536000"};
        int k = 4;
        for (const char *const *a = opts->sim_args; a && *a && k < MAX_ARGS - 1; a++)
            argv[k++] = *a;
        argv[k] = NULL;
        env->sim.pid = spawn(argv, env->sim.log_path, -1);
        remember(env->sim.pid);
    }
    env->sim.port = wait_listening(env->sim.log_path, env->sim.pid, 15000);
    if (env->sim.port < 0) {
        dump_log(env->sim.log_path);
        fail_msg("ttdm-sim did not start");
    }
    snprintf(env->sim_url, sizeof(env->sim_url), "http://127.0.0.1:%d", env->sim.port);

    if (opts->username) {
        snprintf(body, sizeof(body), "{\"username\":\"%s\",\"display_name\":\"%s shop\"}",
                 opts->username, opts->username);
        st = h_sim(env, "POST", "/sim/accounts", body, &j);
        if (st != 200 && st != 201)
            fail_msg("cannot create the simulator account: HTTP %ld", st);
        ttdm_strlcpy(env->business_id, h_str(j, "business_id"), sizeof(env->business_id));
        ttdm_strlcpy(env->access_token, h_str(j, "access_token"), sizeof(env->access_token));
        cJSON_Delete(j);
    }

    snprintf(data_dir, sizeof(data_dir), "--data_dir=%s/data", env->dir);
    snprintf(api_base, sizeof(api_base), "--tiktok_api_base=%s/open_api/v1.3", env->sim_url);
    snprintf(log, sizeof(log), "%s/cli.log", env->dir);
    {
        const char *argv[] = {TTDM_BIN, "apikey", "create", "--name", "tests", data_dir, NULL};
        if (run_capture(argv, log, env->api_key, sizeof(env->api_key)) != 0 ||
            !ttdm_starts_with(env->api_key, "ttdm_")) {
            dump_log(log);
            fail_msg("ttdm apikey create failed");
        }
    }
    if (opts->cli_channel && opts->username) {
        char out[512];
        const char *argv[] = {TTDM_BIN, "channel", "create", bid_opt,
                              tok_opt,  data_dir,  api_base, NULL};
        const char *p;
        int64_t id;
        snprintf(bid_opt, sizeof(bid_opt), "--business-id=%s", env->business_id);
        snprintf(tok_opt, sizeof(tok_opt), "--access-token=%s", env->access_token);
        if (run_capture(argv, log, out, sizeof(out)) != 0) {
            dump_log(log);
            fail_msg("ttdm channel create failed");
        }
        p = strstr(out, "channel ");
        if (!p || ttdm_parse_i64(p + 8, strspn(p + 8, "0123456789"), 1, INT64_MAX, &id))
            fail_msg("unexpected output of channel create: %s", out);
        env->channel_id = id;
    }
    snprintf(admin_email, sizeof(admin_email), "--admin_email=%s", env->admin_email);
    snprintf(admin_password, sizeof(admin_password), "--admin_password=%s", env->admin_password);
    ttdm_args[n++] = admin_email;
    ttdm_args[n++] = admin_password;
    for (const char *const *a = opts->ttdm_args; a && *a && n < MAX_ARGS - 1; a++)
        ttdm_args[n++] = *a;
    ttdm_args[n] = NULL;
    start_ttdm(env, ttdm_args);
}

int h_ttdm_cli(struct h_env *env, const char *const *args, char *out, size_t out_size)
{
    const char *argv[MAX_ARGS];
    char data_dir[300], log[300];
    int fds[2], n = 0, status;
    size_t got = 0;
    pid_t pid;

    snprintf(data_dir, sizeof(data_dir), "--data_dir=%s/data", env->dir);
    snprintf(log, sizeof(log), "%s/cli.log", env->dir);
    argv[n++] = TTDM_BIN;
    for (const char *const *a = args; a && *a && n < MAX_ARGS - 2; a++)
        argv[n++] = *a;
    argv[n++] = data_dir;
    argv[n] = NULL;
    if (pipe(fds))
        return -1;
    pid = spawn(argv, log, fds[1]);
    close(fds[1]);
    for (;;) {
        ssize_t r = read(fds[0], out + got, out_size - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == out_size - 1)
            break;
    }
    close(fds[0]);
    out[got] = '\0';
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void h_sim_account(struct h_env *env, const char *username, const char *region, char *business_id,
                   size_t size)
{
    char body[512];
    cJSON *j = NULL;
    long st;

    snprintf(body, sizeof(body),
             "{\"username\":\"%s\",\"display_name\":\"%s shop\",\"region\":\"%s\"}", username,
             username, region ? region : "SG");
    st = h_sim(env, "POST", "/sim/accounts", body, &j);
    if (st != 200 && st != 201)
        fail_msg("cannot create the simulator account %s: HTTP %ld", username, st);
    if (business_id)
        ttdm_strlcpy(business_id, h_str(j, "business_id"), size);
    cJSON_Delete(j);
}
