# fngate: thin wrapper over meson. The README's two commands are `make demo` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
PORT ?= 8080
ADMIN_PORT ?= 9901
HTTPS_PORT ?= 8443
MESON_TEST = meson test --print-errorlogs --num-processes 2

.PHONY: all deps build functions demo-config demo demo-cluster test test-asan test-plain valgrind bench clean

all: build

deps:
	@./.ci/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The examples are built the way a user builds a handler: cc + pkg-config. The build tree's
# uninstalled fngate.pc stands in for the installed one.
PKG_CONFIG_BUILD = PKG_CONFIG_PATH=$(CURDIR)/$(BUILD)/meson-uninstalled pkg-config
HANDLER_CFLAGS = -shared -fPIC -O2 -Wall -Wextra
functions: build
	cc $(HANDLER_CFLAGS) -o functions/hello.so examples/hello/hello.c \
		$$($(PKG_CONFIG_BUILD) --cflags --libs fngate)
	cc $(HANDLER_CFLAGS) -o functions/echo.so examples/echo/echo.c \
		$$($(PKG_CONFIG_BUILD) --cflags --libs fngate)
	cc $(HANDLER_CFLAGS) -o functions/json.so examples/json/json.c \
		$$($(PKG_CONFIG_BUILD) --cflags --libs fngate jansson)
	cc $(HANDLER_CFLAGS) -o functions/chat.so examples/chat/chat.c \
		$$($(PKG_CONFIG_BUILD) --cflags --libs fngate jansson)
	cc $(HANDLER_CFLAGS) -o functions/dashboard.so examples/dashboard/dashboard.c \
		$$($(PKG_CONFIG_BUILD) --cflags --libs fngate jansson) -lm
	cc $(HANDLER_CFLAGS) -o functions/authorizer.so examples/authorizer/authorizer.c \
		$$($(PKG_CONFIG_BUILD) --cflags --libs fngate)
	cc $(HANDLER_CFLAGS) -o functions/clock.so examples/clock/clock.c \
		$$($(PKG_CONFIG_BUILD) --cflags --libs fngate)

# The demo's configuration, shared by `make demo` and `make demo-cluster`: examples/fngate.yaml
# with this checkout's paths, the admin API on 127.0.0.1:$(ADMIN_PORT) and HTTPS on
# 127.0.0.1:$(HTTPS_PORT) (token and certificate made here once, never committed).
demo-config: functions
	@sed -e 's/127.0.0.1:8080/127.0.0.1:$(PORT)/' -e 's/localhost:8080/localhost:$(PORT)/' -e 's|dir: ../functions|dir: $(CURDIR)/functions|' \
		-e 's|root: \.\./examples/|root: $(CURDIR)/examples/|' \
		-e 's|file: \.\./examples/|file: $(CURDIR)/examples/|' \
		-e 's|state_dir: \.\./build/state|state_dir: $(CURDIR)/$(BUILD)/state|' \
		examples/fngate.yaml > $(BUILD)/demo.yaml
	@# The admin API on 127.0.0.1:$(ADMIN_PORT), its token made once, here, never committed.
	@test -s $(BUILD)/admin.token || (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | \
		tr -d ' \n' > $(BUILD)/admin.token)
	@printf 'admin:\n  listen: "127.0.0.1:$(ADMIN_PORT)"\n  token_file: admin.token\n' >> $(BUILD)/demo.yaml
	@# HTTPS on 127.0.0.1:$(HTTPS_PORT) with a certificate made here once (never committed).
	@test -s $(BUILD)/tls/demo.key || (mkdir -p $(BUILD)/tls && umask 077 && \
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
		-keyout $(BUILD)/tls/demo.key -out $(BUILD)/tls/demo.crt -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null && chmod 644 $(BUILD)/tls/demo.crt)
	@sed -i 's|^server:$$|server:\n  tls: { listen: ["127.0.0.1:$(HTTPS_PORT)"], certificates: [{ cert: tls/demo.crt, key: tls/demo.key, names: [localhost, 127.0.0.1], hsts_max_age_s: 300 }] }|' $(BUILD)/demo.yaml

