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

/* Opens an image, format by name (NULL = probe).  Prints the error. */
int img_open(const char *path, const char *fmt, int flags, struct blk **out);
int img_format(const char *name, enum blk_format *out);   /* prints the error */
/* QEMU's path_combine(): a relative backing file name is relative to the
 * directory of the image that names it.  malloc'ed (NULL: out of memory). */
char *img_backing_path(const char *image, const char *backing);
/* Opens the backing file recorded in `b` (whose path is `image`) with
 * `flags`; *out = NULL and 0 if there is none.  Prints the error. */
int img_open_backing(struct blk *b, const char *image, int flags, struct blk **out, char **path);
/* "10G", "512M", "1T", "4096", "1k": qemu-img's size syntax. */
int img_parse_size(const char *s, uint64_t *out);
/* qemu's size_to_str(): "10 MiB", "196 KiB", "0 B". */
void img_size_str(uint64_t v, char *buf, size_t len);

/* -o key=value,key=value: calls fn for each pair; a "help" key is refused. */
typedef int (*img_opt_fn)(const char *key, const char *val, void *arg);
int img_parse_opts(const char *opts, img_opt_fn fn, void *arg);

/* Output format of --output=…: 0 human, 1 json; -1 (printed) if invalid. */
int img_output_format(const char *s);

/* JSON printed the way qemu-img prints it: four-space indentation, object
 * keys in QEMU's QDict hash order, so text comparisons with qemu-img work. */
void img_json_print(FILE *f, struct json_object *o);

/* qemu's snapshot table: "Snapshot list:" and the column header, then rows. */
void img_snapshot_header(FILE *f);
void img_snapshot_row(FILE *f, const struct blk_snapshot *s);

/* blk_block_status(), except that raw files are looked at with SEEK_DATA/
 * SEEK_HOLE (raw_fd from img_raw_fd()), as QEMU's file driver does, so
 * holes read as ZERO. */
int img_raw_fd(struct blk *b, const char *path);   /* -1 unless raw */
int img_block_status(struct blk *b, int raw_fd, uint64_t off, uint64_t len, uint64_t *pnum,
                     int *status, uint64_t *host_off, int *depth);

/* Whether the buffer is all zeros. */
bool img_is_zero(const void *buf, size_t len);

/* Progress for -p: "    (12.00/100%)" with carriage returns, as qemu-img. */
void img_progress(bool enabled, double percent);

#endif
