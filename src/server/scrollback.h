/* scrollback — corrald holds every running guest's console open (a VM's
 * serial port, a container's pty master), keeps its last SCROLLBACK_SIZE
 * bytes of output and relays to the one attached client: a client
 * attaching later first gets what the guest wrote while nobody watched,
 * and a guest never waits for a reader (output nobody reads only ends up
 * in the ring).  Consoles are keyed by guest_console_key() (lifecycle.h). */
#ifndef CORRAL_SERVER_SCROLLBACK_H
#define CORRAL_SERVER_SCROLLBACK_H

#define SCROLLBACK_SIZE (64 * 1024)

struct scrollback;
int scrollback_new(struct scrollback **out);
/* Stops every holder. */
void scrollback_free(struct scrollback *sb);
/* Holds console fd FD (taken; replacing a previous holder of KEY). */
int scrollback_hold(struct scrollback *sb, const char *key, int fd);
/* A fd for a console client: the kept output first, then live bytes both
 * ways; closing it detaches.  Opens the console with open_console(arg) and
 * holds it if nothing held KEY. */
int scrollback_join(struct scrollback *sb, const char *key, int (*open_console)(const void *arg), const void *arg);
void scrollback_stop(struct scrollback *sb, const char *key);

#endif
