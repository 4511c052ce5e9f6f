// SPDX-License-Identifier: MIT
/*
 * Unit tests for what libfngate exports (sdk/fngate.map, sdk/meson.build) and for a handler
 * built the way users build one: every function declared in fngate.h is exported with version
 * FNGATE_1, the handler ABI; every function of wire.h with version FNGATE_PRIVATE and not
 * FNGATE_1; read from the library's own symbol and version tables, FNGATE_1 holds nothing
 * fngate.h does not declare and no fng__ name, and nothing internal is exported at all — in
 * particular not the worker runtime (runtime.h), which a handler could otherwise call to skip
 * the serve-time seccomp filter. A handler module (handler.c) loaded with dlopen exposes its
 * descriptor, resolves fng_* to the one libfngate already in the process, and serves an
 * invocation through fng__rt_serve (linked into this program, as into the fngate executable).
 *
 * Arguments: the handler module, fngate.h, wire.h.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fngate.h"
#include "harness.h"
#include "runtime.h"
#include "wire.h"

/*
 * Collects the function names declared at the start of a line in a header ("type name(" or
 * "type *name(", possibly continued on the next lines). Good enough for our headers,
 * whose style is fixed.
 */
static int scan_header(const char *path, char names[][64], int max)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	if (!f) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) && n < max) {
		char *p;

		if (strchr("#/ \t*\n}", line[0]) || strncmp(line, "typedef", 7) == 0 ||
			strncmp(line, "struct", 6) == 0 || strncmp(line, "enum", 4) == 0) {
			continue;
		}
		for (p = strstr(line, "fng_"); p; p = strstr(p + 1, "fng_")) {
			size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");

			if (p[len] == '(' && len < 64) {
				memcpy(names[n], p, len);
				names[n++][len] = '\0';
				break;
			}
		}
	}
	fclose(f);
	return n;
}

static bool listed(const char *name, char names[][64], int n)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i], name) == 0) {
			return true;
		}
	}
	return false;
}

/* Every name is exported with version ver, and none of them with version not (if given). */
static int exported_as(char names[][64], int n, const char *ver, const char *not)
{
	int missing = 0;

	for (int i = 0; i < n; i++) {
		if (!dlvsym(RTLD_DEFAULT, names[i], ver)) {
			printf("# %s is not exported as %s\n", names[i], ver);
			missing++;
		}
		if (not && dlvsym(RTLD_DEFAULT, names[i], not)) {
			printf("# %s is exported as %s\n", names[i], not);
			missing++;
		}
	}
	return missing;
}

/*
 * Reads the dynamic symbol table of libfngate's file, with the version each defined symbol
 * has, and checks the version nodes: FNGATE_1 holds exactly what fngate.h declares (its names
 * in pub) and no fng__ name, FNGATE_PRIVATE holds only fng__ names, and nothing is exported
 * outside them. What the dynamic linker would give a handler, not what the map file says.
 */
