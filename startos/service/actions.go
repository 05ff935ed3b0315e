package service

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

func (m *Manager) action(pkg, actionID string) (model.PackageDataEntry, *manifest.Manifest, *manifest.Action, error) {
	e, mf, err := m.installed(pkg)
	if err != nil {
		return e, nil, nil, err
	}
	act := mf.Actions[actionID]
	if act == nil {
		return e, nil, nil, fmt.Errorf("package %q has no action %q: %w", pkg, actionID, errdefs.ErrNotFound)
	}
	return e, mf, act, nil
}

// ActionInput returns the input spec of an action (package.action.get-input).
func (m *Manager) ActionInput(ctx context.Context, pkg, actionID string) (model.ActionInput, error) {
	_, _, act, err := m.action(pkg, actionID)
	if err != nil {
		return model.ActionInput{}, err
	}
	return model.ActionInput{Spec: act.InputSpec}, nil
}

// RunAction runs an action (package.action.run) and returns its result. The
// action's allowed-statuses are enforced; it runs at most ActionTimeout.
func (m *Manager) RunAction(ctx context.Context, pkg, actionID string, input any) (model.ActionResult, error) {
	e, mf, act, err := m.action(pkg, actionID)
	if err != nil {
		return model.ActionResult{}, err
	}
	status := model.DesiredStopped
	if e.StatusInfo.Started != nil {
		status = model.DesiredRunning
	}
	if len(act.AllowedStatuses) > 0 && !slices.Contains(act.AllowedStatuses, status) {
		return model.ActionResult{}, fmt.Errorf("action %q of %q can run only when the service is %s; it is %s: %w",
			actionID, pkg, strings.Join(act.AllowedStatuses, " or "), status, errdefs.ErrInvalidRequest)
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.ActionTimeout)
	defer cancel()
	out, err := m.RunProcedure(ctx, pkg, mf, act.Implementation, input)
	if err != nil {
		var pe *ProcedureError
		if errors.As(err, &pe) {
			return model.ActionResult{}, fmt.Errorf("action %q of %q failed: %w", actionID, pkg, err)
		}
		if errors.Is(err, errdefs.ErrTimeout) {
			return model.ActionResult{}, fmt.Errorf("action %q of %q did not finish within %s: %w", actionID, pkg, m.opts.ActionTimeout, err)
		}
		return model.ActionResult{}, fmt.Errorf("action %q of %q: %w", actionID, pkg, err)
	}
	return actionResult(act.Implementation.IOFormat, out).V1(act.Name), nil
}

// actionResult reads a StartOS 0.3 action result from stdout; output that is
// not one becomes the message, as StartOS falls back to the raw string.
func actionResult(f manifest.IOFormat, out []byte) model.ActionResult {
	var r struct {
		Version  string  `json:"version" yaml:"version"`
		Message  *string `json:"message" yaml:"message"`
		Value    *string `json:"value" yaml:"value"`
		Copyable bool    `json:"copyable" yaml:"copyable"`
		QR       bool    `json:"qr" yaml:"qr"`
	}
	if f != "" && decodeOutput(f, out, &r) == nil && r.Message != nil {
		return model.ActionResult{Version: "0", Message: *r.Message, Value: r.Value, Copyable: r.Copyable, QR: r.QR}
	}
	return model.ActionResult{Version: "0", Message: strings.TrimSpace(string(out))}
}

// ActionInputFor is ActionInput as StartOS answers it: with a fresh eventId
// for the run to carry back, and the caller's prefill as the value (the
// form's defaults). A prefill key the input spec lacks is refused.
func (m *Manager) ActionInputFor(ctx context.Context, pkg, actionID string, prefill map[string]any) (model.ActionInput, error) {
	in, err := m.ActionInput(ctx, pkg, actionID)
	if err != nil {
		return model.ActionInput{}, err
	}
	for _, k := range slices.Sorted(maps.Keys(prefill)) {
		if _, ok := in.Spec[k]; !ok {
			return model.ActionInput{}, fmt.Errorf("action %q of %q: prefill %q is not in its input spec: %w", actionID, pkg, k, errdefs.ErrInvalidRequest)
		}
	}
	if len(prefill) > 0 {
		in.Value = prefill
	}
	b := make([]byte, 20)
	rand.Read(b)
	in.EventID = base32.StdEncoding.EncodeToString(b) // 32 characters of A-Z2-7, as StartOS's Guid
	return in, nil
}

// RunActionFor is RunAction carrying StartOS's eventId (from
// ActionInputFor, or empty), which the log records with the outcome.
func (m *Manager) RunActionFor(ctx context.Context, pkg, actionID string, input any, eventID string) (model.ActionResult, error) {
	if len(eventID) > 64 || strings.Trim(eventID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return model.ActionResult{}, fmt.Errorf("action %q of %q: eventId %q: use at most 64 letters, digits, - and _: %w", actionID, pkg, eventID, errdefs.ErrInvalidRequest)
	}
	res, err := m.RunAction(ctx, pkg, actionID, input)
	if err != nil {
		m.log.Warn("action failed", "package", pkg, "action", actionID, "event", eventID, "error", err)
		return res, err
	}
	m.log.Info("action ran", "package", pkg, "action", actionID, "event", eventID)
	return res, nil
}
