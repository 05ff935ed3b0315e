package server

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/rpc/apidoc"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// Method is one line of the table: the description clients see (generated
// into rpc.Table) and the library call behind it. Handlers have one shape,
// func(*startos.Server, ctx, P) (R, error): a method expression such as
// (*startos.Server).Echo, or noParams(...) around one that takes no params.
type Method struct {
	rpc.Method
	call func(ctx context.Context, lib *startos.Server, params any) (result any, stream subscription, err error)
	// quick: see the flag.
	quick bool
}

// Flags set the boolean properties of a table entry.
type flags uint8

const (
	public flags = 1 << iota
	mutates
	// quick marks a read answered from memory that never waits (no disk,
	// engine, network or lock held across either): a stream connection runs
	// it on its read loop, since handing it to a worker costs more than it.
	quick
)

// unary declares a plain call.
func unary[P, R any](name, doc string, f flags, fn func(*startos.Server, context.Context, P) (R, error)) *Method {
	return &Method{
		Method: rpc.Method{
			Name: name, Doc: doc, Public: f&public != 0, Mutates: f&mutates != 0,
			Params: reflect.TypeFor[P](), Result: reflect.TypeFor[R](),
		},
		call: func(ctx context.Context, lib *startos.Server, p any) (any, subscription, error) {
			r, err := fn(lib, ctx, p.(P))
			return r, nil, err
		},
		quick: f&quick != 0,
	}
}

// streaming declares a method that answers with an initial value and a
// subscription whose items are sent as notifications named notif.
func streaming[P, R, N any](name, notif, doc string, f flags, fn func(*startos.Server, context.Context, P) (R, *feed.Feed[N], error)) *Method {
	return &Method{
		Method: rpc.Method{
			Name: name, Doc: doc, Public: f&public != 0, Mutates: f&mutates != 0, Notification: notif,
			Params: reflect.TypeFor[P](), Result: reflect.TypeFor[R](), Item: reflect.TypeFor[N](),
		},
		call: func(ctx context.Context, lib *startos.Server, p any) (any, subscription, error) {
			r, fd, err := fn(lib, ctx, p.(P))
			if err != nil {
				return nil, nil, err
			}
			return r, feedSubscription[N]{fd}, nil
		},
	}
}

// noParams adapts a library call that takes no params to the one handler
// shape with P = model.Empty: the wire still accepts {} or no params, and the
// library keeps its natural signature.
func noParams[R any](fn func(*startos.Server, context.Context) (R, error)) func(*startos.Server, context.Context, model.Empty) (R, error) {
	return func(lib *startos.Server, ctx context.Context, _ model.Empty) (R, error) { return fn(lib, ctx) }
}

// noParamsStream is noParams for a streaming call.
func noParamsStream[R, N any](fn func(*startos.Server, context.Context) (R, *feed.Feed[N], error)) func(*startos.Server, context.Context, model.Empty) (R, *feed.Feed[N], error) {
	return func(lib *startos.Server, ctx context.Context, _ model.Empty) (R, *feed.Feed[N], error) {
		return fn(lib, ctx)
	}
}

// via binds a method of a subsystem the Server exposes, so the table reaches
// it without a forwarder in the root package:
// via((*startos.Server).Sessions, (*auth.Sessions).Login).
func via[A, P, R any](area func(*startos.Server) A, fn func(A, context.Context, P) (R, error)) func(*startos.Server, context.Context, P) (R, error) {
	return func(lib *startos.Server, ctx context.Context, p P) (R, error) { return fn(area(lib), ctx, p) }
}

// viaNoParams is via for a call without params (wrap it in noParams).
func viaNoParams[A, R any](area func(*startos.Server) A, fn func(A, context.Context) (R, error)) func(*startos.Server, context.Context) (R, error) {
	return func(lib *startos.Server, ctx context.Context) (R, error) { return fn(area(lib), ctx) }
}

func withCookie(e rpc.CookieEffect, m *Method) *Method {
	m.Cookie = e
	return m
}

// withGUIDKey sets the key of a streaming method's initial value in its
// plain-HTTP answer.
func withGUIDKey(key string, m *Method) *Method {
	m.GUIDKey = key
	return m
}

// withCLI names the start-cli command of m when the dotted name reads badly.
func withCLI(path string, m *Method) *Method {
	m.CLI = path
	return m
}

