/* test_webhook.c -- TikTok webhook signatures and DIRECT_MESSAGE event parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "tiktok/webhook.h"
#include "util/crypto.h"

static const char SECRET[] = "app-secret-0123456789";
static const char BODY[] = "{\"event\":\"im_receive_msg\",\"content\":\"{}\"}";
#define NOW 1760000000
#define TOL 300

/* The digest written out independently: HMAC-SHA256(secret, "t.body") as lower-case hex. */
static void digest(const char *secret, const char *t, const char *body, size_t body_len,
                   char hex[65])
{
    const char *parts[3] = {t, ".", body};
    size_t lens[3] = {strlen(t), 1, body_len};
    ttdm_hmac_sha256_hex(secret, strlen(secret), parts, lens, 3, hex);
}

/* Both forms of the check, which must agree: with the secret, and with it prepared once. */
static enum ttdm_err verify(const char *header, const char *body)
{
    struct ttdm_hmac_key key;
    enum ttdm_err plain, prepared;

    plain = ttdm_webhook_verify(header, body, strlen(body), SECRET, strlen(SECRET), NOW, TOL);
    ttdm_hmac_key_init(&key, SECRET, strlen(SECRET));
    prepared = ttdm_webhook_verify_key(header, body, strlen(body), &key, NOW, TOL);
    ttdm_hmac_key_wipe(&key);
    assert_int_equal(plain, prepared);
    return plain;
}

/* RFC 4231 test cases 2 (a short key) and 6 (a key longer than a block, hashed first), the
 * message in two parts, through the plain and the prepared key. */
static void test_hmac_known_answers(void **state)
{
    static const struct {
        const char *msg_a, *msg_b, *want;
        size_t key_len;
        unsigned char key_byte; /* 0: the key is "Jefe" */
    } cases[] = {
        {"what do ya ", "want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 4, 0},
        {"Test Using Larger Than Block-Size Key", " - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 131, 0xaa},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char key[131], plain[65], prepared[65];
        const char *parts[2] = {cases[i].msg_a, cases[i].msg_b};
        size_t lens[2] = {strlen(cases[i].msg_a), strlen(cases[i].msg_b)};
        struct ttdm_hmac_key k;

        if (cases[i].key_byte)
            memset(key, cases[i].key_byte, cases[i].key_len);
        else
            memcpy(key, "Jefe", 4);
        ttdm_hmac_sha256_hex(key, cases[i].key_len, parts, lens, 2, plain);
        assert_string_equal(plain, cases[i].want);
        ttdm_hmac_key_init(&k, key, cases[i].key_len);
        ttdm_hmac_sha256_hex_key(&k, parts, lens, 2, prepared);
        ttdm_hmac_key_wipe(&k);
        assert_string_equal(prepared, cases[i].want);
    }
}

/* A prepared key is not changed by use: many digests with one key match fresh ones. */
static void test_prepared_key_reused(void **state)
{
    struct ttdm_hmac_key key;
    char with_key[65], fresh[65], body[64], t[16];

    (void)state;
    ttdm_hmac_key_init(&key, SECRET, strlen(SECRET));
    for (int i = 0; i < 50; i++) {
        const char *parts[3] = {t, ".", body};
        size_t lens[3];
        snprintf(t, sizeof(t), "%d", NOW + i);
        snprintf(body, sizeof(body), "{\"n\":%d}", i * 7919);
        lens[0] = strlen(t);
        lens[1] = 1;
        lens[2] = strlen(body);
        ttdm_hmac_sha256_hex_key(&key, parts, lens, 3, with_key);
        digest(SECRET, t, body, strlen(body), fresh);
        assert_string_equal(with_key, fresh);
    }
    ttdm_hmac_key_wipe(&key);
}

/* ------------------------------------------------------------------------------------ */
/* Signature */

static void test_sign_matches_spec(void **state)
{
    char header[TTDM_WEBHOOK_SIGNATURE_MAX];
    char expected[200];
    char hex[65];
    (void)state;

    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW, BODY, strlen(BODY), header);
    digest(SECRET, "1760000000", BODY, strlen(BODY), hex);
    snprintf(expected, sizeof(expected), "t=1760000000,s=%s", hex);
    assert_string_equal(header, expected);
    assert_int_equal(strlen(hex), 64);
}

static void test_valid_signature(void **state)
{
    char header[TTDM_WEBHOOK_SIGNATURE_MAX];
    (void)state;
    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW, BODY, strlen(BODY), header);
    assert_int_equal(verify(header, BODY), TTDM_OK);
}

