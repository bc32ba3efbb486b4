/* vmm — the corral-vmm program: its configuration (command line or JSON),
 * the machine it assembles from the lower layers (kvm, boot, devices,
 * virtio), the vCPU threads, the control API and the sandbox it locks
 * itself into.
 *
 * Life of a VM: vmm_config_parse_*() -> vmm_open() opens every host
 * resource (kernel, disks, taps, consoles, /dev/kvm, the API socket) while
 * still privileged -> vmm_isolate() chroots, drops privileges and installs
 * seccomp -> vmm_run() builds a machine, runs it until the guest powers off,
 * reboots (a fresh machine from the same resources) or crashes.
 */
#ifndef CORRAL_VMM_H
#define CORRAL_VMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "block/block.h"
#include "boot/boot.h"
#include "devices/devices.h"
#include "kvm/kvm.h"
#include "virtio/virtio.h"

#define VMM_MAX_DISKS 8
#define VMM_MAX_NETS 4

/* Exit statuses of corral-vmm. */
enum {
    VMM_EXIT_OK = 0,        /* guest powered off (or rebooted with --no-reboot) */
    VMM_EXIT_ERROR = 1,     /* host-side failure while running */
    VMM_EXIT_USAGE = 2,     /* bad configuration or a resource that cannot be opened */
    VMM_EXIT_CRASH = 3,     /* triple fault, emulation failure, failed entry */
};

enum console_kind { CONSOLE_NONE, CONSOLE_STDIO, CONSOLE_PTY, CONSOLE_FILE };

struct console_cfg {
    enum console_kind kind;
    char *path;             /* for CONSOLE_FILE */
};

struct disk_cfg {
    char *path;
    bool readonly;
    enum blk_format format;       /* BLK_FMT_PROBE unless format= was given */
};

struct net_cfg {
    char *tap;
    uint8_t mac[6];
    bool mac_set;
};

struct vmm_config {
    char *kernel, *initrd, *cmdline;
    uint64_t memory;
    unsigned cpus;
    struct disk_cfg disk[VMM_MAX_DISKS];
    int ndisks;
    struct net_cfg net[VMM_MAX_NETS];
    int nnets;
    struct console_cfg console;   /* the serial port (COM1) */
    struct console_cfg vconsole;  /* virtio-console; CONSOLE_NONE = no device */
    bool rng;
    char *api_socket;
    bool no_reboot;
    bool no_seccomp;
    char *jail;
    uint64_t uid, gid;
    bool uid_set, gid_set;
    char *kvm_device;
    int ready_fd;                 /* --ready-fd: told once the VM runs; -1 if none */
    char *restore;                /* --restore DIR: start from this snapshot */
    char *incoming;               /* --incoming URI: start from a migration */
    char *migration_key;          /* --migration-key FILE: TLS for migrations */
    int verbosity;
};

void vmm_config_init(struct vmm_config *c);
void vmm_config_free(struct vmm_config *c);
/* Applies a JSON document (the --config file format, see --help). */
int vmm_config_parse_json(struct vmm_config *c, const char *text, size_t len);
/* Parses argv; --config FILE is read first wherever it appears, so command
 * line options override it.  Sets *help when --help was given. */
int vmm_config_parse_args(struct vmm_config *c, int argc, char **argv, bool *help);
/* Checks the combination (e.g. a kernel is given, --uid needs --jail). */
int vmm_config_check(const struct vmm_config *c);
void vmm_usage(const char *prog);
/* The configuration as a JSON object (caller frees with json_object_put). */
struct json_object *vmm_config_to_json(const struct vmm_config *c);

/* ---- a migration's connection (link.c) ----------------------------------- */

#define LINK_TIMEOUT_MS 30000    /* a link silent this long has failed */

/* --migration-key FILE: a pre-shared key for TLS (psktool's IDENTITY:HEXKEY). */
struct link_key {
    char identity[64];
    uint8_t key[64];
    unsigned len;                /* 0: no key, no TLS */
};
int link_key_load(const char *path, struct link_key *k);

