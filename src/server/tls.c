/* The HTTPS key and certificate: given by the operator, or generated on
 * first start (ECDSA P-256, self-signed, valid 10 years, for this host's
 * name, localhost, 127.0.0.1 and ::1) and kept under STATE/tls with the key
 * readable by root only.  Clients pin it (`corral --ca-cert`, curl --cacert). */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
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
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host, (unsigned)strlen(host),
                                            GNUTLS_FSAN_APPEND));
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_APPEND));
    uint8_t v4[4], v6[16];
    inet_pton(AF_INET, "127.0.0.1", v4);
    inet_pton(AF_INET6, "::1", v6);
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v4, 4, GNUTLS_FSAN_APPEND));
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v6, 16, GNUTLS_FSAN_APPEND));
    /* A self-signed leaf that clients can also pin as its own CA. */
    GT(gnutls_x509_crt_set_basic_constraints(crt, 1, 0));
    GT(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_CERT_SIGN));
    GT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
    GT(gnutls_x509_crt_set_key(crt, key));
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
        if (access(c, F_OK) < 0 || access(k, F_OK) < 0) {
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
