/* The HTTPS key and certificate: given by the operator, or generated on
 * first start and kept under STATE/tls with the key readable by root only.
 * The generated one is a self-signed leaf (ECDSA P-256, valid 10 years,
 * CA:FALSE, digitalSignature, serverAuth) for this host's name, localhost,
 * 127.0.0.1, ::1 and the host's other addresses.  It can sign nothing, so
 * a client that trusts it trusts this server only.  Clients pin it
 * (`corral --ca-cert`, curl --cacert: both accept a self-signed leaf as its
 * own trust anchor).  Older corrald generated a CA-style certificate; one
 * of those is replaced at start. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

static int load_pem(const char *path, char **out)
{
    uint8_t *data;
    size_t len;
    int r = read_file(path, 1 << 20, &data, &len);
    if (r < 0)
        return r;
    char *s = realloc(data, len + 1);
    if (!s) {
        free(data);
        return fail(ENOMEM, "out of memory");
    }
    s[len] = 0;
    *out = s;
    return 0;
}

static int save(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return fail(errno, "cannot write %s: %m", tmp);
    int r = write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = fail(errno, "fsync %s: %m", tmp);
    if (r == 0 && rename(tmp, path) < 0)
        r = fail(errno, "rename %s: %m", path);
    return r;
}

#define GT(call) do { if ((rc = (call)) < 0) goto out; } while (0)

#define MAX_ADDRS 32

/* The host's own addresses besides loopback (added anyway) and IPv6
 * link-local ones (useless in a URL without their interface). */
static int host_addrs(uint8_t addrs[][16], unsigned lens[])
{
    struct ifaddrs *ifa;
    int n = 0;
    if (getifaddrs(&ifa) < 0)
        return 0;
    for (struct ifaddrs *i = ifa; i && n < MAX_ADDRS; i = i->ifa_next) {
        const struct sockaddr *sa = i->ifa_addr;
        uint8_t a[16];
        unsigned len;
        if (!sa || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (sa->sa_family == AF_INET) {
            len = 4;
            memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        } else if (sa->sa_family == AF_INET6) {
            const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_LOOPBACK(a6))
                continue;
            len = 16;
            memcpy(a, a6, 16);
        } else {
            continue;
        }
        bool seen = false;
        for (int j = 0; j < n && !seen; j++)
            seen = lens[j] == len && !memcmp(addrs[j], a, len);
        if (!seen) {
            memcpy(addrs[n], a, len);
            lens[n++] = len;
        }
    }
    freeifaddrs(ifa);
    return n;
}

static int add_names(gnutls_x509_crt_t crt, const char *host)
{
    int rc;
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host, (unsigned)strlen(host),
                                            GNUTLS_FSAN_APPEND));
    if (strcmp(host, "localhost"))
        GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_APPEND));
    uint8_t addrs[MAX_ADDRS + 2][16];
    unsigned lens[MAX_ADDRS + 2] = { 4, 16 };
    inet_pton(AF_INET, "127.0.0.1", addrs[0]);
    inet_pton(AF_INET6, "::1", addrs[1]);
    int n = 2 + host_addrs(addrs + 2, lens + 2);
    for (int i = 0; i < n; i++)
        GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addrs[i], lens[i], GNUTLS_FSAN_APPEND));
out:
    return rc;
}

static int generate(const char *cert_path, const char *key_path)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t kpem = { 0 }, cpem = { 0 };
    int rc;
    GT(gnutls_x509_privkey_init(&key));
    GT(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
    GT(gnutls_x509_crt_init(&crt));
    GT(gnutls_x509_crt_set_version(crt, 3));
    uint8_t serial[16];
    GT(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)));
    serial[0] &= 0x7f;
    GT(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)));
    time_t now = time(NULL);
    GT(gnutls_x509_crt_set_activation_time(crt, now - 3600));
    GT(gnutls_x509_crt_set_expiration_time(crt, now + 10L * 365 * 86400));
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, host, (unsigned)strlen(host)));
    GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "corrald", 7));
    GT(add_names(crt, host));
    /* A leaf: it may not sign certificates, and an ECDSA key only signs
     * the handshake (no key encipherment). */
    GT(gnutls_x509_crt_set_basic_constraints(crt, 0, -1));
    GT(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE));
    GT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
    GT(gnutls_x509_crt_set_key(crt, key));
    uint8_t kid[64];
    size_t kid_len = sizeof(kid);
    GT(gnutls_x509_crt_get_key_id(crt, 0, kid, &kid_len));
    GT(gnutls_x509_crt_set_subject_key_id(crt, kid, kid_len));
    GT(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
    GT(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem));
    GT(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem));
out:
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    int r = rc < 0 ? fail(EIO, "generating the TLS certificate: %s", gnutls_strerror(rc)) : 0;
    if (r == 0)
        r = save(key_path, kpem.data, kpem.size, 0600);
    if (r == 0)
        r = save(cert_path, cpem.data, cpem.size, 0644);
    if (kpem.data) {
        memset(kpem.data, 0, kpem.size);
        gnutls_free(kpem.data);
    }
    gnutls_free(cpem.data);
    if (r == 0)
        log_info("generated a self-signed TLS certificate: %s", cert_path);
    return r;
}

/* Whether PATH is a CA certificate an older corrald generated: self-signed
 * (its own issuer, its signature checks with its own key), O=corrald and
 * CA:TRUE.  Only STATE/tls is looked at, never an operator's --tls-cert. */
static bool generated_ca(const char *path)
{
    _cleanup_free_ char *pem = NULL;
    if (load_pem(path, &pem) < 0)
        return false;
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return false;
    gnutls_datum_t d = { (unsigned char *)pem, (unsigned)strlen(pem) };
    char org[64];
    size_t org_len = sizeof(org);
    unsigned ca = 0, status = 1;
    bool old = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
               gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, 0, org, &org_len) >= 0 &&
               !strcmp(org, "corrald") && gnutls_x509_crt_get_basic_constraints(crt, NULL, &ca, NULL) >= 0 &&
               ca && gnutls_x509_crt_check_issuer(crt, crt) == 1 &&
               gnutls_x509_crt_verify(crt, &crt, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status) >= 0 &&
               status == 0;
    gnutls_x509_crt_deinit(crt);
    return old;
}

int tls_load_or_create(const char *dir, const char *cert_path, const char *key_path,
                       char **cert_pem, char **key_pem)
{
    char c[4096], k[4096];
    if (!cert_path != !key_path)
        return fail(EINVAL, "give both --tls-cert and --tls-key, or neither");
    if (!cert_path) {
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return fail(errno, "cannot create %s: %m", dir);
        snprintf(c, sizeof(c), "%s/server.crt", dir);
        snprintf(k, sizeof(k), "%s/server.key", dir);
        cert_path = c, key_path = k;
        bool replace = access(c, F_OK) == 0 && generated_ca(c);
        if (replace)
            log_warn("%s is a CA certificate an older corrald generated: replacing it with a leaf "
                     "certificate; clients that pinned the old one must fetch the new one", c);
        if (replace || access(c, F_OK) < 0 || access(k, F_OK) < 0) {
            int r = generate(c, k);
            if (r < 0)
                return r;
        }
    }
    int r = load_pem(cert_path, cert_pem);
    if (r < 0)
        return fail(-r, "TLS certificate: %s", err_msg());
    if ((r = load_pem(key_path, key_pem)) < 0) {
        free(*cert_pem);
        return fail(-r, "TLS key: %s", err_msg());
    }
    return 0;
}