demo: demo-config
	@echo
	@echo "fngate demo on http://127.0.0.1:$(PORT) and https://127.0.0.1:$(HTTPS_PORT)  (Ctrl-C stops it)"
	@echo "  curl -i http://127.0.0.1:$(PORT)/dev/hello/world            # function hello"
	@echo "  curl -i http://127.0.0.1:$(PORT)/prod/hello/world           # same, prod stage"
	@echo "  curl -i 'http://127.0.0.1:$(PORT)/dev/echo/any/path?q=1'    # function echo"
	@echo "  curl -i http://127.0.0.1:$(PORT)/dev/stats -d '{\"numbers\":[1,2,3.5]}'  # function json"
	@echo "  curl -i http://127.0.0.1:$(PORT)/dev/mock/hello/world       # mock integration"
	@echo "  curl -i -H 'Authorization: Bearer allow-ada' http://127.0.0.1:$(PORT)/dev/authz/hello  # authorizer allows: 200"
	@echo "  curl -i -H 'Authorization: Bearer deny-me' http://127.0.0.1:$(PORT)/dev/authz/hello    # denies: 403"
	@echo "  curl -i http://127.0.0.1:$(PORT)/dev/authz/hello            # no token: 401"
	@echo "  curl -i -X OPTIONS http://127.0.0.1:$(PORT)/dev/stats -H 'Origin: http://localhost:$(PORT)' -H 'Access-Control-Request-Method: POST'  # CORS preflight"
	@echo "  curl -i --interface 127.0.0.2 http://127.0.0.1:$(PORT)/prod/hello/world  # 403: resource policy"
	@echo "  for i in \$$(seq 60); do curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:$(PORT)/dev/limited/hello; done  # 50/s per IP: 429s after 50"
	@echo "  KEY=\$$(FNGATE_CONFIG=$(BUILD)/demo.yaml $(BUILD)/gateway/fngate keys create --plan demo --quiet)  # an API key of plan demo"
	@echo "  curl -i -H \"x-api-key: \$$KEY\" http://127.0.0.1:$(PORT)/dev/metered/hello   # 200; no key or a wrong one: 403"
	@echo "  for i in \$$(seq 12); do curl -s -o /dev/null -w '%{http_code} ' -H \"x-api-key: \$$KEY\" http://127.0.0.1:$(PORT)/dev/metered/hello; done  # 5/s, burst 10: 429s after 10"
	@echo "  FNGATE_CONFIG=$(BUILD)/demo.yaml $(BUILD)/gateway/fngate keys usage ID   # the day's count, quota 1000"
	@echo "  admin API: curl -H \"Authorization: Bearer \$$(cat $(BUILD)/admin.token)\" http://127.0.0.1:$(ADMIN_PORT)/@keys"
	@echo "  curl -H \"Authorization: Bearer \$$(cat $(BUILD)/admin.token)\" http://127.0.0.1:$(ADMIN_PORT)/metrics   # Prometheus metrics"
	@echo "  curl -si http://127.0.0.1:$(PORT)/dev/hello/world -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' | grep traceparent  # the trace goes on"
	@echo "  operator dashboard: http://127.0.0.1:$(ADMIN_PORT)/@dashboard/login#token=$$(cat $(BUILD)/admin.token)"
	@echo "    (open it in a browser: the page sends the token from the #fragment, which never reaches a log, and keeps a session cookie)"
	@echo "  curl -i http://127.0.0.1:$(PORT)/dev/cached/time   # twice: x-cache: miss, then hit with the same time (10 s, tag clock)"
	@echo "  curl -X DELETE -H \"Authorization: Bearer \$$(cat $(BUILD)/admin.token)\" http://127.0.0.1:$(ADMIN_PORT)/@cache/tags/clock  # purge: the next is a miss"
	@echo "  curl -i http://127.0.0.1:$(PORT)/dev/secure/hello -H \"Authorization: Bearer \$$($(BUILD)/gateway/fngate token --key examples/jwt/demo-rs256.pem --kid demo-rs256 --iss https://fngate.demo/ --aud fngate-demo --sub alice --scope read)\"  # JWT authorizer"
	@echo "  curl -i --cacert $(BUILD)/tls/demo.crt https://localhost:$(HTTPS_PORT)/dev/hello/world  # HTTPS (TLS 1.3, HSTS)"
	@echo "  pages: http://127.0.0.1:$(PORT)/chat/       # chat rooms (examples/chat)"
	@echo "         https://127.0.0.1:$(HTTPS_PORT)/chat/      # the same over https:// and wss:// (the demo certificate is self-signed)"
	@echo "         http://127.0.0.1:$(PORT)/dashboard/  # live chart (examples/dashboard)"
	@echo "  curl http://127.0.0.1:$(PORT)/dashboard/metrics -d '{\"name\":\"io\",\"value\":1}'"
	@echo "  $(BUILD)/gateway/fngate routes examples/fngate.yaml"
	@echo "  hot deploy: edit examples/hello/hello.c, then make functions (no restart)"
	@echo
	exec $(BUILD)/gateway/fngate serve -c $(BUILD)/demo.yaml