/* One end of a stream: a non-blocking socket (TLS over it once secured),
 * given up on when *CANCEL is set or ABORT_FD (the VMM's signalfd) is
 * readable.  Errors are negative errnos; link_fail() words them. */
struct link {
    int fd;
    atomic_bool *cancel;
    int abort_fd;
    uint64_t bytes;              /* sent */
    uint8_t *rx;                 /* the last frame received (migrate.c's recv_frame) */
    size_t rx_cap;
    void *tls, *cred;            /* gnutls_session_t and its PSK credentials, or NULL */
    int tls_err;                 /* the last GnuTLS error, for link_fail */
    bool server;
};
/* "tcp:ADDR:PORT" (numeric IPv4 or [IPv6]) or "unix:PATH". */
int link_parse_uri(const char *uri, struct sockaddr_storage *sa, socklen_t *len);
/* --incoming URI: the listening socket, opened before the jail. */
int link_listen(const char *uri, int *fd);
/* Waits for one connection on LISTEN_FD (until a signal) and takes it. */
int link_accept(struct link *l, int listen_fd);
int link_dial(struct link *l, const char *uri);
/* TLS with key K over the connection, as its server or client; PEER names
 * the other side in errors. */
int link_secure(struct link *l, const struct link_key *k, bool server, const char *peer);
/* Until FD is ready for EVENTS: 0, or -ETIMEDOUT at DEADLINE (ns, see
 * link_deadline), -ECANCELED, -EINTR (a signal). */
int link_wait(const struct link *l, int fd, short events, uint64_t deadline);
uint64_t link_deadline(int ms);
/* Sends (WRITE) or fills IOV[0..N) whole, the array used up; gives up
 * after TIMEOUT_MS without progress. */
int link_xfer(struct link *l, struct iovec *iov, int n, bool write, int timeout_ms);
int link_write(struct link *l, struct iovec *iov, int n);
int link_read(struct link *l, void *buf, size_t len, int timeout_ms);
/* A link error R (negative errno) about WHAT as one message (fail()). */
int link_fail(const struct link *l, int r, const char *what);
void link_close(struct link *l);

/* ---- the running VMM ----------------------------------------------------- */

struct machine;
struct api;

struct vmm {
    struct vmm_config *cfg;
    struct kvm_sys kvm;
    uint8_t *kernel, *initrd;
    size_t kernel_len, initrd_len;
    struct blk *disk[VMM_MAX_DISKS];
    int tap_fd[VMM_MAX_NETS];
    struct console_io console, vconsole;
    int pty_fd[4];                /* console fds we own, two per console (see open_console), -1 if none */
    int sigfd;                    /* SIGTERM/SIGINT/SIGHUP, read on the I/O loop */
    struct evloop *loop;
    struct api *api;
    struct machine *machine;      /* the current incarnation, NULL between boots */
    pthread_mutex_t machine_lock; /* guards `machine` against the API */
    unsigned boots;
    char serial_pty[32];          /* the serial console's pty, for --ready-fd ("" if none) */
    struct snapshot_in *restore;  /* --restore: the snapshot, until the first machine took it */
    int incoming_fd;              /* --incoming: the listening socket until a source connected */
    int pagemap_fd;               /* /proc/self/pagemap: which guest pages were ever touched (-1: unknown) */
    struct migration *migration;  /* the last migration started through the API, or NULL */
    struct link_key migration_key; /* --migration-key, read before the jail (len 0: none) */
    bool migrated;                /* the guest now runs elsewhere: exit 0 */
    int announce_fd;              /* timerfd while the NICs announce a moved guest, else -1 */
    unsigned announced;           /* frames sent per NIC so far */
    bool stop_wanted;             /* a stop was asked for: a reboot racing it does not restart */
};

