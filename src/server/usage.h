/* usage — who uses what: the one place that knows which guests use a
 * volume, an image or a network.  Resources ask here before they delete or
 * change something, instead of asking each other; the answers come from the
 * guests' rows (a VM's disks, boot and NICs; a container's image and
 * network), read in one statement each. */
#ifndef CORRAL_SERVER_USAGE_H
#define CORRAL_SERVER_USAGE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct server;

/* The first VM but EXCEPT ("" for none) with volume REF ("POOL/VOLUME")
 * among its disks (a boot volume is its first disk), into vm. */
bool usage_volume(struct server *s, const char *ref, const char *except, char *vm, size_t len);
/* The first VM booting VM image IMAGE, into vm. */
bool usage_vm_image(struct server *s, const char *image, char *vm, size_t len);
/* The first container made from OCI image IMAGE, into ct. */
bool usage_ct_image(struct server *s, const char *image, char *ct, size_t len);
/* What is on NETWORK: the VMs' NICs [{"vm","address","mac"}] by VM name
 * and NIC order, and the containers [{"container","address"}] by name.
 * Either out may be NULL.  0 or -errno. */
int usage_network(struct server *s, const char *network, struct json_object **nics, struct json_object **cts);
/* The addresses taken on NETWORK, VM EXCEPT's own NICs left out: a JSON
 * array of strings.  0 or -errno. */
int usage_network_addresses(struct server *s, const char *network, const char *except, struct json_object **out);

#endif
