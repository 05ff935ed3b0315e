// Package rpc is the one RPC surface of StartOS: the method table, the
// dispatcher, the transports (HTTP POST, WebSocket, unix socket), the mapping
// from library errors to wire codes, the OpenRPC document, and the Go client
// every frontend uses.
//
// The table is the single source of truth: the dispatcher, rpc.discover,
// docs/api.md and the start-cli command tree are all derived from it. A method
// body is a line that calls the library through Backend; logic lives there.
package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/static"
)

// Backend is what the RPC surface needs from the library. *startos.Server
// implements it; tests may supply their own.
type Backend interface {
	// Revision is the state document's current revision, reported after
	// mutating calls so a client can wait until its copy has caught up.
	Revision() uint64

	Echo(ctx context.Context, p model.EchoParams) (string, error)
	State(ctx context.Context) (model.ServerState, error)
	Time(ctx context.Context) (model.ServerTime, error)
	DeviceInfo(ctx context.Context) (model.DeviceInfo, error)
	Logs(ctx context.Context, p model.LogsParams) (model.LogPage, error)
	FollowLogs(ctx context.Context, p model.LogsParams) (model.LogPage, *feed.Feed[model.LogEntry], error)
	Watchdog(ctx context.Context) (model.WatchdogReport, error)
	DumpGoroutines(ctx context.Context, p model.DumpGoroutinesParams) (model.DumpInfo, error)
	Diagnose(ctx context.Context) (model.DiagnoseBundle, error)
	Metrics(ctx context.Context) (model.Metrics, error)
	FollowMetrics(ctx context.Context) (model.Metrics, *feed.Feed[model.Metrics], error)
	CA(ctx context.Context) (model.CAInfo, error)

	Dump(ctx context.Context, p model.DumpParams) (model.Dump, error)
	Subscribe(ctx context.Context, p model.DBSubscribeParams) (model.DBSubscribeResult, *feed.Feed[model.Revision], error)
	PutUI(ctx context.Context, p model.PutUIParams) (model.Empty, error)

	// Authentication. Authenticate maps a session token to its id;
	// WatchSessionEnds reports sessions as they end so their connections
	// can be closed.
	SetupStatus(ctx context.Context) (model.SetupStatus, error)
	Setup(ctx context.Context, p model.SetupParams) (model.Empty, error)
	Login(ctx context.Context, p model.LoginParams) (model.LoginResult, error)
	Logout(ctx context.Context) (model.Empty, error)
	Sessions(ctx context.Context) (model.SessionList, error)
	KillSessions(ctx context.Context, p model.SessionKillParams) (model.Empty, error)
	ResetPassword(ctx context.Context, p model.ResetPasswordParams) (model.Empty, error)
	Authenticate(ctx context.Context, token string) (string, error)
	LocalCookieValid(cookie string) bool
	WatchSessionEnds(fn func(ids []string)) (stop func())

	// Packages. StaticFile finds an icon, licence or instructions by the
	// part of its URL after static.URLPrefix.
	StaticFile(rel string) (static.File, error)
	Sideload(ctx context.Context, p model.SideloadParams) (model.SideloadResult, error)
	ReceiveUpload(ctx context.Context, id string, body io.Reader, size int64) error
	InstallURL(ctx context.Context, p model.InstallParams) (model.Empty, error)
	// Registries and the marketplace (startos/market).
	RegistryAdd(ctx context.Context, p model.RegistryAddParams) (model.RegistryAddResult, error)
	RegistryRemove(ctx context.Context, p model.RegistryURLParams) (model.Empty, error)
	RegistryList(ctx context.Context, p model.Empty) ([]model.RegistryInfo, error)
	RegistryRefresh(ctx context.Context, p model.RegistryRefreshParams) (model.Empty, error)
	RegistryPackageIndex(ctx context.Context, p model.RegistryIndexParams) (model.PackageIndex, error)
	RegistryPackageGet(ctx context.Context, p model.RegistryPackageGetParams) (model.PackageGet, error)
	MarketplaceCategories(ctx context.Context, p model.Empty) ([]string, error)
	MarketplaceGet(ctx context.Context, p model.MarketplaceGetParams) (any, error)
	PackageSearch(ctx context.Context, p model.PackageSearchParams) ([]model.MarketPackage, error)
	PackageUpdates(ctx context.Context, p model.Empty) ([]model.PackageUpdateInfo, error)
	PackageUpdate(ctx context.Context, p model.PackageUpdateParams) (model.Empty, error)
	CancelInstall(ctx context.Context, p model.CancelInstallParams) (model.Empty, error)
	InstallProgress(ctx context.Context, p model.InstallProgressParams) (model.FullProgress, *feed.Feed[model.FullProgress], error)
	Uninstall(ctx context.Context, p model.UninstallParams) (model.Empty, error)
	Packages(ctx context.Context) ([]model.PackageSummary, error)
	PackageInfo(ctx context.Context, p model.PackageIDParams) (model.PackageInfo, error)
	InstalledVersion(ctx context.Context, p model.PackageIDParams) (*string, error)
	StartPackage(ctx context.Context, p model.PackageIDParams) (model.Empty, error)
	StopPackage(ctx context.Context, p model.PackageIDParams) (model.Empty, error)
	RestartPackage(ctx context.Context, p model.PackageIDParams) (model.Empty, error)
	RebuildPackage(ctx context.Context, p model.PackageIDParams) (model.Empty, error)
	RebuildAll(ctx context.Context) (model.Empty, error)
	PackageStats(ctx context.Context) (map[string]model.PackageStats, error)
	PackageLogs(ctx context.Context, p model.PackageLogsParams) (model.PackageLogPage, error)
	FollowPackageLogs(ctx context.Context, p model.PackageLogsParams) (model.PackageLogPage, *feed.Feed[model.PackageLogEntry], error)
	ActionInput(ctx context.Context, p model.ActionInputParams) (model.ActionInput, error)
	RunAction(ctx context.Context, p model.ActionParams) (model.ActionResult, error)
	ConfigGet(ctx context.Context, p model.PackageIDParams) (config.Res, error)
	ConfigSet(ctx context.Context, p model.ConfigSetParams) (map[string]model.Breakage, error)
	Properties(ctx context.Context, p model.PackageIDParams) (*config.Properties, error)
	DependencyConfigure(ctx context.Context, p model.DependencyConfigureParams) (config.AutoConfigureRes, error)

	CreateNotification(ctx context.Context, in model.NotificationInput) (uint32, error)
	Notifications(ctx context.Context, p model.NotificationListParams) ([]model.Notification, error)
	RemoveNotifications(ctx context.Context, p model.NotificationIDsParams) (model.Empty, error)
	RemoveNotificationsBefore(ctx context.Context, p model.NotificationBeforeParams) (model.Empty, error)
	MarkNotificationsSeen(ctx context.Context, p model.NotificationIDsParams) (model.Empty, error)
	MarkNotificationsSeenBefore(ctx context.Context, p model.NotificationBeforeParams) (model.Empty, error)
	MarkNotificationsUnseen(ctx context.Context, p model.NotificationIDsParams) (model.Empty, error)

	// Backups.
	AddBackupTarget(ctx context.Context, p model.BackupTargetAddParams) (model.BackupTargetID, error)
	BackupTargets(ctx context.Context) ([]model.BackupTarget, error)
	UpdateBackupTarget(ctx context.Context, p model.BackupTargetUpdateParams) (model.Empty, error)
	RemoveBackupTarget(ctx context.Context, p model.BackupTargetIDParams) (model.Empty, error)
	BackupTargetInfo(ctx context.Context, p model.BackupTargetPasswordParams) (model.BackupTargetInfo, error)
	CheckBackupTarget(ctx context.Context, p model.BackupTargetPasswordParams) (model.Empty, error)
	CreateBackup(ctx context.Context, p model.BackupCreateParams) (model.Empty, error)
	RestoreBackup(ctx context.Context, p model.BackupRestoreParams) (model.Empty, error)
	SetBackupSchedule(ctx context.Context, p model.BackupSchedule) (model.Empty, error)
	BackupSchedule(ctx context.Context) (model.BackupSchedule, error)
	// Administration.
	SSHAdd(ctx context.Context, p model.SSHAddParams) (model.SSHKey, error)
	SSHList(ctx context.Context) ([]model.SSHKey, error)
	SSHRemove(ctx context.Context, p model.SSHRemoveParams) (model.Empty, error)
	SetName(ctx context.Context, p model.SetNameParams) (model.Empty, error)
	SetHostname(ctx context.Context, p model.SetHostnameParams) (model.Empty, error)
	Restart(ctx context.Context, p model.PowerParams) (model.Empty, error)
	Shutdown(ctx context.Context, p model.PowerParams) (model.Empty, error)
	// Prometheus: GET /metrics, its tokens, and the call counts it shows.
	PrometheusHandler() http.Handler
	MetricsTokenValid(token string) bool
	ObserveCall(method string, code int, d time.Duration)
	MetricsTokenCreate(ctx context.Context, p model.MetricsTokenCreateParams) (model.MetricsTokenCreated, error)
	MetricsTokenList(ctx context.Context) ([]model.MetricsToken, error)
	MetricsTokenRevoke(ctx context.Context, p model.MetricsTokenRevokeParams) (model.Empty, error)
	// Notifications that leave the box.
	SetSMTP(ctx context.Context, p model.SMTPValue) (model.Empty, error)
	TestSMTP(ctx context.Context, p model.SMTPTestParams) (model.Empty, error)
	ClearSMTP(ctx context.Context) (model.Empty, error)
	WebhookAdd(ctx context.Context, p model.WebhookAddParams) (model.WebhookAdded, error)
	WebhookList(ctx context.Context) ([]model.Webhook, error)
	WebhookRemove(ctx context.Context, p model.WebhookIDParams) (model.Empty, error)
	WebhookTest(ctx context.Context, p model.WebhookIDParams) (model.Empty, error)
	DeliveryStats(ctx context.Context) ([]model.DeliveryStats, error)
}