// subscription is a feed with its item type erased, for the transports.
type subscription interface {
	next(ctx context.Context) (any, error)
	close()
}

type feedSubscription[N any] struct{ f *feed.Feed[N] }

func (s feedSubscription[N]) next(ctx context.Context) (any, error) { return s.f.Recv(ctx) }
func (s feedSubscription[N]) close()                                { s.f.Close() }

// Table is every method, in the order the docs list them. Adding a method is
// one line here plus the library function it binds; then `just docs`
// regenerates rpc.Table (what clients and start-cli read) and docs/api.md.
var Table = []*Method{
	unary("echo", "Return the message; the cheapest full round trip.", public|quick, (*startos.Server).Echo),
	unary("state", "Which mode the daemon is in: running, initializing or error.", public,
		noParams((*startos.Server).State)),
	unary("rpc.discover", "The OpenRPC 1.3 document of this surface, generated from the method table.", public,
		func(*startos.Server, context.Context, model.Empty) (json.RawMessage, error) { return discover(), nil }),
	unary("rpc.unsubscribe", "End a subscription opened on this connection.", public,
		func(*startos.Server, context.Context, rpc.UnsubscribeParams) (model.Empty, error) {
			// Served by the stream transports themselves; see conn.go.
			return model.Empty{}, errStreamOnly
		}),
	unary("setup.status", "Whether the box has an owner yet: incomplete or complete.", public,
		noParams((*startos.Server).SetupStatus)),
	withCLI("setup execute", withGUIDKey("progress", streaming("setup.execute", "setup.progress", "Set the owner's password (plain or {encrypted: JWE}; and optionally name and hostname), once; answers the setup's progress, complete.", public|mutates,
		(*startos.Server).SetupExecute))),
	unary("setup.get-pubkey", "The P-256 public key (JWK) to encrypt passwords with (JWE ECDH-ES), as StartOS's EncryptedWire; new at every start.", public,
		noParams((*startos.Server).WirePubkey)),
	unary("auth.get-pubkey", "The same key as setup.get-pubkey, for auth.reset-password's encrypted form.", public,
		noParams((*startos.Server).WirePubkey)),
	withCookie(rpc.CookieSet, unary("auth.login", "Check the password and open a session; over HTTP it also sets the session cookie.", public,
		via((*startos.Server).Sessions, (*auth.Sessions).Login))),
	withCookie(rpc.CookieClear, unary("auth.logout", "End the caller's session.", 0,
		noParams(viaNoParams((*startos.Server).Sessions, (*auth.Sessions).Logout)))),
	unary("auth.session.list", "The open sessions; current marks the caller's own.", 0,
		noParams(viaNoParams((*startos.Server).Sessions, (*auth.Sessions).List))),
	unary("auth.session.kill", "End the sessions with these ids and close their connections at once.", 0,
		via((*startos.Server).Sessions, (*auth.Sessions).Kill)),
	unary("auth.reset-password", "Change the password; every other session ends.", mutates,
		via((*startos.Server).Sessions, (*auth.Sessions).ResetPassword)),
	unary("server.time", "The box's clock and the daemon's uptime in seconds.", quick,
		noParams((*startos.Server).Time)),
	unary("server.device-info", "Software version, architecture, memory and hostname of the box.", 0,
		noParams((*startos.Server).DeviceInfo)),
	unary("server.logs", "A page of the daemon's own log: newest by default, or before/after a cursor.", 0,
		(*startos.Server).Logs),
	streaming("server.logs.follow", "server.logs.entry", "Recent daemon log entries, then each new one as it is written.", 0,
		(*startos.Server).FollowLogs),
	unary("server.watchdog", "Liveness: each watchdog probe's state, the log sinks' counters and the dumps on disk.", 0,
		noParams((*startos.Server).Watchdog)),
	unary("server.dump", "Write a goroutine dump to the watchdog folder now, as SIGUSR1 does.", 0,
		(*startos.Server).DumpGoroutines),
	unary("server.diagnose", "An evidence bundle (tar.gz): newest dumps, log ring, watchdog report, process status.", 0,
		noParams((*startos.Server).Diagnose)),
	unary("server.metrics", "CPU (user/kernel/wait/idle), memory, disk of the data folder and temperature, sampled in the background.", 0,
		noParams((*startos.Server).Metrics)),
	withGUIDKey("metrics", streaming("server.metrics.follow", "server.metrics.sample", "The latest metrics sample, then each new one (every 4 s).", 0,
		noParamsStream((*startos.Server).FollowMetrics))),
	unary("server.ca", "The box's root CA certificate (PEM) and its SHA-256 fingerprint: install it on a device to trust the box's https LAN addresses.", public,
		noParams((*startos.Server).CA)),
	unary("server.set-name", "Set the box's display name (1-64 printable characters).", mutates,
		(*startos.Server).SetName),
	unary("server.set-hostname", "Set the box's hostname (one lowercase RFC 1123 label, 1-63 characters) and/or its name, as StartOS's {name, hostname}.", mutates,
		(*startos.Server).SetHostname),
	unary("server.restart", "Stop the services and run the restart command; refused during an install, update or removal unless force.", 0,
		(*startos.Server).Restart),
	unary("server.shutdown", "Stop the services and run the shutdown command; refused during an install, update or removal unless force.", 0,
		(*startos.Server).Shutdown),
	unary("server.metrics-token.create", "Create a bearer token for GET /metrics (Prometheus); the answer is the only time the token is shown.", mutates,
		(*startos.Server).MetricsTokenCreate),
	unary("server.metrics-token.list", "The metrics tokens: id, name, when created (never the secret).", 0,
		noParams((*startos.Server).MetricsTokenList)),
	unary("server.metrics-token.revoke", "Revoke a metrics token by id; scrapes with it are refused at once.", mutates,
		(*startos.Server).MetricsTokenRevoke),
	unary("server.set-smtp", "Set the outgoing mail server (STARTTLS or TLS) and where and which notifications are emailed; the password stays private.", mutates,
		(*startos.Server).SetSMTP),
	unary("server.test-smtp", "Send a test email now with the given settings (an empty host uses the saved ones); the error says why it failed.", 0,
		(*startos.Server).TestSMTP),
	unary("server.clear-smtp", "Remove the mail server settings and password; nothing is emailed.", mutates,
		noParams((*startos.Server).ClearSMTP)),
	unary("server.webhook.add", "Send notifications as JSON to an http(s) URL, signed with HMAC-SHA256; the answer shows the signing secret once.", mutates,
		(*startos.Server).WebhookAdd),
	unary("server.webhook.list", "The webhooks: id, URL, levels, whether a token is set (never the token or secret).", 0,
		noParams((*startos.Server).WebhookList)),
	unary("server.webhook.remove", "Remove a webhook by id.", mutates,
		(*startos.Server).WebhookRemove),
	unary("server.webhook.test", "Send a test notification to a webhook now, without retries; the error says why it failed.", 0,
		(*startos.Server).WebhookTest),
	unary("notification.delivery-stats", "Notifications emailed and sent to webhooks: delivered, failed after retries, dropped, queued.", 0,
		noParams((*startos.Server).DeliveryStats)),
	unary("ssh.add", "Authorize one SSH public key line; it is written to the box's authorized_keys.", mutates,
		(*startos.Server).SSHAdd),
	unary("ssh.list", "The authorized SSH keys: algorithm, SHA256 fingerprint, comment, when added.", 0,
		noParams((*startos.Server).SSHList)),
	unary("ssh.remove", "Remove an authorized SSH key by its SHA256 fingerprint.", mutates,
		(*startos.Server).SSHRemove),
	unary("server.rebuild", "Drop every service's container and images and rebuild them from the archived packages.", mutates,
		noParams((*startos.Server).RebuildAll)),
	unary("package.sideload", "Start a sideload: answers a one-shot upload id; POST the .s9pk to /rest/rpc/<id>.", mutates,
		(*startos.Server).Sideload),
	unary("package.install", "Install a package from an http(s) URL, or by id (and version range) from the configured registries; verified while downloading; answers when installed.", mutates,
		(*startos.Server).InstallURL),
	unary("registry.add", "Add a package registry, pinned to the given key fingerprint or (none given) the key its index is signed by now; answers the fingerprint.", mutates,
		(*startos.Server).RegistryAdd),
	unary("registry.remove", "Remove a package registry and its cached index.", mutates, (*startos.Server).RegistryRemove),
	unary("registry.list", "The configured registries: URL, pinned key fingerprint, index sequence and expiry, packages, last error.", 0,
		(*startos.Server).RegistryList),
	unary("registry.refresh", "Fetch and verify one registry's index (url) or every one's, and recompute the updates on offer.", mutates,
		(*startos.Server).RegistryRefresh),
	unary("registry.package.index", "A registry's verified index in StartOS's shape: categories and every package's versions.", 0,
		(*startos.Server).RegistryPackageIndex),
	unary("registry.package.get", "The best version of a package for this box in a version range, in StartOS's shape.", 0,
		(*startos.Server).RegistryPackageGet),
	unary("marketplace.categories", "Every category the registries list.", 0, (*startos.Server).MarketplaceCategories),
	unary("marketplace.get", "StartOS 0.3's marketplace.get: a URL under a configured registry's /package/v0/ (info, index, latest, release-notes/ID, version/ID, manifest/ID) answered from its verified index; never fetches for the client.", 0,
		(*startos.Server).MarketplaceGet),
	unary("package.search", "Search the registries: every word in id, title, description or category; the newest version of each match.", 0,
		(*startos.Server).PackageSearch),
	unary("package.updates", "Installed packages a registry offers a newer version of.", 0, (*startos.Server).PackageUpdates),
	unary("package.update", "Update a package from the registries to the newest version (in an optional range) through migration, with rollback on failure; never a downgrade.", mutates,
		(*startos.Server).PackageUpdate),
	streaming("package.install.progress", "package.install.progress", "An install's phased progress now, then each change until it ends.", 0,
		(*startos.Server).InstallProgress),
	unary("package.cancel-install", "Abort an install or update in progress; the box is left as it was.", mutates,
		(*startos.Server).CancelInstall),
	unary("package.uninstall", "Stop and remove a package: container, images, archive, and volumes unless soft.", mutates,
		(*startos.Server).Uninstall),
	unary("package.list", "Installed packages: id, title, version, state, status and health as a person sees them.", quick,
		noParams((*startos.Server).Packages)),
	unary("package.info", "One package: status, health checks, dependencies, interfaces with local addresses, actions.", 0,
		(*startos.Server).PackageInfo),
	unary("package.installed-version", "The installed version of a package.", quick,
		(*startos.Server).InstalledVersion),
	unary("package.start", "Set a package to run; its actor starts it.", mutates, (*startos.Server).StartPackage),
	unary("package.stop", "Set a package to stop: SIGTERM, then kill after its timeout.", mutates, (*startos.Server).StopPackage),
	unary("package.restart", "Restart a package.", mutates, (*startos.Server).RestartPackage),
	unary("package.rebuild", "Drop a package's container and images and rebuild them from its archive.", mutates,
		(*startos.Server).RebuildPackage),
	unary("package.stats", "Memory (StartOS's memory_usage/memory_limit in MiB, and bytes) and CPU of each installed package; null while it is not running.", 0,
		noParams((*startos.Server).PackageStats)),
	unary("package.logs", "A page of a package's log: newest by default, or before/after a cursor.", 0,
		(*startos.Server).PackageLogs),
	streaming("package.logs.follow", "package.logs.entry", "Recent lines of a package's log, then each new one.", 0,
		(*startos.Server).FollowPackageLogs),
	unary("package.action.get-input", "An action's input spec and current values.", 0,
		(*startos.Server).ActionInput),
	unary("package.action.run", "Run a package's action with its input; answers the action's result.", mutates,
		(*startos.Server).RunAction),
	unary("package.config.get", "A package's config spec and its config (generated from the spec's defaults while none is saved).", 0,
		(*startos.Server).ConfigGet),
	unary("package.config.set", "Validate and save a package's config, restarting it if it runs; answers the dependents whose config checks it breaks (with dryRun only answers).", mutates,
		(*startos.Server).ConfigSet),
	unary("package.properties", "A package's properties (StartOS 0.3 version 2: nested values, masked, copyable, qr); null when it has none.", 0,
		(*startos.Server).Properties),
	unary("package.dependency.configure", "Run a dependent's auto-configure on its dependency's config and save the result (with dryRun only answers old and new config).", mutates,
		(*startos.Server).DependencyConfigure),
	unary("db.dump", "The public state document, or the part at a JSON Pointer (default /public), with its revision.", 0,
		(*startos.Server).Dump),
	withCLI("db watch", streaming("db.subscribe", "db.revision", "The state document at a pointer, then every revision as a JSON Patch scoped to it.", 0,
		(*startos.Server).Subscribe)),
	withCLI("db put-ui", unary("db.put.ui", "Set a value under /public/ui, where frontends keep their preferences.", mutates,
		(*startos.Server).PutUI)),
	unary("notification.list", "Notifications, newest first: at most limit (default 40), older than before.", 0,
		(*startos.Server).Notifications),
	unary("notification.create", "Raise a notification (level success, info, warning or error); returns its id.", mutates,
		(*startos.Server).CreateNotification),
	unary("notification.remove", "Delete the notifications with these ids.", mutates,
		(*startos.Server).RemoveNotifications),
	unary("notification.remove-before", "Delete every notification older than the id.", mutates,
		(*startos.Server).RemoveNotificationsBefore),
	unary("notification.mark-seen", "Mark the notifications with these ids seen.", mutates,
		(*startos.Server).MarkNotificationsSeen),
	unary("notification.mark-seen-before", "Mark every notification older than the id seen.", mutates,
		(*startos.Server).MarkNotificationsSeenBefore),
	unary("notification.mark-unseen", "Mark the notifications with these ids unseen.", mutates,
		(*startos.Server).MarkNotificationsUnseen),
	unary("backup.target.add", "Add a backup target: an absolute local path, sftp:user@host:/path, s3:… or rest:… (credentials stay private).", mutates,
		(*startos.Server).AddBackupTarget),
	unary("backup.target.list", "The backup targets, without their credentials.", 0,
		noParams((*startos.Server).BackupTargets)),
	unary("backup.target.update", "Change a backup target's name, url or credentials.", mutates,
		(*startos.Server).UpdateBackupTarget),
	unary("backup.target.remove", "Forget a backup target; its repository is left as it is.", mutates,
		(*startos.Server).RemoveBackupTarget),
	unary("backup.target.info", "The snapshots in a target (packages with versions, the box), newest first.", mutates,
		(*startos.Server).BackupTargetInfo),
	unary("backup.target.check", "Verify a target's repository with restic check.", mutates,
		(*startos.Server).CheckBackupTarget),
	unary("backup.create", "Back packages (default all) and the box up to a target in the background; progress in serverInfo.statusInfo.backupProgress.", mutates,
		(*startos.Server).CreateBackup),
	unary("package.backup.restore", "Restore packages from a target: reinstall from the backed-up archive if needed, then their data; answers when done.", mutates,
		(*startos.Server).RestoreBackup),
	unary("backup.schedule.set", "Set the backup schedule (off, daily or weekly at HH:MM; target, packages, retention).", mutates,
		(*startos.Server).SetBackupSchedule),
	unary("backup.schedule.get", "The backup schedule and its next run.", 0,
		noParams((*startos.Server).BackupSchedule)),
}

