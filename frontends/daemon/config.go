package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// config is startd's settings. Each comes from, in order of precedence, a
// flag, a STARTD_* environment variable, the config file, or the default.
type config struct {
	DataDir  string `yaml:"data-dir"`
	RunDir   string `yaml:"run-dir"`
	Listen   string `yaml:"listen"`
	LogLevel string `yaml:"log-level"`
	// AllowedHosts are names besides loopback, IP literals and the machine's
	// hostname that HTTP requests may carry in Host and Origin.
	AllowedHosts []string `yaml:"allowed-hosts"`
	// AllowLocalDownloads lets package.install fetch from loopback,
	// link-local and private addresses.
	AllowLocalDownloads bool `yaml:"allow-local-downloads"`
	// LanListen is the LAN router's TLS address, LanHTTPListen its plain
	// HTTP one; "" turns each off.
	LanListen     *string `yaml:"lan-listen"`
	LanHTTPListen *string `yaml:"lan-http-listen"`
	// AuthorizedKeys is the file the owner's SSH keys are written to.
	AuthorizedKeys string `yaml:"authorized-keys"`
	// RestartCommand and ShutdownCommand run on server.restart and
	// server.shutdown, split on spaces (no shell).
	RestartCommand  string `yaml:"restart-command"`
	ShutdownCommand string `yaml:"shutdown-command"`
	// Registries seed the package registry list of a box that never had
	// one; RegistryRefresh is how often indexes are refreshed ("6h" by
	// default, "off" for never).
	Registries      []string `yaml:"registries"`
	RegistryRefresh string   `yaml:"registry-refresh"`
	// Alerts: when trouble becomes a notification (file only; alerts.go).
	Alerts alertsConfig `yaml:"alerts"`
}

var defaults = config{
	DataDir:  "/var/lib/startos",
	RunDir:   "/run/startos",
	Listen:   "127.0.0.1:5959",
	LogLevel: "info",
	// As StartOS: the start9 user's keys.
	AuthorizedKeys:  "/home/start9/.ssh/authorized_keys",
	RestartCommand:  "systemctl reboot",
	ShutdownCommand: "systemctl poweroff",
}

// LAN defaults: every interface, the standard ports (root, or
// CAP_NET_BIND_SERVICE, as the systemd unit grants).
const (
	defaultLanListen     = "0.0.0.0:443"
	defaultLanHTTPListen = "0.0.0.0:80"
)

// defaultConfigFile is read when it exists and --config is not given.
const defaultConfigFile = "/etc/startos/config.yaml"

var configFlags = []cli.Flag{
	&cli.StringFlag{Name: "config", Usage: "YAML config file (keys: data-dir, run-dir, listen, lan-listen, lan-http-listen, log-level, allowed-hosts, allow-local-downloads, authorized-keys, restart-command, shutdown-command, registries, registry-refresh, alerts)", EnvVars: []string{"STARTD_CONFIG"}},
	&cli.StringFlag{Name: "data-dir", Usage: "durable state (default " + defaults.DataDir + ")", EnvVars: []string{"STARTD_DATA_DIR"}},
	&cli.StringFlag{Name: "run-dir", Usage: "sockets and auth cookie (default " + defaults.RunDir + ")", EnvVars: []string{"STARTD_RUN_DIR"}},
	&cli.StringFlag{Name: "listen", Usage: "HTTP address for /rpc/v1 and /ws/rpc (default " + defaults.Listen + ")", EnvVars: []string{"STARTD_LISTEN"}},
	&cli.StringFlag{Name: "lan-listen", Usage: "LAN router HTTPS address (SNI routing to services, the box at <hostname>.local); \"\" turns it off (default " + defaultLanListen + ")", EnvVars: []string{"STARTD_LAN_LISTEN"}},
	&cli.StringFlag{Name: "lan-http-listen", Usage: "LAN router plain HTTP address (redirects to https); \"\" turns it off (default " + defaultLanHTTPListen + ")", EnvVars: []string{"STARTD_LAN_HTTP_LISTEN"}},
	&cli.StringSliceFlag{Name: "allowed-host", Usage: "a name the box is reached by, besides IP addresses, localhost and its hostname (repeatable; \".example.org\" allows subdomains); config key allowed-hosts", EnvVars: []string{"STARTD_ALLOWED_HOSTS"}},
	&cli.StringFlag{Name: "log-level", Usage: "trace, debug, info, warn or error (default " + defaults.LogLevel + ")", EnvVars: []string{"STARTD_LOG_LEVEL"}},
	&cli.StringFlag{Name: "authorized-keys", Usage: "authorized_keys file the owner's SSH keys are written to (default " + defaults.AuthorizedKeys + ")", EnvVars: []string{"STARTD_AUTHORIZED_KEYS"}},
	&cli.StringFlag{Name: "restart-command", Usage: "what server.restart runs, split on spaces, no shell (default " + defaults.RestartCommand + ")", EnvVars: []string{"STARTD_RESTART_COMMAND"}},
	&cli.StringFlag{Name: "shutdown-command", Usage: "what server.shutdown runs, split on spaces, no shell (default " + defaults.ShutdownCommand + ")", EnvVars: []string{"STARTD_SHUTDOWN_COMMAND"}},
	&cli.StringFlag{Name: "registry-refresh", Usage: "how often package registry indexes are refreshed, jittered (a duration such as 6h, or off)", EnvVars: []string{"STARTD_REGISTRY_REFRESH"}},
	&cli.BoolFlag{Name: "allow-local-downloads", Usage: "let package.install fetch from loopback, link-local and private addresses (tests, a registry on the LAN)", EnvVars: []string{"STARTD_ALLOW_LOCAL_DOWNLOADS"}},
}

