/* connguard — keeps clients that have not logged in from using up
 * corrald's HTTPS connections (each one is a thread, and there is a cap).
 *
 * Every TCP connection is tracked from accept to close.  It is *anonymous*
 * while it waits for a request (just accepted, TLS handshake, the request
 * head and body coming in, or idle between requests) or serves one whose
 * caller has not logged in; it is *trusted* while it serves a logged-in
 * caller's request (including an event stream) or carries a console
 * WebSocket.  Then:
 *
 *   - a connection must deliver a whole request (head and body) within
 *     GUARD_DEADLINE_S of being accepted, however it trickles the bytes in
 *     (libmicrohttpd's own timeout only counts silence); a kept-alive one
 *     may idle that long after an answer, and then has that long again
 *     from its next request line, so a request sent just before the idle
 *     time ends is not cut off halfway;
 *   - anonymous connections are limited per client (an IPv4 address or an
 *     IPv6 /64) and in all; at either limit a new connection closes the
 *     oldest one of that client (or of all) still waiting for its request,
 *     so a flood cannot lock newcomers out: a real client's request arrives
 *     within milliseconds, and it is never the oldest for long.  One whose
 *     request is being served is never cut (its answer would be lost): if
 *     all are, the new connection is closed instead;
 *   - trusted connections count against neither limit, so the rest of the
 *     server's connection cap stays free for logged-in clients.
 *
 * Connections are closed with shutdown(): the thread serving one sees the
 * end of its socket and ends it the ordinary way.  http.c wires the hooks
 * to libmicrohttpd; the guard itself only sees fds and addresses. */
#ifndef CORRAL_HTTP_CONNGUARD_H
#define CORRAL_HTTP_CONNGUARD_H

#include <stdbool.h>
#include <sys/socket.h>

#define GUARD_DEADLINE_S 10
#define GUARD_ANON_PER_CLIENT 16
#define GUARD_ANON_MAX 128

struct connguard;
struct guard_conn;

/* Starts the thread that closes connections past their deadline. */
int connguard_new(struct connguard **out);
/* Stops it; call once no connection is left (after the daemon stopped). */
void connguard_free(struct connguard *g);

/* Tracks an accepted connection (its fd stays open until connguard_remove),
 * first closing the oldest anonymous one of its client or of all if either
 * is at its limit.  NULL (out of memory): the connection goes unguarded. */
struct guard_conn *connguard_add(struct connguard *g, int fd, const struct sockaddr *addr);
void connguard_remove(struct guard_conn *c);

/* A request line arrived: on a kept-alive connection the deadline starts
 * again for the rest of the request. */
void connguard_request_line(struct guard_conn *c);
/* A whole request arrived; its caller is not known yet (anonymous). */
void connguard_request(struct guard_conn *c);
/* The caller is logged in: trusted until the answer is done. */
void connguard_trusted(struct guard_conn *c);
/* The connection became a WebSocket: trusted until it closes. */
void connguard_upgraded(struct guard_conn *c);
/* The answer is done: waiting for the next request, deadline restarted. */
void connguard_idle(struct guard_conn *c);

#endif