// Method is one entry of the table.
type Method struct {
	Name    string // dotted StartOS name: "server.time"
	Doc     string // one line
	Public  bool   // answers without authentication
	Mutates bool   // changes the state document; answers carry its revision
	// Notification is, for a streaming method, the method name of the
	// notifications that carry its items; empty for a plain call.
	Notification string
	// GUIDKey is, for a streaming method called over plain HTTP, the key
	// its initial value goes under beside "guid" (StartOS's {metrics,
	// guid}); empty merges the value's fields with "guid".
	GUIDKey string
	// Cookie is what the HTTP transport does with the session cookie after
	// a successful call: set it from a LoginResult, or clear it.
	Cookie cookieEffect

	// CLI is the start-cli command path when it differs from the dotted
	// name, space-separated: "db watch" for db.subscribe.
	CLI string

	Params reflect.Type // params struct
	Result reflect.Type // result, or for a stream the initial value
	Item   reflect.Type // for a stream: the type of each notification's value

	call func(ctx context.Context, b Backend, params any) (result any, stream subscription, err error)
}

// Streaming reports whether the method opens a subscription.
func (m *Method) Streaming() bool { return m.Notification != "" }

type cookieEffect uint8

const (
	cookieNone cookieEffect = iota
	cookieSet
	cookieClear
)