static void test_wrong_secret(void **state)
{
    char header[TTDM_WEBHOOK_SIGNATURE_MAX];
    (void)state;
    ttdm_webhook_sign("another-secret", 14, NOW, BODY, strlen(BODY), header);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
}

static void test_tampered_body(void **state)
{
    char header[TTDM_WEBHOOK_SIGNATURE_MAX];
    char body[sizeof(BODY)];
    (void)state;
    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW, BODY, strlen(BODY), header);
    memcpy(body, BODY, sizeof(BODY));
    body[12] = 'X';
    assert_int_equal(verify(header, body), TTDM_ERR_BAD_SIGNATURE);
    /* A body one byte shorter is a different body too. */
    assert_int_equal(
        ttdm_webhook_verify(header, BODY, strlen(BODY) - 1, SECRET, strlen(SECRET), NOW, TOL),
        TTDM_ERR_BAD_SIGNATURE);
}

static void test_missing_t_or_s(void **state)
{
    char hex[65], header[200];
    (void)state;
    digest(SECRET, "1760000000", BODY, strlen(BODY), hex);

    snprintf(header, sizeof(header), "s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    assert_int_equal(verify("t=1760000000", BODY), TTDM_ERR_BAD_SIGNATURE);
    snprintf(header, sizeof(header), "t=,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    assert_int_equal(verify("t=1760000000,s=", BODY), TTDM_ERR_BAD_SIGNATURE);
    /* Keys are matched by name: "ts" and "sig" are not t and s. */
    snprintf(header, sizeof(header), "ts=1760000000,sig=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    assert_int_equal(verify(NULL, BODY), TTDM_ERR_BAD_SIGNATURE);
    assert_int_equal(verify("", BODY), TTDM_ERR_BAD_SIGNATURE);
}

static void test_reordered_and_spaced(void **state)
{
    char hex[65], header[200];
    (void)state;
    digest(SECRET, "1760000000", BODY, strlen(BODY), hex);

    snprintf(header, sizeof(header), "s=%s,t=1760000000", hex);
    assert_int_equal(verify(header, BODY), TTDM_OK);
    snprintf(header, sizeof(header), "t=1760000000, s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_OK);
    snprintf(header, sizeof(header), "  t = 1760000000 ,\ts= %s  ", hex);
    assert_int_equal(verify(header, BODY), TTDM_OK);
    /* Unknown keys are ignored, wherever they are. */
    snprintf(header, sizeof(header), "v=1,t=1760000000,x=y,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_OK);
    /* Upper-case hex is the same digest. */
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(header, sizeof(header), "t=1760000000,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_OK);
}

static void test_malformed(void **state)
{
    char hex[65], header[300];
    (void)state;
    digest(SECRET, "1760000000", BODY, strlen(BODY), hex);

    assert_int_equal(verify("garbage", BODY), TTDM_ERR_BAD_SIGNATURE);
    snprintf(header, sizeof(header), "t=1760000000,s=%s,oops", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    snprintf(header, sizeof(header), "t=17600000x0,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    snprintf(header, sizeof(header), "t=-1760000000,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    snprintf(header, sizeof(header), "t=99999999999999999999999,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    snprintf(header, sizeof(header), "t=1760000000,s=%.63s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    snprintf(header, sizeof(header), "t=1760000000,s=%s0", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    /* A second s must not be able to replace or follow a valid one. */
    snprintf(header, sizeof(header), "t=1760000000,s=%s,s=%s", hex, hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
    snprintf(header, sizeof(header), "t=1760000000,t=1760000000,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
}

static void test_t_signed_exactly_as_received(void **state)
{
    char hex[65], header[200];
    (void)state;
    /* "01760000000" is the same number but a different signed payload. */
    digest(SECRET, "01760000000", BODY, strlen(BODY), hex);
    snprintf(header, sizeof(header), "t=01760000000,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_OK);
    digest(SECRET, "1760000000", BODY, strlen(BODY), hex);
    snprintf(header, sizeof(header), "t=01760000000,s=%s", hex);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);
}

static void test_freshness(void **state)
{
    char header[TTDM_WEBHOOK_SIGNATURE_MAX];
    (void)state;

    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW - TOL, BODY, strlen(BODY), header);
    assert_int_equal(verify(header, BODY), TTDM_OK);
    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW - TOL - 1, BODY, strlen(BODY), header);
    assert_int_equal(verify(header, BODY), TTDM_ERR_STALE_SIGNATURE);
    ttdm_webhook_sign(SECRET, strlen(SECRET), 1, BODY, strlen(BODY), header);
    assert_int_equal(verify(header, BODY), TTDM_ERR_STALE_SIGNATURE);

    /* Sender clocks ahead of ours by up to the tolerance are fine, further is not. */
    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW + TOL, BODY, strlen(BODY), header);
    assert_int_equal(verify(header, BODY), TTDM_OK);
    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW + TOL + 1, BODY, strlen(BODY), header);
    assert_int_equal(verify(header, BODY), TTDM_ERR_STALE_SIGNATURE);

    /* A stale forgery is reported as a bad signature, not as stale. */
    ttdm_webhook_sign("not-the-secret", 14, NOW - TOL - 1, BODY, strlen(BODY), header);
    assert_int_equal(verify(header, BODY), TTDM_ERR_BAD_SIGNATURE);

    /* Chatwoot's 5-second window. */
    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW - 6, BODY, strlen(BODY), header);
    assert_int_equal(
        ttdm_webhook_verify(header, BODY, strlen(BODY), SECRET, strlen(SECRET), NOW, 5),
        TTDM_ERR_STALE_SIGNATURE);
}

static void test_binary_body(void **state)
{
    static const char body[] = {'{', 0, '\xff', '}', 0, 'x'};
    char header[TTDM_WEBHOOK_SIGNATURE_MAX];
    (void)state;
    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW, body, sizeof(body), header);
    assert_int_equal(
        ttdm_webhook_verify(header, body, sizeof(body), SECRET, strlen(SECRET), NOW, TOL), TTDM_OK);
    assert_int_equal(ttdm_webhook_verify(header, body, 1, SECRET, strlen(SECRET), NOW, TOL),
                     TTDM_ERR_BAD_SIGNATURE);
    /* Empty body. */
    ttdm_webhook_sign(SECRET, strlen(SECRET), NOW, "", 0, header);
    assert_int_equal(ttdm_webhook_verify(header, "", 0, SECRET, strlen(SECRET), NOW, TOL), TTDM_OK);
}

/* ------------------------------------------------------------------------------------ */
/* Parsing */

#define BIZ "7123456789012345678" /* 19 digits, as TikTok's numeric-looking ids */
#define CUST "7987654321098765432"

/* An envelope around `content`, serialised as TikTok does: content is a JSON string. */
static char *envelope(const char *event, const char *openid, const char *content)
{
    cJSON *root = cJSON_CreateObject();
    char *s;
    cJSON_AddStringToObject(root, "client_key", "app_key_1");
    cJSON_AddStringToObject(root, "event", event);
    cJSON_AddNumberToObject(root, "create_time", 1760000000);
    if (openid)
        cJSON_AddStringToObject(root, "user_openid", openid);
    if (content)
        cJSON_AddStringToObject(root, "content", content);
    s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static enum ttdm_err parse_str(const char *body, struct ttdm_webhook_event *ev, char *err,
                               size_t err_size)
{
    return ttdm_webhook_parse(body, strlen(body), ev, err, err_size);
}

static enum ttdm_err parse_env(const char *event, const char *openid, const char *content,
                               struct ttdm_webhook_event *ev, char err[256])
{
    char *body = envelope(event, openid, content);
    enum ttdm_err rc = parse_str(body, ev, err, 256);
    cJSON_free(body);
    return rc;
}

static const char RECEIVE_TEXT[] =
    "{\"conversation_id\":\"conv+AbC/12==\",\"message_id\":\"7300000000000000001\","
    "\"timestamp\":1760000000123,\"type\":\"text\",\"from\":\"alice_shop_fan\","
    "\"to\":\"acme_store\",\"from_user\":{\"id\":\"" CUST "\",\"role\":\"personal_account\","
    "\"region\":\"TH\"},\"to_user\":{\"id\":\"" BIZ "\",\"role\":\"business_account\"},"
    "\"unique_identifier\":\"" CUST "\",\"text\":{\"body\":\"Hello \\\"shop\\\" \\u00e9\\u6f22 "
    "\\ud83d\\ude00\\nline2\"}}";

static void test_receive_text(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    const char *want = "Hello \"shop\" \xc3\xa9\xe6\xbc\xa2 \xf0\x9f\x98\x80\nline2";
    (void)state;

    assert_int_equal(parse_env("im_receive_msg", BIZ, RECEIVE_TEXT, &ev, err), TTDM_OK);
    assert_int_equal(ev.kind, TTDM_WEBHOOK_RECEIVE_MSG);
    assert_string_equal(ttdm_webhook_kind_name(ev.kind), "receive_msg");
    assert_string_equal(ev.event, "im_receive_msg");
    assert_string_equal(ev.client_key, "app_key_1");
    assert_int_equal(ev.create_time_s, 1760000000);
    assert_string_equal(ev.business_id, BIZ);
    assert_string_equal(ev.conversation_id, "conv+AbC/12==");
    assert_string_equal(ev.message_id, "7300000000000000001");
    assert_int_equal(ev.timestamp_ms, INT64_C(1760000000123));
    assert_string_equal(ev.type, "text");
    assert_int_equal(ttdm_webhook_msg_type(ev.type), TTDM_MSG_TEXT);
    assert_string_equal(ev.from, "alice_shop_fan");
    assert_string_equal(ev.to, "acme_store");
    assert_string_equal(ev.from_user.id, CUST);
    assert_string_equal(ev.from_user.role, "personal_account");
    assert_string_equal(ev.to_user.id, BIZ);
    assert_string_equal(ev.to_user.role, "business_account");
    assert_string_equal(ev.unique_identifier, CUST);
    assert_string_equal(ev.customer_region, "TH");
    assert_string_equal(ev.source, "");
    assert_non_null(ev.text);
    assert_int_equal(ev.text_len, strlen(want));
    assert_memory_equal(ev.text, want, ev.text_len);
    assert_int_equal(ev.text[ev.text_len], '\0');
    assert_string_equal(ev.media_id, "");
    ttdm_webhook_event_cleanup(&ev);
    assert_null(ev.text);
    ttdm_webhook_event_cleanup(&ev); /* twice is fine */
}

static void test_receive_image(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;
    assert_int_equal(
        parse_env("im_receive_msg", BIZ,
                  "{\"conversation_id\":\"c1\",\"message_id\":\"m2\",\"timestamp\":1760000001000,"
                  "\"type\":\"image\",\"from\":\"alice\",\"to\":\"acme\",\"from_user\":{\"id\":"
                  "\"u1\",\"role\":\"personal_account\"},\"to_user\":{\"id\":\"" BIZ
                  "\",\"role\":\"business_account\"},\"image\":{\"media_id\":\"v09044g40000abc\"}}",
                  &ev, err),
        TTDM_OK);
    assert_string_equal(ev.type, "image");
    assert_int_equal(ttdm_webhook_msg_type(ev.type), TTDM_MSG_IMAGE);
    assert_string_equal(ev.media_id, "v09044g40000abc");
    assert_null(ev.text);
    /* No unique_identifier member: the sender's id stands in; no region given. */
    assert_string_equal(ev.unique_identifier, "u1");
    assert_string_equal(ev.customer_region, "");
    ttdm_webhook_event_cleanup(&ev);
}

static void test_receive_share_post(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;
    assert_int_equal(
        parse_env("im_receive_msg", BIZ,
                  "{\"conversation_id\":\"c1\",\"message_id\":\"m3\",\"timestamp\":1760000002000,"
                  "\"type\":\"share_post\",\"from_user\":{\"id\":\"u1\"},\"to_user\":{\"id\":"
                  "\"" BIZ "\"},\"share_post\":{\"embed_url\":\"https://www.tiktok.com/embed/"
                  "7301\",\"video_id\":\"7301\"}}",
                  &ev, err),
        TTDM_OK);
    assert_string_equal(ev.type, "share_post");
    assert_int_equal(ttdm_webhook_msg_type(ev.type), TTDM_MSG_SHARE_POST);
    assert_string_equal(ev.embed_url, "https://www.tiktok.com/embed/7301");
    assert_string_equal(ev.from, "");
    ttdm_webhook_event_cleanup(&ev);
}

static void test_unknown_types_kept(void **state)
{
    static const char *const types[] = {"video",    "sticker",  "emoji",
                                        "reaction", "template", "something_new"};
    struct ttdm_webhook_event ev;
    char err[256], content[512];
    (void)state;

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        snprintf(content, sizeof(content),
                 "{\"conversation_id\":\"c1\",\"message_id\":\"m%zu\",\"timestamp\":1,"
                 "\"type\":\"%s\",\"from_user\":{\"id\":\"u1\"},\"to_user\":{\"id\":\"b\"},"
                 "\"video\":{\"media_id\":\"vid1\"},\"sticker\":{\"url\":\"https://x/s.png\"}}",
                 i, types[i]);
        assert_int_equal(parse_env("im_receive_msg", BIZ, content, &ev, err), TTDM_OK);
        assert_string_equal(ev.type, types[i]);
        assert_int_equal(ttdm_webhook_msg_type(ev.type), TTDM_MSG_UNSUPPORTED);
        assert_null(ev.text);
        /* Only a video's media id is taken. */
        assert_string_equal(ev.media_id, strcmp(types[i], "video") == 0 ? "vid1" : "");
        ttdm_webhook_event_cleanup(&ev);
    }
}

static void test_echo_api_and_app(void **state)
{
    static const char *const sources[] = {"API", "APP"};
    struct ttdm_webhook_event ev;
    char err[256], content[700];
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        snprintf(content, sizeof(content),
                 "{\"conversation_id\":\"c1\",\"message_id\":\"7300000000000000009\","
                 "\"timestamp\":1760000003000,\"type\":\"text\",\"from\":\"acme\","
                 "\"to\":\"alice\",\"from_user\":{\"id\":\"" BIZ "\",\"role\":"
                 "\"business_account\",\"region\":\"SG\"},\"to_user\":{\"id\":\"" CUST
                 "\",\"role\":\"personal_account\",\"region\":\"VN\"},"
                 "\"text\":{\"body\":\"Thanks!\"},\"message_tag\":{\"source\":\"%s\"},"
                 "\"referenced_message_info\":{\"referenced_message_id\":\"m0\"}}",
                 sources[i]);
        assert_int_equal(parse_env("im_send_msg", BIZ, content, &ev, err), TTDM_OK);
        assert_int_equal(ev.kind, TTDM_WEBHOOK_SEND_MSG);
        assert_string_equal(ev.source, sources[i]);
        assert_string_equal(ev.from_user.id, BIZ);
        assert_string_equal(ev.message_id, "7300000000000000009");
        /* In an echo the customer is the receiver. */
        assert_string_equal(ev.unique_identifier, CUST);
        assert_string_equal(ev.customer_region, "VN");
        assert_string_equal(ev.referenced_message_id, "m0");
        assert_int_equal(ev.text_len, 7);
        assert_string_equal(ev.text, "Thanks!");
        ttdm_webhook_event_cleanup(&ev);
    }
}

static void test_mark_read(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;
    assert_int_equal(
        parse_env("im_mark_read_msg", BIZ,
                  "{\"conversation_id\":\"c1\",\"from\":\"alice\",\"to\":\"acme\","
                  "\"unique_identifier\":\"" CUST "\",\"from_user\":{\"id\":\"" CUST
                  "\",\"role\":\"personal_account\",\"region\":\"ID\"},\"to_user\":{\"id\":"
                  "\"" BIZ "\",\"role\":\"business_account\"},\"timestamp\":1760000004000,"
                  "\"read\":{\"last_read_timestamp\":1760000003500}}",
                  &ev, err),
        TTDM_OK);
    assert_int_equal(ev.kind, TTDM_WEBHOOK_MARK_READ);
    assert_int_equal(ev.last_read_timestamp_ms, INT64_C(1760000003500));
    assert_int_equal(ev.timestamp_ms, INT64_C(1760000004000));
    assert_string_equal(ev.conversation_id, "c1");
    assert_string_equal(ev.unique_identifier, CUST);
    assert_string_equal(ev.customer_region, "ID");
    assert_string_equal(ev.message_id, "");
    ttdm_webhook_event_cleanup(&ev);

    assert_int_equal(parse_env("im_mark_read_msg", BIZ,
                               "{\"conversation_id\":\"c1\",\"from_user\":{\"id\":\"u\"},"
                               "\"to_user\":{\"id\":\"b\"}}",
                               &ev, err),
                     TTDM_ERR_BAD_REQUEST);
    assert_string_equal(err, "content.read missing");
    ttdm_webhook_event_cleanup(&ev);
}

static void test_other_events(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;
    /* EU events carry no sender or conversation; referral events no message. */
    assert_int_equal(
        parse_env("im_receive_msg_eu", BIZ, "{\"to\":\"acme\",\"timestamp\":1}", &ev, err),
        TTDM_OK);
    assert_int_equal(ev.kind, TTDM_WEBHOOK_OTHER);
    assert_string_equal(ev.event, "im_receive_msg_eu");
    assert_string_equal(ev.business_id, BIZ);
    ttdm_webhook_event_cleanup(&ev);

    assert_int_equal(parse_env("authorization.removed", NULL, "not json", &ev, err), TTDM_OK);
    assert_int_equal(ev.kind, TTDM_WEBHOOK_OTHER);
    assert_string_equal(ttdm_webhook_kind_name(ev.kind), "other");
    ttdm_webhook_event_cleanup(&ev);
}

static void test_content_not_a_string(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;
    assert_int_equal(parse_str("{\"event\":\"im_receive_msg\",\"user_openid\":\"b\","
                               "\"content\":{\"conversation_id\":\"c1\"}}",
                               &ev, err, sizeof(err)),
                     TTDM_ERR_BAD_REQUEST);
    assert_string_equal(err, "content is not a JSON string");
    ttdm_webhook_event_cleanup(&ev);

    assert_int_equal(
        parse_str("{\"event\":\"im_receive_msg\",\"user_openid\":\"b\"}", &ev, err, sizeof(err)),
        TTDM_ERR_BAD_REQUEST);
    assert_string_equal(err, "content missing");
    ttdm_webhook_event_cleanup(&ev);

    assert_int_equal(parse_env("im_receive_msg", BIZ, "[1,2]", &ev, err), TTDM_ERR_BAD_REQUEST);
    assert_string_equal(err, "content is not a JSON object");
    ttdm_webhook_event_cleanup(&ev);
}

static void test_content_invalid_json(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;
    assert_int_equal(parse_env("im_receive_msg", BIZ, "{\"conversation_id\":", &ev, err),
                     TTDM_ERR_INVALID_JSON);
    assert_true(strncmp(err, "content: invalid JSON", 21) == 0);
    ttdm_webhook_event_cleanup(&ev);

    assert_int_equal(parse_str("{\"event\":", &ev, err, sizeof(err)), TTDM_ERR_INVALID_JSON);
    assert_true(strncmp(err, "body: invalid JSON", 18) == 0);
    assert_int_equal(parse_str("[]", &ev, err, sizeof(err)), TTDM_ERR_BAD_REQUEST);
    assert_string_equal(err, "body is not a JSON object");
    ttdm_webhook_event_cleanup(&ev);
}

static void test_invalid_utf8(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;
    assert_int_equal(parse_str("{\"event\":\"im_receive_msg\xff\"}", &ev, err, sizeof(err)),
                     TTDM_ERR_INVALID_UTF8);
    assert_string_equal(err, "body is not valid UTF-8");
    /* Overlong encoding of '/'. */
    assert_int_equal(parse_str("{\"event\":\"\xc0\xaf\"}", &ev, err, sizeof(err)),
                     TTDM_ERR_INVALID_UTF8);
    /* A lone surrogate escaped inside content cannot become UTF-8 either. */
    assert_int_equal(parse_str("{\"event\":\"im_receive_msg\",\"user_openid\":\"b\","
                               "\"content\":\"{\\\"x\\\":\\\"\\\\ud800\\\"}\"}",
                               &ev, err, sizeof(err)),
                     TTDM_ERR_INVALID_JSON);
    ttdm_webhook_event_cleanup(&ev);
}

static void test_ids_stay_strings(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;
    /* 19-digit ids survive byte for byte (a double would turn them into ...5400 or so). */
    assert_int_equal(
        parse_env(
            "im_receive_msg", "9223372036854775807",
            "{\"conversation_id\":\"9007199254740993\",\"message_id\":\"7300000000000000001\","
            "\"timestamp\":1760000000123,\"type\":\"text\",\"from_user\":{\"id\":"
            "\"1234567890123456789\"},\"to_user\":{\"id\":\"9223372036854775807\"},"
            "\"text\":{\"body\":\"x\"}}",
            &ev, err),
        TTDM_OK);
    assert_string_equal(ev.business_id, "9223372036854775807");
    assert_string_equal(ev.conversation_id, "9007199254740993");
    assert_string_equal(ev.message_id, "7300000000000000001");
    assert_string_equal(ev.from_user.id, "1234567890123456789");
    ttdm_webhook_event_cleanup(&ev);

    /* An id sent as a JSON number would already be rounded: refused, not guessed. */
    assert_int_equal(
        parse_env("im_receive_msg", BIZ,
                  "{\"conversation_id\":\"c\",\"message_id\":7300000000000000001,\"timestamp\":1,"
                  "\"type\":\"text\",\"from_user\":{\"id\":\"u\"},\"to_user\":{\"id\":\"b\"},"
                  "\"text\":{\"body\":\"x\"}}",
                  &ev, err),
        TTDM_ERR_BAD_REQUEST);
    assert_string_equal(err, "content.message_id is not a string");
    ttdm_webhook_event_cleanup(&ev);
}

/* A complete text message with one member removed or replaced. */
static enum ttdm_err parse_variant(const char *openid, const char *conv, const char *msg_id,
                                   const char *ts, const char *type, const char *from_user,
                                   const char *text, struct ttdm_webhook_event *ev, char err[256])
{
    char content[2048];
    size_t n = 0;
    n += (size_t)snprintf(content + n, sizeof(content) - n, "{\"to_user\":{\"id\":\"b\"}");
    if (conv)
        n += (size_t)snprintf(content + n, sizeof(content) - n, ",\"conversation_id\":%s", conv);
    if (msg_id)
        n += (size_t)snprintf(content + n, sizeof(content) - n, ",\"message_id\":%s", msg_id);
    if (ts)
        n += (size_t)snprintf(content + n, sizeof(content) - n, ",\"timestamp\":%s", ts);
    if (type)
        n += (size_t)snprintf(content + n, sizeof(content) - n, ",\"type\":%s", type);
    if (from_user)
        n += (size_t)snprintf(content + n, sizeof(content) - n, ",\"from_user\":%s", from_user);
    if (text)
        n += (size_t)snprintf(content + n, sizeof(content) - n, ",\"text\":%s", text);
    snprintf(content + n, sizeof(content) - n, "}");
    return parse_env("im_receive_msg", openid, content, ev, err);
}

#define OK_ARGS "\"c\"", "\"m\"", "1", "\"text\"", "{\"id\":\"u\"}", "{\"body\":\"hi\"}"

static void expect_error(enum ttdm_err got, const char *err, enum ttdm_err want_rc,
                         const char *want_err, struct ttdm_webhook_event *ev)
{
    assert_int_equal(got, want_rc);
    assert_string_equal(err, want_err);
    assert_null(ev->text);
    ttdm_webhook_event_cleanup(ev);
}

static void test_missing_fields(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    (void)state;

    assert_int_equal(parse_variant(BIZ, OK_ARGS, &ev, err), TTDM_OK);
    ttdm_webhook_event_cleanup(&ev);

    expect_error(parse_variant(NULL, OK_ARGS, &ev, err), err, TTDM_ERR_BAD_REQUEST,
                 "user_openid missing", &ev);
    expect_error(parse_variant(BIZ, NULL, "\"m\"", "1", "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.conversation_id missing", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", NULL, "1", "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.message_id missing", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"\"", "1", "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.message_id is empty", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", NULL, "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.timestamp missing", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", "-5", "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.timestamp is not a valid timestamp", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", "1.5", "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.timestamp is not a valid timestamp", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", "1", NULL, "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.type missing", &ev);
    expect_error(
        parse_variant(BIZ, "\"c\"", "\"m\"", "1", "\"text\"", NULL, "{\"body\":\"hi\"}", &ev, err),
        err, TTDM_ERR_BAD_REQUEST, "content.from_user missing", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", "1", "\"text\"", "\"u\"", "{\"body\":\"hi\"}",
                               &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.from_user is not an object", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", "1", "\"text\"", "{\"role\":\"x\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.from_user.id missing", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", "1", "\"text\"",
                               "{\"id\":\"u\",\"region\":\"THA\"}", "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.from_user.region longer than 2 bytes", &ev);
    expect_error(
        parse_variant(BIZ, "\"c\"", "\"m\"", "1", "\"text\"", "{\"id\":\"u\"}", NULL, &ev, err),
        err, TTDM_ERR_BAD_REQUEST, "content.text missing", &ev);
    expect_error(
        parse_variant(BIZ, "\"c\"", "\"m\"", "1", "\"text\"", "{\"id\":\"u\"}", "{}", &ev, err),
        err, TTDM_ERR_BAD_REQUEST, "content.text.body missing", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", "1", "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":5}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.text.body is not a string", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", "\"m\"", "1", "\"image\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.image missing", &ev);

    assert_int_equal(parse_str("{\"user_openid\":\"b\",\"content\":\"{}\"}", &ev, err, sizeof(err)),
                     TTDM_ERR_BAD_REQUEST);
    assert_string_equal(err, "event missing");
    ttdm_webhook_event_cleanup(&ev);
}

static void test_over_long_ids(void **state)
{
    struct ttdm_webhook_event ev;
    char err[256];
    char id127[128], id128[129], quoted[140];
    (void)state;

    memset(id127, '7', 127);
    id127[127] = '\0';
    memset(id128, '7', 128);
    id128[128] = '\0';

    /* 127 bytes fit exactly. */
    assert_int_equal(parse_variant(id127, OK_ARGS, &ev, err), TTDM_OK);
    assert_string_equal(ev.business_id, id127);
    ttdm_webhook_event_cleanup(&ev);

    expect_error(parse_variant(id128, OK_ARGS, &ev, err), err, TTDM_ERR_BAD_REQUEST,
                 "user_openid longer than 127 bytes", &ev);
    snprintf(quoted, sizeof(quoted), "\"%s\"", id128);
    expect_error(parse_variant(BIZ, quoted, "\"m\"", "1", "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.conversation_id longer than 127 bytes", &ev);
    expect_error(parse_variant(BIZ, "\"c\"", quoted, "1", "\"text\"", "{\"id\":\"u\"}",
                               "{\"body\":\"hi\"}", &ev, err),
                 err, TTDM_ERR_BAD_REQUEST, "content.message_id longer than 127 bytes", &ev);
}

static void test_small_error_buffer(void **state)
{
    struct ttdm_webhook_event ev;
    char err[8];
    (void)state;
    assert_int_equal(parse_str("{\"event\":\"im_send_msg\"}", &ev, err, sizeof(err)),
                     TTDM_ERR_BAD_REQUEST);
    assert_string_equal(err, "user_op");
    assert_int_equal(ttdm_webhook_parse("{}", 2, &ev, NULL, 0), TTDM_ERR_BAD_REQUEST);
    ttdm_webhook_event_cleanup(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_matches_spec),
        cmocka_unit_test(test_prepared_key_reused),
        cmocka_unit_test(test_hmac_known_answers),
        cmocka_unit_test(test_valid_signature),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_tampered_body),
        cmocka_unit_test(test_missing_t_or_s),
        cmocka_unit_test(test_reordered_and_spaced),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_t_signed_exactly_as_received),
        cmocka_unit_test(test_freshness),
        cmocka_unit_test(test_binary_body),
        cmocka_unit_test(test_receive_text),
        cmocka_unit_test(test_receive_image),
        cmocka_unit_test(test_receive_share_post),
        cmocka_unit_test(test_unknown_types_kept),
        cmocka_unit_test(test_echo_api_and_app),
        cmocka_unit_test(test_mark_read),
        cmocka_unit_test(test_other_events),
        cmocka_unit_test(test_content_not_a_string),
        cmocka_unit_test(test_content_invalid_json),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_ids_stay_strings),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_over_long_ids),
        cmocka_unit_test(test_small_error_buffer),
    };
    if (ttdm_crypto_init())
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
