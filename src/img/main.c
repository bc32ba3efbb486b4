/* corral-img: qemu-img's commands over corral's block layer.  main() only
 * finds the command; each one lives in its own file (img.h). */
#include "img/img.h"

#include <string.h>

#include "util/util.h"

const struct img_cmd img_cmds[] = {
    { "bench", cmd_bench,
      "bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] "
      "[--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] "
      "[-t cache] [-w] [-U] [--random] filename",
      "Runs a simple I/O benchmark: count requests of buffer_size bytes (default 75000 of\n"
      "4096), depth of them in flight (default 64), from offset on with step_size (default\n"
      "buffer_size); reads, or writes of the pattern byte with -w.  -t none|directsync use\n"
      "O_DIRECT; every -i engine (and -n, native) runs on io_uring.  --random (corral):\n"
      "random offsets aligned to buffer_size." },
    { "check", cmd_check,
      "check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename",
      "Checks the image for consistency.  Exit status: 0 no errors, 1 check not completed,\n"
      "2 corruptions, 3 leaked clusters only, 63 format does not support checks." },
    { "commit", cmd_commit,
      "commit [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename",
      "Writes the image's data into its backing file (or into base, deeper in the backing\n"
      "chain), then empties the image (unless -d; -b implies -d).  -r limits the rate\n"
      "(bytes per second, size suffixes allowed)." },
    { "compare", cmd_compare,
      "compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2",
      "Compares the contents of two images.  Exit status: 0 identical, 1 different, 2 error." },
    { "convert", cmd_convert,
      "convert [--target-is-zero] [--salvage] [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt] [-t cache] "
      "[-T src_cache] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] "
      "[-S sparse_size] [-r rate_limit] [-m num_coroutines] [-W] "
      "filename [filename2 [...]] output_filename",
      "Converts (concatenates) images into output_filename; -c compresses (qcow2); -n writes\n"
      "into an existing image; -S 0 fully allocates the output; -o help lists the options.\n"
      "Refused: -l, --bitmaps, --target-image-opts, --object, --image-opts." },
    { "create", cmd_create,
      "create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]",
      "Creates an image.  -o help lists the options (size, preallocation, and for qcow2\n"
      "cluster_size, compat, lazy_refcounts, backing_file, backing_fmt, ...).\n"
      "Sizes take k, M, G, T, P, E suffixes (powers of 1024)." },
    { "info", cmd_info,
      "info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename",
      "Describes the image (human text or --output=json, as qemu-img)." },
    { "map", cmd_map,
      "map [-f fmt] [--start-offset=offset] "
      "[--max-length=len] [--output=ofmt] [-U] filename",
      "Prints the image's allocation map (human text or --output=json, as qemu-img)." },
    { "rebase", cmd_rebase,
      "rebase [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] [-U] -b backing_file "
      "[-F backing_fmt] filename",
      "Changes the backing file.  Safe mode copies the data that differs between the old\n"
      "and new backing files into the image first; -u only rewrites the header.  -b \"\"\n"
      "removes the backing file." },
    { "resize", cmd_resize,
      "resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size",
      "Grows or shrinks the image's virtual size; shrinking needs --shrink.\n"
      "--preallocation=falloc|full allocates the new space (metadata is refused)." },
    { "snapshot", cmd_snapshot,
      "snapshot [-q] [-l | -a snapshot | -c snapshot | -d snapshot] [-U] filename",
      "Lists (-l), creates (-c), applies (-a) or deletes (-d) internal snapshots (qcow2)." },
    { NULL, NULL, NULL, NULL },
};

static void usage(FILE *f)
{
    fputs("corral-img: disk image tool, compatible with qemu-img's commands and output\n"
          "usage: corral-img [standard options] command [command options]\n\n"
          "Standard options:\n"
          "  -h, --help       display this help and exit\n"
          "  -V, --version    output version information and exit\n\n"
          "Command syntax:\n", f);
    for (const struct img_cmd *c = img_cmds; c->name; c++)
        fprintf(f, "  %s\n", c->usage);
    fputs("\nSupported formats: raw qcow2\n"
          "qemu-img's --object and --image-opts are refused by every command.\n"
          "'corral-img COMMAND --help' describes one command.\n", f);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return img_error("Not enough arguments\nTry 'corral-img --help' for more information");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("corral-img version 0.1.0\n");
        return 0;
    }
    if (!strcmp(cmd, "-T") || !strncmp(cmd, "--trace", 7))
        return img_error("--trace is not supported: corral-img has no QEMU trace events");
    if (cmd[0] == '-')
        return img_error("unrecognized option '%s'\nTry 'corral-img --help' for more information", cmd);
    for (const struct img_cmd *c = img_cmds; c->name; c++) {
        if (strcmp(c->name, cmd))
            continue;
        for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
                return img_help(cmd);
        img_getopt_reset();
        return c->run(argc - 1, argv + 1);
    }
    return img_error("Command not found: %s\nTry 'corral-img --help' for more information", cmd);
}
