/* crashtool: the writer and the verifier of the crash test (tests/img/crash.sh).
 *   crashtool prepare IMG SEED CLUSTER COMPAT LAZY BACKING NSNAP
 *       creates IMG (over a raw IMG.base when BACKING is 1), writes a first
 *       generation of data with NSNAP snapshots taken in between, closes it.
 *   crashtool write IMG SEED WSEED JOURNAL
 *       random writes, write-zeroes, discards and flushes (from WSEED) until
 *       killed; after each flush it appends to JOURNAL (fsynced) how many
 *       requests are done, counting prepare's.
 *   crashtool verify IMG SEED WSEED JOURNAL [RAW]
 *       replays the same requests: every sector must read as it was at the
 *       last journalled flush, or as a request after it (up to the next
 *       flush, which the writer may have reached) left it.  With RAW (the
 *       image converted by qemu-img) that file is checked too and must read
 *       the same as corral does.
 * Every request comes from a generator seeded with SEED (prepare's) or
 * WSEED (the writer's), so the verifier knows what each one wrote: a sector written by request k holds a pattern
 * of (SEED, k, sector).  Exit status 0 if all is well; errors go to stderr. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "util/util.h"

#define SECTOR 512
#define CHUNK (256 * 1024)  /* the largest write request */
#define PRE_OPS 40          /* requests per segment before the writer runs */
#define G_ZERO 0            /* sector generations: zeros, */
#define G_BASE 1            /* the backing file's pattern, else request k: k + 1 */

enum op_type { OP_WRITE, OP_ZERO, OP_DISCARD, OP_FLUSH };
struct op { enum op_type type; uint64_t sector, count; };

struct geom {
    uint64_t seed, wseed, pre;  /* pre: requests done by prepare */
    uint64_t sectors, base_sectors; /* base_sectors: 0 without backing */
    uint64_t cs_sectors;
    bool discard_shows_base;    /* v2 with backing: a discarded cluster is a hole */
};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t next(uint64_t *rng)
{
    *rng = mix(*rng);
    return *rng;
}

/* Request number k (1-based) of the sequence; lengths cross clusters and
 * sometimes span several, so L2 tables and refcount blocks get allocated.
 * The first fills half the disk (7/8 with 512-byte clusters, so that the
 * writer soon outgrows the first refcount table). */
static struct op gen_op(const struct geom *g, uint64_t *rng, uint64_t k)
{
    struct op o;
    if (k == 1) {
        o.type = OP_WRITE;
        o.sector = 0;
        o.count = g->cs_sectors == 1 ? g->sectors / 8 * 7 : g->sectors / 2;
        return o;
    }
    uint64_t r = next(rng) % 100, len_r = next(rng), off_r = next(rng);
    o.type = r < 68 ? OP_WRITE : r < 78 ? OP_ZERO : r < 86 ? OP_DISCARD : OP_FLUSH;
    uint64_t max = len_r % 3 == 0 ? 4 * g->cs_sectors : len_r % 3 == 1 ? 64 : 8;
    o.count = 1 + (len_r >> 8) % max;
    o.count = MIN(o.count, g->sectors);
    o.sector = off_r % (g->sectors - o.count + 1);
    return o;
}

/* The request sequence: prepare's requests, then the writer's. */
struct gen { const struct geom *g; uint64_t rng, k; };

static void gen_init(struct gen *x, const struct geom *g)
{
    *x = (struct gen){ .g = g, .rng = g->seed, .k = 0 };
}

static struct op gen_next(struct gen *x)
{
    if (++x->k == x->g->pre + 1)
        x->rng = mix(x->g->wseed ^ 0x5eed);
    return gen_op(x->g, &x->rng, x->k);
}

/* A sector of generation gen: one hash of (seed, gen, sector), then cheap
 * words after it (the writer's time should go to the image, not to this). */
static void fill_sector(const struct geom *g, uint64_t gen, uint64_t s, uint8_t *p)
{
    if (gen == G_ZERO) {
        memset(p, 0, SECTOR);
        return;
    }
    uint64_t h = mix(g->seed ^ mix(gen * 0x100000001b3ULL ^ s));
    for (uint64_t j = 0; j < SECTOR / 8; j++) {
        uint64_t w = h + j * 0x9e3779b97f4a7c15ULL;
        memcpy(p + j * 8, &w, 8);
    }
}

static bool sector_is(const struct geom *g, uint64_t gen, uint64_t s, const uint8_t *p)
{
    uint8_t want[SECTOR];
    fill_sector(g, gen, s, want);
    return memcmp(want, p, SECTOR) == 0;
}

