/* scrollback — corrald holds every running VM's serial console open, keeps
 * its last SCROLLBACK_SIZE bytes of output and relays to the one attached
 * client: a client attaching later first gets what the guest wrote while
 * nobody watched, and a guest never waits for a reader (output nobody
 * reads only ends up in the ring). */
#ifndef CORRAL_SERVER_SCROLLBACK_H
#define CORRAL_SERVER_SCROLLBACK_H

#define SCROLLBACK_SIZE (64 * 1024)

/* Holds a console fd (taken; replacing a previous holder of that key), keyed by `key` (a VM's name; containers:
 * "ct/NAME"). */
int scrollback_hold(const char *key, int fd);
/* A fd for a console client: the kept output first, then live bytes both
 * ways; closing it detaches.  Opens the console with open_console(arg) and
 * holds it if nothing held `key`. */
int scrollback_join(const char *key, int (*open_console)(const void *arg), const void *arg);
void scrollback_stop(const char *vm);
void scrollback_stop_all(void);

#endif
