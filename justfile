# StartOS in Go. `just` lists the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

data_dir := justfile_directory() / ".data"
listen := "127.0.0.1:5959"
lan_listen := "127.0.0.1:5443"
lan_http_listen := "127.0.0.1:5980"

# List the recipes.
default:
    @just --list --unsorted

# Build startd, start-cli, start-sdk and start-tui into ./bin.
build:
    mkdir -p bin
    for pair in startd:daemon start-cli:cli start-sdk:sdk start-tui:tui; do \
      [ -f frontends/${pair#*:}/main.go ] && go build -o bin/${pair%%:*} ./frontends/${pair#*:}; \
    done; true
    @ls bin

# Run the daemon with a data folder in the checkout; prints how to reach it.
run: build
    mkdir -p {{data_dir}}/run
    @echo "startd: data in {{data_dir}}; from this folder: ./bin/start-cli server time  (it finds .data/run/rpc.sock)"
    @echo "        elsewhere: export STARTOS_SOCKET={{data_dir}}/run/rpc.sock"
    @echo "        or over HTTP: ./bin/start-cli --host http://{{listen}} echo hello; the web UI: http://{{listen}}/"
    @echo "        LAN router (unprivileged, loopback): https://{{lan_listen}} and http://{{lan_http_listen}}; the CA: ./bin/start-cli server ca"
    ./bin/startd --data-dir {{data_dir}} --run-dir {{data_dir}}/run --listen {{listen}} --lan-listen {{lan_listen}} --lan-http-listen {{lan_http_listen}} --authorized-keys {{data_dir}}/ssh/authorized_keys

# Make sure a Docker Engine is installed and answering (installs docker.io as root).
engine:
    #!/usr/bin/env bash
    set -euo pipefail
    sock=/var/run/docker.sock
    answering() {
      if command -v curl >/dev/null 2>&1; then curl -sf --max-time 3 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1
      else timeout 5 docker version >/dev/null 2>&1; fi
    }
    # An engine we install or start gets live-restore (docs/startd.md): merged
    # into /etc/docker/daemon.json, other settings kept.
    configure() { go run ./internal/enginecfg /etc/docker/daemon.json; }
    if answering; then
      if [ "$(timeout 10 docker info --format '{{{{.LiveRestoreEnabled}}' 2>/dev/null || true)" = false ]; then
        echo "engine: note: the running engine has live-restore off, so restarting it stops every service (docs/startd.md)" >&2
      fi
      exit 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
      if [ "$(id -u)" != 0 ]; then
        echo "engine: Docker Engine is missing and I am not root; install it with: sudo apt-get install -y docker.io" >&2
        exit 1
      fi
      echo "engine: installing docker.io" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq docker.io >/dev/null
      if answering && [ "$(configure)" = changed ]; then
        # The package started it (systemd): live-restore is reloadable.
        echo "engine: enabled live-restore; reloading dockerd" >&2
        kill -HUP "$(pidof dockerd)"
      fi
    fi
    if ! answering; then
      if [ "$(id -u)" != 0 ]; then
        echo "engine: dockerd is not running on $sock and I am not root to start it" >&2
        exit 1
      fi
      configure >/dev/null
      echo "engine: starting dockerd with live-restore (log: /tmp/dockerd.log)" >&2
      (setsid dockerd >>/tmp/dockerd.log 2>&1 &)
      for _ in $(seq 1 60); do answering && break; sleep 0.5; done
    fi
    if ! answering; then
      echo "engine: dockerd did not answer on $sock within 30 s; see /tmp/dockerd.log" >&2
      tail -n 20 /tmp/dockerd.log >&2 || true
      exit 1
    fi
    echo "engine: Docker Engine answering on $sock" >&2

# Install the tools the tests drive (tmux for the terminal UI test, chromium for the web UI, restic and sshd for backups) when root and missing.
tools:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    command -v tmux >/dev/null 2>&1 || missing+=(tmux)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v restic >/dev/null 2>&1 || missing+=(restic)
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    [ ${#missing[@]} -eq 0 ] && exit 0
    if [ "$(id -u)" != 0 ]; then
      echo "tools: missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null

# Run every test against the real engine (with STARTOS_TEST_ENGINE_RESTART=1, as CI, also an engine restart).
test: engine tools
    @just _prune-test-networks
    STARTOS_REQUIRE_DOCKER=1 STARTOS_TEST_ENGINE_RESTART= go test -race -count=1 -timeout 15m ./...
    if [ "${STARTOS_TEST_ENGINE_RESTART:-}" = 1 ]; then \
      STARTOS_REQUIRE_DOCKER=1 go test -count=1 -timeout 5m -run TestEngineRestartKeepsServices -v ./frontends/daemon; \
    fi

# Remove what earlier test runs left of test packages (ids testpkg-*): containers, then networks that no
# container uses. A test whose in-process daemon outlives its package's cleanup can leave them, and the engine
# has only ~30 network address pools.
_prune-test-networks:
    #!/usr/bin/env bash
    for c in $(timeout 20 docker ps -aq --filter label=dev.startos.package 2>/dev/null); do
      case "$(timeout 10 docker inspect -f '{{{{index .Config.Labels "dev.startos.package"}}' "$c" 2>/dev/null)" in
        testpkg-*) timeout 30 docker rm -f "$c" >/dev/null 2>&1 || true ;;
      esac
    done
    for n in $(timeout 20 docker network ls -q --filter name=startos-testpkg- 2>/dev/null); do
      [ "$(timeout 10 docker network inspect -f '{{{{len .Containers}}' "$n" 2>/dev/null)" = 0 ] && timeout 10 docker network rm "$n" >/dev/null 2>&1 || true
    done

# Measure: RPC round trips, logging, watchdog, state store, packages; each against Docker in the same run.
bench: engine
    go run ./internal/bench
    go run ./internal/bench/tuibench/cmd

# gofmt, go vet, and golangci-lint (staticcheck, errcheck; .golangci.yml), installed with `go install` when missing.
lint:
    @out=$(gofmt -l $(git ls-files '*.go')); if [ -n "$out" ]; then echo "gofmt needed:"; echo "$out"; exit 1; fi
    go vet ./...
    @v=v2.15.0; bin="$(go env GOPATH)/bin/golangci-lint"; \
      if ! "$bin" version 2>/dev/null | grep -q "${v#v}"; then echo "lint: installing golangci-lint $v" >&2; go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$v; fi; \
      "$bin" run ./...

# Regenerate what the method table (rpc/server/table.go) generates: rpc.Table for clients, and docs/api.md.
docs:
    go run ./internal/apidoc -table rpc/table_gen.go
    go run ./internal/apidoc > docs/api.md