int vmm_open(struct vmm *v, struct vmm_config *cfg);
void vmm_close(struct vmm *v);
/* Chroot/uid change if configured, then capabilities and seccomp. */
int vmm_isolate(struct vmm *v);
/* Runs the VM through reboots; returns a VMM_EXIT_* status. */
int vmm_run(struct vmm *v);

/* ---- one boot of the VM -------------------------------------------------- */

enum machine_state { MACHINE_RUNNING, MACHINE_PAUSED, MACHINE_STOPPING };

/* machine.c's, and snapshot.c's to save and restore. */
#define MAX_REPORTS 32

struct vcpu {
    struct kvm_vcpu k;
    struct machine *m;
    pthread_t thread;
    bool started;
    bool io_pending;                    /* the last exit was I/O that KVM completes on the next entry */
    atomic_uint_fast64_t exits[KVM_EXIT_REASONS];
    atomic_uint_fast64_t throttle_ns;   /* a migration's auto-converge: sleep this long once */
};

struct machine {
    struct vmm *vmm;
    struct guest_mem mem;
    struct kvm_vm vm;
    struct boot_entry entry;
    int ncpus;
    struct vcpu *vcpu;
    struct bus pio, mmio;
    struct dev_host host;
    struct serial serial;
    struct i8042 kbd;
    struct rtc rtc;
    struct hcall hcall;
    struct acpi_pm acpi_pm;
    struct virtio_dev *vdev[VIRTIO_MAX_DEVICES];
    int nvdev;
    struct virtio_dev *net[VMM_MAX_NETS];  /* the NICs, in --net order (also in vdev) */
    char vname[VIRTIO_MAX_DEVICES][24];
    char cmdline[BOOT_CMDLINE_MAX];

    atomic_int request;             /* enum vm_request; first one wins */
    pthread_mutex_t lock;           /* pause handshake and reports */
    pthread_cond_t cond;
    bool pause_wanted;
    int parked;
    struct { uint64_t key, value; } report[MAX_REPORTS];
    int nreports;
};



/* What one vCPU exit in RUN (the vCPU's mapped page(s), RUN_SIZE bytes)
 * asks for, port and MMIO accesses already served on PIO and MMIO.  Every
 * count, size and offset is checked against the mapping: an exit that does
 * not add up is EXIT_BAD (a crash report), never an access outside it. */
enum exit_action { EXIT_RESUME, EXIT_POWEROFF, EXIT_REBOOT, EXIT_TRIPLE_FAULT, EXIT_BAD };
enum exit_action exit_dispatch(struct bus *pio, struct bus *mmio, struct kvm_run *run, size_t run_size);

int machine_create(struct vmm *v, struct machine **out);
void machine_destroy(struct machine *m);
/* Starts the vCPU threads; machine_wait() returns the request that ended it. */
int machine_start(struct machine *m);
enum vm_request machine_wait(struct machine *m);
void machine_request(struct machine *m, enum vm_request req);
int machine_pause(struct machine *m);
int machine_resume(struct machine *m);
void machine_ctrl_alt_del(struct machine *m);
/* MACS (a snapshot's or a migration source's addresses of its NICs, in
 * order; NULL from older snapshots) become this machine's: a NIC given no
 * mac= takes its address, one given another is refused. */
int machine_adopt_macs(struct machine *m, struct json_object *macs);
/* One RARP frame from every NIC (see virtio_net_announce). */
void machine_announce(struct machine *m);
/* Auto-converge: each running vCPU sleeps NS once, as soon as it can. */
void machine_throttle(struct machine *m, uint64_t ns);
enum machine_state machine_state(struct machine *m);
/* describe / counters for the control API. */
struct json_object *machine_describe(struct machine *m);
struct json_object *machine_counters(struct machine *m);

/* ---- vCPU set-up (cpu.c) ------------------------------------------------- */

struct boot_entry;
int cpu_setup(struct kvm_vcpu *v, int ncpus, const struct boot_entry *entry);
/* The CPUID a fresh vCPU V of an NCPUS machine gets on this host (malloc'ed). */
int cpu_cpuid(struct kvm_vcpu *v, int ncpus, struct kvm_cpuid2 **out);