func withCookie(e cookieEffect, m *Method) *Method {
	m.Cookie = e
	return m
}

// Flags set the boolean properties of a table entry.
type flags uint8

const (
	public flags = 1 << iota
	mutates
)

// unary declares a plain call.
func unary[P, R any](name, doc string, f flags, fn func(Backend, context.Context, P) (R, error)) *Method {
	return &Method{
		Name: name, Doc: doc, Public: f&public != 0, Mutates: f&mutates != 0,
		Params: reflect.TypeFor[P](), Result: reflect.TypeFor[R](),
		call: func(ctx context.Context, b Backend, p any) (any, subscription, error) {
			r, err := fn(b, ctx, p.(P))
			return r, nil, err
		},
	}
}

// streaming declares a method that answers with an initial value and a
// subscription whose items are sent as notifications named notif.
func streaming[P, R, N any](name, notif, doc string, f flags, fn func(Backend, context.Context, P) (R, *feed.Feed[N], error)) *Method {
	return &Method{
		Name: name, Doc: doc, Public: f&public != 0, Mutates: f&mutates != 0, Notification: notif,
		Params: reflect.TypeFor[P](), Result: reflect.TypeFor[R](), Item: reflect.TypeFor[N](),
		call: func(ctx context.Context, b Backend, p any) (any, subscription, error) {
			r, fd, err := fn(b, ctx, p.(P))
			if err != nil {
				return nil, nil, err
			}
			return r, feedSubscription[N]{fd}, nil
		},
	}
}