/* What sector s holds where nothing was written. */
static uint64_t initial(const struct geom *g, uint64_t s)
{
    return s < g->base_sectors ? G_BASE : G_ZERO;
}

/* The generation request k leaves in sector s (which it covers), or
 * UINT64_MAX if it leaves s alone (a discard of part of a cluster). */
static uint64_t effect(const struct geom *g, const struct op *o, uint64_t k, uint64_t s)
{
    if (o->type == OP_WRITE)
        return k + 1;
    if (o->type == OP_ZERO)
        return G_ZERO;
    uint64_t c0 = s / g->cs_sectors * g->cs_sectors;
    if (c0 < o->sector || c0 + g->cs_sectors > o->sector + o->count)
        return UINT64_MAX;
    return g->discard_shows_base ? initial(g, s) : G_ZERO;
}

static int do_op(struct blk *b, const struct geom *g, const struct op *o, uint64_t k,
                 uint8_t *buf)
{
    uint64_t off = o->sector * SECTOR, len = o->count * SECTOR;
    switch (o->type) {
    case OP_WRITE:
        for (uint64_t done = 0; done < o->count;) {
            uint64_t n = MIN(o->count - done, CHUNK / SECTOR);
            for (uint64_t i = 0; i < n; i++)
                fill_sector(g, k + 1, o->sector + done + i, buf + i * SECTOR);
            int r = blk_pwrite(b, (o->sector + done) * SECTOR, buf, n * SECTOR);
            if (r < 0)
                return r;
            done += n;
        }
        return 0;
    case OP_ZERO: return blk_write_zeroes(b, off, len);
    case OP_DISCARD: return blk_discard(b, off, len);
    default: return blk_flush(b);
    }
}

static int geom_of(struct blk *b, uint64_t seed, uint64_t wseed, struct geom *g)
{
    struct blk_info in;
    memset(&in, 0, sizeof(in));
    int r = blk_get_info(b, &in);
    if (r < 0)
        return r;
    g->seed = seed;
    g->wseed = wseed;
    g->pre = (uint64_t)(in.nsnapshots + 1) * PRE_OPS;
    g->sectors = blk_size(b) / SECTOR;
    g->cs_sectors = in.cluster_size / SECTOR;
    g->base_sectors = in.backing_file[0] ? g->sectors / 4 * 3 : 0;
    g->discard_shows_base = in.backing_file[0] && in.compat == 2;
    return g->sectors && g->cs_sectors ? 0 : fail(EINVAL, "unexpected image geometry");
}

static int cmd_prepare(char **argv)
{
    uint64_t seed, cs, compat, lazy, backing, nsnap;
    if (parse_uint(argv[1], 0, UINT64_MAX, &seed) < 0 || parse_size(argv[2], &cs) < 0 ||
        parse_uint(argv[3], 2, 3, &compat) < 0 || parse_uint(argv[4], 0, 1, &lazy) < 0 ||
        parse_uint(argv[5], 0, 1, &backing) < 0 || parse_uint(argv[6], 0, 8, &nsnap) < 0)
        return -EINVAL;
    /* Small clusters: a smaller disk still needs many tables and blocks. */
    uint64_t size = cs <= 4096 ? 8 * MiB : 16 * MiB;
    char base[4096];
    snprintf(base, sizeof(base), "%s.base", argv[0]);
    const char *slash = strrchr(base, '/');   /* recorded relative to the image */
    struct blk_create_opts o = { .format = BLK_FMT_QCOW2, .size = size,
                                 .cluster_size = (uint32_t)cs, .compat = (int)compat,
                                 .lazy_refcounts = lazy,
                                 .backing_file = !backing ? NULL : slash ? slash + 1 : base,
                                 .backing_format = BLK_FMT_RAW };
    struct blk_create_opts ob = { .format = BLK_FMT_RAW, .size = size / 4 * 3 };
    struct blk *b;
    int r = backing ? blk_create(base, &ob) : 0;
    if (!r && backing && (r = blk_open(base, BLK_FMT_RAW, 0, &b)) == 0) {
        struct geom gb = { .seed = seed };
        _cleanup_free_ uint8_t *sec = malloc(1 * MiB);
        for (uint64_t off = 0; !r && off < ob.size; off += 1 * MiB) {
            for (uint64_t i = 0; i < 1 * MiB / SECTOR; i++)
                fill_sector(&gb, G_BASE, off / SECTOR + i, sec + i * SECTOR);
            r = blk_pwrite(b, off, sec, (size_t)MIN(1 * MiB, ob.size - off));
        }
        int c = blk_close(b);
        r = r < 0 ? r : c;
    }
    if (!r)
        r = blk_create(argv[0], &o);
    if (!r)
        r = blk_open(argv[0], BLK_FMT_QCOW2, 0, &b);
    if (r < 0)
        return r;
    struct geom g;
    struct gen x;
    _cleanup_free_ uint8_t *buf = malloc(CHUNK);
    r = buf ? geom_of(b, seed, 0, &g) : fail(ENOMEM, "out of memory");
    g.pre = (nsnap + 1) * PRE_OPS;   /* the snapshots are not there yet */
    gen_init(&x, &g);
    for (uint64_t k = 1; !r && k <= g.pre; k++) {
        struct op op = gen_next(&x);
        /* Flushes are left out: the close makes it all durable. */
        r = op.type == OP_FLUSH ? 0 : do_op(b, &g, &op, k, buf);
        if (!r && k % PRE_OPS == 0 && k / PRE_OPS <= nsnap) {
            char name[32];
            snprintf(name, sizeof(name), "snap%" PRIu64, k / PRE_OPS);
            r = blk_snapshot_create(b, name);
        }
    }
    int c = blk_close(b);
    return r < 0 ? r : c;
}