# Two gateways sharing one Redis (issue 17): redis-server on 127.0.0.1:$(REDIS_PORT) (no
# persistence, its own directory under $(BUILD)/), the demo configuration on
# 127.0.0.1:$(NODE1_PORT) and 127.0.0.1:$(NODE2_PORT) with their admin listeners on
# $(NODE1_ADMIN) and $(NODE2_ADMIN) (HTTPS off: one demo certificate, one port), each a node of
# the cluster. Ctrl-C stops all three (by their pids).
REDIS_PORT ?= 6390
NODE1_PORT ?= 8181
NODE2_PORT ?= 8182
NODE1_ADMIN ?= 9911
NODE2_ADMIN ?= 9912
demo-cluster: demo-config
	@command -v redis-server >/dev/null || { echo "demo-cluster needs redis-server (.ci/deps.sh)"; exit 1; }
	@for n in 1 2; do \
		if [ $$n = 1 ]; then port=$(NODE1_PORT); adm=$(NODE1_ADMIN); else port=$(NODE2_PORT); adm=$(NODE2_ADMIN); fi; \
		grep -v '^  tls: { listen:' $(BUILD)/demo.yaml | \
		sed -e 's/127.0.0.1:$(PORT)/127.0.0.1:'$$port'/' -e 's/127.0.0.1:$(ADMIN_PORT)/127.0.0.1:'$$adm'/' \
			> $(BUILD)/demo-node-$$port.yaml; \
		printf 'cluster:\n  redis: "127.0.0.1:$(REDIS_PORT)"\n  node_id: node-%s\n' $$port \
			>> $(BUILD)/demo-node-$$port.yaml; \
	done
	@mkdir -p $(BUILD)/redis-demo
	@echo; \
	echo "fngate cluster demo: Redis on 127.0.0.1:$(REDIS_PORT), gateways on http://127.0.0.1:$(NODE1_PORT) and http://127.0.0.1:$(NODE2_PORT)  (Ctrl-C stops all three)"; \
	echo "  curl -s -H \"Authorization: Bearer \$$(cat $(BUILD)/admin.token)\" http://127.0.0.1:$(NODE1_ADMIN)/@cluster   # node-$(NODE1_PORT)'s view: both nodes"; \
	echo "  curl -s -H \"Authorization: Bearer \$$(cat $(BUILD)/admin.token)\" http://127.0.0.1:$(NODE2_ADMIN)/@cluster   # node-$(NODE2_PORT)'s view"; \
	echo "  curl -s -H \"Authorization: Bearer \$$(cat $(BUILD)/admin.token)\" http://127.0.0.1:$(NODE1_ADMIN)/metrics | grep fngate_cluster   # redis_up, reconnects, commands"; \
	echo "  curl -i http://127.0.0.1:$(NODE1_PORT)/dev/hello/world ; curl -i http://127.0.0.1:$(NODE2_PORT)/dev/hello/world   # both serve the demo"; \
	echo "  curl -Z -s -o /dev/null -w '%{http_code} ' 'http://127.0.0.1:{$(NODE1_PORT),$(NODE2_PORT)}/dev/limited/hello?[1-60]'; echo   # one limit: 50 from both nodes (+1 per 20 ms the run takes), then 429"; \
	echo "  chat across nodes: open http://127.0.0.1:$(NODE1_PORT)/chat/ and http://127.0.0.1:$(NODE2_PORT)/chat/ in two tabs, same room: a message said on one reaches the other"; \
	echo "  curl -s -H \"Authorization: Bearer \$$(cat $(BUILD)/admin.token)\" -d '{\"type\":\"say\",\"nick\":\"ops\",\"text\":\"hi\"}' http://127.0.0.1:$(NODE1_ADMIN)/@topics/room.lobby   # reaches room lobby's members on both nodes"; \
	echo "  redis-cli -p $(REDIS_PORT) --scan --pattern 'fngate:*'   # the node records (redis-cli, if installed)"; \
	echo "  kill -9 the second gateway (pid below): it leaves the list within node_ttl_ms (5 s)"; \
	echo; \
	redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --save '' --appendonly no \
		--dir $(CURDIR)/$(BUILD)/redis-demo >$(BUILD)/redis-demo/redis.log 2>&1 & rpid=$$!; \
	$(BUILD)/gateway/fngate serve -c $(BUILD)/demo-node-$(NODE1_PORT).yaml & g1=$$!; \
	$(BUILD)/gateway/fngate serve -c $(BUILD)/demo-node-$(NODE2_PORT).yaml & g2=$$!; \
	echo "pids: redis-server $$rpid, node-$(NODE1_PORT) $$g1, node-$(NODE2_PORT) $$g2"; \
	trap 'kill -TERM $$g1 $$g2 2>/dev/null; wait $$g1 $$g2 2>/dev/null; kill -TERM $$rpid 2>/dev/null; wait $$rpid 2>/dev/null; exit 0' INT TERM; \
	wait $$g1 $$g2; kill -TERM $$rpid 2>/dev/null; wait $$rpid 2>/dev/null

