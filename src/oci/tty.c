/* Terminals: the pty master handed over a --console-socket as runc does
 * (SCM_RIGHTS, the payload is the pty's name), and, without a socket, a
 * relay between the caller's terminal and the container's pty (so
 * `exec -t` and `run` with process.terminal work interactively). */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

/* Hands the pty master to whoever listens on --console-socket, as runc does
 * (SCM_RIGHTS, the payload is the pty's name). */
int send_console(int sock, int master)
{
    char name[64] = "/dev/ptmx";
    int n;
    if (ioctl(master, TIOCGPTN, &n) == 0)
        snprintf(name, sizeof(name), "/dev/pts/%d", n);
    struct iovec iov = { .iov_base = name, .iov_len = strlen(name) };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } c;
    memset(&c, 0, sizeof(c));
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                          .msg_controllen = sizeof(c.buf) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof(int));
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        return fail(errno, "--console-socket: sending the pty: %s", strerror(errno));
    return 0;
}

int connect_console(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return fail(ENAMETOOLONG, "--console-socket: path too long");
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = fail(errno, "--console-socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return r;
    }
    return fd;
}


int recv_console(int sock)
{
    char name[128];
    struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } c;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                          .msg_controllen = sizeof(c.buf) };
    ssize_t n;
    while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    int fd = -1;
    if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
        return fail(EPROTO, "no pty received from the container");
    memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return fd;
}

static void copy_winsize(int from, int to)
{
    struct winsize ws;
    if (ioctl(from, TIOCGWINSZ, &ws) == 0)
        ioctl(to, TIOCSWINSZ, &ws);
}

/* Copies what is readable on `from` to `to`; false at EOF or an error. */
static bool pump(int from, int to)
{
    char buf[8192];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return n < 0 && (errno == EINTR || errno == EAGAIN);
    return write_all(to, buf, (size_t)n) == 0;
}

int tty_relay(int master, pid_t pid, int pidfd, const sigset_t *fwd)
{
    struct termios saved;
    bool raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
        copy_winsize(STDIN_FILENO, master);
    }
    int sfd = signalfd(-1, fwd, SFD_CLOEXEC);
    struct pollfd pf[4] = { { .fd = pidfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
                            { .fd = master, .events = POLLIN },
                            { .fd = STDIN_FILENO, .events = POLLIN } };
    for (;;) {
        int n = poll(pf, 4, -1);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (pf[2].revents && !pump(master, STDOUT_FILENO))
            break;      /* the pty closed: every holder of the slave is gone */
        if (pf[3].revents && !pump(STDIN_FILENO, master))
            pf[3].fd = -1;  /* our stdin ended; keep showing the output */
        struct signalfd_siginfo si;
        if (pf[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
            if (si.ssi_signo == SIGWINCH)
                copy_winsize(STDIN_FILENO, master);
            else
                pidfd_send_signal(pidfd, (int)si.ssi_signo, NULL, 0);
        }
        if (pf[0].revents && !(pf[2].revents & POLLIN))
            break;      /* exited, and nothing more to show */
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (sfd >= 0)
        close(sfd);
    close(master);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}
