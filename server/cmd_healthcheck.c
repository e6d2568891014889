/* cmd_healthcheck.c: `camserve healthcheck`: GET /healthz (or --path) of a
 * running server and exit 0 on 200, 1 otherwise.
 *
 * It exists so that a container image needs no curl for its HEALTHCHECK
 * (docker/Dockerfile).  It reads the same CAMSERVE_PORT / CAMSERVE_HOST as
 * `camserve serve`, so one environment configures both.  Plain blocking
 * sockets with send/receive timeouts and a non-blocking connect bounded by
 * poll(): a hung server fails the check instead of hanging it. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int cam_cmd_healthcheck(int argc, char **argv);

static const char HELP[] =
    "usage: camserve healthcheck [--host ADDR] [--port N] [--path /healthz] [--timeout S]\n"
    "\n"
    "GET the path of a running `camserve serve` and exit 0 if it answers 200, else 1\n"
    "(the status line is printed).  For container health checks without curl.\n"
    "\n"
    "  --host ADDR   default: CAMSERVE_HOST when it names one address, else 127.0.0.1\n"
    "  --port N      default: CAMSERVE_PORT, else 8080\n"
    "  --path P      default: /healthz (/readyz: ready for traffic)\n"
    "  --timeout S   connect + answer, seconds (default 3)\n";

/* connect to host:port within timeout_ms; -1 with a message on failure */
static int dial(const char *host, const char *port, int timeout_ms) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        printf("healthcheck: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t len = sizeof err;
            if (poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) break;
            errno = err ? err : ETIMEDOUT;
        }
        close(fd);
        fd = -1;
    }
    if (fd < 0) printf("healthcheck: cannot connect to %s:%s: %s\n", host, port, strerror(errno));
    freeaddrinfo(ai);
    if (fd >= 0) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
}

int cam_cmd_healthcheck(int argc, char **argv) {
    const char *host = NULL, *path = "/healthz";
    int port = -1, timeout = 3;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (cli_flag_str(argc, argv, &i, "--host", &host) || cli_flag_int(argc, argv, &i, "--port", &port, 1, 65535) ||
            cli_flag_str(argc, argv, &i, "--path", &path) || cli_flag_int(argc, argv, &i, "--timeout", &timeout, 1, 600))
            continue;
        return cli_usage_error("healthcheck", "unknown argument '%s'", argv[i]);
    }
    if (path[0] != '/' || strpbrk(path, " \r\n")) return cli_usage_error("healthcheck", "--path must start with / and have no spaces");
    if (port < 0) {
        const char *e = getenv("CAMSERVE_PORT");
        char *end = NULL;
        long p = e && *e ? strtol(e, &end, 10) : 8080;
        if ((end && *end) || p < 1 || p > 65535) {
            printf("healthcheck: CAMSERVE_PORT='%s' is not a port to check (give --port)\n", e);
            return 1;
        }
        port = (int)p;
    }
    if (!host) {
        /* the wildcard addresses the server listens on are reached on loopback */
        const char *e = getenv("CAMSERVE_HOST");
        host = e && *e && strcmp(e, "0.0.0.0") != 0 && strcmp(e, "::") != 0 && strcmp(e, "[::]") != 0 ? e : "127.0.0.1";
    }
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int fd = dial(host, portstr, timeout * 1000);
    if (fd < 0) return 1;

    char req[1200];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUser-Agent: camserve-healthcheck\r\nConnection: close\r\n\r\n",
                     path, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
    if (n < 0 || (size_t)n >= sizeof req) { close(fd); return cli_usage_error("healthcheck", "--path too long"); }
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0) {
            printf("healthcheck: sending to %s:%d: %s\n", host, port, w < 0 ? strerror(errno) : "closed");
            close(fd);
            return 1;
        }
        off += (int)w;
    }
    /* the status line is all we need */
    char buf[512];
    size_t got = 0;
    while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    char *eol = strpbrk(buf, "\r\n");
    if (eol) *eol = 0;
    int status = 0;
    if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
        printf("healthcheck: no HTTP answer from %s:%d%s within %d s\n", host, port, path, timeout);
        return 1;
    }
    printf("healthcheck: %s:%d%s: %s\n", host, port, path, buf);
    return status == 200 ? 0 : 1;
}
