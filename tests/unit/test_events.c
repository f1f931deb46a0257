/* test_events.c -- live events: workspace filtering, bounded buffers, resync after overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "app/events.h"

static int wakes;

static void on_wake(void *ud)
{
    (void)ud;
    wakes++;
}

static void test_publish_reaches_only_its_workspace(void **state)
{
    struct ttdm_events *ev = ttdm_events_new();
    struct ttdm_subscriber *a = ttdm_events_subscribe(ev, 1, on_wake, NULL);
    struct ttdm_subscriber *b = ttdm_events_subscribe(ev, 2, on_wake, NULL);
    char buf[4096];
    size_t n;

    assert_int_equal(ttdm_events_count(ev), 2);
    wakes = 0;
    ttdm_events_publish(ev, 1, "message", "{\"conversation_id\":7}");
    assert_int_equal(wakes, 1);

    n = ttdm_events_read(ev, a, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "retry: 2000\n\n"));
    assert_non_null(strstr(buf, "event: message\ndata: {\"conversation_id\":7}\n\n"));
    assert_int_equal(ttdm_events_read(ev, a, buf, sizeof(buf)), 0);

    n = ttdm_events_read(ev, b, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    assert_null(strstr(buf, "conversation_id")); /* another workspace's event never shows */

    ttdm_events_unsubscribe(ev, a);
    ttdm_events_unsubscribe(ev, b);
    assert_int_equal(ttdm_events_count(ev), 0);
    ttdm_events_free(ev);
    (void)state;
}

static void test_reads_in_small_pieces(void **state)
{
    struct ttdm_events *ev = ttdm_events_new();
    struct ttdm_subscriber *a = ttdm_events_subscribe(ev, 1, on_wake, NULL);
    char all[4096], piece[7];
    size_t total = 0, n;

    ttdm_events_publish(ev, 1, "conversation", "{\"id\":1}");
    ttdm_events_publish(ev, 1, "conversation", "{\"id\":2}");
    while ((n = ttdm_events_read(ev, a, piece, sizeof(piece))) > 0) {
        memcpy(all + total, piece, n);
        total += n;
    }
    all[total] = '\0';
    assert_non_null(strstr(all, "data: {\"id\":1}\n\n"));
    assert_non_null(strstr(all, "data: {\"id\":2}\n\n"));
    ttdm_events_unsubscribe(ev, a);
    ttdm_events_free(ev);
    (void)state;
}

static void test_slow_reader_gets_resync(void **state)
{
    struct ttdm_events *ev = ttdm_events_new();
    struct ttdm_subscriber *a = ttdm_events_subscribe(ev, 1, on_wake, NULL);
    char data[1024], buf[8192];
    bool resync = false;
    size_t n;

    memset(data, 'x', sizeof(data) - 3);
    data[0] = '"';
    data[sizeof(data) - 3] = '"';
    data[sizeof(data) - 2] = '\0';
    /* Far more than a subscriber may hold: the reader is told to reload, not fed stale data. */
    for (int i = 0; i < 1000; i++)
        ttdm_events_publish(ev, 1, "message", data);
    while ((n = ttdm_events_read(ev, a, buf, sizeof(buf) - 1)) > 0) {
        buf[n] = '\0';
        if (strstr(buf, "event: resync"))
            resync = true;
    }
    assert_true(resync);
    /* After the resync the subscriber receives events again. */
    ttdm_events_publish(ev, 1, "message", "{\"after\":true}");
    n = ttdm_events_read(ev, a, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "{\"after\":true}"));
    ttdm_events_unsubscribe(ev, a);
    ttdm_events_free(ev);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_reaches_only_its_workspace),
        cmocka_unit_test(test_reads_in_small_pieces),
        cmocka_unit_test(test_slow_reader_gets_resync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