// withGUIDKey sets the key of a streaming method's initial value in its
// plain-HTTP answer.
func withGUIDKey(key string, m *Method) *Method {
	m.GUIDKey = key
	return m
}

// noParams adapts a library call that takes no params to the one handler
// shape, func(B, ctx, P) (R, error), with P = model.Empty: the wire still
// accepts {} or no params, and the library keeps its natural signature.
func noParams[R any](fn func(Backend, context.Context) (R, error)) func(Backend, context.Context, model.Empty) (R, error) {
	return func(b Backend, ctx context.Context, _ model.Empty) (R, error) { return fn(b, ctx) }
}

// noParamsStream is noParams for a streaming call.
func noParamsStream[R, N any](fn func(Backend, context.Context) (R, *feed.Feed[N], error)) func(Backend, context.Context, model.Empty) (R, *feed.Feed[N], error) {
	return func(b Backend, ctx context.Context, _ model.Empty) (R, *feed.Feed[N], error) { return fn(b, ctx) }
}

// withCLI names the start-cli command of m when the dotted name reads badly.
func withCLI(path string, m *Method) *Method {
	m.CLI = path
	return m
}

// CommandPath is the start-cli command path of m: ["server", "time"].
func (m *Method) CommandPath() []string {
	if m.CLI != "" {
		return strings.Fields(m.CLI)
	}
	return strings.Split(m.Name, ".")
}

// subscription is a feed with its item type erased, for the transports.
type subscription interface {
	next(ctx context.Context) (any, error)
	close()
}

type feedSubscription[N any] struct{ f *feed.Feed[N] }

func (s feedSubscription[N]) next(ctx context.Context) (any, error) { return s.f.Recv(ctx) }
func (s feedSubscription[N]) close()                                { s.f.Close() }