static void test_version_nodes(char pub[][64], int npub)
{
	const ElfW(Shdr) *sh, *dynsym = NULL, *versym = NULL, *verdef = NULL;
	const ElfW(Ehdr) *eh;
	Dl_info info;
	struct stat st;
	const uint8_t *map;
	const char *strtab, *vnames;
	const char *verdef_names[16] = { NULL };
	int fd, in_pub = 0, in_priv = 0, fng_in_pub = 0, odd = 0;

	fd = dladdr((void *)fng_response_json, &info) ? open(info.dli_fname, O_RDONLY) : -1;
	if (fd < 0) {
		CHECK(0, "open libfngate's file");
		return;
	}
	fstat(fd, &st);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	CHECK(map != MAP_FAILED, "map %s", info.dli_fname);
	if (map == MAP_FAILED) {
		return;
	}
	eh = (const ElfW(Ehdr) *)map;
	sh = (const ElfW(Shdr) *)(map + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_DYNSYM) {
			dynsym = &sh[i];
		} else if (sh[i].sh_type == SHT_GNU_versym) {
			versym = &sh[i];
		} else if (sh[i].sh_type == SHT_GNU_verdef) {
			verdef = &sh[i];
		}
	}
	CHECK(dynsym && versym && verdef, "libfngate has symbol versions (.gnu.version_d)");
	if (!dynsym || !versym || !verdef) {
		munmap((void *)map, (size_t)st.st_size);
		return;
	}
	strtab = (const char *)map + sh[dynsym->sh_link].sh_offset;
	vnames = (const char *)map + sh[verdef->sh_link].sh_offset;
	/* The names of the version nodes, by index (each definition's first auxiliary entry). */
	for (const uint8_t *p = map + verdef->sh_offset;;) {
		const ElfW(Verdef) *vd = (const ElfW(Verdef) *)p;
		const ElfW(Verdaux) *va = (const ElfW(Verdaux) *)(p + vd->vd_aux);

		if (vd->vd_ndx < 16) {
			verdef_names[vd->vd_ndx] = vnames + va->vda_name;
		}
		if (!vd->vd_next) {
			break;
		}
		p += vd->vd_next;
	}
	const ElfW(Sym) *syms = (const ElfW(Sym) *)(map + dynsym->sh_offset);
	const ElfW(Versym) *vers = (const ElfW(Versym) *)(map + versym->sh_offset);
	size_t nsyms = dynsym->sh_size / sizeof(ElfW(Sym));

	for (size_t i = 1; i < nsyms; i++) {
		const char *name = strtab + syms[i].st_name;
		unsigned v = vers[i] & 0x7fff;
		const char *node = v < 16 ? verdef_names[v] : NULL;
		bool fng_ = strncmp(name, "fng__", 5) == 0;

		/* Skipped: imports, locals, and each node's own name (an absolute symbol). */
		if (syms[i].st_shndx == SHN_UNDEF || ELF64_ST_BIND(syms[i].st_info) == STB_LOCAL ||
			ELF64_ST_TYPE(syms[i].st_info) == STT_SECTION ||
			(syms[i].st_shndx == SHN_ABS && node && strcmp(name, node) == 0)) {
			continue;
		}
		if (node && strcmp(node, "FNGATE_1") == 0) {
			in_pub++;
			if (fng_) {
				printf("# %s is in the public version node FNGATE_1\n", name);
				fng_in_pub++;
			} else if (!listed(name, pub, npub)) {
				printf("# %s is in FNGATE_1 but not declared in fngate.h\n", name);
				odd++;
			}
		} else if (node && strcmp(node, "FNGATE_PRIVATE") == 0) {
			in_priv++;
			if (!fng_) {
				printf("# %s is in FNGATE_PRIVATE but not an fng__ name\n", name);
				odd++;
			}
		} else {
			printf("# %s is exported with version %s\n", name, node ? node : "(none)");
			odd++;
		}
	}
	CHECK_INT(fng_in_pub, 0, "no fng__ symbol is in the public version node FNGATE_1");
	CHECK_INT(in_pub, npub, "FNGATE_1 holds the %d functions fngate.h declares", npub);
	CHECK(in_priv > 0, "FNGATE_PRIVATE holds the wire codec (%d symbols)", in_priv);
	CHECK_INT(odd, 0, "no other symbol is exported");
	munmap((void *)map, (size_t)st.st_size);
}

static void test_exports(const char *public_h, const char *wire_h)
{
	static char pub[128][64], priv[128][64];
	int npub = scan_header(public_h, pub, 128), npriv = scan_header(wire_h, priv, 128);
	static const char *const hidden[] = { "fng__sarena_alloc", "fng__sarena_reset",
		"fng__sdk_write_all", "prevalidate", "decode_map", "msgpack_pack_object",
		"fng__rt_serve", "fng__rt_ready" };

	CHECK(npub > 0, "scan %s: %d declarations", public_h, npub);
	CHECK(npriv > 0, "scan %s: %d declarations", wire_h, npriv);
	npub = npub > 0 ? npub : 0;
	npriv = npriv > 0 ? npriv : 0;
	CHECK(npub + npriv >= 40, "the headers declare %d functions", npub + npriv);
	CHECK_INT(exported_as(pub, npub, "FNGATE_1", NULL), 0,
		"every function of fngate.h is exported with version FNGATE_1");
	CHECK_INT(exported_as(priv, npriv, "FNGATE_PRIVATE", "FNGATE_1"), 0,
		"every function of wire.h is exported with version FNGATE_PRIVATE, not FNGATE_1");
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		void *lib = dlopen("libfngate.so.1", RTLD_NOW | RTLD_NOLOAD);
		void *sym = lib ? dlsym(lib, hidden[i]) : NULL;
		Dl_info info;

		/* A symbol found through the handle may come from a dependency (msgpack-c); only
		 * one defined in libfngate itself would be a leak. */
		if (sym && dladdr(sym, &info) && !strstr(info.dli_fname, "libfngate")) {
			sym = NULL;
		}
		CHECK(lib && !sym, "%s is not exported by libfngate", hidden[i]);
		if (lib) {
			dlclose(lib);
		}
	}
	test_version_nodes(pub, npub);
}

