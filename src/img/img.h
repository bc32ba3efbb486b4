/* img — the `corral-img` program: qemu-img's commands over the block layer.
 *
 * A thin front end in the manner of crun: main.c finds the subcommand, each
 * command lives in its own small file and does its work through block.h.
 * Every command accepts qemu-img's options and prints qemu-img's output
 * (human text and --output=json), so scripts written for qemu-img work
 * unchanged.  Errors are one line on stderr, "corral-img: …"; bad usage
 * exits 1 like qemu-img.
 */
#ifndef CORRAL_IMG_H
#define CORRAL_IMG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "block/block.h"

struct json_object;

struct img_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;   /* "create [-f fmt] … FILE [SIZE]" */
    const char *summary;
};
extern const struct img_cmd img_cmds[];

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_rebase(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "corral-img: MESSAGE" on stderr; returns 1 (the usual exit status). */
int img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, for a block layer failure: "corral-img: CONTEXT: err_msg()". */
int img_block_error(const char *context);
/* Bad usage of command `cmd`: the error line plus a hint; returns 1. */
int img_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the command's --help text and returns 0. */
int img_help(const char *cmd);
/* Resets getopt before a command parses its options. */
void img_getopt_reset(void);

/* Long options every command takes, as qemu-img does.  --object (QEMU
 * objects: secrets for encrypted images, throttle groups) and --image-opts
 * (QEMU option strings instead of file names) have no meaning for corral
 * and are refused by img_bad_option(); -U (--force-share) is accepted by
 * every command that qemu-img accepts it for (corral takes no image locks). */
enum { IMG_OPT_OBJECT = 0x100, IMG_OPT_IMAGE_OPTS, IMG_OPT_LOCAL };
#define IMG_COMMON_LONGOPTS                                  \
    { "object", required_argument, NULL, IMG_OPT_OBJECT },   \
    { "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS }, \
    { "force-share", no_argument, NULL, 'U' }
/* The default case of each command's option switch: one error line for an
 * unknown option, a missing argument or a refused option.  Returns 1. */
int img_bad_option(const char *cmd, int c, char **argv);
/* -t cache / -T src_cache: one of QEMU's cache modes, as blk_open() flags
 * (none: DIRECT, writethrough: DSYNC, directsync: both, unsafe: NO_FLUSH,
 * writeback: 0).  Returns 0, or 1 with the error printed. */
int img_cache_flags(const char *mode, int *flags);   /* -1 if unknown, no message */
int img_cache_mode(const char *mode, bool src, int *flags);

/* -r rate_limit: at most `bps` bytes per second (0: no limit). */
struct img_rate {
    uint64_t bps, start_ns, done;
};
/* Counts `bytes` as done and sleeps as long as the rate requires. */
void img_rate_wait(struct img_rate *r, uint64_t bytes);

/* Preallocates [from, to) of a raw image file: "falloc" allocates blocks,
 * "full" writes zeros, "off" does nothing.  Prints the error. */
int img_preallocate_raw(const char *path, uint64_t from, uint64_t to, const char *mode);
/* Preallocates [from, to) of an image through the block layer: zeros are
 * written, so every cluster is allocated (qcow2 falloc and full).  Prints
 * the error. */
int img_preallocate_blk(struct blk *b, uint64_t from, uint64_t to);
/* Whether `mode` names a preallocation mode qemu knows; prints the error if not. */
int img_prealloc_mode(const char *mode);

/* create -o / convert -o: the options qemu-img's create takes. */
struct img_create_args {
    struct blk_create_opts o;
    const char *backing_fmt;   /* as given */
    const char *compat;        /* as given, for the "Formatting" line */
    const char *prealloc;      /* NULL = off */
    bool size_given, help;
};
int img_create_opt(const char *key, const char *val, void *arg);
/* Checks the options against the chosen format; prints the error. */
int img_create_check(const struct img_create_args *a, const char *file);
/* -o help: the options corral supports for format f. */
void img_create_help(enum blk_format f);
/* Creates the image and preallocates it as asked; prints the error. */
int img_create_image(const char *file, const struct img_create_args *a);

/* Opens an image, format by name (NULL = probe).  Prints the error. */
int img_open(const char *path, const char *fmt, int flags, struct blk **out);
int img_format(const char *name, enum blk_format *out);   /* prints the error */
/* QEMU's path_combine(): a relative backing file name is relative to the
 * directory of the image that names it.  malloc'ed (NULL: out of memory). */
char *img_backing_path(const char *image, const char *backing);
/* Opens the backing file recorded in `b` (whose path is `image`) with
 * `flags`; *out = NULL and 0 if there is none.  Prints the error. */
int img_open_backing(struct blk *b, const char *image, int flags, struct blk **out, char **path);
/* The files of an image's backing chain: path[0] is `file`, path[d + 1]
 * the backing file recorded in path[d], resolved relative to it, and the
 * format of each (as recorded, else probed).  The walk stops at the first file that
 * cannot be opened (opening the image reports that).  1 if out of memory. */
struct img_chain {
    char *path[BLK_MAX_BACKING_DEPTH + 1];
    enum blk_format fmt[BLK_MAX_BACKING_DEPTH + 1];
    int n;
};
int img_chain_load(const char *file, enum blk_format fmt, struct img_chain *c);
void img_chain_free(struct img_chain *c);

/* "10G", "512M", "1.5T", "4096", "0x1000", "1k": qemu-img's size syntax
 * (qemu_strtosz()).  -EINVAL if malformed, -ERANGE above INT64_MAX. */
int img_parse_size(const char *s, uint64_t *out);
/* img_parse_size() with qemu-img's error line, "Invalid WHAT specified. …". */
int img_cvtnum(const char *what, const char *s, uint64_t *out);
/* qemu's size_to_str(): "10 MiB", "196 KiB", "0 B". */
void img_size_str(uint64_t v, char *buf, size_t len);

/* -o key=value,key=value (",," is a comma in a value): calls fn for each
 * pair; "help" or "?" calls fn with key "help" and a NULL value.  Splits `opts` in place (an argv
 * string), so keys and values stay valid for the whole command. */
typedef int (*img_opt_fn)(const char *key, const char *val, void *arg);
int img_parse_opts(char *opts, img_opt_fn fn, void *arg);

/* Output format of --output=…: 0 human, 1 json; -1 (printed) if invalid. */
int img_output_format(const char *s);

/* JSON printed the way qemu-img prints it: four-space indentation, object
 * keys in QEMU's QDict hash order, so text comparisons with qemu-img work. */
void img_json_print(FILE *f, struct json_object *o);

/* qemu's snapshot table: "Snapshot list:" and the column header, then rows. */
void img_snapshot_header(FILE *f);
void img_snapshot_row(FILE *f, const struct blk_snapshot *s);

/* blk_block_status(), except that the raw files along the chain are
 * looked at with SEEK_DATA/SEEK_HOLE, as QEMU's file driver does, so holes
 * read as ZERO; a range a raw file decides is ALLOCATED (present) at its
 * depth.  The descriptors come from img_raw_fds_open() (-1: not raw). */
struct img_raw_fds {
    int fd[BLK_MAX_BACKING_DEPTH + 1];
};
void img_raw_fds_open(const struct img_chain *c, struct img_raw_fds *r);
void img_raw_fds_close(struct img_raw_fds *r);
int img_block_status(struct blk *b, const struct img_raw_fds *raw, uint64_t off, uint64_t len,
                     uint64_t *pnum, int *status, uint64_t *host_off, int *depth);

/* Writes to dst at off each grain-aligned piece of `want` (len bytes) that
 * differs from `have` (what dst reads there now); pieces of zeros are
 * written as zeros (qcow2 v3: zero clusters).  Prints the error. */
int img_write_diff(struct blk *dst, uint64_t off, const uint8_t *want, const uint8_t *have,
                   size_t len, uint32_t grain);


/* Progress for -p: "    (12.00/100%)" with carriage returns, as qemu-img. */
void img_progress(bool enabled, double percent);

#endif
