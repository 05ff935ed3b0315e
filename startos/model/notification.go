package model

import (
	"encoding/json"
	"time"
)

// NotificationLevel is how much a notification matters.
type NotificationLevel string

const (
	NotificationSuccess NotificationLevel = "success"
	NotificationInfo    NotificationLevel = "info"
	NotificationWarning NotificationLevel = "warning"
	NotificationError   NotificationLevel = "error"
)

// Notification codes (StartOS): what Data holds.
const (
	NotificationCodeGeneric      uint32 = 0 // no data
	NotificationCodeBackupReport uint32 = 1 // a backup report
	NotificationCodeString       uint32 = 2 // a string
)

// Notification is one message for the user. Ids increase and are never
// reused.
type Notification struct {
	ID        uint32            `json:"id"`
	PackageID string            `json:"packageId,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	Code      uint32            `json:"code"`
	Level     NotificationLevel `json:"level"`
	Title     string            `json:"title"`
	Message   string            `json:"message"`
	Data      json.RawMessage   `json:"data"`
	Seen      bool              `json:"seen"`
}

// NotificationInput is what a caller supplies to raise a notification
// (notification.create params).
type NotificationInput struct {
	PackageID string `json:"packageId,omitempty"`
	// Package is StartOS's name for PackageID; give one or the other.
	Package string            `json:"package,omitempty"`
	Level   NotificationLevel `json:"level"`
	Title   string            `json:"title"`
	Message string            `json:"message"`
	Code    uint32            `json:"code,omitempty"`
	Data    json.RawMessage   `json:"data,omitempty"`
}

// NotificationListParams are the params of notification.list. Before keeps
// notifications with a smaller id; Limit defaults to 40.
type NotificationListParams struct {
	Before *uint32 `json:"before,omitempty"`
	Limit  *int    `json:"limit,omitempty"`
}

// NotificationIDsParams are the params of notification.remove, mark-seen and
// mark-unseen.
type NotificationIDsParams struct {
	IDs []uint32 `json:"ids"`
}

// NotificationBeforeParams are the params of notification.remove-before and
// mark-seen-before: every notification with an id smaller than Before.
type NotificationBeforeParams struct {
	Before uint32 `json:"before"`
}