// Table is every method, in the order the docs list them.
var Table = []*Method{
	unary("echo", "Return the message; the cheapest full round trip.", public, Backend.Echo),
	unary("state", "Which mode the daemon is in: running, initializing or error.", public,
		noParams(Backend.State)),
	unary("rpc.discover", "The OpenRPC 1.3 document of this surface, generated from the method table.", public,
		func(Backend, context.Context, model.Empty) (json.RawMessage, error) { return discover(), nil }),
	unary("rpc.unsubscribe", "End a subscription opened on this connection.", public,
		func(Backend, context.Context, UnsubscribeParams) (model.Empty, error) {
			// Served by the stream transports themselves; see conn.go.
			return model.Empty{}, errStreamOnly
		}),
	unary("setup.status", "Whether the box has an owner yet: incomplete or complete.", public,
		noParams(Backend.SetupStatus)),
	withCLI("setup execute", unary("setup.execute", "Set the owner's password (and optionally name and hostname), once.", public|mutates,
		Backend.Setup)),
	withCookie(cookieSet, unary("auth.login", "Check the password and open a session; over HTTP it also sets the session cookie.", public,
		Backend.Login)),
	withCookie(cookieClear, unary("auth.logout", "End the caller's session.", 0,
		noParams(Backend.Logout))),
	unary("auth.session.list", "The open sessions; current marks the caller's own.", 0,
		noParams(Backend.Sessions)),
	unary("auth.session.kill", "End the sessions with these ids and close their connections at once.", 0,
		Backend.KillSessions),
	unary("auth.reset-password", "Change the password; every other session ends.", mutates,
		Backend.ResetPassword),
	unary("server.time", "The box's clock and the daemon's uptime in seconds.", 0,
		noParams(Backend.Time)),
	unary("server.device-info", "Software version, architecture, memory and hostname of the box.", 0,
		noParams(Backend.DeviceInfo)),
	unary("server.logs", "A page of the daemon's own log: newest by default, or before/after a cursor.", 0,
		Backend.Logs),
	streaming("server.logs.follow", "server.logs.entry", "Recent daemon log entries, then each new one as it is written.", 0,
		Backend.FollowLogs),
	unary("server.watchdog", "Liveness: each watchdog probe's state, the log sinks' counters and the dumps on disk.", 0,
		noParams(Backend.Watchdog)),
	unary("server.dump", "Write a goroutine dump to the watchdog folder now, as SIGUSR1 does.", 0,
		Backend.DumpGoroutines),
	unary("server.diagnose", "An evidence bundle (tar.gz): newest dumps, log ring, watchdog report, process status.", 0,
		noParams(Backend.Diagnose)),
	unary("server.metrics", "CPU (user/kernel/wait/idle), memory, disk of the data folder and temperature, sampled in the background.", 0,
		noParams(Backend.Metrics)),
	withGUIDKey("metrics", streaming("server.metrics.follow", "server.metrics.sample", "The latest metrics sample, then each new one (every 4 s).", 0,
		noParamsStream(Backend.FollowMetrics))),
	unary("server.ca", "The box's root CA certificate (PEM) and its SHA-256 fingerprint: install it on a device to trust the box's https LAN addresses.", public,
		noParams(Backend.CA)),
	unary("server.set-name", "Set the box's display name (1-64 printable characters).", mutates,
		Backend.SetName),
	unary("server.set-hostname", "Set the box's hostname: one lowercase RFC 1123 label, 1-63 characters.", mutates,
		Backend.SetHostname),
	unary("server.restart", "Stop the services and run the restart command; refused during an install, update or removal unless force.", 0,
		Backend.Restart),
	unary("server.shutdown", "Stop the services and run the shutdown command; refused during an install, update or removal unless force.", 0,
		Backend.Shutdown),
	unary("server.metrics-token.create", "Create a bearer token for GET /metrics (Prometheus); the answer is the only time the token is shown.", mutates,
		Backend.MetricsTokenCreate),
	unary("server.metrics-token.list", "The metrics tokens: id, name, when created (never the secret).", 0,
		noParams(Backend.MetricsTokenList)),
	unary("server.metrics-token.revoke", "Revoke a metrics token by id; scrapes with it are refused at once.", mutates,
		Backend.MetricsTokenRevoke),
	unary("server.set-smtp", "Set the outgoing mail server (STARTTLS or TLS) and where and which notifications are emailed; the password stays private.", mutates,
		Backend.SetSMTP),
	unary("server.test-smtp", "Send a test email now with the given settings (an empty host uses the saved ones); the error says why it failed.", 0,
		Backend.TestSMTP),
	unary("server.clear-smtp", "Remove the mail server settings and password; nothing is emailed.", mutates,
		noParams(Backend.ClearSMTP)),
	unary("server.webhook.add", "Send notifications as JSON to an http(s) URL, signed with HMAC-SHA256; the answer shows the signing secret once.", mutates,
		Backend.WebhookAdd),
	unary("server.webhook.list", "The webhooks: id, URL, levels, whether a token is set (never the token or secret).", 0,
		noParams(Backend.WebhookList)),
	unary("server.webhook.remove", "Remove a webhook by id.", mutates,
		Backend.WebhookRemove),
	unary("server.webhook.test", "Send a test notification to a webhook now, without retries; the error says why it failed.", 0,
		Backend.WebhookTest),
	unary("notification.delivery-stats", "Notifications emailed and sent to webhooks: delivered, failed after retries, dropped, queued.", 0,
		noParams(Backend.DeliveryStats)),
	unary("ssh.add", "Authorize one SSH public key line; it is written to the box's authorized_keys.", mutates,
		Backend.SSHAdd),
	unary("ssh.list", "The authorized SSH keys: algorithm, SHA256 fingerprint, comment, when added.", 0,
		noParams(Backend.SSHList)),
	unary("ssh.remove", "Remove an authorized SSH key by its SHA256 fingerprint.", mutates,
		Backend.SSHRemove),
	unary("server.rebuild", "Drop every service's container and images and rebuild them from the archived packages.", mutates,
		noParams(Backend.RebuildAll)),
	unary("package.sideload", "Start a sideload: answers a one-shot upload id; POST the .s9pk to /rest/rpc/<id>.", mutates,
		Backend.Sideload),
	unary("package.install", "Install a package from an http(s) URL, or by id (and version range) from the configured registries; verified while downloading; answers when installed.", mutates,
		Backend.InstallURL),
	unary("registry.add", "Add a package registry, pinned to the given key fingerprint or (none given) the key its index is signed by now; answers the fingerprint.", mutates,
		Backend.RegistryAdd),
	unary("registry.remove", "Remove a package registry and its cached index.", mutates, Backend.RegistryRemove),
	unary("registry.list", "The configured registries: URL, pinned key fingerprint, index sequence and expiry, packages, last error.", 0,
		Backend.RegistryList),
	unary("registry.refresh", "Fetch and verify one registry's index (url) or every one's, and recompute the updates on offer.", mutates,
		Backend.RegistryRefresh),
	unary("registry.package.index", "A registry's verified index in StartOS's shape: categories and every package's versions.", 0,
		Backend.RegistryPackageIndex),
	unary("registry.package.get", "The best version of a package for this box in a version range, in StartOS's shape.", 0,
		Backend.RegistryPackageGet),
	unary("marketplace.categories", "Every category the registries list.", 0, Backend.MarketplaceCategories),
	unary("marketplace.get", "StartOS 0.3's marketplace.get: a URL under a configured registry's /package/v0/ (info, index, latest, release-notes/ID, version/ID, manifest/ID) answered from its verified index; never fetches for the client.", 0,
		Backend.MarketplaceGet),
	unary("package.search", "Search the registries: every word in id, title, description or category; the newest version of each match.", 0,
		Backend.PackageSearch),
	unary("package.updates", "Installed packages a registry offers a newer version of.", 0, Backend.PackageUpdates),
	unary("package.update", "Update a package from the registries to the newest version (in an optional range) through migration, with rollback on failure; never a downgrade.", mutates,
		Backend.PackageUpdate),
	streaming("package.install.progress", "package.install.progress", "An install's phased progress now, then each change until it ends.", 0,
		Backend.InstallProgress),
	unary("package.cancel-install", "Abort an install or update in progress; the box is left as it was.", mutates,
		Backend.CancelInstall),
	unary("package.uninstall", "Stop and remove a package: container, images, archive, and volumes unless soft.", mutates,
		Backend.Uninstall),
	unary("package.list", "Installed packages: id, title, version, state, status and health as a person sees them.", 0,
		noParams(Backend.Packages)),
	unary("package.info", "One package: status, health checks, dependencies, interfaces with local addresses, actions.", 0,
		Backend.PackageInfo),
	unary("package.installed-version", "The installed version of a package.", 0,
		Backend.InstalledVersion),
	unary("package.start", "Set a package to run; its actor starts it.", mutates, Backend.StartPackage),
	unary("package.stop", "Set a package to stop: SIGTERM, then kill after its timeout.", mutates, Backend.StopPackage),
	unary("package.restart", "Restart a package.", mutates, Backend.RestartPackage),
	unary("package.rebuild", "Drop a package's container and images and rebuild them from its archive.", mutates,
		Backend.RebuildPackage),
	unary("package.stats", "Memory and CPU of each running package.", 0,
		noParams(Backend.PackageStats)),
	unary("package.logs", "A page of a package's log: newest by default, or before/after a cursor.", 0,
		Backend.PackageLogs),
	streaming("package.logs.follow", "package.logs.entry", "Recent lines of a package's log, then each new one.", 0,
		Backend.FollowPackageLogs),
	unary("package.action.get-input", "An action's input spec and current values.", 0,
		Backend.ActionInput),
	unary("package.action.run", "Run a package's action with its input; answers the action's result.", mutates,
		Backend.RunAction),
	unary("package.config.get", "A package's config spec and its config (generated from the spec's defaults while none is saved).", 0,
		Backend.ConfigGet),
	unary("package.config.set", "Validate and save a package's config, restarting it if it runs; answers the dependents whose config checks it breaks (with dryRun only answers).", mutates,
		Backend.ConfigSet),
	unary("package.properties", "A package's properties (StartOS 0.3 version 2: nested values, masked, copyable, qr); null when it has none.", 0,
		Backend.Properties),
	unary("package.dependency.configure", "Run a dependent's auto-configure on its dependency's config and save the result (with dryRun only answers old and new config).", mutates,
		Backend.DependencyConfigure),
	unary("db.dump", "The public state document, or the part at a JSON Pointer (default /public), with its revision.", 0,
		Backend.Dump),
	withCLI("db watch", streaming("db.subscribe", "db.revision", "The state document at a pointer, then every revision as a JSON Patch scoped to it.", 0,
		Backend.Subscribe)),
	withCLI("db put-ui", unary("db.put.ui", "Set a value under /public/ui, where frontends keep their preferences.", mutates,
		Backend.PutUI)),
	unary("notification.list", "Notifications, newest first: at most limit (default 40), older than before.", 0,
		Backend.Notifications),
	unary("notification.create", "Raise a notification (level success, info, warning or error); returns its id.", mutates,
		Backend.CreateNotification),
	unary("notification.remove", "Delete the notifications with these ids.", mutates,
		Backend.RemoveNotifications),
	unary("notification.remove-before", "Delete every notification older than the id.", mutates,
		Backend.RemoveNotificationsBefore),
	unary("notification.mark-seen", "Mark the notifications with these ids seen.", mutates,
		Backend.MarkNotificationsSeen),
	unary("notification.mark-seen-before", "Mark every notification older than the id seen.", mutates,
		Backend.MarkNotificationsSeenBefore),
	unary("notification.mark-unseen", "Mark the notifications with these ids unseen.", mutates,
		Backend.MarkNotificationsUnseen),
	unary("backup.target.add", "Add a backup target: an absolute local path, sftp:user@host:/path, s3:… or rest:… (credentials stay private).", mutates,
		Backend.AddBackupTarget),
	unary("backup.target.list", "The backup targets, without their credentials.", 0,
		noParams(Backend.BackupTargets)),
	unary("backup.target.update", "Change a backup target's name, url or credentials.", mutates,
		Backend.UpdateBackupTarget),
	unary("backup.target.remove", "Forget a backup target; its repository is left as it is.", mutates,
		Backend.RemoveBackupTarget),
	unary("backup.target.info", "The snapshots in a target (packages with versions, the box), newest first.", mutates,
		Backend.BackupTargetInfo),
	unary("backup.target.check", "Verify a target's repository with restic check.", mutates,
		Backend.CheckBackupTarget),
	unary("backup.create", "Back packages (default all) and the box up to a target in the background; progress in serverInfo.statusInfo.backupProgress.", mutates,
		Backend.CreateBackup),
	unary("package.backup.restore", "Restore packages from a target: reinstall from the backed-up archive if needed, then their data; answers when done.", mutates,
		Backend.RestoreBackup),
	unary("backup.schedule.set", "Set the backup schedule (off, daily or weekly at HH:MM; target, packages, retention).", mutates,
		Backend.SetBackupSchedule),
	unary("backup.schedule.get", "The backup schedule and its next run.", 0,
		noParams(Backend.BackupSchedule)),
}