static int cmd_write(char **argv)
{
    uint64_t seed, wseed;
    if (parse_uint(argv[1], 0, UINT64_MAX, &seed) < 0 ||
        parse_uint(argv[2], 0, UINT64_MAX, &wseed) < 0)
        return -EINVAL;
    _cleanup_close_ int jfd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (jfd < 0)
        return fail(errno, "%s: %s", argv[3], strerror(errno));
    struct blk *b;
    int r = blk_open(argv[0], BLK_FMT_QCOW2, 0, &b);
    if (r < 0)
        return r;
    struct geom g;
    struct gen x;
    _cleanup_free_ uint8_t *buf = NULL;
    r = geom_of(b, seed, wseed, &g);
    if (!r && !(buf = malloc(CHUNK)))
        r = fail(ENOMEM, "out of memory");
    gen_init(&x, &g);
    x.k = g.pre;   /* prepare's requests are done */
    /* Runs until killed; the bound only keeps a forgotten writer finite. */
    for (uint64_t k = g.pre + 1; !r && k < g.pre + 10000000; k++) {
        struct op op = gen_next(&x);
        r = do_op(b, &g, &op, k, buf);
        if (!r && op.type == OP_FLUSH) {
            char line[32];
            int n = snprintf(line, sizeof(line), "%" PRIu64 "\n", k);
            r = write_all(jfd, line, (size_t)n);
            if (!r && fsync(jfd) < 0)
                r = fail(errno, "journal: %s", strerror(errno));
        }
    }
    blk_close(b);
    return r;
}

/* The last complete line of the journal, or `dflt` if there is none. */
static uint64_t journal_last(const char *path, uint64_t dflt)
{
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t v = dflt;
    if (read_file(path, 64 * MiB, &data, &len) < 0)
        return dflt;
    size_t end = len;
    while (end > 0 && data[end - 1] != '\n')
        end--;                          /* a torn last line is ignored */
    if (end > 0) {
        size_t start = end - 1;
        while (start > 0 && data[start - 1] != '\n')
            start--;
        char line[32] = { 0 };
        memcpy(line, data + start, MIN(end - 1 - start, sizeof(line) - 1));
        v = strtoull(line, NULL, 10);
    }
    free(data);
    return v;
}