// Descriptions lists the table's descriptions, in order: what rpc.Table is
// generated from.
func Descriptions() []*rpc.Method {
	out := make([]*rpc.Method, len(Table))
	for i, m := range Table {
		out[i] = &m.Method
	}
	return out
}

// discover is set in init: the document is derived from Table, which holds
// the method that serves it.
var discover func() json.RawMessage

func init() {
	doc := apidoc.OpenRPC(Descriptions())
	discover = func() json.RawMessage { return doc }
}

// methodSet is a table indexed by name.
type methodSet map[string]*Method

// newMethodSet indexes table, then extra (which replaces entries of the same
// name).
func newMethodSet(table, extra []*Method) methodSet {
	set := make(methodSet, len(table)+len(extra))
	for _, e := range table {
		if err := rpc.CheckMethod(&e.Method); err != nil {
			panic(err)
		}
		if _, dup := set[e.Name]; dup {
			panic(fmt.Sprintf("rpc: method %q declared twice", e.Name))
		}
		set[e.Name] = e
	}
	for _, e := range extra {
		if err := rpc.CheckMethod(&e.Method); err != nil {
			panic(err)
		}
		set[e.Name] = e
	}
	return set
}

// tableSet is Table indexed, checked once at start.
var tableSet = newMethodSet(Table, nil)