/* ---- snapshots (snapshot.c, docs/snapshot-format.md) --------------------- */

struct snap_file;
/* Saves the paused machine into DIR (existing; gets `memory` and `state`,
 * neither there before); *result describes what was written. */
int machine_snapshot(struct machine *m, const char *dir, struct json_object **result);
/* --restore at start-up: reads and checks DIR's state against the
 * configuration and opens its memory file (into v->restore). */
int snapshot_open(struct vmm *v);
/* A state file (BUF, malloc'ed, taken over) checked against the
 * configuration into v->restore; ORIGIN names it in messages. */
int snapshot_take_state(struct vmm *v, uint8_t *buf, size_t len, const char *origin);
/* The paused machine's whole state but RAM as a state file (snap_finish'ed
 * into W); DISKS lists the disks (snapshot names or null). */
struct snap_writer;
int machine_save_state(struct machine *m, struct json_object *disks, struct snap_writer *w);
/* The machine's shape (memory, vCPUs, devices), which a restore or an
 * incoming migration must match. */
struct json_object *machine_shape(struct machine *m);
/* Into DISKS, one entry per disk; each writable qcow2 disk gets an internal
 * snapshot called NAME first, unless NAME is NULL. */
int snapshot_disks(struct machine *m, const char *name, struct json_object *disks);
void snapshot_close(struct vmm *v);
/* Guest RAM mapped from the snapshot, for the first machine. */
int snapshot_map_memory(struct vmm *v, struct guest_mem *mem);
/* Loads vCPUs, interrupt controllers, clock and devices into a machine
 * built with the snapshot's memory. */
int machine_restore(struct machine *m);
/* The state file's checks that need no KVM (the fuzz target's entry);
 * the parsed CONFIG section into *config unless that is NULL. */
int snapshot_parse(const uint8_t *buf, size_t len, struct snap_file *f, uint64_t *memory, unsigned *cpus,
                   struct json_object **config);
/* Writes registers and the exit's details to stderr (crash reports). */
void cpu_dump(struct kvm_vcpu *v);

/* ---- live migration (migrate.c, docs/migration.md) ------------------------ */

/* Receives a migrated VM into M (built without a kernel or CPU state);
 * *run tells whether it ran at the source (else it stays paused). */
int migrate_incoming(struct vmm *v, struct machine *m, bool *run);
/* A PAGES frame's payload into guest RAM, every page checked against it
 * (the fuzz target's entry). */
int migrate_apply_pages(struct guest_mem *mem, const uint8_t *p, size_t len);
/* A DISK frame's payload, checked (its bytes point into it). */
struct migrate_chunk {
    uint32_t disk;
    bool zero;
    uint64_t offset, len;
    const uint8_t *data;
};
int migrate_disk_chunk(const uint8_t *p, size_t len, struct migrate_chunk *c);
/* The API's migrate, migrate-status and migrate-cancel (on the I/O loop). */
int migrate_start(struct vmm *v, struct json_object *req);
struct json_object *migrate_status(struct vmm *v);
int migrate_cancel(struct vmm *v);
/* The machine is going away: a migration still running is cancelled and
 * its thread joined; everything it held is freed. */
void migrate_end(struct vmm *v);

/* ---- control API (api.c) ------------------------------------------------- */

/* Listens on a Unix socket; requests are handled on the I/O loop. */
int api_open(struct api **out, const char *path);
int api_attach(struct api *a, struct vmm *v);
void api_close(struct api *a);
/* Handles one request line, returns a malloc'ed JSON response line. */
char *vmm_api_handle(struct vmm *v, const char *line, size_t len);

/* ---- sandbox (isolate.c) ------------------------------------------------- */

int isolate_jail(const char *dir, uint64_t uid, uint64_t gid, bool set_ids);
int isolate_drop_caps(void);
int isolate_seccomp(void);

#endif