struct serve {
	int fd;
	const struct fng_handler_desc *desc;
	int rc;
};

static void *serve_main(void *arg)
{
	struct serve *s = arg;

	s->rc = fng__rt_serve(s->fd, s->desc, "hello", 0, NULL);
	close(s->fd);
	return NULL;
}

static void test_handler_module(const char *path)
{
	void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	const struct fng_handler_desc *desc = so ? dlsym(so, "fng_handler_desc") : NULL;
	void *theirs, *ours = (void *)fng_response_json;
	Dl_info info;
	struct serve s;
	pthread_t t;
	int sv[2];

	CHECK(so != NULL, "dlopen the handler module: %s", so ? "ok" : dlerror());
	CHECK(desc != NULL, "the module exports fng_handler_desc");
	if (!desc) {
		return;
	}
	CHECK(desc->abi == FNG_ABI_VERSION && strcmp(desc->name, "hello") == 0 && desc->handle &&
			desc->init && !desc->shutdown,
		"descriptor: abi %u, name hello, handle and init set, no shutdown", desc->abi);
	theirs = dlsym(so, "fng_response_json");
	CHECK(theirs == ours, "the module's fng_response_json is the process's one copy");
	CHECK(dladdr(theirs, &info) && strstr(info.dli_fname, "libfngate.so"),
		"and it lives in libfngate.so");
	CHECK_INT(desc->init(), 0, "init hook returns 0");

	struct fng_wire_kv params[] = { { { "name", 4 }, { "ada \"l\"", 7 } } };
	struct fng_wire_event ev = { .raw_path = { "/hello/ada", 10 }, .path_params = params,
		.npath_params = 1, .deadline_epoch_ms = 1 };
	struct fng_wire_buf b = { 0 };
	uint8_t hdr[5];
	char *body;
	size_t len;
	struct fng_wire_result r;
	void *h = NULL;
	int rc = -1;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	s = (struct serve){ sv[1], desc, 1 };
	pthread_create(&t, NULL, serve_main, &s);
	fng__wire_encode_invoke(&b, &ev);
	if (write(sv[0], b.p, b.len) == (ssize_t)b.len && read(sv[0], hdr, 5) == 5) {
		len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
		len--; /* LEN counts the type byte */
		body = malloc(len);
		if (read(sv[0], body, len) == (ssize_t)len && hdr[4] == FNG_WIRE_RESULT) {
			rc = fng__wire_decode_result((uint8_t *)body, len, &r, &h);
		}
		free(body);
	}
	CHECK_INT(rc, 0, "the module answers an INVOKE");
	static const char want[] = "{\"hello\":\"ada \\\"l\\\"\"}";

	CHECK(rc == 0 && r.status == 200 && r.body_len == sizeof(want) - 1 &&
			memcmp(r.body, want, sizeof(want) - 1) == 0,
		"body %s", want);
	CHECK(rc == 0 && r.nheaders == 2 && strcmp(r.headers[0].v.p, "1") == 0,
		"init ran once in this process (x-inits: 1), content-type added");
	fng__wire_free(h);
	fng__wire_buf_finish(&b);
	shutdown(sv[0], SHUT_WR);
	pthread_join(t, NULL);
	close(sv[0]);
	CHECK_INT(s.rc, 0, "serve loop ends at EOF");
	dlclose(so);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s HANDLER.so fngate.h wire.h\n", argv[0]);
		return 2;
	}
	test_exports(argv[2], argv[3]);
	test_handler_module(argv[1]);
	return fng_test_done();
}