// UnsubscribeParams names the subscription to end.
type UnsubscribeParams struct {
	Subscription string `json:"subscription"`
}

// StreamResult is what a streaming method answers: the subscription id that
// its notifications carry, and the initial value.
type StreamResult[R any] struct {
	Subscription string `json:"subscription"`
	Value        R      `json:"value"`
}

// StreamNotification is the params of every notification a subscription sends.
type StreamNotification[N any] struct {
	Subscription string `json:"subscription"`
	Value        N      `json:"value"`
}

// EndNotification is the method of the last notification of a subscription.
const EndNotification = "rpc.end"

// EndParams says why a subscription ended. Reason is "fell behind" when the
// subscriber did not keep up (resubscribe to start again from a fresh value),
// "closed" when the source went away, "unsubscribed" after rpc.unsubscribe.
type EndParams struct {
	Subscription string `json:"subscription"`
	Reason       string `json:"reason"`
	Error        *Error `json:"error,omitempty"`
}

// discover is set in init: the document is derived from Table, which holds
// the method that serves it.
var discover func() json.RawMessage

func init() { discover = openRPCDocument }

var byName = func() map[string]*Method {
	m := make(map[string]*Method, len(Table))
	for _, e := range Table {
		if err := checkEntry(e); err != nil {
			panic(err)
		}
		if _, dup := m[e.Name]; dup {
			panic(fmt.Sprintf("rpc: method %q declared twice", e.Name))
		}
		m[e.Name] = e
	}
	return m
}()