// loadConfig merges flags and environment (both seen through cCtx), the
// config file and the defaults.
func loadConfig(cCtx *cli.Context) (config, error) {
	cfg := defaults
	path, explicit := cCtx.String("config"), cCtx.IsSet("config")
	if !explicit {
		path = defaultConfigFile
	}
	var b []byte
	err := os.ErrNotExist
	if path != "" { // --config "" means no file
		b, err = os.ReadFile(path)
	}
	switch {
	case err == nil:
		var file config
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
			return config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		merge(&cfg, file)
	case (explicit && path != "") || !errors.Is(err, os.ErrNotExist):
		return config{}, fmt.Errorf("config file: %w", err)
	}
	for name, dst := range map[string]*string{
		"data-dir": &cfg.DataDir, "run-dir": &cfg.RunDir, "listen": &cfg.Listen, "log-level": &cfg.LogLevel,
		"authorized-keys": &cfg.AuthorizedKeys,
		"restart-command": &cfg.RestartCommand, "shutdown-command": &cfg.ShutdownCommand,
		"registry-refresh": &cfg.RegistryRefresh,
	} {
		if cCtx.IsSet(name) {
			*dst = cCtx.String(name)
		}
	}
	for name, dst := range map[string]**string{"lan-listen": &cfg.LanListen, "lan-http-listen": &cfg.LanHTTPListen} {
		if cCtx.IsSet(name) {
			v := cCtx.String(name)
			*dst = &v
		}
	}
	if cCtx.IsSet("allowed-host") {
		cfg.AllowedHosts = cCtx.StringSlice("allowed-host") // replaces the file's list, like every other key
	}
	if cCtx.IsSet("allow-local-downloads") {
		cfg.AllowLocalDownloads = cCtx.Bool("allow-local-downloads")
	}
	if _, err := cfg.registryRefresh(); err != nil {
		return config{}, err
	}
	if _, err := cfg.Alerts.alerts(); err != nil {
		return config{}, err
	}
	for _, h := range cfg.AllowedHosts {
		if !allowedHostPattern.MatchString(strings.ToLower(h)) {
			return config{}, fmt.Errorf("allowed-host %q: want a DNS name such as box.example.org, or .example.org for its subdomains", h)
		}
	}
	return cfg, nil
}

// allowedHostPattern is a DNS name, optionally with a leading dot.
var allowedHostPattern = regexp.MustCompile(`^\.?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// lanAddrs are the LAN router's addresses after defaults.
func (c config) lanAddrs() (tlsAddr, plainAddr string) {
	tlsAddr, plainAddr = defaultLanListen, defaultLanHTTPListen
	if c.LanListen != nil {
		tlsAddr = *c.LanListen
	}
	if c.LanHTTPListen != nil {
		plainAddr = *c.LanHTTPListen
	}
	return tlsAddr, plainAddr
}

// merge copies the non-empty fields of src over dst.
func merge(dst *config, src config) {
	for _, p := range []struct{ d, s *string }{
		{&dst.DataDir, &src.DataDir}, {&dst.RunDir, &src.RunDir}, {&dst.Listen, &src.Listen}, {&dst.LogLevel, &src.LogLevel},
		{&dst.AuthorizedKeys, &src.AuthorizedKeys},
		{&dst.RestartCommand, &src.RestartCommand}, {&dst.ShutdownCommand, &src.ShutdownCommand},
		{&dst.RegistryRefresh, &src.RegistryRefresh},
	} {
		if *p.s != "" {
			*p.d = *p.s
		}
	}
	if len(src.AllowedHosts) > 0 {
		dst.AllowedHosts = src.AllowedHosts
	}
	if len(src.Registries) > 0 {
		dst.Registries = src.Registries
	}
	mergeAlerts(&dst.Alerts, src.Alerts)
	dst.AllowLocalDownloads = dst.AllowLocalDownloads || src.AllowLocalDownloads
	if src.LanListen != nil {
		dst.LanListen = src.LanListen
	}
	if src.LanHTTPListen != nil {
		dst.LanHTTPListen = src.LanHTTPListen
	}
}

// registryRefresh is the refresh period: 0 for the library's default,
// negative for off.
func (c config) registryRefresh() (time.Duration, error) {
	switch c.RegistryRefresh {
	case "":
		return 0, nil
	case "off", "never":
		return -1, nil
	}
	d, err := time.ParseDuration(c.RegistryRefresh)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("registry-refresh %q: want a duration of at least 1m (such as 6h) or off", c.RegistryRefresh)
	}
	return d, nil
}