# The whole suite in a normal build, then again under ASan+UBSan; one summary line at the end.
test: build
	@rm -f $(BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/meson-logs/testlog.json
	-$(MESON_TEST) -C $(BUILD)
	@$(MAKE) --no-print-directory test-asan-run
	@python3 tests/summary.py $(BUILD) $(ASAN_BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

test-asan-run: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	-ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		$(MESON_TEST) -C $(ASAN_BUILD)

test-plain: build
	@rm -f $(BUILD)/meson-logs/testlog.json
	-$(MESON_TEST) -C $(BUILD)
	@python3 tests/summary.py $(BUILD)

valgrind: build
	@rm -f $(BUILD)/meson-logs/testlog.json
	-$(MESON_TEST) -C $(BUILD) --setup valgrind --suite unit --suite fuzz
	@cp $(BUILD)/meson-logs/testlog-valgrind.json $(BUILD)/meson-logs/testlog.json 2>/dev/null || true
	-$(MESON_TEST) -C $(BUILD) --setup valgrinddaemon --suite integration
	@cat $(BUILD)/meson-logs/testlog-valgrinddaemon.json >> $(BUILD)/meson-logs/testlog.json 2>/dev/null || true
	@python3 tests/summary.py $(BUILD)

# Side-by-side benchmarks (print their tables; `bench/X.sh --write` also updates
# docs/BENCHMARKS.md): HTTP front end, function host, WebSocket, CPU isolation, API keys,
# response cache, TLS, log flood.
bench: build
	bench/http.sh
	bench/functions.sh
	bench/ws.sh
	bench/cpu_isolation.sh
	bench/apikeys.sh
	bench/cache.sh
	bench/tls.sh
	bench/log_flood.py

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