// checkEntry is the init-time validation of a table entry.
func checkEntry(e *Method) error {
	if e.Name == "" || strings.Trim(e.Name, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return fmt.Errorf("rpc: bad method name %q", e.Name)
	}
	if e.Doc == "" || strings.Contains(e.Doc, "\n") {
		return fmt.Errorf("rpc: method %q needs a one-line doc", e.Name)
	}
	if e.Params.Kind() != reflect.Struct {
		return fmt.Errorf("rpc: method %q: params must be a struct, not %s", e.Name, e.Params)
	}
	return nil
}

// Lookup finds a method by name.
func Lookup(name string) (*Method, bool) {
	m, ok := byName[name]
	return m, ok
}

// Names lists every method name, sorted.
func Names() []string {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParamField describes one field of a method's params, for generated
// frontends such as the CLI.
type ParamField struct {
	Name     string       // JSON name
	Required bool         // no omitempty in its tag
	Type     reflect.Type // Go type
	Kind     string       // the JSON type it decodes from: "string", "integer", ...
}

// ParamFields lists the method's params in declaration order.
func (m *Method) ParamFields() []ParamField {
	var out []ParamField
	for _, f := range fields(m.Params) {
		out = append(out, ParamField{Name: f.Name, Required: f.Required, Type: f.Type, Kind: jsonKind(f.Type)})
	}
	return out
}

// JSONKind names the JSON type a Go type decodes from ("string",
// "integer", "array", ...), as ParamField.Kind does.
func JSONKind(t reflect.Type) string { return jsonKind(t) }
