// SPDX-License-Identifier: MIT
/*
 * Load-time probes: the same hostile code run from a constructor (ctor_*.so, at dlopen) or
 * from the init hook (init_*.so), both before seccomp. Built once per phase and kind:
 *
 *   open     reads the secret outside the function, the sibling next to the .so, /etc/shadow
 *            and pid 1's environment
 *   socket   makes IPv4, IPv6, UNIX and netlink sockets and connects the UNIX one
 *   connect  connects to the TCP canary, to ::1 and to the abstract UNIX canary
 *   write    creates FNG_PROBE_FILE, a file next to the .so and a directory in /tmp
 *   kill     SIGKILL to the supervisor, SIGUSR1 to the test, ptrace on the supervisor
 *   exec     fork, and execve of a shell that would create FNG_PROBE_FILE
 *   persona  personality(READ_IMPLIES_EXEC), which would make later PROT_READ maps executable
 *   memfd    the dynamic loader copied into a memfd and executed from there; mmap of it
 *   stderr   truncates fd 2 and writes a forged JSON log line on fd 1 and fd 2 (the gateway's
 *            log, if a worker held the gateway's descriptors)
 *
 * Whatever it got is the handler's answer, so the test can check nothing leaked.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe.h"

__attribute__((unused)) static void try_read(const char *path)
{
	char buf[256] = "";
	int fd;

	if (!*path) {
		return;
	}
	fd = open(path, O_RDONLY);
	probe_note("read %s: %s", path, probe_rc(fd));
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		if (n > 0) {
			buf[n] = '\0';
			probe_note(" [%s]", buf);
		}
		close(fd);
	}
	probe_note("; ");
}

__attribute__((unused)) static void try_connect(int domain, const struct sockaddr *sa,
	socklen_t len, const char *what)
{
	int fd = socket(domain, SOCK_STREAM, 0);

	probe_note("%s socket: %s", what, probe_rc(fd));
	if (fd >= 0) {
		probe_note(", connect: %s", probe_rc(connect(fd, sa, len)));
		close(fd);
	}
	probe_note("; ");
}

static void probe(void)
{
#if defined(PROBE_OPEN)
	try_read(probe_env(NULL, "FNG_PROBE_SECRET"));
	try_read(probe_env(NULL, "FNG_PROBE_SIBLING"));
	try_read("/etc/shadow");
	try_read("/proc/1/environ");
#elif defined(PROBE_SOCKET)
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd;

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", probe_env(NULL, "FNG_PROBE_UNIX"));
	try_connect(AF_UNIX, (struct sockaddr *)&un, sizeof(un), "unix");
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	probe_note("inet udp socket: %s; ", probe_rc(fd));
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	probe_note("inet6 socket: %s; ", probe_rc(fd));
	fd = socket(AF_NETLINK, SOCK_RAW, 0);
	probe_note("netlink socket: %s; ", probe_rc(fd));
#elif defined(PROBE_CONNECT)
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	const char *abstract = probe_env(NULL, "FNG_PROBE_ABSTRACT");

	in.sin_port = htons((uint16_t)atoi(probe_env(NULL, "FNG_PROBE_PORT")));
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	try_connect(AF_INET, (struct sockaddr *)&in, sizeof(in), "tcp 127.0.0.1");
	in6.sin6_port = in.sin_port;
	in6.sin6_addr = in6addr_loopback;
	try_connect(AF_INET6, (struct sockaddr *)&in6, sizeof(in6), "tcp ::1");
	memcpy(un.sun_path + 1, abstract, strlen(abstract));
	try_connect(AF_UNIX, (struct sockaddr *)&un,
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abstract)),
		"abstract unix");
#elif defined(PROBE_WRITE)
	char here[512], path[600];
	Dl_info info;
	int fd = open(probe_env(NULL, "FNG_PROBE_FILE"), O_WRONLY | O_CREAT | O_EXCL, 0644);

	probe_note("create %s: %s; ", probe_env(NULL, "FNG_PROBE_FILE"), probe_rc(fd));
	if (dladdr((void *)probe, &info) && info.dli_fname) {
		snprintf(here, sizeof(here), "%s", info.dli_fname);
		snprintf(path, sizeof(path), "%s/pwned-by-load-probe", dirname(here));
		fd = open(path, O_WRONLY | O_CREAT, 0644);
		probe_note("create next to the .so: %s; ", probe_rc(fd));
	}
	probe_note("mkdir /tmp: %s; ", probe_rc(mkdir("/tmp/fngate-load-probe-dir", 0755)));
#elif defined(PROBE_KILL)
	probe_note("kill supervisor: %s; ", probe_rc(kill(getppid(), SIGKILL)));
	probe_note("kill test: %s; ",
		probe_rc(kill(atoi(probe_env(NULL, "FNG_PROBE_PID")), SIGUSR1)));
	probe_note("ptrace supervisor: %s; ",
		probe_rc(ptrace(PTRACE_ATTACH, getppid(), NULL, NULL)));
#elif defined(PROBE_EXEC)
	char cmd[600];
	char *argv[] = { "sh", "-c", cmd, NULL };
	pid_t pid = fork();

	snprintf(cmd, sizeof(cmd), "echo pwned > '%s'", probe_env(NULL, "FNG_PROBE_FILE"));
	if (pid == 0) {
		execve("/bin/sh", argv, NULL);
		_exit(127);
	}
	probe_note("fork: %s; ", probe_rc(pid));
	probe_note("execve: %s; ", probe_rc(execve("/bin/sh", argv, NULL)));
#elif defined(PROBE_PERSONA)
	probe_note("personality: %s; ", probe_rc(personality(READ_IMPLIES_EXEC)));
#elif defined(PROBE_MEMFD)
	char *argv[] = { "ld.so", "--version", NULL };
	int fd = (int)syscall(SYS_memfd_create, "ld", 0), in = open("/lib64/ld-linux-x86-64.so.2",
		O_RDONLY | O_CLOEXEC);
	char buf[65536];
	ssize_t n;

	probe_note("memfd_create: %s; ", probe_rc(fd));
	if (fd >= 0 && in >= 0) {
		while ((n = read(in, buf, sizeof(buf))) > 0) {
			if (write(fd, buf, (size_t)n) != n) {
				break;
			}
		}
		probe_note("mmap exec: %s; ", mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE,
			fd, 0) == MAP_FAILED ? strerror(errno) : "ok");
		probe_note("execveat: %s; ", probe_rc(syscall(SYS_execveat, fd, "", argv, NULL,
			AT_EMPTY_PATH)));
	}
	probe_note("execve ld.so: %s; ", probe_rc(execve("/lib64/ld-linux-x86-64.so.2", argv,
		NULL)));
	if (in >= 0) {
		close(in);
	}
#elif defined(PROBE_STDERR)
	static const char forged[] = "{\"time\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\","
		"\"msg\":\"forged by a constructor\"}\n";

	probe_note("truncate 2: %s; ", probe_rc(ftruncate(2, 0)));
	probe_note("write 2: %s; ", probe_rc(write(2, forged, sizeof(forged) - 1)));
	probe_note("write 1: %s; ", probe_rc(write(1, forged, sizeof(forged) - 1)));
#else
#error "PROBE_<kind> not defined"
#endif
}

#if defined(PROBE_PHASE_CTOR)
__attribute__((constructor)) static void at_load(void)
{
	probe_note("ctor: ");
	probe();
}
#define INIT NULL
#else
static int at_init(void)
{
	probe_note("init: ");
	probe();
	return 0;
}
#define INIT at_init
#endif

static int load_probe(struct fng_ctx *ctx)
{
	return fng_response_printf(ctx, "%s", probe_out);
}
FNG_HANDLER_EX(load_probe, INIT, NULL)
