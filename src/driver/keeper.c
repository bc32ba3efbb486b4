/* corrald-ct: the keeper of one container, a program of its own so that
 * starting one costs an exec of this small process, not two forks of the
 * many-threaded corrald (and oci_create() then clones the init from this
 * small process).  container.c starts it detached (proc_spawn) as
 *
 *     corrald-ct OCI_ROOT ID BUNDLE RUN_DIR     (report socket on fd 3)
 *
 * It creates the container with a console socket of its own in RUN_DIR,
 * keeps the pty master the init sends on fd KEEPER_MASTER_FD (corrald
 * takes copies with pidfd_getfd()), reports, and reaps the init until it
 * is gone; then it exits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/driver_impl.h"
#include "oci/oci.h"
#include "util/util.h"

/* One message and maybe one fd (else *fd = -1). */
static ssize_t recv_fd(int sock, void *data, size_t len, int *fd)
{
    struct iovec iov = { data, len };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    *fd = -1;
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); n >= 0 && c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 5 || fcntl(KEEPER_REPORT_FD, F_GETFD) < 0) {
        fprintf(stderr, "corrald-ct keeps one container for corrald, which starts it; it is not run by hand\n");
        return 2;
    }
    const char *root = argv[1], *id = argv[2], *bundle = argv[3], *dir = argv[4];
    struct keeper_report rep = { .keeper = getpid() };
    struct oci_ctx ctx = { .root = root };
    char path[128];
    int lsock = -1, master = -1, conn = -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(path, sizeof(path), "%s/console.sock", dir);
    unlink(path);
    if (strlen(path) >= sizeof(sa.sun_path))
        rep.rc = fail(ENAMETOOLONG, "%s is too long for a Unix socket", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (rep.rc == 0 && ((lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
                        bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lsock, 1) < 0))
        rep.rc = fail(errno, "console socket %s: %m", path);
    if (rep.rc == 0) {
        struct oci_create_opts o = { .bundle = bundle, .console_socket = path };
        rep.rc = oci_create(&ctx, id, &o);
    }
    if (rep.rc == 0) {
        /* The init sent the master while oci_create() waited for it. */
        char b;
        struct pollfd p = { lsock, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0 || (conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC)) < 0 ||
            recv_fd(conn, &b, 1, &master) < 0 || master < 0)
            rep.rc = fail(EPROTO, "the container's init sent no terminal");
    }
    unlink(path);
    if (rep.rc == 0) {
        struct oci_state st;
        if ((rep.rc = oci_state(&ctx, id, &st)) == 0) {
            rep.pid = st.pid;
            oci_state_free(&st);
        }
    }
    /* The master is in place before the report: corrald may take it as
     * soon as it has read it. */
    if (rep.rc == 0 && (dup2(master, KEEPER_MASTER_FD) < 0 || close_range(KEEPER_MASTER_FD + 1, ~0U, 0) < 0))
        rep.rc = fail(errno, "keeping the container's terminal: %m");
    if (rep.rc < 0)
        snprintf(rep.msg, sizeof(rep.msg), "%s", err_msg());
    if (send(KEEPER_REPORT_FD, &rep, sizeof(rep), MSG_NOSIGNAL) != sizeof(rep) || rep.rc < 0)
        return 1;
    close(KEEPER_REPORT_FD);
    /* The init is our child: reap it (and anything re-parented here). */
    while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR) {
    }
    return 0;
}

