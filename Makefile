# The README's two commands: `make demo` and `make test`.  Both set up what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# Debian packages the tests start for real (PostgreSQL, net-snmp, namespaces, systemd-analyze,
# Mosquitto, gammu-smsd, Prometheus and promtool, faketime for the daemon's clock tests,
# GStreamer's RTSP server under the system Python).
# gstreamer1.0-x carries the pango overlays (clockoverlay, textoverlay) that burn a
# camera's OSD into the test streams; fonts-noto-cjk draws its Chinese channel names.
GST_DEBS := python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
	gstreamer1.0-x fonts-noto-cjk
# Debian's own Python builds the virtualenv only with python3-venv (a minimal Debian 12
# lacks it).
BASE_DEBS := python3 python3-venv
TEST_DEBS := $(BASE_DEBS) postgresql postgresql-client snmpd snmp iproute2 iputils-ping procps systemd \
	mosquitto gammu-smsd prometheus faketime chromium chromium-driver fonts-noto-cjk \
	libpango-1.0-0 libpangoft2-1.0-0 nginx-light openssl \
	$(GST_DEBS)
# What the demo's simulated site needs.
DEMO_DEBS := $(BASE_DEBS) snmpd snmp iputils-ping $(GST_DEBS)
# What the benchmarks run beside us.
BENCH_DEBS := snmpd wrk prometheus-snmp-exporter $(GST_DEBS)


.PHONY: wheelhouse bundle
.PHONY: all test demo demo-cluster demo-cluster-status demo-kill demo-status demo-tickets demo-prometheus demo-down demo-up demo-reboot demo-uplink-down demo-uplink-up lint bench bench-scale system-deps-test system-deps-demo system-deps-bench clean

all: test

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Install only what is missing, so a second run does nothing (and needs no network).
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

system-deps-test:
	$(call apt_install,$(TEST_DEBS))

system-deps-demo:
	$(call apt_install,$(DEMO_DEBS))

system-deps-bench:
	$(call apt_install,$(BENCH_DEBS))

# The offline bundle for the bureau's server (deploy/bundle.py, deploy/install.sh):
# `make wheelhouse` fetches the dependencies' wheels once (the package registry);
# `make bundle` then builds dist/sv-monitor-<version>-<python>-<arch>.tar.gz offline.
.wheelhouse/.filled: pyproject.toml $(BIN)/.installed
	$(BIN)/python deploy/bundle.py --fill-wheelhouse --wheelhouse .wheelhouse
	touch $@

wheelhouse: .wheelhouse/.filled

bundle: wheelhouse
	$(BIN)/python deploy/bundle.py --wheelhouse .wheelhouse --out dist

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

test: system-deps-test $(BIN)/.installed wheelhouse lint
	$(BIN)/pytest

demo: system-deps-demo $(BIN)/.installed
	$(BIN)/python -m demo

demo-status: $(BIN)/.installed
	$(BIN)/monitor --settings demo/var/monitor.toml status

demo-tickets: $(BIN)/.installed
	$(BIN)/monitor --settings demo/var/monitor.toml tickets list

# make demo-down DEVICE=jn-cam02   /   make demo-up DEVICE=jn-cam02
demo-down: $(BIN)/.installed
	$(BIN)/python -m demo down $(DEVICE)

demo-up: $(BIN)/.installed
	$(BIN)/python -m demo up $(DEVICE)

# make demo-reboot DEVICE=jn-core-sw   /   demo-uplink-down / demo-uplink-up DEVICE=qd-sw
demo-reboot demo-uplink-down demo-uplink-up: $(BIN)/.installed
	$(BIN)/python -m demo $(@:demo-%=%) $(DEVICE)

# The demo site watched by three nodes sharing a PostgreSQL of the demo's own.
demo-cluster: system-deps-demo $(BIN)/.installed
	$(call apt_install,postgresql postgresql-client)
	$(BIN)/python -m demo cluster

demo-cluster-status: $(BIN)/.installed
	$(BIN)/monitor --settings demo/var/cluster.toml cluster status

# make demo-kill NODE=n1
demo-kill: $(BIN)/.installed
	$(BIN)/python -m demo kill $(NODE)

# Prometheus on 127.0.0.1:9090 scraping the running demo, with exporters/prometheus/rules.yml
demo-prometheus: $(BIN)/.installed
	$(call apt_install,prometheus)
	$(BIN)/python -m demo prometheus

bench: system-deps-bench $(BIN)/.installed
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/snmp.py
	$(BIN)/python bench/video.py
	$(BIN)/python bench/vqd.py
	$(BIN)/python bench/metrics.py

# The daemon against real agents at 2,000 and 20,000 switches (root: a network namespace
# of its own; ~25 min).
bench-scale: system-deps-bench $(BIN)/.installed
	$(BIN)/python bench/scale.py --targets 2000 --minutes 10
	$(BIN)/python bench/scale.py --targets 20000 --minutes 10 --ports 0

clean:
	rm -rf $(VENV) demo/var .pytest_cache .mypy_cache .ruff_cache *.egg-info .wheelhouse dist
