/* server.h -- ttdm's HTTP front: routes, authentication, limits, JSON rendering. */
#ifndef TTDM_SERVER_H
#define TTDM_SERVER_H

#include <stdint.h>

struct ttdm_app;
struct ttdm_server;

/* Starts listening as configured in the app's configuration; NULL (logged) on failure. */
struct ttdm_server *ttdm_server_start(struct ttdm_app *app);
/* The bound port (useful with port 0). */
uint16_t ttdm_server_port(const struct ttdm_server *srv);
/* Stops accepting and waits for running handlers. NULL is a no-op. */
void ttdm_server_stop(struct ttdm_server *srv);

#endif /* TTDM_SERVER_H */