static int pread_all(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    for (size_t done = 0; done < len;) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

struct model {
    uint64_t *state;            /* generation per sector at the last flush */
    struct op *later;           /* requests after it, up to the next flush */
    uint64_t nlater, first_later;
};

static int build_model(const struct geom *g, uint64_t flushed, struct model *m)
{
    struct gen x;
    gen_init(&x, g);
    m->state = malloc(g->sectors * sizeof(uint64_t));
    m->later = calloc(1024, sizeof(struct op));
    if (!m->state || !m->later)
        return fail(ENOMEM, "out of memory");
    for (uint64_t s = 0; s < g->sectors; s++)
        m->state[s] = initial(g, s);
    m->first_later = flushed + 1;
    m->nlater = 0;
    for (uint64_t k = 1;; k++) {
        struct op o = gen_next(&x);
        if (k > flushed) {
            if (m->nlater == 1024)
                return fail(EINVAL, "no flush within 1024 requests");
            m->later[m->nlater++] = o;
            if (o.type == OP_FLUSH)
                return 0;
            continue;
        }
        if (o.type == OP_FLUSH)
            continue;
        for (uint64_t s = o.sector; s < o.sector + o.count; s++) {
            uint64_t e = effect(g, &o, k, s);
            if (e != UINT64_MAX)
                m->state[s] = e;
        }
    }
}

/* Whether sector s reads as allowed; *fresh is set if it shows a request
 * after the last flush. */
static bool sector_ok(const struct geom *g, const struct model *m, uint64_t s,
                      const uint8_t *p, bool *fresh)
{
    *fresh = false;
    if (sector_is(g, m->state[s], s, p))
        return true;
    for (uint64_t i = 0; i < m->nlater; i++) {
        const struct op *o = &m->later[i];
        if (o->type == OP_FLUSH || s < o->sector || s >= o->sector + o->count)
            continue;
        uint64_t e = effect(g, o, m->first_later + i, s);
        if (e != UINT64_MAX && sector_is(g, e, s, p)) {
            *fresh = true;
            return true;
        }
    }
    return false;
}

static const char *gen_name(uint64_t gen, char *buf, size_t len)
{
    if (gen == G_ZERO)
        return "zeros";
    if (gen == G_BASE)
        return "the backing file";
    snprintf(buf, len, "request %" PRIu64, gen - 1);
    return buf;
}

static int cmd_verify(int argc, char **argv)
{
    uint64_t seed, wseed;
    if (parse_uint(argv[1], 0, UINT64_MAX, &seed) < 0 ||
        parse_uint(argv[2], 0, UINT64_MAX, &wseed) < 0)
        return -EINVAL;
    struct blk *b;
    int r = blk_open(argv[0], BLK_FMT_QCOW2, BLK_OPEN_RDONLY, &b);
    if (r < 0)
        return r;
    _cleanup_close_ int raw = argc > 4 ? open(argv[4], O_RDONLY) : -1;
    struct geom g;
    struct model m = { .state = NULL };
    _cleanup_free_ uint8_t *buf = malloc(1 * MiB), *rbuf = malloc(1 * MiB);
    r = buf && rbuf ? geom_of(b, seed, wseed, &g) : fail(ENOMEM, "out of memory");
    if (!r && argc > 4 && raw < 0)
        r = fail(errno, "%s: %s", argv[4], strerror(errno));
    uint64_t flushed = r ? 0 : journal_last(argv[3], g.pre), fresh_n = 0;
    if (!r)
        r = build_model(&g, flushed, &m);
    for (uint64_t off = 0; !r && off < g.sectors * SECTOR; off += 1 * MiB) {
        size_t n = (size_t)MIN(1 * MiB, g.sectors * SECTOR - off);
        r = blk_pread(b, off, buf, n);
        if (!r && raw >= 0 && pread_all(raw, rbuf, n, off) < 0)
            r = fail(EIO, "%s: read failed", argv[4]);
        if (!r && raw >= 0 && memcmp(buf, rbuf, n))
            r = fail(EIO, "qemu-img reads differently from corral near offset %" PRIu64, off);
        for (size_t i = 0; !r && i < n / SECTOR; i++) {
            uint64_t s = off / SECTOR + i;
            bool fresh;
            char name[32];
            if (!sector_ok(&g, &m, s, buf + i * SECTOR, &fresh))
                r = fail(EIO, "sector %" PRIu64 " holds neither %s (as of the flush after "
                         "request %" PRIu64 ") nor anything written after it", s,
                         gen_name(m.state[s], name, sizeof(name)), flushed);
            fresh_n += fresh;
        }
    }
    if (!r)
        printf("flushed through request %" PRIu64 "; %" PRIu64 " sectors show later writes\n",
               flushed, fresh_n);
    free(m.state);
    free(m.later);
    blk_close(b);
    return r;
}

int main(int argc, char **argv)
{
    int r = -EINVAL;
    if (argc == 9 && !strcmp(argv[1], "prepare"))
        r = cmd_prepare(argv + 2);
    else if (argc == 6 && !strcmp(argv[1], "write"))
        r = cmd_write(argv + 2);
    else if ((argc == 6 || argc == 7) && !strcmp(argv[1], "verify"))
        r = cmd_verify(argc - 2, argv + 2);
    if (r < 0) {
        fprintf(stderr, "crashtool: %s\n", err_msg()[0] ? err_msg() : "usage error");
        return 1;
    }
    return 0;
}
