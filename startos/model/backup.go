package model

import "time"

// BackupTargetAddParams is backup.target.add. URL is a restic repository
// string: an absolute local path, sftp:user@host:/path, s3:… or rest:….
// Credentials (sshPrivateKey, sshPort, sshKnownHosts, awsAccessKeyId,
// awsSecretAccessKey) stay in the private document.
type BackupTargetAddParams struct {
	Name        string            `json:"name"`
	URL         string            `json:"url"`
	Credentials map[string]string `json:"credentials,omitempty"`
}

// BackupTargetID is the result of backup.target.add.
type BackupTargetID struct {
	ID string `json:"id"`
}

// BackupTargetIDParams names a target.
type BackupTargetIDParams struct {
	TargetID string `json:"targetId"`
}

// BackupTargetUpdateParams is backup.target.update; absent fields are kept.
type BackupTargetUpdateParams struct {
	TargetID    string            `json:"targetId"`
	Name        *string           `json:"name,omitempty"`
	URL         *string           `json:"url,omitempty"`
	Credentials map[string]string `json:"credentials,omitempty"`
}

// BackupTarget is a target as clients see it: no credentials.
type BackupTarget struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
	// Type is local, sftp, s3 or rest.
	Type           string     `json:"type"`
	CredentialKeys []string   `json:"credentialKeys"`
	Initialized    bool       `json:"initialized"` // a repository was created or opened with a password
	LastBackup     *time.Time `json:"lastBackup"`
}

// BackupTargetPasswordParams names a target and gives its backup password.
type BackupTargetPasswordParams struct {
	TargetID string `json:"targetId"`
	Password string `json:"password"`
}

// BackupSnapshot is one snapshot in a target: a package's or the box's.
type BackupSnapshot struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"` // package or box
	PackageID string    `json:"packageId,omitempty"`
	Version   string    `json:"version,omitempty"`
	Run       string    `json:"run"` // one backup.create run
}

// BackupTargetInfo is the result of backup.target.info, newest first.
type BackupTargetInfo struct {
	Snapshots []BackupSnapshot `json:"snapshots"`
}

// BackupCreateParams is backup.create; no PackageIDs means every installed
// package.
type BackupCreateParams struct {
	TargetID   string   `json:"targetId"`
	Password   string   `json:"password"`
	PackageIDs []string `json:"packageIds,omitempty"`
}

// BackupRestoreParams is package.backup.restore. Snapshot, when set, is a
// run id or snapshot id prefix; default the newest of each package.
type BackupRestoreParams struct {
	TargetID string   `json:"targetId"`
	Password string   `json:"password"`
	IDs      []string `json:"ids"`
	Snapshot string   `json:"snapshot,omitempty"`
}

// BackupRetention is how many snapshots restic forget keeps (0: no rule).
type BackupRetention struct {
	KeepDaily   int `json:"keepDaily"`
	KeepWeekly  int `json:"keepWeekly"`
	KeepMonthly int `json:"keepMonthly"`
}

// BackupSchedule is backup.schedule.set's params and backup.schedule.get's
// result. Frequency is "off", "daily" or "weekly"; Time is HH:MM in the
// box's local time; Weekday 0 (Sunday) to 6 for weekly. Password is only
// read by set (to authorize a key the schedule uses) and never returned.
type BackupSchedule struct {
	Frequency  string          `json:"frequency"`
	Time       string          `json:"time,omitempty"`
	Weekday    int             `json:"weekday,omitempty"`
	TargetID   string          `json:"targetId,omitempty"`
	PackageIDs []string        `json:"packageIds,omitempty"`
	Retention  BackupRetention `json:"retention"`
	Password   string          `json:"password,omitempty"`
	NextRun    *time.Time      `json:"nextRun,omitempty"`
}

// BackupTargetPrivate is a target as the private document keeps it.
type BackupTargetPrivate struct {
	Name        string            `json:"name"`
	URL         string            `json:"url"`
	Credentials map[string]string `json:"credentials,omitempty"`
	// PasswordHash is an argon2id hash of the backup password, set when the
	// repository is first created or opened; the password is never kept.
	PasswordHash string     `json:"passwordHash,omitempty"`
	LastBackup   *time.Time `json:"lastBackup,omitempty"`
}

// BackupSchedulePrivate is the schedule and the random repository key
// (added with restic key add) it runs with, so the owner's password is
// never kept.
type BackupSchedulePrivate struct {
	Schedule BackupSchedule `json:"schedule"`
	Key      string         `json:"key,omitempty"`
	LastRun  *time.Time     `json:"lastRun,omitempty"`
}
