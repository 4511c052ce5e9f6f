# fngate: thin wrapper over meson. The README's two commands are `make demo` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
PORT ?= 8080
MESON_TEST = meson test --print-errorlogs --num-processes 2

.PHONY: all deps build demo test test-asan test-plain valgrind bench clean

all: build

deps:
	@./.ci/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	@sed 's/127.0.0.1:8080/127.0.0.1:$(PORT)/' examples/fngate.yaml > $(BUILD)/demo.yaml
	@echo
	@echo "fngate demo on http://127.0.0.1:$(PORT)  (Ctrl-C stops it)"
	@echo "  curl -i http://127.0.0.1:$(PORT)/dev/hello/world"
	@echo "  curl -i http://127.0.0.1:$(PORT)/prod/hello/world"
	@echo "  curl -i 'http://127.0.0.1:$(PORT)/dev/echo/any/path?q=search'"
	@echo "  curl -i -X POST http://127.0.0.1:$(PORT)/dev/orders -d '{}'"
	@echo "  curl -i http://127.0.0.1:$(PORT)/dev/stream"
	@echo "  $(BUILD)/gateway/fngate routes examples/fngate.yaml"
	@echo
	exec $(BUILD)/gateway/fngate serve -c $(BUILD)/demo.yaml

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

bench: build
	bench/http.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
